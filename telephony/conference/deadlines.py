"""One timer for every room's deadlines (maxCallDurationTime, deactivationModeTime, a DTMF
sequence's inter-digit timeout): a heap of (time, key), one loop timer armed for the earliest.
Never a task or timer per member."""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from typing import Callable, Hashable

log = logging.getLogger('telephony.conference')


class Deadlines:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self._heap: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, tuple[float, int, Callable[[float], None]]] = {}
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None

    def __len__(self) -> int:
        return len(self._due)

    def set(self, key: Hashable, when: float | None, callback: Callable[[float], None]) -> None:
        """Call `callback(now)` at `when` (replacing `key`'s earlier deadline; None: cancel)."""
        if when is None:
            self.cancel(key)
            return
        seq = next(self._seq)
        self._due[key] = (when, seq, callback)
        heapq.heappush(self._heap, (when, seq, key))
        self._arm()

    def cancel(self, key: Hashable) -> None:
        self._due.pop(key, None)       # its heap entry is skipped when it comes up
        if not self._due:
            self._heap.clear()
            self._disarm()
        elif len(self._heap) > 2 * len(self._due) + 64:
            # joins and leaves cancel deadlines days ahead (maxCallDurationTime): drop the
            # stale entries so the heap stays within twice the live ones
            self._heap = [(w, q, k) for w, q, k in self._heap if self._due.get(k, (0, -1))[1] == q]
            heapq.heapify(self._heap)

    @property
    def entries(self) -> int:
        """Heap entries, stale ones included (bounded: see cancel)."""
        return len(self._heap)

    def _arm(self) -> None:
        while self._heap and self._due.get(self._heap[0][2], (None, None))[1] != self._heap[0][1]:
            heapq.heappop(self._heap)     # replaced or cancelled
        if not self._heap:
            self._disarm()
            return
        when = self._heap[0][0]
        if self._armed is not None and self._armed <= when:
            return
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(when, self._fire)
        self._armed = when

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._armed = None

    def _fire(self) -> None:
        self._timer = self._armed = None
        now = self.now()
        while self._heap and self._heap[0][0] <= now:
            when, seq, key = heapq.heappop(self._heap)
            entry = self._due.get(key)
            if entry is None or entry[1] != seq:
                continue
            del self._due[key]
            try:
                entry[2](now)
            except Exception:
                log.exception('event=conference-deadline-error key=%s', key)
        self._arm()
