"""POST /api/v1/calls, dial-out parameters and the participants resources (CMS §8.1.2,
§8.1.5-§8.1.7, §8.3.2, §8.11) on the real server: calls made with no members, their shapes,
and every refusal (reasons and parameter errors). Dial-outs that ring and join are in
tests/integration/test_cisco_dial_out.py."""
from __future__ import annotations

import re

import pytest

from tests.integration.conftest import ServerProcess

from .cisco import ADMIN, PASSWORD, basic_client, create, failure, fields, is_xml, parsed
from .conftest import Api

UNKNOWN = '00000000-0000-0000-0000-000000000000'


@pytest.fixture(scope='module')
def c(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp('participants') / 'data',
                           env={'TELEPHONY_CISCO_API_CALLS_MAX': '3'}).start()
    api = Api(server)
    try:
        api.add_user(ADMIN, PASSWORD, '--admin')
        yield basic_client(api)
    finally:
        api.close()
        server.stop()


def new_call(c, **form) -> str:
    r = is_xml(c.post('/calls', data=form))
    assert r.status_code == 200, r.text
    m = re.fullmatch(r'/api/v1/calls/([0-9a-f-]{36})', r.headers['location'])
    assert m, r.headers['location']
    return m.group(1)


def test_a_call_made_by_the_api_runs_empty_until_deleted(c):
    space = create(c, 'coSpaces', name='Board', uri='board.room')
    call = new_call(c, coSpace=space)
    assert new_call(c, coSpace=space) == call          # one call per coSpace
    shown = fields(parsed(c.get(f'/calls/{call}')))
    assert (shown['callType'], shown['coSpace'], shown['name'], shown['numCallLegs']) == \
        ('coSpace', space, 'Board', '0')
    ad_hoc = new_call(c, name='standup')
    shown = fields(parsed(c.get(f'/calls/{ad_hoc}')))
    assert (shown['callType'], shown['name'], 'coSpace' in shown) == ('adHoc', 'standup', False)
    listed = parsed(c.get('/calls'))
    assert {e.get('id') for e in listed} == {call, ad_hoc}
    assert {e.get('id') for e in parsed(c.get('/calls', params={'coSpaceFilter': space}))} == \
        {call}
    # nobody in it: empty participants and legs
    for path in (f'/calls/{call}/participants', f'/calls/{call}/callLegs', '/participants'):
        root = parsed(c.get(path))
        assert (root.get('total'), len(root)) == ('0', 0), path
    # bounded: cisco_api_calls_max (3 here)
    third = new_call(c, name='third')
    r = c.post('/calls', data={'name': 'fourth'})
    assert (r.status_code, failure(r)) == (400, (['tooManyCalls'], {}))
    for made in (call, ad_hoc, third):
        assert is_xml(c.delete(f'/calls/{made}')).status_code == 200
        assert failure(c.get(f'/calls/{made}')) == (['callDoesNotExist'], {})
    assert parsed(c.get('/calls')).get('total') == '0'


def test_creating_a_call_refuses_bad_input(c):
    r = c.post('/calls', data={})
    assert (r.status_code, failure(r)) == (400, ([], {'coSpace': 'missing'}))
    r = c.post('/calls', data={'coSpace': UNKNOWN})
    assert (r.status_code, failure(r)) == (400, (['coSpaceDoesNotExist'], {}))
    assert failure(c.post('/calls', data={'name': 'x' * 201})) == ([], {'name': 'valueTooLong'})
    assert failure(c.post('/calls', data={'coSpace': 'x' * 37})) == \
        ([], {'coSpace': 'valueTooLong'})
    r = c.put('/calls', data={})
    assert (r.status_code, r.headers['allow']) == (405, 'GET, POST')


def test_dial_out_refusals(c):
    call = new_call(c, name='dial')
    try:
        for kind in ('participants', 'callLegs'):
            r = c.post(f'/calls/{call}/{kind}', data={})
            assert (r.status_code, failure(r)) == (400, ([], {'remoteParty': 'missing'}))
            r = c.post(f'/calls/{call}/{kind}', data={'remoteParty': 'bob\x01@x'})
            assert failure(r) == ([], {'remoteParty': 'invalidValue'})
            # no outbound rule, no account of ours, no settings trunk: nothing is dialled
            r = c.post(f'/calls/{call}/{kind}', data={'remoteParty': 'sip:bob@elsewhere.test'})
            assert (r.status_code, failure(r)) == (400, ([], {'remoteParty': 'invalidValue'}))
            r = c.post(f'/calls/{call}/{kind}', data={'remoteParty': '+4922100099',
                                                      'rxAudioMute': 'maybe'})
            assert failure(r) == ([], {'rxAudioMute': 'invalidValue'})
            r = c.post(f'/calls/{UNKNOWN}/{kind}', data={'remoteParty': '+4922100099'})
            assert (r.status_code, failure(r)) == (404, (['callDoesNotExist'], {}))
        assert parsed(c.get(f'/calls/{call}/participants')).get('total') == '0'
    finally:
        c.delete(f'/calls/{call}')


def test_bulk_participant_changes_check_filter_ids_and_mode(c):
    call = new_call(c, name='bulk')
    try:
        path = f'/calls/{call}/participants/*'
        assert is_xml(c.put(path, data={'rxAudioMute': 'true'})).status_code == 200
        ids = ','.join(UNKNOWN for _ in range(20))
        assert c.put(path, data={'rxAudioMute': 'true', 'filterIds': ids,
                                 'mode': 'selected'}).status_code == 200
        r = c.put(path, data={'rxAudioMute': 'true', 'filterIds': ','.join(
            f'{UNKNOWN[:-2]}{i:02d}' for i in range(21))})
        assert (r.status_code, failure(r)) == (400, ([], {'filterIds': 'valueTooLong'}))
        r = c.put(path, params={'filterIds': 'x' * 40})     # the query string is read too
        assert failure(r) == ([], {'filterIds': 'invalidValue'})
        assert failure(c.put(path, data={'mode': 'all'})) == ([], {'mode': 'invalidValue'})
        assert failure(c.put(path, data={'txAudioMute': 'yes'})) == \
            ([], {'txAudioMute': 'invalidValue'})
        r = c.get(path)
        assert (r.status_code, r.headers['allow']) == (405, 'PUT')
        r = c.put(f'/calls/{UNKNOWN}/participants/*', data={'rxAudioMute': 'true'})
        assert failure(r) == (['callDoesNotExist'], {})
    finally:
        c.delete(f'/calls/{call}')


def test_unknown_participants_and_paths(c):
    for method in ('get', 'put', 'delete'):
        r = getattr(c, method)(f'/participants/{UNKNOWN}')
        assert (r.status_code, failure(r)) == (404, (['participantDoesNotExist'], {}))
    assert failure(c.get(f'/participants/{UNKNOWN}/callLegs')) == \
        (['participantDoesNotExist'], {})
    assert failure(c.get('/participants/' + 'x' * 300)) == (['participantDoesNotExist'], {})
    assert failure(c.get(f'/participants/{UNKNOWN}/importanceData')) == \
        (['unrecognisedObject'], {})
    r = c.post('/participants', data={'remoteParty': 'x'})
    assert (r.status_code, r.headers['allow']) == (405, 'GET')
    assert failure(c.get('/participants', params={'filter': 'x' * 256})) == \
        ([], {'filter': 'valueTooLong'})
