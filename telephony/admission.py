"""Admission control: whether a new call may start, or gets 503 + Retry-After.

Refusing at the door is cheap (one datagram out); a call let in past capacity slows every
call already up.  Four limits, like FreeSWITCH's sessions-per-second and max-sessions:
a call rate (token bucket, so a flood is shed from its first second instead of after the
backlog builds), a late media clock, INVITEs still being routed, and calls or RTP ports
in use.
"""
from __future__ import annotations

from typing import Callable


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
    def __init__(self, settings, media, stack, calls: Callable[[], int]):
        self.settings = settings
        self.media = media
        self.stack = stack
        self.calls = calls
        rate = settings.max_call_rate
        # a tenth of a second of burst: a phone system's busy hour is smooth at this scale
        self.bucket = TokenBucket(rate, max(1.0, rate / 10)) if rate > 0 else None
        self._lagging = False
        self.reasons = {'rate': 0, 'lag': 0, 'pending': 0, 'calls': 0, 'ports': 0}

    def shed(self) -> int | None:
        """Seconds for Retry-After when a new call must be refused, else None."""
        reason = self._refusal()
        if reason is None:
            return None
        self.reasons[reason] += 1
        return self.settings.overload_retry_after

    def _refusal(self) -> str | None:
        s = self.settings
        if self.overloaded():
            return 'lag'
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

    def overloaded(self) -> bool:
        """The media clock is late: the loop is saturated and every call's audio would
        suffer.  With hysteresis, so the gate does not flap."""
        lag, limit = self.media.clock.lag, self.settings.overload_lag_ms / 1000
        self._lagging = lag > (limit / 2 if self._lagging else limit)
        return self._lagging
