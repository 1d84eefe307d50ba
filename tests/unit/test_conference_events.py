"""Conference events (Q-loud §7.11) from the registry through the event sink to sessions:
conference_start/stop reach every session of the owner, the detail events only the sessions
that subscribed to that conference."""
from __future__ import annotations

from dataclasses import dataclass, field

from telephony.api.events import SessionStore
from telephony.conference.registry import ConferenceRegistry
from telephony.events import EventSink

C1 = '52a9fd3c-8aad-11e0-9138-0024e8f90cc0'
C2 = '52a9fd3c-8aad-11e0-9138-0024e8f90cc1'
MEMBER = 'b20116b8-8acf-11e0-b38e-0024e8f90cc0'


@dataclass
class Room:
    uuid: str
    owner: str = 'joe'
    description: str = 'My Conference Room'
    members: dict = field(default_factory=dict)

    def update(self, member, fields):
        self.members[member].update(fields)

    def kick(self, member):
        self.members.pop(member, None)


def setup():
    sink, store = EventSink(), SessionStore()
    sink.subscribe(store)
    sessions = {}
    for name, user in (('follows', 'joe'), ('other', 'joe'), ('eve', 'eve')):
        sessions[name] = store.create(user=user)
    return ConferenceRegistry(sink), store, sessions


def names(s) -> list[str]:
    return [e['event'] for e in s.pending(0)]


def test_start_and_stop_reach_every_session_of_the_owner():
    reg, _, s = setup()
    room = Room(C1)
    reg.started(room)
    assert reg.running(C1) is room and reg.running(C1.upper()) is room
    reg.stopped(room)
    assert reg.running(C1) is None
    for name in ('follows', 'other'):
        got = s[name].pending(0)
        assert [e['event'] for e in got] == ['conference_start', 'conference_stop']
        assert {k: got[0][k] for k in ('conference', 'owner', 'description')} == {
            'conference': C1, 'owner': 'joe', 'description': 'My Conference Room'}
    assert names(s['eve']) == []


def test_detail_events_reach_only_the_sessions_subscribed_to_that_conference():
    reg, store, s = setup()
    s['follows'].topics.add(C1)
    s['eve'].topics.add(C1)         # not the owner's session: the owner's events never go there
    room, elsewhere = Room(C1), Room(C2)
    join = {MEMBER: {'phone': '+492216698123', 'mute': False, 'deaf': False, 'talk': True,
                     'floor': True, 'volume_in': 0, 'volume_out': 0}}
    reg.detail(room, 'conference_join', join)
    reg.detail(elsewhere, 'conference_join', join)
    reg.detail(room, 'conference_leave', [MEMBER])
    got = s['follows'].pending(0)
    assert [(e['event'], e['conference']) for e in got] == [
        ('conference_join', C1), ('conference_leave', C1)]
    assert got[0]['member'] == join and got[1]['member'] == [MEMBER]
    assert names(s['other']) == [] and names(s['eve']) == []

    # unsubscribed, or the conference purged: nothing more
    store.drop_topic('joe', C1)
    reg.detail(room, 'conference_update', {MEMBER: {'talk': False}})
    assert len(s['follows'].pending(0)) == 2


def test_a_stale_stop_does_not_unregister_a_newer_room():
    reg, _, _ = setup()
    old, new = Room(C1), Room(C1)
    reg.started(old)
    reg.started(new)
    reg.stopped(old)
    assert reg.running(C1) is new
