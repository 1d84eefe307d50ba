"""The outgoing call policy (Q-loud §9) on the real server: a partner sets a call filter, a
usergroup limit and extensions through the API; the user dials through POST /api/call/dial
to a SIPp trunk, and a SIPp phone of the user dials an extension.

"Policy: a call denied by the callfilter never leaves the server": the trunk's own message
log shows which INVITEs reached it.
"""
from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.test_call_api import Events, control, new_call
from tests.api.test_partner_cdr import KEY, partner_client
from tests.integration.conftest import ServerProcess, Sipp, assert_sipp_ok, free_port, wait_for
from tests.integration.uac_steps import NO_SHEDDING

JOE = '+4930555001'
ANN = '+4930555003'
POLICE = '+49112'                 # configured as an emergency number
ROUTE = '+49221999112'            # emergency_route: where such calls are sent
UUI = '001D73306138F193FFFF4A6F6C696F742D43757269652D5374722E'   # §9.1.5's example
DENY_ALL = {'callfilter': [{'operator': 'match', 'key': '.*', 'pass': False}]}


@pytest.fixture
def setup(tmp_path, peer_tools):
    sipp = Sipp(tmp_path)
    trunk_port = free_port()
    # three calls reach the trunk: the rewritten one, the emergency one, the first under the limit
    trunk = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, calls=3, global_timeout=180)
    api = Api(ServerProcess(tmp_path / 'data', env={
        'TELEPHONY_TRUNK': f'127.0.0.1:{trunk_port}', 'TELEPHONY_EMERGENCY_NUMBERS': POLICE,
        'TELEPHONY_EMERGENCY_ROUTE': ROUTE, **NO_SHEDDING}).start())
    ids = {'acme': api.add_user('acme', KEY, '--partner'),
           'joe': api.add_user('joe', 'secret12345', '--partner-of', 'acme'),
           'ann': api.add_user('ann', 'secret12345', '--partner-of', 'acme')}
    api.cli('phone', 'add', JOE, '--user', 'joe', '--call-enable')
    api.cli('phone', 'add', ANN, '--user', 'ann', '--call-enable')
    yield api, sipp, trunk, ids
    api.close()
    api.server.stop()
    sipp.stop_all()


def dial(c, to: str) -> dict:
    return c.post('/api/call/dial', json={'to': to, 'from': JOE}).json()


def answered_then_hung_up(c, events: Events, to: str) -> dict:
    r = dial(c, to)
    assert r['status'] == 'ok', r
    events.call_update(r['uuid'], status='answered')
    info = c.get('/api/call', params={'uuid': r['uuid']}).json()['call'][r['uuid']]
    control(c, r['uuid'], {'control': 'hangup'})
    events.call_update(r['uuid'], status='hangup')
    return info


def no_live_calls(c) -> None:
    wait_for(lambda: c.get('/api/call').json()['call'] == {}, 20, 'the calls to end')


def test_filter_limit_and_emergency_decide_what_reaches_the_trunk(setup):
    api, sipp, (trunk, tcmd, twork), ids = setup
    p = partner_client(api)
    joe = api.login('joe')
    joe.get('/api/call/event')
    events = Events(joe)
    filter_url = f'/api/partner/callfilter/{ids["joe"]}'
    assert p.post(filter_url, json={'callfilter': [
        {'operator': 'replace', 'key': '^\\+4999', 'value': '+4922'},
        {'operator': 'match', 'key': '^\\+4966', 'pass': False}]}).json()['status'] == 'ok'

    # denied by the filter: the document's status, and no INVITE (checked at the end)
    r = dial(joe, '+4966123456')
    assert r['status'] == 'forbidden-to', r
    # allowed, and rewritten before it leaves
    assert answered_then_hung_up(joe, events, '+4999100200')['to'] == '+4922100200'

    # a deny-all filter and a limit of 0: nothing goes, except the emergency number
    assert p.post(filter_url, json=DENY_ALL).json()['status'] == 'ok'
    g = p.post('/api/partner/usergroup', json={'description': 'office'}).json()['group_uuid']
    assert p.post(f'/api/partner/usergroup/{g}/user',
                  json={'users': {'add': [ids['joe'], ids['ann']]}}).json()['status'] == 'ok'
    assert p.post(f'/api/partner/usergroup/{g}/limit', json={'limit': 0}).json()['status'] == 'ok'
    assert dial(joe, '+4922100201')['status'] == 'quota-exceeded'
    # the user's uui_header goes with the emergency call (RFC 7433 User-to-User)
    assert p.post(f'/api/partner/emergency/{ids["joe"]}',
                  json={'uui_header': UUI}).json()['status'] == 'ok'
    assert answered_then_hung_up(joe, events, POLICE)['to'] == ROUTE

    # the concurrent call limit: one call up, the next is refused
    assert p.delete(filter_url).json()['status'] == 'ok'
    assert p.post(f'/api/partner/usergroup/{g}/limit', json={'limit': 1}).json()['status'] == 'ok'
    no_live_calls(joe)
    first = dial(joe, '+4922100202')
    assert first['status'] == 'ok', first
    events.call_update(first['uuid'], status='answered')
    assert dial(joe, '+4922100203')['status'] == 'quota-exceeded'
    control(joe, first['uuid'], {'control': 'hangup'})
    events.call_update(first['uuid'], status='hangup')

    result = sipp.wait(trunk, tcmd, twork, timeout=60)
    assert_sipp_ok(result, calls=3)
    log = result._read('*messages*.log', None)
    invites = [line.split()[1] for line in log.splitlines() if line.startswith('INVITE sip:')]
    assert invites == ['sip:+4922100200@127.0.0.1', f'sip:{ROUTE}@127.0.0.1',
                       'sip:+4922100202@127.0.0.1'], invites
    # only the emergency INVITE carries it
    assert log.count(f'User-to-User: {UUI};encoding=hex') == 1, log


def test_extension_call_between_two_users_of_a_group(setup):
    api, sipp, _trunk, ids = setup
    p = partner_client(api)
    api.cli('sip', 'add', 'joephone', '--password', 'joe-phone-pw', '--user', 'joe')
    g = p.post('/api/partner/usergroup', json={'prefix': 3}).json()['group_uuid']
    assert p.post(f'/api/partner/usergroup/{g}/user',
                  json={'users': {'add': [ids['joe'], ids['ann']]}}).json()['status'] == 'ok'
    assert p.post(f'/api/partner/usergroup/{g}/extension',
                  json={'add': {'20': ids['ann'], '10': ids['joe']}}).json()['status'] == 'ok'
    ann = api.login('ann')
    ann.get('/api/call/event')
    events = Events(ann)
    caller = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_auth.xml',
                        service='20', auth=('joephone', 'joe-phone-pw'),
                        keys={'caller': 'joephone', 'domain': 'localhost'},
                        extra=['-d', '1000'], global_timeout=60)
    uuid = new_call(events)
    info = ann.get('/api/call', params={'uuid': uuid}).json()['call'][uuid]
    assert info['to'] == ANN and info['incoming'] is True, info
    control(ann, uuid, {'control': 'answer'})
    events.call_update(uuid, status='hangup')     # the caller's BYE after 1 s
    assert_sipp_ok(sipp.wait(*caller, timeout=60), calls=1)
