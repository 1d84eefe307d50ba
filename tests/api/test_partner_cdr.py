"""Partners (Q-loud §3.1, §9) and CDRs (§9.1.4, §9.2.1), through the public API only: a
real server, a SIPp caller and a SIPp trunk, and a partner reading the CDRs."""
from __future__ import annotations

import time

from tests.api.test_call_api import NUMBER, Events, control, new_call
from tests.integration.conftest import Sipp, assert_sipp_ok, free_port

OTHER = '+4930555002'    # a number of a user the partner does not manage
KEY = 'partner-key-1'


def partner_login(api, name: str = 'acme', key: str = KEY, **extra) -> dict:
    return api.client().post('/api/session', json={'partner': name, 'key': key, **extra}).json()


def partner_client(api, name: str = 'acme'):
    body = partner_login(api, name)
    assert body['status'] == 'ok', body
    return api.client(body['sid'])


def setup_users(api) -> dict:
    ids = {'acme': api.add_user('acme', KEY, '--partner'),
           'joe': api.add_user('joe', 'secret12345', '--partner-of', 'acme'),
           'bob': api.add_user('bob')}
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    api.cli('phone', 'add', OTHER, '--user', 'bob', '--call-enable')
    return ids


def cdr_events(events: Events, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in events.seen if e['event'] == 'cdr']
        if len(found) >= n:
            return found
        body = events.client.get('/api/event', params={'next': events.next, 'timeout': 1}).json()
        for ev in body.get('event', []):
            events.seen.append(ev)
            events.next = ev['id'] + 1
    raise AssertionError(f'fewer than {n} cdr events; saw {events.seen[-10:]}')


def test_partner_login_and_who_may_use_the_partner_api(api):
    ids = setup_users(api)
    p = partner_client(api)
    assert p.get(f'/api/partner/cdr/{NUMBER}').json() == {'status': 'ok', 'cdr': []}
    # a partner session is not a user session: the user API refuses it
    assert p.get('/api/call').json()['status'] == 'no-auth'
    # a user who is not a partner has no partner key; a wrong key is wrong
    assert partner_login(api, 'joe', 'secret12345')['status'] == 'wrong-credentials'
    assert partner_login(api, 'acme', 'not-the-key')['status'] == 'wrong-credentials'
    assert partner_login(api, 'nobody')['status'] == 'wrong-credentials'
    r = api.client().post('/api/session', json={'partner': 'acme'}).json()
    assert r['status'] == 'missing-element'
    assert partner_login(api, 'a!')['status'] == 'wrong-syntax'
    # a user session (even the partner's own user name with its password) is not a partner one
    joe = api.login('joe')
    assert joe.get(f'/api/partner/cdr/{NUMBER}').json()['status'] == 'no-auth'
    assert joe.get('/api/partner/cdr/event').json()['status'] == 'no-auth'
    assert api.login('acme', KEY).get('/api/partner/cdr/event').json()['status'] == 'no-auth'
    assert api.client().get(f'/api/partner/cdr/{NUMBER}').json()['status'] == 'no-session'
    # §3.1: "partner" is in the answer when the user belongs to a partner
    r = api.client().post('/api/session', json={'username': 'joe', 'password': 'secret12345'}).json()
    assert r['partner'] == 'acme'
    r = api.client().post('/api/session', json={'username': 'bob', 'password': 'secret12345'}).json()
    assert r['status'] == 'ok' and 'partner' not in r
    # partner proxy authentication: a user session for one of the partner's users only
    proxy = partner_login(api, user=ids['joe'])
    assert proxy['status'] == 'ok' and proxy['auth'] is True
    phones = api.client(proxy['sid']).get('/api/phone').json()
    assert phones['status'] == 'ok' and NUMBER in str(phones), phones
    assert partner_login(api, user=ids['bob'])['status'] == 'wrong-user'
    assert partner_login(api, user='52c53e36-65be-11e4-bf4a-201a06c768e1')['status'] == 'wrong-user'
    # wrong-phone: not the partner's, or no such number; wrong-syntax for what is no number
    assert p.get(f'/api/partner/cdr/{OTHER}').json()['status'] == 'wrong-phone'
    assert p.get('/api/partner/cdr/+4930555099').json()['status'] == 'wrong-phone'
    assert p.get('/api/partner/cdr/12ab').json()['status'] == 'wrong-syntax'
    for bad in ({'count': 0}, {'count': 5001}, {'order': 'up'}, {'start': 'x'},
                {'from': 10, 'to': 5}):
        assert p.get(f'/api/partner/cdr/{NUMBER}', params=bad).json()['status'] == 'wrong-syntax', bad
    for bad in ({'timeout': 0}, {'timeout': 36001}):
        assert p.get('/api/partner/cdr/event', params=bad).json()['status'] == 'wrong-syntax', bad
    assert p.get('/api/partner/cdr/event', params={'timeout': 36000}).json() == {'status': 'ok'}
    assert p.delete('/api/partner/cdr/event').json() == {'status': 'ok'}


def test_a_bridged_call_leaves_linked_cdrs_and_events(start_api, tmp_path):
    sipp = Sipp(tmp_path)
    trunk_port = free_port()
    trunk, tcmd, twork = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, calls=1,
                                    global_timeout=120)
    api = start_api(TELEPHONY_TRUNK=f'127.0.0.1:{trunk_port}')
    setup_users(api)
    # two partner sessions take the CDR stream: it is split between them (§9.1.4)
    p1, p2 = partner_client(api), partner_client(api)
    for p in (p1, p2):
        assert p.get('/api/partner/cdr/event').json() == {'status': 'ok'}
    c = api.login('joe')
    c.get('/api/call/event')
    events = Events(c)
    began = time.time()
    caller, ccmd, cwork = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                                     service=NUMBER, calls=1, global_timeout=120)
    try:
        a = new_call(events)
        control(c, a, {'control': 'ring'}, {'control': 'answer'},
                {'control': 'dtmf_collect', 'enable': True})
        events.call_update(a, status='answered')
        r = c.post('/api/call/dial', json={'to': '+4922100099', 'from': NUMBER}).json()
        assert r['status'] == 'ok', r
        b = r['uuid']
        events.call_update(b, status='answered')
        control(c, a, {'control': 'bridge', 'call': b, 'hangup_both': True})
        events.call_update(b, bridge=a)
        # the caller takes our BYE only once its keys are sent and its audio has started
        events.wait(lambda e: e['event'] == 'call_dtmf' and e['digit'] == '5', what='digit 5')
        control(c, b, {'control': 'sleep', 'duration': 2000}, {'control': 'hangup'})
        events.call_update(a, status='hangup')
        assert_sipp_ok(sipp.wait(caller, ccmd, cwork, timeout=60), calls=1)
        assert_sipp_ok(sipp.wait(trunk, tcmd, twork, timeout=60), calls=1)
    finally:
        sipp.stop_all()
    ended = time.time()

    got = cdr_events(Events(p1), 1) + cdr_events(Events(p2), 1)
    assert len(got) == 2, got    # one each: every CDR reaches exactly one session
    by_id = {e['cdr']['id']: e['cdr'] for e in got}
    assert set(by_id) == {a, b}
    inbound, outbound = by_id[a], by_id[b]
    assert inbound['service'] == outbound['service'] == 'call'
    assert inbound['phone'] == outbound['phone'] == NUMBER
    assert 'a_number' in inbound and 'b_number' not in inbound
    assert outbound['b_number'] == '+4922100099' and 'a_number' not in outbound
    # the dialled leg was bridged to the inbound one: the inbound leg is its parent and root
    assert outbound['parent'] == a and outbound['root'] == a
    assert 'parent' not in inbound and 'root' not in inbound
    for cdr in (inbound, outbound):
        assert int(began * 1000) - 1000 <= cdr['date'] <= int(ended * 1000)
        assert cdr['t_pre'] >= 0 and cdr['t_post'] >= 0
        assert cdr['t_pre'] + cdr['t_post'] <= ended - began + 1
    assert inbound['date'] <= outbound['date']

    # the list: in date order, paged by count and start, both directions, from/to
    listed = p1.get(f'/api/partner/cdr/{NUMBER}').json()
    assert listed['status'] == 'ok'
    assert [x['id'] for x in listed['cdr']] == [a, b]
    assert listed['cdr'] == [inbound, outbound]
    first = p1.get(f'/api/partner/cdr/{NUMBER}', params={'count': 1}).json()['cdr']
    assert [x['id'] for x in first] == [a]
    rest = p1.get(f'/api/partner/cdr/{NUMBER}', params={'start': a}).json()['cdr']
    assert [x['id'] for x in rest] == [b]
    newest = p1.get(f'/api/partner/cdr/{NUMBER}', params={'order': 'desc', 'count': 1}).json()
    assert [x['id'] for x in newest['cdr']] == [b]
    older = p1.get(f'/api/partner/cdr/{NUMBER}', params={'order': 'desc', 'start': b}).json()
    assert [x['id'] for x in older['cdr']] == [a]
    later = p1.get(f'/api/partner/cdr/{NUMBER}', params={'from': int(ended) + 5}).json()
    assert later['cdr'] == []
    window = p1.get(f'/api/partner/cdr/{NUMBER}',
                    params={'from': int(began) - 1, 'to': int(ended) + 1}).json()
    assert [x['id'] for x in window['cdr']] == [a, b]
    # after DELETE /api/partner/cdr/event, a session gets no more cdr events
    assert p1.delete('/api/partner/cdr/event').json() == {'status': 'ok'}
