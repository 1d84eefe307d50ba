"""Partner call policy APIs (Q-loud §9.1.3 call filter, §9.1.5 emergency, §9.1.6 usergroups,
§9.1.7 enterprises) through the public API of a real server: every field error, ownership,
and the document's own examples."""
from __future__ import annotations

import pytest

from tests.api.test_partner_cdr import KEY, partner_client

# §9.1.3's POST example, closed up where the page breaks cut it (decisions.md)
EXAMPLE_FILTER = {'callfilter': [
    {'operator': 'replace', 'key': '^00', 'value': '+'},
    {'operator': 'replace', 'key': '^0', 'value': '+49'},
    {'operator': 'replace', 'key': '^+4911', 'value': '11'},
    [{'operator': 'service', 'key': 'sip', 'reverse': True, 'break': True},
     {'operator': 'match', 'key': '^\\+492216698711$', 'pass': False},
     {'operator': 'match', 'key': '^\\+492216698499$', 'pass': False},
     {'operator': 'match', 'key': '^(\\+49[2-8][0-9]{3,16})|(\\+499[1-9][0-9]{3,15})|'
      '(\\+4990[1-9][0-9]{3,14})$', 'pass': True},
     {'operator': 'match', 'key': '^[1]{2}[0-7][0-9]{0,3}$', 'pass': True}],
    [{'operator': 'service', 'key': 'fax', 'reverse': True, 'break': True},
     {'operator': 'match', 'key': '^(\\+49[2-8][0-9]{3,16})|(\\+499[1-9][0-9]{3,15})|'
      '(\\+4990[1-9][0-9]{3,14})$', 'pass': True}],
    {'operator': 'match', 'key': '.*', 'pass': False}]}
NESTED: list = [{'operator': 'match', 'key': 'x', 'pass': False}]
for _ in range(17):
    NESTED = [NESTED]
NOBODY = '00000000-0000-4000-8000-000000000000'


@pytest.fixture
def partner(api):
    """acme (a partner) manages joe and ann; bob is nobody's; zeta is another partner."""
    ids = {'acme': api.add_user('acme', KEY, '--partner'),
           'joe': api.add_user('joe', 'secret12345', '--partner-of', 'acme'),
           'ann': api.add_user('ann', 'secret12345', '--partner-of', 'acme'),
           'bob': api.add_user('bob'),
           'zeta': api.add_user('zeta', KEY, '--partner'),
           'zed': api.add_user('zed', 'secret12345', '--partner-of', 'zeta')}
    return partner_client(api), ids


def status(r) -> str:
    assert r.status_code == 200, r.text
    return r.json()['status']


# --- §9.1.3 call filter ----------------------------------------------------------------------
def test_callfilter_example_round_trip_and_delete(partner):
    p, ids = partner
    url = f'/api/partner/callfilter/{ids["joe"]}'
    assert p.get(url).json()['status'] == 'empty-filter'
    assert p.post(url, json=EXAMPLE_FILTER).json() == {'status': 'ok'}
    assert p.get(url).json() == {'status': 'ok', **EXAMPLE_FILTER}
    # GET's example: one operator instead of an array
    one = {'callfilter': {'operator': 'match', 'key': '.+', 'pass': False}}
    assert status(p.post(url, json=one)) == 'ok'
    assert p.get(url).json() == {'status': 'ok', **one}
    assert p.delete(url).json() == {'status': 'ok'}
    assert p.get(url).json()['status'] == 'empty-filter'


FILTER_ERRORS = [
    ({}, 'missing-element', 'callfilter'),
    ({'callfilter': []}, 'missing-element', 'callfilter'),
    ({'callfilter': [[]]}, 'missing-element', 'callfilter'),
    ({'callfilter': 'deny'}, 'wrong-syntax', 'callfilter'),
    ({'callfilter': [{'key': 'x', 'pass': False}]}, 'missing-element', 'operator'),
    ({'callfilter': [{'operator': 'drop', 'key': 'x'}]}, 'wrong-syntax', 'operator'),
    ({'callfilter': [{'operator': 'match', 'pass': False}]}, 'missing-element', 'key'),
    ({'callfilter': [{'operator': 'match', 'key': 5, 'pass': False}]}, 'wrong-syntax', 'key'),
    ({'callfilter': [{'operator': 'match', 'key': '(', 'pass': False}]}, 'wrong-syntax', 'key'),
    ({'callfilter': [{'operator': 'match', 'key': '(a+)+$', 'pass': False}]}, 'wrong-syntax',
     'key'),
    ({'callfilter': [{'operator': 'match', 'key': 'x'}]}, 'missing-element', 'callfilter[0]'),
    ({'callfilter': [{'operator': 'match', 'key': 'x', 'pass': True, 'break': True}]},
     'wrong-syntax', 'callfilter[0]'),
    ({'callfilter': [{'operator': 'match', 'key': 'x', 'pass': 'no'}]}, 'wrong-syntax', 'pass'),
    ({'callfilter': [{'operator': 'match', 'key': 'x', 'pas': False}]}, 'wrong-syntax', 'pas'),
    ({'callfilter': [{'operator': 'match', 'key': 'x', 'pass': False, 'reverse': 1}]},
     'wrong-syntax', 'reverse'),
    ({'callfilter': [{'operator': 'replace', 'key': 'x'}]}, 'missing-element', 'value'),
    ({'callfilter': [{'operator': 'replace', 'key': 'x', 'value': 1}]}, 'wrong-syntax', 'value'),
    ({'callfilter': [{'operator': 'replace', 'key': 'x', 'value': 'y', 'pass': True}]},
     'wrong-syntax', 'pass'),
    ({'callfilter': [{'operator': 'service', 'key': 'telex', 'pass': False}]}, 'wrong-syntax',
     'key'),
    ({'callfilter': [{'operator': 'match', 'key': 'x', 'pass': False}] * 251}, 'too-large',
     'callfilter'),
    ({'callfilter': NESTED}, 'too-large', 'callfilter'),
]


def test_callfilter_errors(partner):
    p, ids = partner
    url = f'/api/partner/callfilter/{ids["joe"]}'
    for body, expected, where in FILTER_ERRORS:
        answer = p.post(url, json=body).json()
        assert answer['status'] == expected, (body, answer)
        assert where in answer.get('message', ''), (body, answer)
    assert p.get(url).json()['status'] == 'empty-filter'   # nothing was stored


def test_callfilter_and_emergency_only_for_the_partners_own_users(api, partner):
    p, ids = partner
    for user in (ids['bob'], ids['zed'], ids['acme'], NOBODY, 'not-a-uuid'):
        for method, path, body in (('post', 'callfilter', EXAMPLE_FILTER),
                                   ('get', 'callfilter', None), ('delete', 'callfilter', None),
                                   ('post', 'emergency', {'emergency_police': '221CC00'}),
                                   ('get', 'emergency', None)):
            kw = {'json': body} if body is not None else {}
            r = getattr(p, method)(f'/api/partner/{path}/{user}', **kw).json()
            assert r['status'] == 'wrong-user', (method, path, user, r)
    # a user session (the user itself) may not set its own filter
    joe = api.login('joe')
    assert joe.post(f'/api/partner/callfilter/{ids["joe"]}',
                    json=EXAMPLE_FILTER).json()['status'] == 'no-auth'
    assert api.client().get(f'/api/partner/emergency/{ids["joe"]}').json()['status'] == 'no-session'


# --- §9.1.5 emergency ------------------------------------------------------------------------
def test_emergency_example_update_and_delete(partner):
    p, ids = partner
    url = f'/api/partner/emergency/{ids["joe"]}'
    assert p.get(url).json() == {'status': 'ok'}
    example = {'uui_header': '001D73306138F193FFFF4A6F6C696F742D43757269652D5374722E',
               'emergency_police': '221CC00', 'emergency_rescue': '221CC02'}
    assert p.post(url, json=example).json() == {'status': 'ok'}
    assert p.get(url).json() == {'status': 'ok', **example}
    # only what is named changes; an empty value deletes
    assert status(p.post(url, json={'emergency_rescue': ''})) == 'ok'
    assert p.get(url).json() == {'status': 'ok', 'uui_header': example['uui_header'],
                                 'emergency_police': '221CC00'}


def test_emergency_field_errors(partner):
    p, ids = partner
    url = f'/api/partner/emergency/{ids["joe"]}'
    for field, value in (('emergency_police', '12345678901'), ('emergency_police', '221@evil'),
                         ('emergency_rescue', '22 1'), ('emergency_rescue', 112),
                         ('uui_header', 'x' * 201), ('uui_header', 'a\r\nX-Evil: 1')):
        r = p.post(url, json={field: value}).json()
        assert r['status'] == 'wrong-syntax' and field in r['message'], (field, value, r)
    assert p.get(url).json() == {'status': 'ok'}


# --- §9.1.6 usergroups -----------------------------------------------------------------------
def test_usergroup_examples(partner):
    p, ids = partner
    r = p.post('/api/partner/usergroup', json={'description': 'Controlling', 'prefix': 7}).json()
    assert r['status'] == 'ok' and set(r) == {'status', 'group_uuid'}
    g = r['group_uuid']
    other = p.post('/api/partner/usergroup', json={}).json()['group_uuid']
    assert p.post(f'/api/partner/usergroup/{g}', json={'description': 'Accounting'}).json() == \
        {'status': 'ok'}
    assert p.get('/api/partner/usergroup').json() == {'status': 'ok', 'usergroups': {
        g: {'description': 'Accounting', 'prefix': 7}, other: {'description': ''}}}
    # "The transmission of 0 will remove the current prefix."
    assert status(p.post(f'/api/partner/usergroup/{g}', json={'prefix': 0})) == 'ok'
    assert p.get('/api/partner/usergroup').json()['usergroups'][g] == {'description': 'Accounting'}

    users = f'/api/partner/usergroup/{g}/user'
    assert p.post(users, json={'users': {'add': [ids['joe'], ids['ann']]}}).json() == \
        {'status': 'ok'}
    assert sorted(p.get(users).json()['usergroup']['users']) == sorted([ids['joe'], ids['ann']])
    # "each user may only join one usergroup"
    assert p.post(f'/api/partner/usergroup/{other}/user',
                  json={'users': {'add': [ids['joe']]}}).json()['status'] == 'already-grouped'
    # not the partner's users
    for u in (ids['bob'], ids['zed'], NOBODY):
        assert p.post(users, json={'users': {'add': [u]}}).json()['status'] == 'wrong-user'

    ext = f'/api/partner/usergroup/{g}/extension'
    assert p.get(ext).json() == {'status': 'ok', 'extensions': {}}
    assert p.post(ext, json={'add': {'10': ids['joe'], '20': ids['ann']}}).json() == \
        {'status': 'ok'}
    assert p.get(ext).json() == {'status': 'ok', 'extensions': {'10': ids['joe'],
                                                                 '20': ids['ann']}}
    assert status(p.post(ext, json={'add': {'30': ids['ann']}, 'delete': ['10', '40']})) == 'ok'
    assert p.get(ext).json()['extensions'] == {'20': ids['ann'], '30': ids['ann']}
    # "is not a member of the given uuid"
    assert p.post(ext, json={'add': {'50': ids['bob']}}).json()['status'] == 'wrong-user'

    limit = f'/api/partner/usergroup/{g}/limit'
    assert p.get(limit).json()['status'] == 'no-limit'
    assert p.post(limit, json={'limit': 2}).json() == {'status': 'ok'}
    assert p.get(limit).json() == {'status': 'ok', 'limit': 2}
    assert status(p.post(limit, json={'limit': 0})) == 'ok'
    assert p.get(limit).json() == {'status': 'ok', 'limit': 0}
    assert p.delete(limit).json() == {'status': 'ok'}
    assert p.get(limit).json()['status'] == 'no-limit'

    # "An usergroup can only be deleted if there are no associated users."
    assert p.delete(f'/api/partner/usergroup/{g}').json()['status'] == 'not-empty'
    assert status(p.post(users, json={'users': {'delete': [ids['joe'], ids['ann']]}})) == 'ok'
    assert p.get(ext).json()['extensions'] == {}   # a user who left has no extension there
    assert p.delete(f'/api/partner/usergroup/{g}').json() == {'status': 'ok'}
    assert p.get(users).json()['status'] == 'wrong-usergroup'


def test_usergroup_errors_and_ownership(api, partner):
    p, ids = partner
    g = p.post('/api/partner/usergroup', json={'description': 'x'}).json()['group_uuid']
    base = f'/api/partner/usergroup/{g}'
    for body, expected in (({'prefix': 10}, 'wrong-syntax'), ({'prefix': -1}, 'wrong-syntax'),
                           ({'prefix': '7'}, 'wrong-syntax'), ({'prefix': True}, 'wrong-syntax'),
                           ({'description': 'x' * 201}, 'wrong-syntax')):
        assert p.post('/api/partner/usergroup', json=body).json()['status'] == expected, body
        assert p.post(base, json=body).json()['status'] == expected, body
    for body, expected in (({}, 'missing-element'), ({'limit': 1000}, 'wrong-syntax'),
                           ({'limit': '2'}, 'wrong-syntax'), ({'limit': -1}, 'wrong-syntax')):
        assert p.post(f'{base}/limit', json=body).json()['status'] == expected, body
    for body, expected in (({'add': {'123456': ids['joe']}}, 'wrong-syntax'),
                           ({'add': {'1a': ids['joe']}}, 'wrong-syntax'),
                           ({'add': {'10': 'nobody'}}, 'wrong-syntax'),
                           ({'delete': ['x']}, 'wrong-syntax')):
        assert p.post(f'{base}/extension', json=body).json()['status'] == expected, body
    for body, expected in (({}, 'missing-element'), ({'users': {'add': ['x']}}, 'wrong-syntax'),
                           ({'users': {'add': [ids['joe']] * 1001}}, 'wrong-syntax')):
        assert p.post(f'{base}/user', json=body).json()['status'] == expected, body
    # another partner sees none of it
    body = api.client().post('/api/session', json={'partner': 'zeta', 'key': KEY}).json()
    z = api.client(body['sid'])
    assert z.get('/api/partner/usergroup').json() == {'status': 'ok', 'usergroups': {}}
    for method, path, kw in (('post', '', {'json': {}}), ('delete', '', {}),
                             ('get', '/user', {}), ('post', '/user', {'json': {'users': {}}}),
                             ('get', '/extension', {}), ('post', '/extension', {'json': {}}),
                             ('get', '/limit', {}), ('post', '/limit', {'json': {'limit': 1}}),
                             ('delete', '/limit', {})):
        r = getattr(z, method)(f'{base}{path}', **kw).json()
        assert r['status'] == 'wrong-usergroup', (method, path, r)
        r = getattr(p, method)(f'/api/partner/usergroup/{NOBODY}{path}', **kw).json()
        assert r['status'] == 'wrong-usergroup', (method, path, r)
    assert api.login('joe').get('/api/partner/usergroup').json()['status'] == 'no-auth'


# --- §9.1.7 enterprises ----------------------------------------------------------------------
def test_enterprises(api, partner):
    p, _ = partner
    r = p.post('/api/partner/enterprise', json={'description': 'Company',
                                                'group_prefix_enable': False}).json()
    e = r['enterprise_uuid']
    e2 = p.post('/api/partner/enterprise', json={}).json()['enterprise_uuid']
    assert p.get('/api/partner/enterprise').json() == {'status': 'ok', 'enterprises': {
        e: {'description': 'Company', 'group_prefix_enable': False},
        e2: {'description': '', 'group_prefix_enable': False}}}
    assert p.post(f'/api/partner/enterprise/{e}', json={'description': 'Accounting',
                                                        'group_prefix_enable': True}).json() \
        == {'status': 'ok'}
    assert p.get('/api/partner/enterprise').json()['enterprises'][e] == \
        {'description': 'Accounting', 'group_prefix_enable': True}
    g = p.post('/api/partner/usergroup', json={}).json()['group_uuid']
    add = {'usergroups': {'add': [g]}}
    assert p.post(f'/api/partner/enterprise/{e}/usergroup', json=add).json() == {'status': 'ok'}
    assert p.post(f'/api/partner/enterprise/{e2}/usergroup',
                  json=add).json()['status'] == 'already-grouped'
    assert p.post(f'/api/partner/enterprise/{e}/usergroup',
                  json={'usergroups': {'add': [NOBODY]}}).json()['status'] == 'wrong-usergroup'
    assert p.delete(f'/api/partner/enterprise/{e}').json()['status'] == 'not-empty'
    assert status(p.post(f'/api/partner/enterprise/{e}/usergroup',
                         json={'usergroups': {'delete': [g]}})) == 'ok'
    assert p.delete(f'/api/partner/enterprise/{e}').json() == {'status': 'ok'}
    for body in ({'group_prefix_enable': 'true'}, {'group_prefix_enable': 1},
                 {'description': 'x' * 201}):
        assert p.post(f'/api/partner/enterprise/{e2}', json=body).json()['status'] == \
            'wrong-syntax', body
    for method, path, kw in (('post', '', {'json': {}}), ('delete', '', {}),
                             ('post', '/usergroup', {'json': {'usergroups': {}}})):
        r = getattr(p, method)(f'/api/partner/enterprise/{NOBODY}{path}', **kw).json()
        assert r['status'] == 'wrong-enterprise', (method, path, r)

