"""Admission control: whether a new call may start, or gets 503 + Retry-After.

Refusing at the door is cheap (one datagram out); a call let in past capacity slows every
call already up.  The limits, like FreeSWITCH's sessions-per-second, max-sessions and
min-idle-cpu: a call rate (token bucket, so a flood is shed from its first second instead
of after the backlog builds), the event loop's CPU, a late media clock, INVITEs still being
routed, and calls or RTP ports in use.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger(__name__)

CPU_WINDOW = 0.5    # seconds over which the loop's CPU share is measured
SHED_LOG_EVERY = 1.0   # seconds between `calls-shed` lines while calls are being refused


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`."""

    def __init__(self, rate: float, burst: float, now: float = 0.0):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Admission:
    def __init__(self, settings, media, stack, calls: Callable[[], int],
                 cpu_clock: Callable[[], float] = time.thread_time,
                 wall_clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.media = media
        self.stack = stack
        self.calls = calls
        rate = settings.max_call_rate
        # a tenth of a second of burst: a phone system's busy hour is smooth at this scale
        self.bucket = TokenBucket(rate, max(1.0, rate / 10)) if rate > 0 else None
        self._lagging = False
        # the loop thread's CPU (shed() runs on it): the media of every call shares it
        self._cpu_clock, self._wall_clock = cpu_clock, wall_clock
        self._cpu_mark: tuple[float, float] | None = None
        self._busy = False
        self.loop_cpu = 0.0     # share of one core used by the loop, over the last window
        self.reasons = {'rate': 0, 'cpu': 0, 'lag': 0, 'pending': 0, 'calls': 0, 'ports': 0}
        self._unlogged = 0
        self._logged_at: float | None = None

    def shed(self) -> int | None:
        """Seconds for Retry-After when a new call must be refused, else None."""
        reason = self._refusal()
        if reason is None:
            return None
        self.reasons[reason] += 1
        self._log_shed(reason)
        return self.settings.overload_retry_after

    def _log_shed(self, reason: str) -> None:
        """Every refused call leaves a trace, but a flood of 503s must not flood the log:
        one line a second at most, counting the calls refused since the last one."""
        self._unlogged += 1
        now = self.stack.now()
        if self._logged_at is None or now - self._logged_at >= SHED_LOG_EVERY:
            log.warning('event=calls-shed status=503 reason=%s count=%d', reason,
                        self._unlogged)
            self._logged_at, self._unlogged = now, 0

    def _refusal(self) -> str | None:
        s = self.settings
        if self.overloaded():
            return 'lag'
        if self.busy():
            return 'cpu'
        if self.stack.pending_invites >= s.max_pending_invites:
            return 'pending'
        if self.calls() >= s.max_calls:
            return 'calls'
        if self.media.free_pairs < 1:
            return 'ports'
        # the bucket last, so that calls refused for other reasons do not use up tokens
        if self.bucket is not None and not self.bucket.take(self.stack.now()):
            return 'rate'
        return None

    def busy(self) -> bool:
        """The loop used more than max_loop_cpu % of a core over the last half second:
        a new call would take audio time from the calls already up (the media clock
        stays on time until the very last percent, so lag alone notices too late).
        Hysteresis of ten points."""
        limit = self.settings.max_loop_cpu / 100
        if limit <= 0:
            return False
        wall, cpu = self._wall_clock(), self._cpu_clock()
        if self._cpu_mark is None:
            self._cpu_mark = (wall, cpu)
        elif wall - self._cpu_mark[0] >= CPU_WINDOW:
            self.loop_cpu = (cpu - self._cpu_mark[1]) / (wall - self._cpu_mark[0])
            self._cpu_mark = (wall, cpu)
            self._busy = self.loop_cpu > (limit - 0.1 if self._busy else limit)
        return self._busy

    def overloaded(self) -> bool:
        """The media clock is late: the loop is saturated and every call's audio would
        suffer.  With hysteresis, so the gate does not flap."""
        lag, limit = self.media.clock.lag, self.settings.overload_lag_ms / 1000
        self._lagging = lag > (limit / 2 if self._lagging else limit)
        return self._lagging
