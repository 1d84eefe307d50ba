"""Per-session event queues (§3.27, §6): contiguous ids, the gap after overflow, long-poll
wake-up, and delivery to a user's sessions."""
from __future__ import annotations

import asyncio

from telephony.api import events, filters
from telephony.api.events import Session, SessionStore


def ev(n: int, **extra) -> dict:
    return {'event': 'test', 'time': 1, 'n': n, **extra}


def test_ids_are_contiguous_from_zero():
    s = Session('sid', 'did', user='u')
    for i in range(5):
        s.push(ev(i))
    got = s.pending(0)
    assert [e['id'] for e in got] == [0, 1, 2, 3, 4]
    assert [e['n'] for e in got] == [0, 1, 2, 3, 4]
    assert s.next_id == 5
    assert [e['id'] for e in s.pending(3)] == [3, 4]
    assert s.pending(5) == [] and s.pending(99) == []


def test_push_copies_the_event():
    s = Session('sid', 'did', user='u')
    original = ev(0)
    s.push(original)
    s.push(original)
    assert 'id' not in original
    assert [e['id'] for e in s.pending(0)] == [0, 1]


def test_overflow_drops_the_oldest_and_the_gap_shows():
    s = Session('sid', 'did', user='u')
    extra = 7
    for i in range(events.QUEUE_LIMIT + extra):
        s.push(ev(i))
    got = s.pending(0)
    assert len(got) == events.QUEUE_LIMIT
    ids = [e['id'] for e in got]
    assert ids[0] == extra                       # a client asking from 0 sees the gap 0..6
    assert ids == list(range(extra, events.QUEUE_LIMIT + extra))   # still contiguous after it
    assert got[0]['n'] == extra


def test_filtered_out_events_take_no_id():
    s = Session('sid', 'did', user='u')
    s.filter = filters.compile({'op': 'equal', 'key': 'keep', 'value': True})
    s.push(ev(0, keep=True))
    s.push(ev(1, keep=False))
    s.push(ev(2))
    s.push(ev(3, keep=True))
    assert [(e['id'], e['n']) for e in s.pending(0)] == [(0, 0), (1, 3)]
    s.filter = None
    s.push(ev(4))
    assert [e['id'] for e in s.pending(0)] == [0, 1, 2]


async def test_wait_returns_at_once_when_events_are_pending():
    s = Session('sid', 'did', user='u')
    s.push(ev(0))
    s.push(ev(1))
    assert [e['id'] for e in await s.wait(0, 300)] == [0, 1]
    assert [e['id'] for e in await s.wait(1, 300)] == [1]


async def test_wait_times_out_empty():
    s = Session('sid', 'did', user='u')
    assert await s.wait(0, 0) == []
    assert await s.wait(0, 0.05) == []
    s.push(ev(0))
    assert await s.wait(1, 0.05) == []           # only older events are queued


async def test_a_push_wakes_every_waiter():
    s = Session('sid', 'did', user='u')
    first = asyncio.create_task(s.wait(0, 300))
    second = asyncio.create_task(s.wait(0, 300))
    later = asyncio.create_task(s.wait(1, 300))
    await asyncio.sleep(0)                       # one loop turn: all three are waiting now
    assert not (first.done() or second.done() or later.done())
    s.push(ev(0))
    a, b = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert [e['id'] for e in a] == [0] and [e['id'] for e in b] == [0]
    assert not later.done()                      # id 0 is older than it asked for
    s.push(ev(1))
    assert [e['id'] for e in await asyncio.wait_for(later, 10)] == [1]


async def test_a_filtered_out_event_does_not_end_the_wait():
    s = Session('sid', 'did', user='u')
    s.filter = filters.compile({'op': 'equal', 'key': 'keep', 'value': True})
    waiter = asyncio.create_task(s.wait(0, 300))
    await asyncio.sleep(0)
    s.push(ev(0))
    await asyncio.sleep(0)
    assert not waiter.done()
    s.push(ev(1, keep=True))
    [got] = await asyncio.wait_for(waiter, 10)
    assert got['n'] == 1 and got['id'] == 0


def test_publish_reaches_every_session_of_the_user_and_no_other():
    store = SessionStore()
    a1, a2, b, anon = store.create(), store.create(), store.create(), store.create()
    store.authenticate(a1, 'user-a')
    store.authenticate(a2, 'user-a')
    store.authenticate(b, 'user-b')
    store.publish('user-a', 'sip_new', {'user': 'joe_01'})
    for s in (a1, a2):
        [e] = s.pending(0)
        assert e['event'] == 'sip_new' and e['user'] == 'joe_01' and e['id'] == 0
        assert isinstance(e['time'], int)
    assert b.pending(0) == [] and anon.pending(0) == []
    store.publish(None, 'sip_new', {})           # an account without owner: nobody
    assert all(s.next_id == n for s, n in ((a1, 1), (a2, 1), (b, 0), (anon, 0)))


def test_call_events_only_reach_sessions_that_asked_for_them():
    store = SessionStore()
    plain, calls = store.create(), store.create()
    store.authenticate(plain, 'u')
    store.authenticate(calls, 'u')
    calls.call_events = True
    store.publish('u', 'call_update', {'uuid': 'x'}, call=True)
    store.publish('u', 'sip_new', {'user': 'u_01'})
    assert [e['event'] for e in plain.pending(0)] == ['sip_new']
    assert [e['event'] for e in calls.pending(0)] == ['call_update', 'sip_new']


def test_a_deleted_session_gets_nothing_more():
    store = SessionStore()
    s = store.create()
    store.authenticate(s, 'u')
    store.delete(s)
    store.publish('u', 'sip_new', {})
    assert s.pending(0) == [] and store.get(s.sid) is None and 'u' not in store.by_user


# --- expiry, the anonymous cap, login and Origin (issue 8) -------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_idle_sessions_expire_and_the_sweep_removes_them():
    clock = Clock()
    store = SessionStore(idle=600, clock=clock)
    user = store.create(user='u')
    anon = store.create()
    used = store.create(user='u')
    clock.now += 299
    assert store.get(used.sid) is used
    clock.now += 2                    # anonymous sessions last 300 s at most
    assert store.get(anon.sid) is None and anon.sid not in store.by_sid
    clock.now += 299                  # `user` unused 600 s: not yet past idle
    assert store.sweep() == 0
    clock.now += 2
    assert store.sweep() == 1         # user went; used was touched 301 s ago
    assert user.sid not in store.by_sid and user.did not in store.by_did
    assert store.by_user == {'u': {used.sid}}
    store.touch(used)
    clock.now += 599
    assert store.get(used.sid) is used


def test_a_download_id_expires_with_its_session():
    """did + dkey downloads (§2.3) must not outlive the session they belong to."""
    clock = Clock()
    store = SessionStore(idle=600, clock=clock)
    s = store.create(user='u')
    assert store.by_download_id(s.did) is s
    clock.now += 601
    assert store.by_download_id(s.did) is None and s.did not in store.by_did
    assert store.by_download_id(None) is None


def test_anonymous_sessions_are_capped_and_logins_are_not():
    store = SessionStore(max_anonymous=2)
    first, _ = store.create(), store.create()
    try:
        store.create()
        raise AssertionError('a third anonymous session was created')
    except events.TooManySessions:
        pass
    store.create(user='u')            # POST /api/session without a session still works
    store.login(first, 'v', None)     # a login frees an anonymous place
    assert store.anonymous == 1
    store.create()
    assert store.anonymous == 2


def test_login_starts_a_new_session_and_ends_the_old_one():
    store = SessionStore()
    fixed = store.create()            # created by an attacker, handed to the victim
    s = store.login(fixed, 'victim', 'https://app.example')
    assert store.get(fixed.sid) is None and fixed.did not in store.by_did
    assert s.sid != fixed.sid and s.did != fixed.did and s.user == 'victim'
    assert store.get(s.sid) is s and s.origin == 'https://app.example'
    store.publish('victim', 'sip_new', {})
    assert fixed.pending(0) == [] and len(s.pending(0)) == 1


def test_origin_binding():
    s = Session('sid', 'did', origin='https://a.example')
    assert s.origin_ok('https://a.example') and s.origin_ok(None)
    assert not s.origin_ok('https://b.example')
    free = Session('sid2', 'did2')    # made without an Origin: the first one seen binds it
    assert free.origin_ok(None) and free.origin_ok('https://a.example')
    assert not free.origin_ok('https://b.example') and free.origin_ok(None)


async def test_sweep_forever_sweeps():
    clock = Clock()
    store = SessionStore(idle=2, clock=clock)
    store.create()
    swept = asyncio.Event()
    store.sweep = lambda: (swept.set(), SessionStore.sweep(store))[1]
    task = asyncio.create_task(store.sweep_forever())
    try:
        clock.now += 3
        await asyncio.wait_for(swept.wait(), 30)
    finally:
        task.cancel()
    assert store.by_sid == {}
