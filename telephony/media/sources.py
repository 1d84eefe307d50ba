"""Audio sources: objects with read() -> one 160-sample int16 frame, or None when done.

Frames returned by sources may be views of shared, read-only arrays: consumers
must not modify them.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from .codecs import FRAME_SAMPLES, SAMPLE_RATE

if TYPE_CHECKING:
    from .codecs import Codec

__all__ = ['Source', 'Player', 'ToneSource', 'Silence', 'SILENCE_FRAME', 'DEFAULT_AMPLITUDE']

SILENCE_FRAME = np.zeros(FRAME_SAMPLES, np.int16)
SILENCE_FRAME.flags.writeable = False
DEFAULT_AMPLITUDE = 6000.0


class Source(Protocol):
    def read(self) -> np.ndarray | None: ...


# id(array) -> (weak reference to it, {codec name: the whole array encoded})
_ENCODED: dict[int, tuple[weakref.ref, dict[str, bytes]]] = {}


def encoded(pcm: np.ndarray, codec: 'Codec') -> bytes:
    """The whole array in `codec`, encoded once and shared by every player of it (a
    prompt playing to 500 callers is encoded once, not 25,000 times a second).

    The first call encodes the whole array: make it off the event loop (Player.prepare in
    a thread); `encoded_if_ready` is what the clock's tick uses."""
    key = id(pcm)
    entry = _ENCODED.get(key)
    if entry is None or entry[0]() is not pcm:
        entry = _ENCODED[key] = (weakref.ref(pcm, lambda _, k=key: _ENCODED.pop(k, None)), {})
    data = entry[1].get(codec.name)
    if data is None:
        data = entry[1][codec.name] = codec.encode(pcm)
    return data


def encoded_if_ready(pcm: np.ndarray, codec: 'Codec') -> bytes | None:
    """The shared encoding of the array if it exists already, else None (never encodes)."""
    entry = _ENCODED.get(id(pcm))
    if entry is None or entry[0]() is not pcm:
        return None
    return entry[1].get(codec.name)


class Player:
    """Plays an int16 mono 8 kHz array, optionally looping.  The array is not copied."""

    def __init__(self, pcm: np.ndarray, loop: bool = False) -> None:
        pcm = np.asarray(pcm)
        if pcm.dtype != np.int16:
            pcm = pcm.astype(np.int16)
        if pcm.ndim != 1:
            raise ValueError('Player wants mono audio (a 1-D array)')
        self.pcm = pcm
        self.loop = loop
        self.position = 0       # samples played
        self.loops = 0          # completed passes

    @property
    def duration(self) -> float:
        return len(self.pcm) / SAMPLE_RATE

    def read(self) -> np.ndarray | None:
        pcm = self.pcm
        n = len(pcm)
        pos = self.position
        if n == 0 or (pos >= n and not self.loop):
            return None
        if pos >= n:
            pos = 0
            self.loops += 1
        end = pos + FRAME_SAMPLES
        if end <= n:                      # the common case: a view, no copy
            self.position = end
            return pcm[pos:end]
        frame = np.zeros(FRAME_SAMPLES, np.int16)
        if not self.loop:                 # last, partial frame: pad with silence
            frame[:n - pos] = pcm[pos:]
            self.position = n
            return frame
        filled = 0                        # looping: continue from the start
        while filled < FRAME_SAMPLES:
            if pos >= n:
                pos = 0
                self.loops += 1
            k = min(FRAME_SAMPLES - filled, n - pos)
            frame[filled:filled + k] = pcm[pos:pos + k]
            filled += k
            pos += k
        self.position = pos
        return frame

    def prepare(self, codec: 'Codec') -> 'Player':
        """Encode the whole array for `codec` now (call it in a worker thread): the clock's
        tick then only slices it."""
        encoded(self.pcm, codec)
        return self

    def read_payload(self, codec: 'Codec') -> bytes | None:
        """The next frame, encoded: a slice of the array encoded once, or (not prepared
        for this codec, e.g. after a re-INVITE changed it) this frame alone."""
        end = self.position + FRAME_SAMPLES
        if end <= len(self.pcm):
            data = encoded_if_ready(self.pcm, codec)
            if data is not None:
                pos, self.position = self.position, end
                return data[pos:end]
        frame = self.read()       # the end, a loop's wrap, or not prepared
        return None if frame is None else codec.encode(frame)


class Silence:
    """Digital silence for duration_ms (0 = endless)."""

    def __init__(self, duration_ms: int = 0) -> None:
        self.frames = -(-int(duration_ms) // 20) if duration_ms > 0 else None
        self._left = self.frames

    def read(self) -> np.ndarray | None:
        if self._left is None:
            return SILENCE_FRAME
        if self._left <= 0:
            return None
        self._left -= 1
        return SILENCE_FRAME


class ToneSource:
    """A sum of sine tones with an optional cadence.

    duration_ms=0: one endless tone (interval and loop ignored).  Otherwise
    the tone sounds for duration_ms, then interval_ms of silence follows it
    (Q-loud §3.24: also after the last repetition); `loop` is the number of
    repetitions (0 = endless).
    `amplitude` is the peak of each component.
    """

    def __init__(self, frequencies: Sequence[float], duration_ms: int = 0, interval_ms: int = 0,
                 loop: int = 0, amplitude: float = DEFAULT_AMPLITUDE,
                 sample_rate: int = SAMPLE_RATE) -> None:
        self.frequencies = np.asarray([float(f) for f in frequencies], dtype=np.float64)
        self.amplitude = float(amplitude)
        self.sample_rate = sample_rate
        self.on = sample_rate * int(duration_ms) // 1000
        self.off = sample_rate * int(interval_ms) // 1000 if self.on else 0
        self.cycle = self.on + self.off
        self.total = None if (self.on == 0 or loop <= 0) else loop * self.cycle
        self._n = 0
        self._omega = (2 * np.pi / sample_rate) * self.frequencies[:, None]
        self._idx = np.arange(FRAME_SAMPLES, dtype=np.int64)

    def read(self) -> np.ndarray | None:
        n0 = self._n
        if self.total is not None and n0 >= self.total:
            return None
        self._n = n0 + FRAME_SAMPLES
        idx = self._idx + n0
        if self.cycle:
            pos = idx % self.cycle
        else:
            pos = idx % (self.sample_rate * 3600)  # keep the phase argument small
        if len(self.frequencies) == 0:
            return np.zeros(FRAME_SAMPLES, np.int16)
        sig = self.amplitude * np.sin(self._omega * pos).sum(axis=0)
        if self.cycle:
            sig[pos >= self.on] = 0.0
        if self.total is not None:
            sig[idx >= self.total] = 0.0
        np.clip(sig, -32768, 32767, out=sig)
        return np.round(sig).astype(np.int16)


class Mixed:
    """`main` with `under` added (a ringback announcement with a ring tone): it lasts as
    long as `main`; `under` ending early leaves `main` alone."""

    def __init__(self, main: Source, under: Source) -> None:
        self.main = main
        self.under = under

    def read(self) -> np.ndarray | None:
        a = self.main.read()
        if a is None:
            return None
        b = self.under.read() if self.under is not None else None
        if b is None:
            self.under = None
            return a
        return np.clip(a.astype(np.int32) + b, -32768, 32767).astype(np.int16)
