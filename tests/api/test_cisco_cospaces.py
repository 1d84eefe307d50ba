"""/api/v1/coSpaces and /coSpaces/<id>/accessMethods (CMS §6.1-6.5) against the real
server: create, read, update, unset, delete; collections with filter/offset/limit; every
parameter error and every failure reason (duplicateCoSpaceUri, duplicateCoSpaceId,
duplicateCoSpaceUriPasscode, duplicateCoSpaceIdPasscode, passcodeTooShort,
accessMethodDoesNotExist, coSpaceDoesNotExist)."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.conftest import ServerProcess

from .cisco import (ADMIN, PASSWORD, add_admin, basic_client, create, failure, get_object, is_xml,
                    listing)
from .conftest import Api, start_api  # noqa: F401 -- the fixture


@pytest.fixture(scope='module')
def c(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp('cospaces') / 'data').start()
    api = Api(server)
    try:
        api.add_user(ADMIN, PASSWORD, '--admin')
        yield basic_client(api)
    finally:
        api.close()
        server.stop()


def methods_path(space: str) -> str:
    return f'coSpaces/{space}/accessMethods'


def test_cospace_lifecycle(c):
    full = {'name': 'Sales coSpace', 'uri': 'sales.team', 'secondaryUri': '4455',
            'callId': '123456789', 'passcode': '12345678', 'cdrTag': 'sales',
            'defaultLayout': 'speakerOnly', 'callLegProfile': create(c, 'callLegProfiles'),
            'callProfile': create(c, 'callProfiles'),
            'callBrandingProfile': 'cbp-1', 'lobbyProfile': 'lp-1',
            'dialInSecurityProfile': create(c, 'dialInSecurityProfiles'),
            'nonMemberAccess': 'false',
            'ownerJid': 'alice@example.com'}
    space = create(c, 'coSpaces', **full)
    tag, got = get_object(c, 'coSpaces', space)
    assert tag == 'coSpace' and got == full

    assert is_xml(c.put(f'/coSpaces/{space}', data={'name': 'Sales', 'passcode': ''})) \
        .status_code == 200
    got = get_object(c, 'coSpaces', space)[1]
    assert got['name'] == 'Sales' and 'passcode' not in got
    assert is_xml(c.put(f'/coSpaces/{space}', data={'nonMemberAccess': ''})).status_code == 200
    assert get_object(c, 'coSpaces', space)[1]['nonMemberAccess'] == 'true'   # its default

    minimal = create(c, 'coSpaces')
    assert get_object(c, 'coSpaces', minimal)[1] == {'nonMemberAccess': 'true'}

    for gone in (space, minimal):
        assert is_xml(c.delete(f'/coSpaces/{gone}')).status_code == 200
        for method in ('get', 'put', 'delete'):
            r = getattr(c, method)(f'/coSpaces/{gone}')
            assert r.status_code == 404 and failure(r) == (['coSpaceDoesNotExist'], {})
        r = c.get(f'/{methods_path(gone)}')
        assert r.status_code == 404 and failure(r) == (['coSpaceDoesNotExist'], {})


def test_access_method_lifecycle_and_default(c):
    space = create(c, 'coSpaces', name='Methods', uri='methods')
    leg_profile = create(c, 'callLegProfiles')
    full = {'uri': 'methods.guest', 'callId': '55501', 'passcode': '87654321', 'name': 'guests',
            'callLegProfile': leg_profile, 'lobbyProfile': 'lp-2',
            'dialInSecurityProfile': create(c, 'dialInSecurityProfiles'),
            'scope': 'public', 'importance': '7'}
    r = is_xml(c.post(f'/{methods_path(space)}', data=full))
    assert r.status_code == 200
    m = re.fullmatch(rf'/api/v1/coSpaces/{space}/accessMethods/([0-9a-f-]{{36}})',
                     r.headers['location'])
    assert m, r.headers['location']
    method = m.group(1)
    assert get_object(c, methods_path(space), method) == ('accessMethod', full)
    assert c.put(f'/{methods_path(space)}/{method}', data={'scope': 'private',
                                                          'importance': ''}).status_code == 200
    got = get_object(c, methods_path(space), method)[1]
    assert got['scope'] == 'private' and 'importance' not in got

    total, items = listing(c, methods_path(space))
    assert total == 1 and items == [(method, {'uri': 'methods.guest', 'callId': '55501',
                                              'passcode': '87654321',
                                              'callLegProfile': leg_profile})]

    # the default access method is one of this coSpace's
    assert c.put(f'/coSpaces/{space}', data={'defaultAccessMethod': method}).status_code == 200
    assert get_object(c, 'coSpaces', space)[1]['defaultAccessMethod'] == method
    other = create(c, 'coSpaces', name='Other')
    r = c.put(f'/coSpaces/{other}', data={'defaultAccessMethod': method})
    assert r.status_code == 400 and failure(r) == (['accessMethodDoesNotExist'], {})
    r = c.post('/coSpaces', data={'defaultAccessMethod': method})
    assert r.status_code == 400 and failure(r) == (['accessMethodDoesNotExist'], {})

    # an access method is reached only under its own coSpace
    for verb in ('get', 'put', 'delete'):
        r = getattr(c, verb)(f'/{methods_path(other)}/{method}')
        assert r.status_code == 404 and failure(r) == (['accessMethodDoesNotExist'], {})

    assert c.delete(f'/{methods_path(space)}/{method}').status_code == 200
    assert 'defaultAccessMethod' not in get_object(c, 'coSpaces', space)[1]
    r = c.get(f'/{methods_path(space)}/{method}')
    assert r.status_code == 404 and failure(r) == (['accessMethodDoesNotExist'], {})

    # deleting a coSpace takes its access methods along
    again = create(c, methods_path(space), uri='methods.again')
    assert c.delete(f'/coSpaces/{space}').status_code == 200
    reuse = create(c, 'coSpaces', uri='methods.again')   # the URI is free again
    for gone in (other, reuse):
        c.delete(f'/coSpaces/{gone}')
    assert again


BAD = [
    ('coSpaces', 'uri', '.sales', 'invalidValue'), ('coSpaces', 'uri', 'sales-', 'invalidValue'),
    ('coSpaces', 'uri', 'a..b', 'invalidValue'), ('coSpaces', 'uri', 'a.-b', 'invalidValue'),
    ('coSpaces', 'uri', 'a b', 'invalidValue'), ('coSpaces', 'uri', 'a@b', 'invalidValue'),
    ('coSpaces', 'uri', 'u' * 201, 'valueTooLong'),
    ('coSpaces', 'secondaryUri', '+4930', 'invalidValue'),
    ('coSpaces', 'callId', '12a', 'invalidValue'), ('coSpaces', 'callId', '1' * 201, 'valueTooLong'),
    ('coSpaces', 'passcode', '1234abcd', 'invalidValue'),
    ('coSpaces', 'passcode', '1' * 64, 'valueTooLong'),
    ('coSpaces', 'name', 'n' * 201, 'valueTooLong'),
    ('coSpaces', 'cdrTag', 't' * 101, 'valueTooLong'),
    ('coSpaces', 'defaultLayout', 'grid', 'invalidValue'),
    ('coSpaces', 'nonMemberAccess', 'yes', 'invalidValue'),
    ('coSpaces', 'requireCallId', 'TRUE', 'invalidValue'),
    ('coSpaces', 'name', 'x\r\ny', 'invalidValue'),
    ('accessMethods', 'uri', '-guest', 'invalidValue'),
    ('accessMethods', 'callId', '-1', 'invalidValue'),
    ('accessMethods', 'passcode', '1' * 64, 'valueTooLong'),
    ('accessMethods', 'scope', 'everyone', 'invalidValue'),
    ('accessMethods', 'importance', '-1', 'invalidValue'),
    ('accessMethods', 'importance', '2147483648', 'invalidValue'),
]


@pytest.mark.parametrize('kind,name,value,error', BAD)
def test_a_bad_value_is_a_parameter_error_on_create_and_update(c, kind, name, value, error):
    holder = create(c, 'coSpaces', name='holder') if kind == 'accessMethods' else None
    path = methods_path(holder) if holder else 'coSpaces'
    r = c.post(f'/{path}', data={name: value})
    assert r.status_code == 400 and failure(r) == ([], {name: error}), r.text
    obj = create(c, path, name='fine')
    before = get_object(c, path, obj)[1]
    r = c.put(f'/{path}/{obj}', data={'name': 'changed', name: value})
    assert r.status_code == 400 and failure(r) == ([], {name: error}), r.text
    assert get_object(c, path, obj)[1] == before   # a refused PUT changes nothing
    c.delete(f'/coSpaces/{holder or obj}')


@pytest.mark.parametrize('code', ['1', '1234567'])
def test_a_passcode_shorter_than_eight_digits_is_too_short(c, code):
    r = c.post('/coSpaces', data={'passcode': code})
    assert r.status_code == 400 and failure(r) == (['passcodeTooShort'], {})
    space = create(c, 'coSpaces', passcode='1' * 63)   # the longest passes
    r = c.post(f'/{methods_path(space)}', data={'passcode': code})
    assert r.status_code == 400 and failure(r) == (['passcodeTooShort'], {})
    c.delete(f'/coSpaces/{space}')


def test_tenant_does_not_exist(c):
    r = c.post('/coSpaces', data={'tenant': 'abc'})
    assert r.status_code == 400 and failure(r) == (['tenantDoesNotExist'], {})


def test_duplicate_uri_between_cospaces_and_their_access_methods(c):
    a = create(c, 'coSpaces', uri='alpha', secondaryUri='1001')
    b = create(c, 'coSpaces', uri='beta')
    for data in ({'uri': 'alpha'}, {'uri': 'ALPHA'}, {'secondaryUri': 'alpha'}, {'uri': '1001'}):
        r = c.post('/coSpaces', data=data)
        assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUri'], {}), data
        r = c.put(f'/coSpaces/{b}', data=data)
        assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUri'], {}), data
    assert get_object(c, 'coSpaces', b)[1]['uri'] == 'beta'
    # another coSpace's access method URI clashes too, both ways
    create(c, methods_path(a), uri='alpha.guest')
    r = c.put(f'/coSpaces/{b}', data={'secondaryUri': 'alpha.guest'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUri'], {})
    r = c.post(f'/{methods_path(b)}', data={'uri': 'alpha.guest'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUri'], {})
    r = c.post(f'/{methods_path(b)}', data={'uri': '1001'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUri'], {})
    # a coSpace may keep its own URI on a PUT
    assert c.put(f'/coSpaces/{a}', data={'uri': 'alpha', 'name': 'A'}).status_code == 200
    for s in (a, b):
        c.delete(f'/coSpaces/{s}')


def test_duplicate_call_id_between_cospaces(c):
    a = create(c, 'coSpaces', callId='700100')
    b = create(c, 'coSpaces', callId='700200')
    r = c.post('/coSpaces', data={'callId': '700100'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceId'], {})
    r = c.put(f'/coSpaces/{b}', data={'callId': '700100'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceId'], {})
    create(c, methods_path(a), callId='700300')
    r = c.post(f'/{methods_path(b)}', data={'callId': '700300'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceId'], {})
    r = c.put(f'/coSpaces/{b}', data={'callId': '700300'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceId'], {})
    for s in (a, b):
        c.delete(f'/coSpaces/{s}')


def test_uri_and_call_id_repeat_within_a_cospace_only_with_another_passcode(c):
    space = create(c, 'coSpaces', uri='gamma', callId='800100', passcode='11112222')
    # the coSpace's own URI or call ID with its passcode: the same entry twice
    r = c.post(f'/{methods_path(space)}', data={'uri': 'gamma', 'passcode': '11112222'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUriPasscode'], {})
    r = c.post(f'/{methods_path(space)}', data={'callId': '800100', 'passcode': '11112222'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceIdPasscode'], {})
    # with another passcode they are another way in
    m1 = create(c, methods_path(space), uri='gamma', callId='800100', passcode='33334444')
    # two access methods with the same URI/call ID and passcode clash, on create and PUT
    r = c.post(f'/{methods_path(space)}', data={'uri': 'gamma', 'passcode': '33334444'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUriPasscode'], {})
    m2 = create(c, methods_path(space), uri='gamma', callId='800100')   # no passcode
    r = c.put(f'/{methods_path(space)}/{m2}', data={'passcode': '33334444'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUriPasscode'], {})
    r = c.put(f'/{methods_path(space)}/{m2}', data={'uri': 'other.way', 'passcode': '33334444'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceIdPasscode'], {})
    # modifying the coSpace into an access method's combination clashes too
    r = c.put(f'/coSpaces/{space}', data={'passcode': '33334444'})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUriPasscode'], {})
    r = c.put(f'/coSpaces/{space}', data={'passcode': ''})     # m2: gamma without passcode
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceUriPasscode'], {})
    r = c.put(f'/coSpaces/{space}', data={'uri': 'delta', 'passcode': ''})
    assert r.status_code == 400 and failure(r) == (['duplicateCoSpaceIdPasscode'], {})
    # a method may be saved again unchanged
    assert c.put(f'/{methods_path(space)}/{m1}', data={'name': 'm1'}).status_code == 200
    c.delete(f'/coSpaces/{space}')


def test_require_call_id_generates_one(c):
    space = create(c, 'coSpaces', requireCallId='true')
    call_id = get_object(c, 'coSpaces', space)[1]['callId']
    assert re.fullmatch(r'[1-9][0-9]{8}', call_id)
    # kept when there is one already
    assert c.put(f'/coSpaces/{space}', data={'requireCallId': 'true'}).status_code == 200
    assert get_object(c, 'coSpaces', space)[1]['callId'] == call_id
    given = create(c, 'coSpaces', requireCallId='true', callId='42')
    assert get_object(c, 'coSpaces', given)[1]['callId'] == '42'
    plain = create(c, 'coSpaces', requireCallId='false')
    assert 'callId' not in get_object(c, 'coSpaces', plain)[1]
    assert c.put(f'/coSpaces/{plain}', data={'requireCallId': 'true'}).status_code == 200
    assert re.fullmatch(r'[0-9]{9}', get_object(c, 'coSpaces', plain)[1]['callId'])
    for s in (space, given, plain):
        c.delete(f'/coSpaces/{s}')


def test_collections_filter_offset_limit(c):
    odd, even = create(c, 'callLegProfiles'), create(c, 'callLegProfiles')
    made = [create(c, 'coSpaces', name=f'Team {i:02}', uri=f'team{i:02}',
                   callLegProfile=odd if i % 2 else even) for i in range(25)]
    total, items = listing(c, 'coSpaces', filter='team')
    assert total == 25 and len(items) == 20   # the cap (§4.2.2: coSpaces 20)
    assert [i for i, _ in items] == made[:20]
    assert items[0][1] == {'name': 'Team 00', 'uri': 'team00'}
    total, items = listing(c, 'coSpaces', filter='TEAM', offset='20', limit='10')
    assert total == 25 and [i for i, _ in items] == made[20:]
    total, items = listing(c, 'coSpaces', filter='team1')
    assert total == 10 and all(f['uri'].startswith('team1') for _, f in items)
    total, _ = listing(c, 'coSpaces', filter='team', callLegProfileFilter=odd)
    assert total == 12
    total, items = listing(c, 'coSpaces', filter='team', limit='0')
    assert total == 25 and items == []
    r = c.get('/coSpaces', params={'offset': '-1'})
    assert r.status_code == 400 and failure(r) == ([], {'offset': 'invalidValue'})
    r = c.get('/coSpaces', params={'filter': 'f' * 256})
    assert r.status_code == 400 and failure(r) == ([], {'filter': 'valueTooLong'})
    # an access method collection is its coSpace's only
    create(c, methods_path(made[0]), uri='team00.a', name='first')
    create(c, methods_path(made[0]), uri='team00.b', name='second')
    create(c, methods_path(made[1]), uri='team01.a')
    total, items = listing(c, methods_path(made[0]), filter='second')
    assert total == 1 and items[0][1]['uri'] == 'team00.b'
    assert listing(c, methods_path(made[0]))[0] == 2
    for s in made:
        c.delete(f'/coSpaces/{s}')


def test_unknown_paths_and_methods(c):
    space = create(c, 'coSpaces')
    r = c.get(f'/coSpaces/{space}/members')
    assert r.status_code == 404 and failure(r) == (['unrecognisedObject'], {})
    r = c.delete('/coSpaces')
    assert r.status_code == 405 and failure(r) == (['invalidOperation'], {})
    r = c.post(f'/coSpaces/{space}')
    assert r.status_code == 405 and failure(r) == (['invalidOperation'], {})
    c.delete(f'/coSpaces/{space}')


def test_caps_on_cospaces_and_access_methods(start_api):  # noqa: F811
    admin = add_admin(start_api(TELEPHONY_COSPACES_MAX='2', TELEPHONY_COSPACE_ACCESS_METHODS_MAX='2'))
    spaces = [create(admin, 'coSpaces', name=f's{i}') for i in range(2)]
    r = admin.post('/coSpaces', data={'name': 'third'})
    assert r.status_code == 400 and failure(r) == (['tooManyCoSpaces'], {})
    for i in range(2):
        create(admin, methods_path(spaces[0]), uri=f'way{i}')
    r = admin.post(f'/{methods_path(spaces[0])}', data={'uri': 'way2'})
    assert r.status_code == 400 and failure(r) == (['tooManyAccessMethods'], {})
    create(admin, methods_path(spaces[1]), uri='way2')   # the cap is per coSpace
    assert admin.delete(f'/coSpaces/{spaces[1]}').status_code == 200
    create(admin, 'coSpaces', name='third')              # room again after a delete


def test_racing_creates_of_one_uri_make_one_cospace(c):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: c.post('/coSpaces', data={'uri': 'race', 'name': str(i)}),
                                range(8)))
    assert sorted(r.status_code for r in answers) == [200] + [400] * 7
    assert all(failure(r) == (['duplicateCoSpaceUri'], {}) for r in answers if r.status_code == 400)
    total, items = listing(c, 'coSpaces', filter='race')
    assert total == 1
    c.delete(f'/coSpaces/{items[0][0]}')
