"""Periodic conference_status (Q-loud §7.11.3 "may be sent periodically"): one timer for all
rooms in conference/registry.py, to the sessions that follow each conference only, off with
interval 0, gone with the last room."""
from __future__ import annotations

import asyncio

from telephony.api.events import SessionStore
from telephony.conference.registry import ConferenceRegistry
from telephony.events import EventSink
from tests.unit.test_conference_events import C1, C2, MEMBER, Room


def setup(interval: float):
    sink, store = EventSink(), SessionStore()
    sink.subscribe(store)
    follows, other = store.create(user='joe'), store.create(user='joe')
    follows.topics.add(C1)
    follows.topics.add(C2)
    return ConferenceRegistry(sink, interval), follows, other


async def statuses(session, count: int) -> list[dict]:
    """Wait (bounded) until `session` holds `count` conference_status events: on the
    session's own long-poll wait, as a client does."""
    async def enough():
        seen = 0
        while True:
            events = await session.wait(seen, 20)
            seen = max([seen] + [e['id'] + 1 for e in events])
            got = [e for e in session.pending(0) if e['event'] == 'conference_status']
            if len(got) >= count:
                return got
    return await asyncio.wait_for(enough(), 20)


async def test_rooms_status_comes_again_and_again_to_the_following_sessions_only():
    reg, follows, other = setup(0.02)
    one = Room(C1, members={MEMBER: {'mute': False, 'talk': True}})
    two = Room(C2, members={'m2': {'mute': True}})
    reg.started(one)
    reg.started(two)
    timer = reg._status_timer
    got = await statuses(follows, 4)
    assert reg._status_timer is not None and timer is not None      # one timer, re-armed
    assert {e['conference'] for e in got} == {C1, C2}
    assert [e['member'] for e in got if e['conference'] == C1][0] == {
        MEMBER: {'mute': False, 'talk': True}}
    assert all(e['event'] != 'conference_status' for e in other.pending(0))
    # the snapshot is a copy: a later change does not rewrite a queued event
    first = next(e for e in got if e['conference'] == C1)
    one.members[MEMBER]['mute'] = True
    assert first['member'][MEMBER]['mute'] is False
    reg.stopped(one)
    reg.stopped(two)
    assert reg._status_timer is None                                   # no room, no timer


async def test_a_room_without_owner_or_members_sends_none():
    reg, follows, _ = setup(0.02)
    cospace = Room(C1, owner=None, members={MEMBER: {}})
    empty = Room(C2, members={})
    reg.started(cospace)
    reg.started(empty)
    marker = Room('52a9fd3c-8aad-11e0-9138-0024e8f90cc2', members={'m': {}})
    follows.topics.add(marker.uuid)
    reg.started(marker)
    got = await statuses(follows, 2)                 # two rounds of the timer have passed
    assert {e['conference'] for e in got} == {marker.uuid}


async def test_one_failing_room_does_not_stop_the_others():
    class Broken(Room):
        @property
        def members(self):
            raise RuntimeError('broken')

        @members.setter
        def members(self, _):
            pass

    reg, follows, _ = setup(0.02)
    reg.started(Broken(C1))
    reg.started(Room(C2, members={'m': {}}))
    assert {e['conference'] for e in await statuses(follows, 2)} == {C2}


async def test_interval_zero_arms_no_timer():
    reg, follows, _ = setup(0)
    reg.started(Room(C1, members={MEMBER: {}}))
    assert reg._status_timer is None
    reg.stopped(Room(C1))
