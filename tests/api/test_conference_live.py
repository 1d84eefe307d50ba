"""/api/conference/(uuid)/event and /member with a running conference: the real HTTP app,
session store, event sink, conference registry and SQLite store in this process, and a room
that holds its members the way the conference runtime will (rooms are not wired to calls in
this build, so the server process has none to show).

Detail events reach only the sessions that subscribed with GET .../event; conference_start
and conference_stop every session of the owner; a subscription to a busy conference gets a
conference_status first; member updates and kicks reach the room."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import httpx
import pytest

from telephony.api.app import create_app
from telephony.api.events import SessionStore
from telephony.conference.registry import ConferenceRegistry
from telephony.config import Settings
from telephony.events import EventSink
from telephony.store.conferences import ConferenceStore
from telephony.store.db import Database
from telephony.store.phones import PhoneStore

M1 = '9fe1cc2a-8ab6-11e0-b368-0024e8f90cc0'
M2 = 'b1439c46-8ab6-11e0-acdc-0024e8f90cc0'
USER = '2d07f7be-8abc-11e0-8166-0024e8f90cc0'


@dataclass
class Room:
    """What conference/registry.py's Room protocol asks of a running conference."""
    uuid: str
    owner: str
    description: str
    members: dict = field(default_factory=dict)
    kicked: list = field(default_factory=list)

    def update(self, member, fields):
        if member in self.members:
            self.members[member].update(fields)

    def kick(self, member):
        if self.members.pop(member, None) is not None:
            self.kicked.append(member)


def member(phone: str) -> dict:
    return {'phone': phone, 'mute': False, 'deaf': False, 'talk': False, 'floor': False,
            'volume_in': 0, 'volume_out': 0}


@pytest.fixture
async def live(tmp_path):
    db = Database(f'sqlite+aiosqlite:///{tmp_path / "telephony.db"}')
    await db.open()
    sink, sessions = EventSink(), SessionStore()
    sink.subscribe(sessions)
    server = SimpleNamespace(settings=Settings(), sessions=sessions, db=db, events=sink,
                             conferences=ConferenceStore(db, sink), phones=PhoneStore(db),
                             conference_runtime=ConferenceRegistry(sink), stopping=False)
    app = create_app(server)
    clients = []

    def client(user: str) -> httpx.AsyncClient:
        s = sessions.create(user=user)
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url='http://t',
                              headers={'Authorization': f'Bearer {s.sid}'})
        clients.append(c)
        return c
    yield server, client
    for c in clients:
        await c.aclose()
    await db.close()


async def events(c: httpx.AsyncClient, prefix: str = 'conference_') -> list[dict]:
    body = (await c.get('/api/event', params={'next': 0, 'timeout': 0})).json()
    return [e for e in body['event'] if e['event'].startswith(prefix)]


async def test_detail_events_reach_only_subscribed_sessions(live):
    server, client = live
    follows, other, eve = client('joe'), client('joe'), client('eve')
    made = (await follows.post('/api/conference', json={'pin': '4711', 'active': True,
                                                        'description': 'Team'})).json()
    uuid = made['uuid']
    second = (await follows.post('/api/conference', json={'pin': '4712', 'active': True}))
    second = second.json()['uuid']
    assert (await follows.get(f'/api/conference/{uuid}/event')).json() == {
        'status': 'ok', 'busy': False}
    # eve cannot follow joe's conference
    assert (await eve.get(f'/api/conference/{uuid}/event')).json()['status'] == 'wrong-conference'

    reg = server.conference_runtime
    room, elsewhere = Room(uuid, 'joe', 'Team'), Room(second, 'joe', '')
    reg.started(room)
    reg.detail(room, 'conference_join', {M1: member('+492216698123')})
    reg.detail(elsewhere, 'conference_join', {M2: member('+49241441010')})
    reg.detail(room, 'conference_leave', [M1])
    reg.stopped(room)

    got = [(e['event'], e['conference']) for e in await events(follows)]
    assert got == [('conference_start', uuid), ('conference_join', uuid),
                   ('conference_leave', uuid), ('conference_stop', uuid)]
    # the owner's other session sees the conference go live and end, no details
    assert [(e['event'], e['conference']) for e in await events(other)] == [
        ('conference_start', uuid), ('conference_stop', uuid)]
    start = (await events(other))[0]
    assert (start['owner'], start['description']) == ('joe', 'Team')
    assert await events(eve) == []

    # unsubscribed: no more details
    assert (await follows.delete(f'/api/conference/{uuid}/event')).json() == {'status': 'ok'}
    reg.detail(room, 'conference_update', {M1: {'talk': True}})
    assert len(await events(follows)) == 4


async def test_a_busy_conference_answers_busy_with_a_status_event_first(live):
    server, client = live
    c = client('joe')
    uuid = (await c.post('/api/conference', json={'pin': '4711', 'active': True})).json()['uuid']
    room = Room(uuid, 'joe', '', {M1: member('+492216698000'), M2: member('+49241441010')})
    server.conference_runtime.started(room)
    assert (await c.get(f'/api/conference/{uuid}/event')).json() == {'status': 'ok', 'busy': True}
    status = [e for e in await events(c) if e['event'] == 'conference_status']
    assert len(status) == 1
    assert status[0]['conference'] == uuid and status[0]['member'] == room.members


async def test_member_updates_and_kicks_reach_the_room(live):
    server, client = live
    c = client('joe')
    uuid = (await c.post('/api/conference', json={'pin': '4711', 'active': True})).json()['uuid']
    room = Room(uuid, 'joe', '', {M1: member('+492216698000'), M2: member('+49241441010')})
    server.conference_runtime.started(room)
    body = {'update': {M1.upper(): {'user': USER, 'mute': True, 'deaf': False, 'volume_in': 1,
                                    'volume_out': -1},
                       M2: {}},
            'delete': ['22731d12-8b6e-11e0-9f8c-0024e8f90cc0']}    # left already: passed over
    assert (await c.post(f'/api/conference/{uuid}/member', json=body)).json() == {'status': 'ok'}
    assert room.members[M1] == {**member('+492216698000'), 'user': USER, 'mute': True,
                                'volume_in': 1, 'volume_out': -1}
    assert room.members[M2] == member('+49241441010')
    assert (await c.post(f'/api/conference/{uuid}/member', json={'delete': [M2]})).json() == {
        'status': 'ok'}
    assert room.kicked == [M2] and list(room.members) == [M1]

    # deleting the conference hangs up whoever is still in it
    assert (await c.delete(f'/api/conference/{uuid}')).json() == {'status': 'ok'}
    assert room.kicked == [M2, M1]


async def test_a_session_follows_a_bounded_number_of_conferences(live, monkeypatch):
    from telephony.api.qloud import conference as api
    monkeypatch.setattr(api, 'MAX_TOPICS', 2)
    _, client = live
    c = client('joe')
    rooms = [(await c.post('/api/conference', json={'pin': f'000{i}', 'active': True})).json()['uuid']
             for i in range(3)]
    for uuid in rooms[:2]:
        assert (await c.get(f'/api/conference/{uuid}/event')).json()['status'] == 'ok'
    r = (await c.get(f'/api/conference/{rooms[2]}/event')).json()
    assert r['status'] == 'too-large', r
    # following one again is no new subscription; after letting one go there is room
    assert (await c.get(f'/api/conference/{rooms[0]}/event')).json()['status'] == 'ok'
    await c.delete(f'/api/conference/{rooms[1]}/event')
    assert (await c.get(f'/api/conference/{rooms[2]}/event')).json()['status'] == 'ok'
