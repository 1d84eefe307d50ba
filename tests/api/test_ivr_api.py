"""/api/ivr (Q-loud §5.1.1) against the real server: create, read, update, delete, list,
every field error, ownership, and the phone API's `ivr` reference."""
from __future__ import annotations

import pytest

UNKNOWN = 'ce19884c-8fed-11e2-93fe-0024e8f90cff'
OURS, OTHERS = '+4930555100', '+4930555200'


def announcement(c) -> str:
    body = c.post('/api/announcement', json={'description': 'menu'}).json()
    assert body['status'] == 'ok', body
    return body['uuid']


def example(ann: str, sub: str, sub2: str, sub3: str, timeout_ann: str) -> dict:
    """The document's request body example, with uuids of objects that exist and a
    redirect number of this service (+4922116696000 in the document)."""
    return {
        'description': 'Company Welcome',
        'announcement': ann,
        '1': sub,
        '2': sub2,
        '4': OURS,
        '*': sub3,
        'other': 'repeat',
        'timeout': {'seconds': 10, 'action': 'play', 'announcement': timeout_ann},
    }


@pytest.fixture
def joe(api):
    api.add_user('joe')
    api.add_user('eve')
    api.cli('phone', 'add', OURS, '--user', 'joe', '--recording-enable')
    api.cli('phone', 'add', OTHERS, '--user', 'eve', '--recording-enable')
    c = api.login('joe')
    c.ann = announcement(c)
    c.eve = api.login('eve')
    return c


def leaf(c, description: str = 'Support') -> str:
    body = c.post('/api/ivr', json={'description': description, 'announcement': c.ann,
                                    '0': OURS}).json()
    assert body['status'] == 'ok', body
    return body['uuid']


def test_documents_example_round_trips(joe):
    c = joe
    subs = [leaf(c, f'sub {i}') for i in range(3)]
    body = example(c.ann, *subs, announcement(c))
    created = c.post('/api/ivr', json=body).json()
    assert created['status'] == 'ok' and set(created) == {'status', 'uuid'}, created
    uuid = created['uuid']
    assert c.get(f'/api/ivr/{uuid}').json() == {'status': 'ok', 'ivr': body}

    # list: description and uuid, creation order, paging
    listed = c.get('/api/ivr').json()
    assert listed['status'] == 'ok'
    assert listed['ivr'] == [{'description': f'sub {i}', 'uuid': subs[i]} for i in range(3)] + [
        {'description': 'Company Welcome', 'uuid': uuid}]
    assert [m['uuid'] for m in c.get('/api/ivr', params={'order': 'desc'}).json()['ivr']] == \
        [uuid, *reversed(subs)]
    assert [m['uuid'] for m in c.get('/api/ivr', params={'count': 2}).json()['ivr']] == subs[:2]
    assert [m['uuid'] for m in c.get('/api/ivr', params={'start': subs[0], 'count': 2})
            .json()['ivr']] == subs[1:3]
    assert [m['uuid'] for m in c.get('/api/ivr', params={'start': subs[2], 'order': 'desc'})
            .json()['ivr']] == [subs[1], subs[0]]
    assert c.get('/api/ivr', params={'from': 0, 'to': 1}).json()['ivr'] == []
    assert len(c.get('/api/ivr', params={'from': 0}).json()['ivr']) == 4

    # update replaces the whole menu; the unused timeout field is dropped
    change = {'description': 'Company Welcome 2', 'announcement': c.ann, '#': subs[0],
              'other': OURS,
              'timeout': {'seconds': 5, 'action': 'repeat', 'announcement': c.ann}}
    assert c.post(f'/api/ivr/{uuid}', json=change).json() == {'status': 'ok'}
    got = c.get(f'/api/ivr/{uuid}').json()['ivr']
    assert got == {**change, 'timeout': {'seconds': 5, 'action': 'repeat'}}

    # a menu may lead to itself (menus cascade; the runtime bounds the hops)
    loop = {'description': 'loop', 'announcement': c.ann, '9': uuid}
    assert c.post(f'/api/ivr/{uuid}', json=loop).json() == {'status': 'ok'}

    # delete: refused while a number or another menu leads to it, then gone
    assert c.post('/api/phone', json={'update': {OURS: {'ivr': uuid}}}).json()['status'] == 'ok'
    assert c.get('/api/phone').json()['phone'][OURS]['ivr'] == uuid
    refused = c.delete(f'/api/ivr/{uuid}').json()
    assert refused['status'] == 'illegal-state' and OURS in refused['message'], refused
    assert c.post('/api/phone', json={'update': {OURS: {'ivr': None}}}).json()['status'] == 'ok'
    assert c.delete(f'/api/ivr/{subs[2]}').json() == {'status': 'ok'}  # no longer used
    assert c.post(f'/api/ivr/{uuid}', json={**loop, '9': subs[0]}).json()['status'] == 'ok'
    refused = c.delete(f'/api/ivr/{subs[0]}').json()
    assert refused['status'] == 'illegal-state' and uuid in refused['message'], refused
    assert c.delete(f'/api/ivr/{uuid}').json() == {'status': 'ok'}
    assert c.delete(f'/api/ivr/{subs[0]}').json() == {'status': 'ok'}
    assert c.get(f'/api/ivr/{uuid}').json()['status'] == 'wrong-ivr'
    assert c.delete(f'/api/ivr/{uuid}').json()['status'] == 'wrong-ivr'
    assert [m['uuid'] for m in c.get('/api/ivr').json()['ivr']] == [subs[1]]


def test_every_field_error(joe):
    c = joe
    sub = leaf(c)
    good = {'description': 'Menu', 'announcement': c.ann, '1': sub}
    assert c.post('/api/ivr', json=good).json()['status'] == 'ok'

    def status(body: dict) -> str:
        answer = c.post('/api/ivr', json=body).json()
        assert 'uuid' not in answer, answer
        return answer['status']

    def without(*keys):
        return {k: v for k, v in good.items() if k not in keys}

    cases = [
        (without('description'), 'missing-element'),
        ({**good, 'description': ''}, 'wrong-syntax'),
        ({**good, 'description': 'x' * 201}, 'wrong-syntax'),
        ({**good, 'description': 'a\nb'}, 'wrong-syntax'),
        ({**good, 'description': 5}, 'wrong-syntax'),
        (without('announcement'), 'missing-element'),
        ({**good, 'announcement': 'not-a-uuid'}, 'wrong-syntax'),
        ({**good, 'announcement': UNKNOWN}, 'wrong-announcement'),
        (without('1'), 'missing-element'),                      # no digit at all
        ({**without('1'), 'A': sub}, 'missing-element'),        # not a DTMF digit: ignored
        ({**good, '1': '4922116696000'}, 'wrong-syntax'),
        ({**good, '1': '+12'}, 'wrong-syntax'),
        ({**good, '1': '+' + '1' * 21}, 'wrong-syntax'),
        ({**good, '#': 'repeat'}, 'wrong-syntax'),
        ({**good, '*': 17}, 'wrong-syntax'),
        ({**good, '1': UNKNOWN}, 'wrong-ivr'),
        ({**good, 'other': 'again'}, 'wrong-syntax'),
        ({**good, 'timeout': {'action': 'repeat'}}, 'missing-element'),
        ({**good, 'timeout': {'seconds': 10}}, 'missing-element'),
        ({**good, 'timeout': {'seconds': 0, 'action': 'repeat'}}, 'wrong-syntax'),
        ({**good, 'timeout': {'seconds': -3, 'action': 'repeat'}}, 'wrong-syntax'),
        ({**good, 'timeout': {'seconds': '10', 'action': 'repeat'}}, 'wrong-syntax'),
        ({**good, 'timeout': {'seconds': 1.5, 'action': 'repeat'}}, 'wrong-syntax'),
        ({**good, 'timeout': {'seconds': True, 'action': 'repeat'}}, 'wrong-syntax'),
        ({**good, 'timeout': {'seconds': 3601, 'action': 'repeat'}}, 'wrong-syntax'),
        ({**good, 'timeout': {'seconds': 10, 'action': 'ring'}}, 'wrong-syntax'),
        ({**good, 'timeout': {'seconds': 10, 'action': 'call'}}, 'missing-element'),
        ({**good, 'timeout': {'seconds': 10, 'action': 'call', 'phone': '0049'}},
         'wrong-syntax'),
        ({**good, 'timeout': {'seconds': 10, 'action': 'play'}}, 'missing-element'),
        ({**good, 'timeout': {'seconds': 10, 'action': 'play', 'announcement': 'x'}},
         'wrong-syntax'),
        ({**good, 'timeout': {'seconds': 10, 'action': 'play', 'announcement': UNKNOWN}},
         'wrong-announcement'),
        ({**good, 'timeout': 'soon'}, 'wrong-syntax'),
    ]
    for body, expected in cases:
        assert status(body) == expected, body
    # accepted: another user's number of this service, each timeout action, a nested menu
    for extra in ({'4': OTHERS}, {'other': OTHERS},
                  {'timeout': {'seconds': 1, 'action': 'repeat'}},
                  {'timeout': {'seconds': 30, 'action': 'call', 'phone': OURS}},
                  {'timeout': {'seconds': 30, 'action': 'play', 'announcement': c.ann}}):
        assert c.post('/api/ivr', json={**good, **extra}).json()['status'] == 'ok', extra
    # the same errors on update; a failed update changes nothing
    assert c.post(f'/api/ivr/{sub}', json={**good, '1': UNKNOWN}).json()['status'] == 'wrong-ivr'
    assert c.get(f'/api/ivr/{sub}').json()['ivr']['0'] == OURS
    assert c.post(f'/api/ivr/{sub}', json=without('announcement')).json()['status'] == \
        'missing-element'
    # paths and list parameters
    for path in ('/api/ivr/not-a-uuid',):
        assert c.get(path).json()['status'] == 'wrong-syntax'
        assert c.delete(path).json()['status'] == 'wrong-syntax'
        assert c.post(path, json=good).json()['status'] == 'wrong-syntax'
    for params in ({'count': 0}, {'count': 501}, {'count': 'x'}, {'order': 'up'},
                   {'start': 'nope'}, {'from': -1}, {'from': 10, 'to': 5}):
        assert c.get('/api/ivr', params=params).json()['status'] == 'wrong-syntax', params
    assert len(c.get('/api/ivr', params={'count': 500}).json()['ivr']) == 7


def test_ivrs_belong_to_their_user(joe, api):
    c, eve = joe, joe.eve
    mine = leaf(c)
    eve_ann = announcement(eve)
    # eve sees nothing of joe's, and may not use it
    assert eve.get('/api/ivr').json() == {'status': 'ok', 'ivr': []}
    for r in (eve.get(f'/api/ivr/{mine}'), eve.delete(f'/api/ivr/{mine}'),
              eve.post(f'/api/ivr/{mine}', json={'description': 'x', 'announcement': eve_ann,
                                                 '1': OTHERS})):
        assert r.json()['status'] == 'wrong-ivr'
    assert eve.post('/api/ivr', json={'description': 'x', 'announcement': eve_ann,
                                      '1': mine}).json()['status'] == 'wrong-ivr'
    assert eve.post('/api/ivr', json={'description': 'x', 'announcement': c.ann,
                                      '1': OTHERS}).json()['status'] == 'wrong-announcement'
    assert eve.post('/api/phone', json={'update': {OTHERS: {'ivr': mine}}}).json()[
        'status'] == 'wrong-ivr'
    assert c.post('/api/phone', json={'update': {OURS: {'ivr': UNKNOWN}}}).json()[
        'status'] == 'wrong-ivr'
    assert 'ivr' not in c.get('/api/phone').json()['phone'][OURS]
    assert c.get(f'/api/ivr/{mine}').json()['status'] == 'ok'     # untouched
    # sessions
    assert api.client().get('/api/ivr').json()['status'] == 'no-session'
    anon = api.client().get('/api/session').json()['sid']
    assert api.client(anon).post('/api/ivr', json={}).json()['status'] == 'no-auth'


def test_ivr_count_per_user_is_capped(start_api):
    api = start_api(TELEPHONY_IVR_MAX_PER_USER='2')
    api.add_user('joe')
    api.cli('phone', 'add', OURS, '--user', 'joe')
    c = api.login('joe')
    c.ann = announcement(c)
    leaf(c)
    leaf(c)
    answer = c.post('/api/ivr', json={'description': 'three', 'announcement': c.ann,
                                      '0': OURS}).json()
    assert answer['status'] == 'too-large', answer
