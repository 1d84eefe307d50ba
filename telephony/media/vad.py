"""Speech detection with webrtcvad in mode 3.

webrtcvad (even in mode 3) calls steady tones -- ringback, dial tone, DTMF,
a fax CED -- speech once it has adapted to them, so frames whose energy sits
in a handful of spectral bins (a sum of one or two sine waves) are not counted
as voiced here; nor are frames of digital silence.
"""
from __future__ import annotations

import numpy as np
import webrtcvad

__all__ = ['has_speech', 'voiced_ms', 'SpeechDetector', 'is_tonal', 'tonal_rows']

_WINDOWS: dict[int, np.ndarray] = {}


def is_tonal(frame: np.ndarray, threshold: float | None = None, bins: int = 6) -> bool:
    """True when `bins` FFT bins hold nearly all of the frame's energy (pure tones)
    or the frame is silent.  Speech, even synthetic, spreads wider."""
    return bool(tonal_rows(np.asarray(frame)[None, :], threshold, bins)[0])


def tonal_rows(frames: np.ndarray, threshold: float | None = None, bins: int = 6) -> np.ndarray:
    """is_tonal for each row of a (K, n) array at once (one FFT call for a conference's
    loud members)."""
    n = frames.shape[1]
    w = _WINDOWS.get(n)
    if w is None:
        w = _WINDOWS[n] = np.hanning(n)
    p = np.abs(np.fft.rfft(np.asarray(frames, dtype=np.float64) * w, axis=1)) ** 2
    total = p.sum(axis=1)
    if threshold is None:
        threshold = 0.975 if n >= 240 else 0.985
    top = np.partition(p, p.shape[1] - bins, axis=1)[:, -bins:].sum(axis=1)
    return (total <= 0.0) | (top >= threshold * total)


def voiced_ms(pcm: np.ndarray, sample_rate: int = 8000, frame_ms: int = 30, mode: int = 3) -> int:
    """Milliseconds of frames webrtcvad calls speech."""
    pcm = np.ascontiguousarray(pcm, dtype=np.int16)
    n = sample_rate * frame_ms // 1000
    vad = webrtcvad.Vad(mode)
    voiced = 0
    buf = pcm.tobytes()
    step = n * 2
    for off in range(0, len(buf) - step + 1, step):
        if vad.is_speech(buf[off:off + step], sample_rate) \
                and not is_tonal(pcm[off // 2:off // 2 + n]):
            voiced += 1
    return voiced * frame_ms


def has_speech(pcm: np.ndarray, sample_rate: int = 8000, min_speech_ms: int = 300,
               min_ratio: float = 0.0) -> bool:
    """True when at least min_speech_ms of the audio (and min_ratio of it) is voiced.
    Used to mark recordings 'empty'."""
    total_ms = len(pcm) * 1000 // sample_rate
    if total_ms == 0:
        return False
    v = voiced_ms(pcm, sample_rate)
    return v >= min_speech_ms and v >= min_ratio * total_ms


class SpeechDetector:
    """Streaming talk/silence state over 20 ms frames, with attack and hangover
    (conference `talk`, end of a voicemail)."""

    def __init__(self, sample_rate: int = 8000, mode: int = 3, attack_ms: int = 60,
                 hangover_ms: int = 400) -> None:
        self.sample_rate = sample_rate
        self._vad = webrtcvad.Vad(mode)
        self._attack = max(1, attack_ms // 20)
        self._hang = max(1, hangover_ms // 20)
        self._on = 0
        self._off = 0
        self.talking = False
        self.silent_ms = 0

    def feed(self, frame: np.ndarray) -> bool:
        """Feed one 20 ms frame; returns the talking state after it."""
        frame = np.ascontiguousarray(frame, dtype=np.int16)
        voiced = self._vad.is_speech(frame.tobytes(), self.sample_rate) and not is_tonal(frame)
        if voiced:
            self._on += 1
            self._off = 0
            self.silent_ms = 0
            if self._on >= self._attack:
                self.talking = True
        else:
            self._on = 0
            self._off += 1
            self.silent_ms += 20
            if self._off >= self._hang:
                self.talking = False
        return self.talking
