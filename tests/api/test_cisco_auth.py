"""HTTP Basic on /api/v1 (issue 9): administrators only, 401 with a Basic challenge, and the
same guessing limits as Q-loud logins (per address and account, per account), shared
between the two doors."""
from __future__ import annotations

import base64

import httpx
import pytest

from .cisco import ADMIN, PASSWORD, add_admin, basic_client, failure, is_xml
from .test_hardening import from_address, login


def anonymous(api, **headers) -> httpx.Client:
    c = httpx.Client(base_url=f'{api.base}/api/v1', timeout=30.0, headers=headers)
    api.clients.append(c)
    return c


def from_addr(api, address: str, user: str = ADMIN, password: str = PASSWORD) -> httpx.Client:
    """Basic credentials from `address` (uvicorn trusts X-Forwarded-For from 127.0.0.1)."""
    return basic_client(api, user, password, **{'X-Forwarded-For': address})


def assert_challenge(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers['www-authenticate'].startswith('Basic realm=')
    assert failure(r) == ([], {})


def test_missing_wrong_and_malformed_credentials_are_challenged(api):
    add_admin(api)
    for path in ('/dialTransforms', '/system/status', '/no/such/thing'):
        assert_challenge(anonymous(api).get(path))
    assert_challenge(basic_client(api, ADMIN, 'wrong-password').get('/dialTransforms'))
    assert_challenge(basic_client(api, 'nobody', PASSWORD).get('/dialTransforms'))
    for header in ('Basic', 'Basic !!!notbase64', 'Bearer abc',
                   'Basic ' + base64.b64encode(b'no-colon').decode(),
                   'Basic ' + base64.b64encode(b'\xff\xfe:x').decode()):
        assert_challenge(anonymous(api, Authorization=header).get('/dialTransforms'))
    # nothing was created by a refused POST
    assert_challenge(anonymous(api).post('/dialTransforms', data={'match': '($1/^0/)'}))
    r = basic_client(api).get('/dialTransforms')
    assert r.status_code == 200 and is_xml(r) and 'total="0"' in r.text


def test_only_administrators_may_use_it(api):
    add_admin(api)
    api.add_user('joe', PASSWORD)
    r = basic_client(api, 'joe', PASSWORD).post('/outboundDialPlanRules',
                                                data={'domain': 'x.example.com'})
    assert r.status_code == 403 and failure(r) == ([], {})
    assert 'total="0"' in basic_client(api).get('/outboundDialPlanRules').text
    # joe's password is right: his Q-loud login still works
    assert login(api.client(), 'joe')['status'] == 'ok'


def test_guessing_from_one_address_is_limited(api):
    add_admin(api)
    statuses = [from_addr(api, '203.0.113.9', password=f'guess-{i}').get('/system/status')
                .status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    r = from_addr(api, '203.0.113.9').get('/system/status')   # even the right password waits
    assert r.status_code == 429 and r.headers['retry-after'] and failure(r) == ([], {})
    # the other addresses are not locked out
    assert from_addr(api, '203.0.113.10').get('/system/status').status_code == 200


def test_guessing_at_one_account_from_many_addresses_is_limited(api):
    add_admin(api)
    assert from_addr(api, '198.51.100.7').get('/system/status').status_code == 200   # usual place
    statuses = [from_addr(api, f'10.2.0.{i}', password=f'guess-{i}').get('/system/status')
                .status_code for i in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    assert from_addr(api, '10.2.1.1').get('/system/status').status_code == 429
    assert from_addr(api, '198.51.100.7').get('/system/status').status_code == 200


@pytest.mark.parametrize('first', ['qloud', 'basic'])
def test_both_doors_share_one_guessing_budget(api, first):
    add_admin(api)
    nat = '203.0.113.77'
    for i in range(5):
        if (i < 3) == (first == 'qloud'):
            assert login(from_address(api, nat), ADMIN, f'guess-{i}')['status'] == \
                'wrong-credentials'
        else:
            assert from_addr(api, nat, password=f'guess-{i}').get('/system/status') \
                .status_code == 401
    assert from_addr(api, nat).get('/system/status').status_code == 429
    assert login(from_address(api, nat), ADMIN)['status'] == 'resource-throttle'
