"""/api/conference (Q-loud §3.17) against the real server: the document's examples, every
status string (wrong-syntax, missing-element, wrong-conference, access-denied, duplicate-pin,
conference-offline, too-large), the trash, the `phone` list and the /event subscription."""
from __future__ import annotations

import pytest

UNKNOWN = '2d4d09e0-85de-11e0-844e-0024e8f90cc0'
MEMBER = '9fe1cc2a-8ab6-11e0-b368-0024e8f90cc0'
DIAL_IN, MAILBOX, PLAN_NUMBER, FAX = '+4930555300', '+4930555301', '+4930555302', '+4930555303'
# §3.17 POST /api/conference request body example
EXAMPLE = {'description': 'Konferenzraum f\u00fcr Team-Besprechung', 'pin': '4711',
           'active': True, 'mute_default': True}


@pytest.fixture
def joe(start_api):
    api = start_api(TELEPHONY_CONFERENCE_MAX_PER_USER='3')
    api.add_user('joe')
    api.add_user('eve')
    c = api.login('joe')
    c.api = api
    c.eve = api.login('eve')
    return c


def create(c, **changes) -> str:
    body = {k: v for k, v in {**EXAMPLE, **changes}.items() if v is not None}
    answer = c.post('/api/conference', json=body).json()
    assert answer['status'] == 'ok' and set(answer) == {'status', 'uuid'}, answer
    return answer['uuid']


def status(r) -> str:
    return r.json()['status']


def events(c) -> list[dict]:
    return c.get('/api/event', params={'next': 0, 'timeout': 0}).json()['event']


def test_documents_example_round_trips(joe):
    c = joe
    uuid = create(c)
    got = c.get(f'/api/conference/{uuid}').json()
    assert got['status'] == 'ok'
    conf = got['conference']
    assert {k: conf[k] for k in EXAMPLE} == EXAMPLE
    owner = conf['owner']
    assert isinstance(conf['time'], int) and conf['phone'] == [] and conf['tag'] == []
    assert conf['trash'] is False

    # §3.17 POST /api/conference/(uuid) example: every field changes, the answer is {}
    change = {'description': 'Konferenzraum f\u00fcr Kaffeekr\u00e4nzchen', 'pin': '4712',
              'active': False, 'mute_default': False}
    assert c.post(f'/api/conference/{uuid}', json=change).json() == {'status': 'ok'}
    conf = c.get(f'/api/conference/{uuid.upper()}').json()['conference']
    assert {k: conf[k] for k in change} == change
    # all fields optional: one field changes only that one
    assert c.post(f'/api/conference/{uuid}', json={'active': True}).json() == {'status': 'ok'}
    conf = c.get(f'/api/conference/{uuid}').json()['conference']
    assert (conf['active'], conf['pin'], conf['description']) == (True, '4712', change['description'])
    # description and mute_default are optional on create
    bare = create(c, pin='0000', description=None, mute_default=None)
    conf = c.get(f'/api/conference/{bare}').json()['conference']
    assert (conf['description'], conf['mute_default']) == ('', False)

    kinds = [(e['event'], e.get('type'), e.get('object')) for e in events(c)
             if e['event'].startswith('object_') and e['owner'] == owner]
    assert kinds == [('object_new', 'conference', uuid), ('object_modify', 'conference', uuid),
                     ('object_modify', 'conference', uuid), ('object_new', 'conference', bare)]
    assert not [e for e in events(c.eve) if e['event'].startswith('object_')]


BAD_FIELDS = [
    ('pin', '471'), ('pin', '47111'), ('pin', 'abcd'), ('pin', 4711), ('pin', '47 1'),
    ('description', 'x' * 201), ('description', 'two\nlines'), ('active', 'yes'),
    ('active', 1), ('mute_default', 'true'), ('mute_default', None)]


def test_field_syntax_is_wrong_syntax(joe):
    """(one server for all the cases: each is a request, not a new setup)"""
    c = joe
    uuid = create(c, pin='1000')
    for field, value in BAD_FIELDS:
        body = {**EXAMPLE, field: value}
        assert status(c.post('/api/conference', json=body)) == 'wrong-syntax', (field, value)
        r = c.post(f'/api/conference/{uuid}', json={field: value})
        # null on modify means "not given" (all fields optional)
        assert status(r) == ('ok' if value is None else 'wrong-syntax'), (field, value)
    assert c.get(f'/api/conference/{uuid}').json()['conference']['pin'] == '1000'


def test_a_body_that_is_not_an_object_is_refused(joe):
    assert status(joe.post('/api/conference', content=b'[1, 2]')) == 'wrong-syntax'
    assert status(joe.post('/api/conference', content=b'{not json')) == 'wrong-syntax'


def test_pin_and_active_are_required_on_create(joe):
    for field in ('pin', 'active'):
        body = {k: v for k, v in EXAMPLE.items() if k != field}
        r = joe.post('/api/conference', json=body).json()
        assert r['status'] == 'missing-element' and field in r['message'], r


def test_duplicate_pin_per_user(joe):
    c = joe
    first = create(c, pin='4711')
    r = c.post('/api/conference', json={**EXAMPLE, 'pin': '4711'}).json()
    assert r['status'] == 'duplicate-pin' and '4711' in r['message'], r
    second = create(c, pin='4712')
    assert status(c.post(f'/api/conference/{second}', json={'pin': '4711'})) == 'duplicate-pin'
    assert c.get(f'/api/conference/{second}').json()['conference']['pin'] == '4712'
    # its own PIN again is no change, and another user may use the same PIN
    assert status(c.post(f'/api/conference/{first}', json={'pin': '4711'})) == 'ok'
    create(c.eve, pin='4711')
    # a conference in the trash no longer holds its PIN
    assert status(c.delete(f'/api/conference/{first}')) == 'ok'
    assert status(c.post(f'/api/conference/{second}', json={'pin': '4711'})) == 'ok'


def test_wrong_conference_for_unknown_and_other_users_conferences(joe):
    c = joe
    theirs = create(c.eve)
    for uuid in (UNKNOWN, theirs):
        for r in (c.get(f'/api/conference/{uuid}'),
                  c.post(f'/api/conference/{uuid}', json={'active': False}),
                  c.delete(f'/api/conference/{uuid}'),
                  c.delete(f'/api/conference/{uuid}', params={'purge': ''}),
                  c.get(f'/api/conference/{uuid}/event'),
                  c.delete(f'/api/conference/{uuid}/event'),
                  c.post(f'/api/conference/{uuid}/member', json={'delete': [MEMBER]})):
            assert r.json()['status'] == 'wrong-conference', (uuid, r.request.method, r.url)
    # eve's conference is untouched
    assert c.eve.get(f'/api/conference/{theirs}').json()['conference']['active'] is True
    assert status(c.get('/api/conference/not-a-uuid')) == 'wrong-syntax'


def test_without_a_session_nothing_is_answered(joe):
    anonymous = joe.api.client()
    assert status(anonymous.post('/api/conference', json=EXAMPLE)) == 'no-session'
    assert status(anonymous.get(f'/api/conference/{UNKNOWN}')) == 'no-session'


def test_delete_moves_to_the_trash_then_purges(joe):
    c = joe
    uuid = create(c)
    assert c.delete(f'/api/conference/{uuid}').json() == {'status': 'ok'}
    conf = c.get(f'/api/conference/{uuid}').json()['conference']
    assert conf['trash'] is True
    # in the trash: reading works, writing is access-denied
    assert status(c.post(f'/api/conference/{uuid}', json={'active': False})) == 'access-denied'
    assert status(c.post(f'/api/conference/{uuid}/member', json={'delete': [MEMBER]})) == \
        'access-denied'
    # deleting what is in the trash removes it for good
    assert status(c.delete(f'/api/conference/{uuid}')) == 'ok'
    assert status(c.get(f'/api/conference/{uuid}')) == 'wrong-conference'

    # purge at once, and DELETE /api/trash empties the trash of conferences too
    now = create(c, pin='0001')
    assert status(c.delete(f'/api/conference/{now}', params={'purge': ''})) == 'ok'
    assert status(c.get(f'/api/conference/{now}')) == 'wrong-conference'
    later = create(c, pin='0002')
    assert status(c.delete(f'/api/conference/{later}')) == 'ok'
    assert status(c.delete('/api/trash')) == 'ok'
    assert status(c.get(f'/api/conference/{later}')) == 'wrong-conference'
    deletes = [(e['object'], e.get('purge', False)) for e in events(c)
               if e['event'] == 'object_delete']
    assert deletes == [(uuid, False), (uuid, True), (now, True), (later, False), (later, True)]


def test_too_many_conferences_is_too_large(joe):
    c = joe
    for pin in ('0001', '0002', '0003'):
        create(c, pin=pin)
    r = c.post('/api/conference', json={**EXAMPLE, 'pin': '0004'}).json()
    assert r['status'] == 'too-large' and '3' in r['message'], r


def test_phone_lists_the_numbers_whose_calls_reach_the_conference(joe):
    c = joe
    api = c.api
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    # voice mail, a dial plan and fax come first (§3.9 precedence): not dial-in numbers
    api.cli('phone', 'add', MAILBOX, '--user', 'joe', '--conference-enable', '--recording-enable')
    api.cli('phone', 'add', PLAN_NUMBER, '--user', 'joe', '--conference-enable',
            '--dialplan-enable')
    api.cli('phone', 'add', FAX, '--user', 'joe', '--conference-enable', '--fax-enable')
    api.cli('phone', 'add', '+4930555399', '--user', 'eve', '--conference-enable')
    uuid = create(c)
    assert c.get(f'/api/conference/{uuid}').json()['conference']['phone'] == [DIAL_IN]
    # turning voice mail off makes the mailbox a dial-in number too
    assert status(c.post('/api/phone', json={'update': {MAILBOX: {'recording_enable': False}}})) \
        == 'ok'
    assert c.get(f'/api/conference/{uuid}').json()['conference']['phone'] == [DIAL_IN, MAILBOX]


def test_event_subscription_and_member_changes_need_a_running_conference(joe):
    c = joe
    uuid = create(c)
    # nobody in it: busy false, the subscription still takes place
    assert c.get(f'/api/conference/{uuid}/event').json() == {'status': 'ok', 'busy': False}
    assert c.get(f'/api/conference/{uuid}/event').json() == {'status': 'ok', 'busy': False}
    assert c.delete(f'/api/conference/{uuid}/event').json() == {'status': 'ok'}
    assert c.delete(f'/api/conference/{uuid}/event').json() == {'status': 'ok'}
    # §3.17 POST .../member request body example
    body = {'update': {MEMBER: {'user': '2d07f7be-8abc-11e0-8166-0024e8f90cc0', 'mute': True,
                                'deaf': False, 'volume_in': 1, 'volume_out': -1},
                       'b1439c46-8ab6-11e0-acdc-0024e8f90cc0': {'mute': False}},
            'delete': ['22731d12-8b6e-11e0-9f8c-0024e8f90cc0',
                       '23980df6-8b6e-11e0-b616-0024e8f90cc0']}
    r = c.post(f'/api/conference/{uuid}/member', json=body).json()
    assert r['status'] == 'conference-offline', r


BAD_MEMBERS = [
    {'update': {MEMBER: {'volume_in': 5}}}, {'update': {MEMBER: {'volume_out': -5}}},
    {'update': {MEMBER: {'volume_in': 1.5}}}, {'update': {MEMBER: {'mute': 'yes'}}},
    {'update': {MEMBER: {'user': 'joe'}}}, {'update': {'not-a-uuid': {'mute': True}}},
    {'delete': ['not-a-uuid']}, {'delete': MEMBER}, {'update': []}]


def test_member_field_syntax(joe):
    uuid = create(joe)
    for body in BAD_MEMBERS:
        assert status(joe.post(f'/api/conference/{uuid}/member', json=body)) == 'wrong-syntax', body


def test_member_lists_are_bounded(joe):
    uuid = create(joe)
    many = [f'{i:08x}-8b6e-11e0-9f8c-0024e8f90cc0' for i in range(101)]
    r = joe.post(f'/api/conference/{uuid}/member', json={'delete': many}).json()
    assert r['status'] == 'too-large', r
    half = {m: {'mute': True} for m in many[:60]}
    r = joe.post(f'/api/conference/{uuid}/member', json={'update': half, 'delete': many[60:]})
    assert status(r) == 'too-large'
