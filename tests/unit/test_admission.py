"""Admission control: the call-rate token bucket and the order of the limits."""
from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import pytest

from telephony.admission import Admission, TokenBucket
from telephony.config import Settings


def test_bucket_allows_its_burst_then_its_rate():
    b = TokenBucket(rate=100, burst=10, now=0.0)
    assert sum(b.take(0.0) for _ in range(50)) == 10    # the burst, then nothing
    assert sum(b.take(0.05) for _ in range(50)) == 5    # 50 ms at 100/s
    assert sum(b.take(10.0) for _ in range(50)) == 10   # an idle bucket refills to its burst


def _admission(**kw):
    s = Settings(**kw)
    media = SimpleNamespace(free_pairs=100, clock=SimpleNamespace(lag=0.0))
    stack = SimpleNamespace(pending_invites=0, t=0.0)
    stack.now = lambda: stack.t
    calls = SimpleNamespace(n=0)
    return Admission(s, media, stack, lambda: calls.n), media, stack, calls


def test_a_flood_is_cut_to_the_configured_rate():
    adm, _, stack, _ = _admission(max_call_rate=100)
    admitted = 0
    for i in range(3000):          # 3000 INVITEs evenly over 10 s
        stack.t = i / 300
        admitted += adm.shed() is None
    assert 990 <= admitted <= 1010 and adm.reasons['rate'] == 3000 - admitted


def test_each_limit_refuses_with_retry_after_and_counts_its_reason():
    adm, media, stack, calls = _admission(max_call_rate=0, max_calls=3, max_pending_invites=2,
                                          overload_retry_after=7)
    assert adm.shed() is None
    media.free_pairs = 0
    assert adm.shed() == 7 and adm.reasons['ports'] == 1
    media.free_pairs, calls.n = 5, 3
    assert adm.shed() == 7 and adm.reasons['calls'] == 1
    calls.n, stack.pending_invites = 0, 2
    assert adm.shed() == 7 and adm.reasons['pending'] == 1
    stack.pending_invites, media.clock.lag = 0, 0.5
    assert adm.shed() == 7 and adm.reasons['lag'] == 1
    media.clock.lag = 0.04          # below the limit, above half of it: still overloaded
    assert adm.shed() == 7
    media.clock.lag = 0.01
    assert adm.shed() is None


def test_a_busy_loop_sheds_until_it_has_room_again():
    clock = SimpleNamespace(wall=0.0, cpu=0.0)
    s = Settings(max_call_rate=0, max_loop_cpu=90)
    media = SimpleNamespace(free_pairs=100, clock=SimpleNamespace(lag=0.0))
    stack = SimpleNamespace(pending_invites=0, now=lambda: 0.0)
    adm = Admission(s, media, stack, lambda: 0, cpu_clock=lambda: clock.cpu,
                    wall_clock=lambda: clock.wall)

    def after(seconds, busy_share):
        clock.wall += seconds
        clock.cpu += seconds * busy_share
        return adm.shed()

    assert adm.shed() is None                 # the first call only starts the window
    assert after(0.6, 0.5) is None
    assert after(0.6, 0.95) == 5 and adm.reasons['cpu'] == 1
    assert adm.loop_cpu == pytest.approx(0.95)
    assert after(0.2, 0.85) == 5              # within the window: still busy
    assert after(0.6, 0.85) == 5              # above 80 %: the hysteresis holds
    assert after(0.6, 0.7) is None
    assert Admission(Settings(max_loop_cpu=0), media, stack, lambda: 0).busy() is False


def test_shed_calls_leave_one_log_line_a_second_not_one_each(caplog):
    """A refused call leaves a trace (issue 8 §5), but a flood must not flood the log."""
    caplog.set_level(logging.INFO, logger='telephony.admission')
    adm, _, stack, _ = _admission(max_call_rate=100)
    for i in range(3000):          # 3000 INVITEs evenly over 10 s
        stack.t = i / 300
        adm.shed()
    lines = [r.getMessage() for r in caplog.records if 'event=calls-shed' in r.getMessage()]
    assert 9 <= len(lines) <= 11, lines
    assert all(' status=503 reason=rate count=' in line for line in lines), lines
    counted = sum(int(re.search(r'count=(\d+)', line).group(1)) for line in lines)
    shed = adm.reasons['rate']
    assert shed - 300 <= counted <= shed, (counted, shed)   # the last second's come next
