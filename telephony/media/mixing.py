"""The arithmetic of a conference mix, pure: numpy arrays in, arrays out (no clock, no I/O).

Rows are members, columns the 160 samples of one 20 ms frame. Contributions are int32
(volume_in applied, 0 for a muted or quiet member); a room's total is their sum, so nothing
wraps however many talk; each member hears its room's total minus its own contribution
(exact in integers: no residue of itself), scaled by volume_out, then saturated to int16.
`FloorHysteresis` picks a room's dominant speaker from per-member levels.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ['VOLUME_MIN', 'VOLUME_MAX', 'GAIN_STEP_DB', 'gain', 'check_volume', 'saturate',
           'contributions', 'room_totals', 'hear_minus_self', 'hear_total', 'frame_rms',
           'FloorHysteresis']

VOLUME_MIN, VOLUME_MAX = -4, 4
GAIN_STEP_DB = 3.0          # one volume step; -4..4 spans -12..+12 dB
_GAINS = np.array([10.0 ** (GAIN_STEP_DB * s / 20.0) for s in range(VOLUME_MIN, VOLUME_MAX + 1)],
                  dtype=np.float32)
_GAINS[-VOLUME_MIN] = 1.0   # step 0 is exactly unity


def check_volume(value) -> int:
    """A volume step: an int from -4 to 4 (bools and other types are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f'volume must be an int from {VOLUME_MIN} to {VOLUME_MAX}')
    if not VOLUME_MIN <= value <= VOLUME_MAX:
        raise ValueError(f'volume {value} outside {VOLUME_MIN}..{VOLUME_MAX}')
    return int(value)


def gain(steps) -> np.ndarray:
    """Linear factors (float32) of volume steps (an int or an array of them)."""
    return _GAINS[np.asarray(steps) - VOLUME_MIN]


def saturate(x: np.ndarray) -> np.ndarray:
    """int32 (or float, rounded) samples clipped into int16."""
    if x.dtype.kind == 'f':
        x = np.rint(x)
    return np.clip(x, -32768, 32767).astype(np.int16)


def contributions(pcm: np.ndarray, gains: np.ndarray | None, heard: np.ndarray) -> np.ndarray:
    """int32 (M,160): each row of `pcm` times its gain (None: all unity); rows where
    `heard` is False are zero."""
    if gains is None:
        c = pcm.astype(np.int32)
    else:
        c = np.rint(pcm.astype(np.float32) * gains[:, None]).astype(np.int32)
    c *= heard[:, None]
    return c


def room_totals(contrib: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """int32 (R,160): the sum of each room's rows; rows are grouped by room, room r
    starting at row starts[r] (every room has at least one row)."""
    return np.add.reduceat(contrib, starts, axis=0)


def hear_minus_self(totals: np.ndarray, contrib: np.ndarray, room_of: np.ndarray,
                    rows: np.ndarray, gains: np.ndarray | None) -> np.ndarray:
    """int16 (len(rows),160): what members `rows` hear: their room's total minus their own
    contribution, times their volume_out gain (None: unity), saturated."""
    heard = totals[room_of[rows]] - contrib[rows]
    if gains is not None:
        heard = heard.astype(np.float32) * gains[rows, None]
    return saturate(heard)


def hear_total(totals: np.ndarray, rooms: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """int16 (len(rooms),160): the whole total of each room in `rooms` times a gain
    (what a member contributing nothing hears; one row per distinct room and gain)."""
    heard = totals[rooms]
    if np.any(gains != 1.0):
        heard = heard.astype(np.float32) * gains[:, None]
    return saturate(heard)


def frame_rms(pcm: np.ndarray) -> np.ndarray:
    """float32 (M,): the RMS level of each row."""
    f = pcm.astype(np.float32)
    return np.sqrt(np.einsum('ij,ij->i', f, f) / pcm.shape[1])


class FloorHysteresis:
    """The dominant speaker of one room.

    The loudest talking member takes a free floor at once. A holder keeps it until one other
    talking member has been at least `ratio` times as loud (2.0: 6 dB) on `hold` consecutive
    steps (15 ticks: 300 ms); a louder talker who drops back restarts the count. When nobody
    talks the holder keeps the floor (the last speaker), as FreeSWITCH does. `step` returns
    True when the holder changed.
    """

    def __init__(self, ratio: float = 2.0, hold: int = 15) -> None:
        self.ratio = ratio
        self.hold = hold
        self.holder = None
        self.challenger = None
        self.count = 0

    def step(self, keys: Sequence, levels: Sequence[float], talking: Sequence[bool]) -> bool:
        best, best_level = None, 0.0
        for k, lv, t in zip(keys, levels, talking):
            if t and lv > best_level:
                best, best_level = k, lv
        if best is None or best is self.holder:
            self.challenger, self.count = None, 0
            return False
        if self.holder is None:
            self.holder, self.challenger, self.count = best, None, 0
            return True
        held = 0.0
        for k, lv in zip(keys, levels):
            if k is self.holder:
                held = lv
                break
        if best_level < self.ratio * held:
            self.challenger, self.count = None, 0
            return False
        if best is self.challenger:
            self.count += 1
        else:
            self.challenger, self.count = best, 1
        if self.count < self.hold:
            return False
        self.holder, self.challenger, self.count = best, None, 0
        return True

    def drop(self, key) -> bool:
        """`key` left the room: True when it held the floor (now free)."""
        if self.challenger is key:
            self.challenger, self.count = None, 0
        if self.holder is key:
            self.holder = None
            return True
        return False
