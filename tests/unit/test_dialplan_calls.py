"""calls/callback.py's process state: callthrough requests and call-reverse processes (the
calls themselves are tests/integration/test_callback.py's)."""
from __future__ import annotations

import asyncio

from telephony.calls.callback import CALLREVERSE_LIMIT, CALLTHROUGH_TIMEOUT, DialplanCalls


class Events:
    def __init__(self):
        self.seen: list[tuple] = []

    def publish(self, user, name, fields, call=False):
        self.seen.append((user, name, fields))


class Waiting:
    """What a call-reverse process holds of the waiting call: its end."""
    def __init__(self):
        self.ended = asyncio.get_running_loop().create_future()


def calls(now: list[float]) -> DialplanCalls:
    return DialplanCalls(None, None, Events(), clock=lambda: now[0])


async def test_callthrough_matches_its_filter_once_and_times_out():
    now = [100.0]
    d = calls(now)
    d.set_callthrough('joe', '+4922100088', '+4922100077')
    assert d._take_callthrough('joe', '+4922100066') is None      # not the filter's number
    assert d._take_callthrough('joe', None) is None               # CLIR never matches
    assert d._take_callthrough('eve', '+4922100077') is None      # another user's
    ct = d._take_callthrough('joe', '+4922100077')
    assert ct.phone == '+4922100088'
    assert d._take_callthrough('joe', '+4922100077') is None      # used up
    d.set_callthrough('joe', '+4922100088', None)                 # no filter: any caller
    now[0] += CALLTHROUGH_TIMEOUT
    assert d._take_callthrough('joe', '+4922100066') is None      # timed out
    assert 'joe' not in d.callthroughs


async def test_callthrough_is_reset_and_cleared_by_each_request():
    d = calls([0.0])
    d.set_callthrough('joe', '+4922100088', '+4922100077')
    d.set_callthrough('joe', '+4922100099', None)
    assert d.callthroughs['joe'].phone == '+4922100099' and d.callthroughs['joe'].filter is None
    d.set_callthrough('joe', None, '+4922100077')                 # without phone: cleared
    assert 'joe' not in d.callthroughs
    d.set_callthrough('joe', '+4922100088', '+4922100077')
    assert d._take_callthrough('joe', None, any_caller=True).phone == '+4922100088'   # *98


async def test_callreverse_events_filter_and_end():
    d = calls([0.0])
    assert d.set_callreverse_filter('joe', '+4922100077') is False   # no-callreverse
    w = Waiting()
    proc = d.offer_callreverse('joe', w, '+4989123248278', '+492216698000')
    fields = {'phone_from': '+4989123248278', 'phone_to': '+492216698000'}
    assert d.events.seen == [('joe', 'dialplan_callreverse_start', fields)]
    assert d._take_callreverse('joe', '+4922100077') is None         # no filter yet
    assert d.set_callreverse_filter('joe', '+4922100077') is True
    assert d._take_callreverse('joe', '+4922100066') is None
    assert d._take_callreverse('joe', '+4922100077') is proc
    w.ended.set_result(16)                                           # the caller hung up
    assert await asyncio.wait_for(proc.connected, 5) is None         # ended, nobody took it
    assert d.events.seen[-1] == ('joe', 'dialplan_callreverse_stop', fields)
    assert 'joe' not in d.callreverses
    d.end_callreverse(proc)                                          # twice: one stop only
    assert len(d.events.seen) == 2


async def test_callreverse_processes_per_user_are_capped():
    d = calls([0.0])
    for _ in range(CALLREVERSE_LIMIT):
        assert d.offer_callreverse('joe', Waiting(), '+4989123248278', '+492216698000')
    assert d.offer_callreverse('joe', Waiting(), '+4989123248278', '+492216698000') is None
    assert d.offer_callreverse('eve', Waiting(), '+4989123248278', '+492216698001')
