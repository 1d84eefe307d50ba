# ruff: noqa: F811 -- engine is the tap tests' fixture, imported to be used as one
"""Calls /api/v1 holds open and the `conference` control's way in and out
(conference/dialout.py) over real endpoints on a MediaEngine whose clock the test runs; the
calls are stand-ins holding an endpoint (no SIP here; the dial-outs themselves are in
tests/integration/test_cisco_dial_out.py)."""
import asyncio
from dataclasses import replace
from types import SimpleNamespace

import pytest

from telephony.conference.dialout import DialOuts, Refused, enter
from telephony.conference.registry import ConferenceRegistry
from telephony.conference.room import ConferenceRooms
from telephony.events import EventSink
from telephony.store.conferences import Conference

from .test_conference_tap import call, engine  # noqa: F401 -- the fixture

CONF = Conference('conf-1', 'joe', 0.0, 'team', '2468', True, False)
SETTINGS = SimpleNamespace(cisco_api_calls_max=2, cisco_dialouts_max=5,
                           cisco_dialout_ring_seconds=60)


async def steps_until(predicate, steps: int = 20) -> None:
    """Let the loop run its ready callbacks (no clock involved) until `predicate` holds."""
    for _ in range(steps):
        if predicate():
            return
        await asyncio.sleep(0)
    assert predicate()


def setup(engine):
    rooms = ConferenceRooms(ConferenceRegistry(EventSink()), engine.mixer)
    return rooms, DialOuts(rooms, None, SETTINGS)


async def test_a_held_call_outlives_its_members_until_ended(engine):
    rooms, dialouts = setup(engine)
    room = await dialouts.create_call('space-1', 'Board')
    assert (room.held, room.cospace, room.call_space()) == (True, True, 'space-1')
    assert await dialouts.create_call('space-1', '') is room      # one call per coSpace
    assert rooms.running() == [room] and not room.legs
    c = await call(engine, 'a', engine.peer)
    leave, _ = enter(rooms, c, SimpleNamespace(uuid='space-1', mute_default=False))
    await asyncio.sleep(0)                                  # the join's first step: the add
    assert len(room.legs) == 1
    leave()
    assert not room.legs and rooms.running() == [room]      # empty, still held
    assert not c.ended.done()                               # the call goes on
    dialouts.end_call(room)
    assert rooms.running() == [] and 'space-1' not in rooms.rooms


async def test_calls_are_capped_and_ad_hoc_ones_have_no_cospace(engine):
    rooms, dialouts = setup(engine)
    first = await dialouts.create_call(None, 'standup')
    assert (first.cospace, first.call_space(), first.description) == (False, None, 'standup')
    await dialouts.create_call(None, 'second')
    with pytest.raises(Refused) as refused:
        await dialouts.create_call(None, 'third')
    assert refused.value.reason == 'tooManyCalls'
    dialouts.end_call(first)
    assert (await dialouts.create_call(None, 'third')).held


async def test_the_conference_control_leaves_at_once_and_a_call_end_leaves_too(engine):
    rooms, _ = setup(engine)
    a, b = await call(engine, 'a', engine.peer), await call(engine, 'b', engine.peer)
    leave_a, _ = enter(rooms, a, CONF)
    enter(rooms, b, CONF)
    await asyncio.sleep(0)
    room = rooms.rooms[CONF.uuid]
    assert len(room.legs) == 2
    leave_a()                                                # split: out now, b stays
    assert [m.call.id for m in room.legs.values()] == ['b']
    b.ended.set_result(16)                                   # b hangs up: the room closes
    await steps_until(lambda: CONF.uuid not in rooms.rooms)
    leave_a()                                                # twice is nothing
    assert not a.ended.done()


async def test_a_leave_before_the_join_ran_adds_nothing(engine):
    rooms, _ = setup(engine)
    a = await call(engine, 'a', engine.peer)
    enter(rooms, a, CONF)[0]()
    await asyncio.sleep(0)
    assert CONF.uuid not in rooms.rooms


class Dialler:
    """CallManager.dial's stand-in: each dial is a ringing leg whose hangup is recorded."""

    def __init__(self):
        self.hung_up: dict[str, asyncio.Event] = {}

    async def dial(self, owner, caller, callee, *args, **kwargs):
        loop = asyncio.get_running_loop()
        name = f'out-{len(self.hung_up)}'
        gone = self.hung_up[name] = asyncio.Event()
        c = SimpleNamespace(id=name, listeners=[], info={}, ended=loop.create_future())

        def hangup(cause=None):
            c.leg.state, c.leg.cause = 'hangup', cause
            gone.set()
            if not c.ended.done():
                c.ended.set_result(cause)
        c.leg = SimpleNamespace(state='ringing', ended=False, endpoint=None, hangup=hangup)
        return c


async def test_ringing_dial_outs_are_on_the_rooms_one_deadline_heap(engine):
    rooms = ConferenceRooms(ConferenceRegistry(EventSink()), engine.mixer)
    dialler = Dialler()
    dialouts = DialOuts(rooms, dialler, SimpleNamespace(**{**vars(SETTINGS),
                                                          'cisco_dialout_ring_seconds': 3600}))
    room = await dialouts.create_call('space-1', 'Board')
    first = await dialouts.dial(room, 'alice', '100')
    second = await dialouts.dial(room, 'bob', '100')
    assert len(rooms.deadlines) == 2                     # one heap entry each, no own timers
    second.call.leg.hangup()                             # a leg given up: its deadline goes
    await steps_until(lambda: len(rooms.deadlines) == 1)
    dialouts.settings.cisco_dialout_ring_seconds = 0     # a leg whose ring time is up at once
    third = await dialouts.dial(room, 'carol', '100')
    await asyncio.wait_for(dialler.hung_up[third.id].wait(), 10)
    assert third.call.leg.cause == 19                    # no answer, by the heap's one timer
    assert first.call.leg.state == 'ringing' and len(rooms.deadlines) == 1


async def test_the_conference_control_reads_the_conference_again_when_it_runs(engine):
    """Queued behind a `sleep`, the control may find its conference trashed or deactivated
    since it was checked: it is refused with wrong-conference and the call joins nothing."""
    rooms, _ = setup(engine)
    stored = {'conf-1': CONF}

    async def current(owner, uuid):
        return stored.get(uuid) if owner == 'joe' else None
    for now in (replace(CONF, active=False), replace(CONF, trashed=1.0), None):
        stored['conf-1'] = now
        a = await call(engine, 'a', engine.peer)
        _, checked = enter(rooms, a, CONF, current)
        assert await asyncio.wait_for(checked, 10) == 'wrong-conference'
        assert CONF.uuid not in rooms.rooms
    stored['conf-1'] = CONF                              # active again: it joins
    _, checked = enter(rooms, a, CONF, current)
    assert await asyncio.wait_for(checked, 10) is None
    assert [m.call.id for m in rooms.rooms[CONF.uuid].legs.values()] == ['a']
