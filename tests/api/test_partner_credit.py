"""§9.1.6 usergroup credits and zone filter through the public API of a real server: the
document's examples, every status (`wrong-usergroup`, `no-credit`, `empty-filter`,
`too-large`, `missing-element`, `wrong-syntax`, `no-auth`) and ownership."""
from __future__ import annotations

import pytest

from tests.api.test_partner_cdr import KEY, partner_client

NOBODY = '00000000-0000-4000-8000-000000000000'
# §9.1.6's POST example, closed up where the page break cuts it (decisions.md)
EXAMPLE = {'zonefilter': [{'description': 'national', 'prefix': ['+49'], 'cost': 139},
                          {'description': 'euro1', 'prefix': ['+32', '+39', '+44'], 'cost': 189},
                          {'description': 'rest', 'prefix': [''], 'cost': 599}]}


@pytest.fixture
def partner(api):
    api.add_user('acme', KEY, '--partner')
    api.add_user('zeta', KEY, '--partner')
    api.add_user('joe', 'secret12345', '--partner-of', 'acme')
    p = partner_client(api)
    groups = [p.post('/api/partner/usergroup', json={}).json()['group_uuid'] for _ in range(3)]
    return p, groups


def test_credit_add_subtract_get_delete(partner):
    p, (g, _, _) = partner
    url = f'/api/partner/usergroup/{g}/credit'
    assert p.get(url).json()['status'] == 'no-credit'
    assert p.post(url, json={'add': 10000}).json() == {'status': 'ok'}   # the example
    assert p.get(url).json() == {'status': 'ok', 'credit': 10000}
    assert p.post(url, json={'subtract': 5180}).json() == {'status': 'ok'}
    assert p.get(url).json() == {'status': 'ok', 'credit': 4820}
    assert p.post(url, json={'add': 100, 'subtract': 20}).json() == {'status': 'ok'}
    assert p.get(url).json()['credit'] == 4900
    assert p.post(url, json={'subtract': 10**6}).json() == {'status': 'ok'}
    assert p.get(url).json()['credit'] == 0              # never below 0
    assert p.delete(url).json() == {'status': 'ok'}
    assert p.get(url).json()['status'] == 'no-credit'
    assert p.post(url, json={'subtract': 1}).json() == {'status': 'ok'}
    assert p.get(url).json()['credit'] == 0              # configured, from 0


def test_credit_list_with_min_and_max(partner):
    p, (a, b, c) = partner
    for g, amount in ((a, 10000), (b, 12000), (c, 14000)):
        assert p.post(f'/api/partner/usergroup/{g}/credit',
                      json={'add': amount}).json()['status'] == 'ok'
    url = '/api/partner/usergroup/credit'
    assert p.get(url).json() == {'status': 'ok', 'credits': {a: 10000, b: 12000, c: 14000}}
    assert p.get(url, params={'min': 12000}).json()['credits'] == {b: 12000, c: 14000}
    assert p.get(url, params={'max': 12000}).json()['credits'] == {a: 10000, b: 12000}
    assert p.get(url, params={'min': 11000, 'max': 13000}).json()['credits'] == {b: 12000}
    assert p.delete(f'/api/partner/usergroup/{b}/credit').json()['status'] == 'ok'
    assert p.get(url).json()['credits'] == {a: 10000, c: 14000}   # only groups with credits
    assert p.get(url, params={'max': 2**63 - 1}).json()['credits'] == {a: 10000, c: 14000}
    for params in ({'min': -1}, {'max': -1}, {'min': 'x'}, {'min': 5, 'max': 5},
                   {'min': 6, 'max': 5}, {'min': 2**63}):
        assert p.get(url, params=params).json()['status'] == 'wrong-syntax', params


def test_credit_errors(partner):
    p, (g, _, _) = partner
    url = f'/api/partner/usergroup/{g}/credit'
    assert p.post(url, json={}).json()['status'] == 'missing-element'
    for body in ({'add': -1}, {'add': '10'}, {'add': 1.5}, {'subtract': True},
                 {'add': 10**15 + 1}, {'subtract': -5}):
        assert p.post(url, json=body).json()['status'] == 'wrong-syntax', body
    assert p.post(url, json={'add': 10**15}).json()['status'] == 'ok'
    assert p.post(url, json={'add': 10**15}).json()['status'] == 'ok'
    assert p.get(url).json()['credit'] == 10**15         # bounded


def test_zonefilter_round_trip_and_delete(partner):
    p, (g, _, _) = partner
    url = f'/api/partner/usergroup/{g}/zonefilter'
    assert p.get(url).json()['status'] == 'empty-filter'
    assert p.post(url, json=EXAMPLE).json() == {'status': 'ok'}
    assert p.get(url).json() == {'status': 'ok', **EXAMPLE}
    assert p.delete(url).json() == {'status': 'ok'}
    assert p.get(url).json()['status'] == 'empty-filter'
    assert p.post(url, json={'zonefilter': []}).json() == {'status': 'ok'}   # no filter
    assert p.get(url).json()['status'] == 'empty-filter'


def test_zonefilter_errors(partner):
    p, (g, _, _) = partner
    url = f'/api/partner/usergroup/{g}/zonefilter'
    entry = {'description': 'x', 'prefix': ['+49'], 'cost': 1}
    assert p.post(url, json={'zonefilter': [entry] * 250}).json()['status'] == 'ok'
    assert p.post(url, json={'zonefilter': [entry] * 251}).json()['status'] == 'too-large'
    assert p.post(url, json={}).json()['status'] == 'missing-element'
    for bad in ({'zonefilter': entry}, {'zonefilter': [{**entry, 'prefix': ['+4x']}]},
                {'zonefilter': [{**entry, 'cost': -1}]}, {'zonefilter': [{**entry, 'cost': '1'}]},
                {'zonefilter': [{'description': 'x', 'cost': 1}]}, {'zonefilter': ['+49']}):
        assert p.post(url, json=bad).json()['status'] == 'wrong-syntax', bad
    assert len(p.get(url).json()['zonefilter']) == 250   # the refused ones changed nothing


def test_wrong_usergroup_and_partners_only(api, partner):
    p, (g, _, _) = partner
    z = partner_client(api, 'zeta')
    calls = (('get', '/credit', {}), ('post', '/credit', {'json': {'add': 1}}),
             ('delete', '/credit', {}), ('get', '/zonefilter', {}),
             ('post', '/zonefilter', {'json': EXAMPLE}), ('delete', '/zonefilter', {}))
    for method, path, kw in calls:
        for client, group in ((z, g), (p, NOBODY)):
            r = getattr(client, method)(f'/api/partner/usergroup/{group}{path}', **kw).json()
            assert r['status'] == 'wrong-usergroup', (method, path, r)
    assert p.get(f'/api/partner/usergroup/{g}/credit').json()['status'] == 'no-credit'
    assert p.post(f'/api/partner/usergroup/{g}/credit', json={'add': 7}).json()['status'] == 'ok'
    assert z.get('/api/partner/usergroup/credit').json() == {'status': 'ok', 'credits': {}}
    joe = api.login('joe')
    assert joe.get('/api/partner/usergroup/credit').json()['status'] == 'no-auth'
    for method, path, kw in calls:
        r = getattr(joe, method)(f'/api/partner/usergroup/{g}{path}', **kw).json()
        assert r['status'] == 'no-auth', (method, path, r)
