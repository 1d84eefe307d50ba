"""The one media clock: a single asyncio task ticking every 20 ms.

Tick n is due at start + n * period on the loop's monotonic clock, so the
schedule never drifts.  A late wake-up runs the missed ticks back to back, up
to `max_catchup`; beyond that the oldest are skipped (and counted).  The
scheduling arithmetic is the pure function `due_ticks()`.
"""
from __future__ import annotations

import asyncio
import logging
import math
from typing import Callable

__all__ = ['MediaClock', 'due_ticks', 'PERIOD']

log = logging.getLogger('telephony.media')
PERIOD = 0.020
_EPS = 1e-9


def due_ticks(start: float, period: float, next_tick: int, now: float,
              max_catchup: int = 5) -> tuple[int, int, int]:
    """Which ticks to run at time `now`.

    Tick n is due at start + n * period; `next_tick` is the first tick not run
    yet.  Returns (first, count, skipped): run ticks first .. first+count-1
    back to back; `skipped` ticks before `first` are given up because the
    clock fell more than `max_catchup` ticks behind.
    """
    last_due = math.floor((now - start) / period + _EPS)
    if last_due < next_tick:
        return next_tick, 0, 0
    count = last_due - next_tick + 1
    skipped = 0
    if count > max_catchup:
        skipped = count - max_catchup
        count = max_catchup
    return next_tick + skipped, count, skipped


class MediaClock:
    """`busy()` says whether anything is on the clock's work list (an endpoint sending or
    receiving).  Ticks skipped while it is not lost nobody's audio: counted, not warned
    about.  (At every start-up the loop pauses for the GC freeze while no call exists.)"""

    def __init__(self, period: float = PERIOD, max_catchup: int = 5,
                 busy: Callable[[], bool] | None = None) -> None:
        self.period = period
        self.max_catchup = max_catchup
        self.busy = busy
        self._callbacks: list[Callable[[int], None]] = []
        self._snapshot: tuple[Callable[[int], None], ...] = ()
        self._task: asyncio.Task | None = None
        self._errors: dict[int, int] = {}
        self.start_time: float | None = None
        self.next_tick = 0
        # counters
        self.ticks = 0            # ticks run
        self.skipped = 0          # ticks given up
        self.idle_skipped = 0     # ... of them while nothing was on the clock
        self.late_runs = 0        # wake-ups that ran more than one tick
        self.lag = 0.0            # smoothed lateness of wake-ups, seconds: the loop's load

    # subscribers --------------------------------------------------------------------------
    def add(self, callback: Callable[[int], None]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)
            self._snapshot = tuple(self._callbacks)

    def remove(self, callback: Callable[[int], None]) -> None:
        try:
            self._callbacks.remove(callback)
        except ValueError:
            return
        self._snapshot = tuple(self._callbacks)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        loop = asyncio.get_running_loop()
        self.start_time = loop.time()
        self.next_tick = 0
        self._task = loop.create_task(self._run(), name='media-clock')
        log.info('event=media-clock-start period_ms=%g', self.period * 1000)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        log.info('event=media-clock-stop ticks=%d skipped=%d late_runs=%d',
                 self.ticks, self.skipped, self.late_runs)

    def run_ticks(self, now: float) -> int:
        """Run every tick due at `now` (the task calls this; tests may too).
        Returns how many ticks ran."""
        first, count, skipped = due_ticks(self.start_time, self.period, self.next_tick, now,
                                          self.max_catchup)
        if skipped:
            self.skipped += skipped
            behind = (now - (self.start_time + self.next_tick * self.period)) * 1000
            if self.busy is None or self.busy():
                log.warning('event=media-clock-skip ticks=%d behind_ms=%.1f', skipped, behind)
            else:
                self.idle_skipped += skipped
                log.debug('event=media-clock-skip-idle ticks=%d behind_ms=%.1f', skipped, behind)
        if count > 1:
            self.late_runs += 1
        for n in range(first, first + count):
            self._tick(n)
        self.next_tick = first + count
        return count

    def _tick(self, n: int) -> None:
        self.ticks += 1
        for cb in self._snapshot:
            try:
                cb(n)
            except Exception:
                key = id(cb)
                k = self._errors.get(key, 0) + 1
                self._errors[key] = k
                if k <= 10 or k % 1000 == 0:
                    log.exception('event=media-clock-callback-error callback=%r tick=%d count=%d',
                                  cb, n, k)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            late = now - (self.start_time + self.next_tick * self.period)
            # ~0.7 s time constant: a burst of work is not overload, a saturated loop is
            self.lag += 0.03 * (max(0.0, late) - self.lag)
            try:
                self.run_ticks(now)
            except Exception:   # never let the clock die
                log.exception('event=media-clock-error tick=%d', self.next_tick)
                self.next_tick += 1
            delay = self.start_time + self.next_tick * self.period - loop.time()
            await asyncio.sleep(delay if delay > 0 else 0)
