# ruff: noqa: F811 -- engine is the tap tests' fixture, imported to be used as one
"""Calls /api/v1 holds open and the `conference` control's way in and out
(conference/dialout.py) over real endpoints on a MediaEngine whose clock the test runs; the
calls are stand-ins holding an endpoint (no SIP here; the dial-outs themselves are in
tests/integration/test_cisco_dial_out.py)."""
import asyncio
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
    leave = enter(rooms, c, SimpleNamespace(uuid='space-1', mute_default=False))
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
    leave_a = enter(rooms, a, CONF)
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
    enter(rooms, a, CONF)()
    await asyncio.sleep(0)
    assert CONF.uuid not in rooms.rooms
