"""DTMF: RFC 4733 telephone-events and in-band tones -- sans-IO.

* `Rfc4733Receiver` turns telephone-event packets into digits, each exactly once.
* `Rfc4733Sender` yields the payload of every 20 ms tick of one event.
* `dtmf_tone()` / `InbandDtmfGenerator` make the audio of in-band digits.
* `GoertzelDetector` finds in-band digits in 20 ms PCM frames.
"""
from __future__ import annotations

import struct
from collections import deque
from typing import Iterator

import numpy as np

from .rtp import RtpPacket

__all__ = [
    'EVENT_CHARS', 'DTMF_FREQS', 'parse_telephone_event', 'build_telephone_event',
    'digit_to_event', 'Rfc4733Receiver', 'Rfc4733Sender', 'dtmf_tone', 'InbandDtmfGenerator',
    'GoertzelDetector', 'normalize_digits',
]

EVENT_CHARS = '0123456789*#ABCD'
_EVENT_OF = {c: i for i, c in enumerate(EVENT_CHARS)}

ROW_FREQS = (697.0, 770.0, 852.0, 941.0)
COL_FREQS = (1209.0, 1336.0, 1477.0, 1633.0)
_KEYPAD = ('123A', '456B', '789C', '*0#D')
DTMF_FREQS: dict[str, tuple[float, float]] = {
    _KEYPAD[r][c]: (ROW_FREQS[r], COL_FREQS[c]) for r in range(4) for c in range(4)
}

_TE = struct.Struct('!BBH')


def normalize_digits(digits: str) -> str:
    """Upper-case and validate a digit string; ValueError names the first bad character."""
    out = digits.upper()
    for ch in out:
        if ch not in _EVENT_OF:
            raise ValueError(f'not a DTMF digit: {ch!r}')
    return out


def digit_to_event(digit: str) -> int:
    try:
        return _EVENT_OF[digit.upper()]
    except KeyError:
        raise ValueError(f'not a DTMF digit: {digit!r}') from None


def parse_telephone_event(payload: bytes) -> tuple[int, bool, int, int]:
    """-> (event, end, volume, duration in timestamp units).  ValueError if short."""
    if len(payload) < 4:
        raise ValueError('telephone-event payload shorter than 4 bytes')
    event, flags, duration = _TE.unpack_from(payload)
    return event, bool(flags & 0x80), flags & 0x3F, duration


def build_telephone_event(event: int, end: bool, volume: int, duration: int) -> bytes:
    return _TE.pack(event & 0xFF, (0x80 if end else 0) | (volume & 0x3F), min(duration, 0xFFFF))


class Rfc4733Receiver:
    """Digits from telephone-event packets (RFC 4733 section 2.5.2).

    An event is identified by its RTP timestamp.  Its digit is emitted once:
    on the first end packet, the redundant end packets and retransmissions of
    the same timestamp are dropped.  When a new timestamp starts while an
    earlier event never showed its end, the earlier digit is emitted first.
    `expire(now)` emits an event whose end was lost when nothing followed it.
    """

    def __init__(self, clock_rate: int = 8000, timeout: float = 1.0) -> None:
        self.clock_rate = clock_rate
        self.timeout = timeout
        self._ts: int | None = None       # timestamp of the event in progress
        self._event = 0
        self._duration = 0
        self._last_arrival: float | None = None
        self._done: deque[int] = deque(maxlen=32)
        self.digits_received = 0

    @property
    def pending(self) -> bool:
        return self._ts is not None

    def _emit_current(self, out: list[tuple[str, int]]) -> None:
        out.append((EVENT_CHARS[self._event], self._duration * 1000 // self.clock_rate))
        self._done.append(self._ts)
        self._ts = None
        self.digits_received += 1

    def feed(self, packet: RtpPacket, now: float | None = None) -> list[tuple[str, int]]:
        try:
            event, end, _volume, duration = parse_telephone_event(packet.payload)
        except ValueError:
            return []
        ts = packet.timestamp
        if ts in self._done:
            return []
        out: list[tuple[str, int]] = []
        if self._ts is not None and ts != self._ts:
            self._emit_current(out)
        if event >= len(EVENT_CHARS):      # flash and other non-DTMF events
            return out
        if self._ts != ts:
            self._ts = ts
            self._duration = 0
        self._event = event
        self._duration = max(self._duration, duration)
        self._last_arrival = now
        if end:
            self._emit_current(out)
        return out

    def expire(self, now: float) -> list[tuple[str, int]]:
        """Emit an event whose end packets were all lost, `timeout` s after its last packet."""
        if self._ts is None or self._last_arrival is None or now - self._last_arrival < self.timeout:
            return []
        out: list[tuple[str, int]] = []
        self._emit_current(out)
        return out


class Rfc4733Sender:
    """The packets of one telephone-event, one per 20 ms tick.

    Iterating yields (payload, marker, end) per tick: the first packet carries
    the marker, the duration grows by one frame per packet, and the final
    packet (the E bit set, the full duration) is sent three times.  All share
    the timestamp of the event start, which the caller picks (RtpSender.packet_at).
    """

    def __init__(self, digit: str, duration_ms: int = 100, volume: int = 10,
                 clock_rate: int = 8000, ptime_ms: int = 20, end_repeats: int = 3) -> None:
        self.event = digit_to_event(digit)
        self.volume = volume
        self.step = clock_rate * ptime_ms // 1000
        self.frames = max(1, round(duration_ms / ptime_ms))
        self.end_repeats = end_repeats

    def __iter__(self) -> Iterator[tuple[bytes, bool, bool]]:
        for i in range(1, self.frames):
            yield build_telephone_event(self.event, False, self.volume, i * self.step), i == 1, False
        final = build_telephone_event(self.event, True, self.volume, self.frames * self.step)
        for j in range(self.end_repeats):
            yield final, self.frames == 1 and j == 0, True

    def __len__(self) -> int:
        return self.frames - 1 + self.end_repeats


def dtmf_tone(digit: str, duration_ms: int, sample_rate: int = 8000,
              amplitude: float = 7000.0) -> np.ndarray:
    """The two-tone signal of one digit (each component at `amplitude` peak)."""
    lo, hi = DTMF_FREQS[digit.upper()]
    t = np.arange(sample_rate * duration_ms // 1000) / sample_rate
    sig = amplitude * (np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t))
    return np.clip(np.round(sig), -32768, 32767).astype(np.int16)


class InbandDtmfGenerator:
    """20 ms frames of in-band digits: tone, then gap of silence, per digit.

    Each frame is computed when it is asked for, so memory and the work per tick stay
    one frame whatever the digits' duration (100 digits of an hour each are fine)."""

    def __init__(self, digits: str, duration_ms: int = 100, gap_ms: int = 60,
                 frame_samples: int = 160, sample_rate: int = 8000,
                 amplitude: float = 7000.0) -> None:
        self.digits = normalize_digits(digits)
        self.frame_samples = frame_samples
        self.sample_rate = sample_rate
        self.amplitude = amplitude
        self._tone = sample_rate * duration_ms // 1000
        self._per_digit = self._tone + sample_rate * gap_ms // 1000
        total = len(self.digits) * self._per_digit
        self._frames = -(-total // frame_samples)
        self._total = total
        self._idx = np.arange(frame_samples, dtype=np.int64)

    def frame(self, k: int) -> np.ndarray:
        """Frame k (0-based) of the sequence."""
        n = self._idx + k * self.frame_samples
        digit = n // self._per_digit if self._per_digit else np.zeros_like(n)
        pos = n - digit * self._per_digit
        on = (pos < self._tone) & (n < self._total)
        out = np.zeros(self.frame_samples, np.float64)
        if on.any():
            lo = np.empty(self.frame_samples)
            hi = np.empty(self.frame_samples)
            for j in np.unique(digit[on]):
                sel = on & (digit == j)
                lo[sel], hi[sel] = DTMF_FREQS[self.digits[j]]
            t = pos[on] / self.sample_rate
            out[on] = self.amplitude * (np.sin(2 * np.pi * lo[on] * t)
                                        + np.sin(2 * np.pi * hi[on] * t))
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)

    def __iter__(self) -> Iterator[np.ndarray]:
        for k in range(self._frames):
            yield self.frame(k)

    def __len__(self) -> int:
        return self._frames


class GoertzelDetector:
    """In-band DTMF detection on 20 ms frames.

    Per frame the power at the eight DTMF frequencies is computed (Goertzel's
    single-bin DFT, done as one small matrix product).  A frame holds a digit
    when: the signal is loud enough; the strongest row and column tones each
    stand `relative_db` above the others of their group; the twist between
    them is within limits; and the two tones carry most of the frame's energy
    (`min_tone_ratio`), which rejects speech and music.  A digit is reported
    once it has been present for `min_on_ms` and not again until it has been
    absent for `min_off_ms`.
    """

    FREQS = ROW_FREQS + COL_FREQS

    def __init__(self, sample_rate: int = 8000, frame_samples: int = 160, *,
                 min_on_ms: int = 40, min_off_ms: int = 40, min_level: float = 150.0,
                 relative_db: float = 8.0, max_twist_db: float = 8.0,
                 max_reverse_twist_db: float = 8.0, min_tone_ratio: float = 0.7) -> None:
        self.sample_rate = sample_rate
        self.frame_samples = frame_samples
        self._frame_ms = 1000.0 * frame_samples / sample_rate
        self.on_frames = max(1, round(min_on_ms / self._frame_ms))
        self.off_frames = max(1, round(min_off_ms / self._frame_ms))
        # a tone of peak amplitude A carries A**2 * N / 2 of energy per frame
        self.min_energy = min_level ** 2 * frame_samples / 2
        self.relative = 10 ** (relative_db / 10)
        self.max_twist = 10 ** (max_twist_db / 10)
        self.max_reverse_twist = 10 ** (max_reverse_twist_db / 10)
        self.min_tone_ratio = min_tone_ratio
        self._basis: dict[int, np.ndarray] = {}
        self._candidate: str | None = None
        self._run = 0
        self._current: str | None = None
        self._absent = 0
        self.digits_detected = 0

    def _matrix(self, n: int) -> np.ndarray:
        m = self._basis.get(n)
        if m is None:
            t = np.arange(n) / self.sample_rate
            w = 2 * np.pi * np.asarray(self.FREQS)[:, None] * t[None, :]
            m = np.concatenate([np.cos(w), np.sin(w)]).astype(np.float64)
            self._basis[n] = m
        return m

    def classify(self, frame: np.ndarray) -> str | None:
        """The digit one frame holds, or None (no debouncing)."""
        x = np.asarray(frame, dtype=np.float64)
        n = len(x)
        if n == 0:
            return None
        total = float(np.dot(x, x))
        if total < 2 * self.min_energy:
            return None
        proj = self._matrix(n) @ x
        # energy of the sinusoid at each frequency: 2 |X|^2 / N
        energy = (proj[:8] ** 2 + proj[8:] ** 2) * (2.0 / n)
        rows, cols = energy[:4], energy[4:]
        r = int(np.argmax(rows))
        c = int(np.argmax(cols))
        er, ec = rows[r], cols[c]
        if er < self.min_energy or ec < self.min_energy:
            return None
        if ec > er * self.max_twist or er > ec * self.max_reverse_twist:
            return None
        for i in range(4):
            if i != r and rows[i] * self.relative > er:
                return None
            if i != c and cols[i] * self.relative > ec:
                return None
        if er + ec < self.min_tone_ratio * total:
            return None
        return _KEYPAD[r][c]

    def feed(self, frame: np.ndarray) -> list[str]:
        """Feed one frame; returns the digits newly detected (at most one)."""
        cand = self.classify(frame)
        out: list[str] = []
        if self._current is not None:
            if cand == self._current:
                self._absent = 0
            else:
                self._absent += 1
                if self._absent >= self.off_frames:
                    self._current = None
                    self._absent = 0
        if cand is not None and cand == self._candidate:
            self._run += 1
        else:
            self._candidate = cand
            self._run = 1 if cand is not None else 0
        if self._current is None and cand is not None and self._run >= self.on_frames:
            self._current = cand
            self._absent = 0
            self.digits_detected += 1
            out.append(cand)
        return out

    def reset(self) -> None:
        self._candidate = None
        self._run = 0
        self._current = None
        self._absent = 0
