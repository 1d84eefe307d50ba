"""Usergroup credits (Q-loud §9.1.6 hot billing) on the real server: a partner gives joe's
usergroup credit for two intervals (credit_interval = 1 s) and a zone filter; joe dials out
through POST /api/call/dial to a SIPp trunk.

The server hangs up the call once the credit cannot pay the next interval (the trunk's
scenario ends only on our BYE), GET .../credit reads what is left, a call the credit cannot
pay never reaches the trunk, and an emergency call neither pays nor is cut off.
"""
from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.test_call_api import Events, control
from tests.api.test_partner_cdr import KEY, partner_client
from tests.integration.conftest import ServerProcess, Sipp, assert_sipp_ok, free_port
from tests.integration.uac_steps import NO_SHEDDING

JOE = '+4930555001'
POLICE = '+49112'                 # configured as an emergency number
ROUTE = '+49221999112'            # emergency_route: where such calls are sent (a +49 number)
ZONES = [{'description': 'national', 'prefix': ['+49'], 'cost': 10},
         {'description': 'mobile', 'prefix': ['+4915'], 'cost': 25}]


@pytest.fixture
def setup(tmp_path, peer_tools):
    sipp = Sipp(tmp_path)
    trunk_port = free_port()
    # two calls reach the trunk: the emergency one and the metered one
    trunk = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, calls=2, global_timeout=180)
    api = Api(ServerProcess(tmp_path / 'data', env={
        'TELEPHONY_TRUNK': f'127.0.0.1:{trunk_port}', 'TELEPHONY_EMERGENCY_NUMBERS': POLICE,
        'TELEPHONY_EMERGENCY_ROUTE': ROUTE, 'TELEPHONY_CREDIT_INTERVAL': '1',
        **NO_SHEDDING}).start())
    ids = {'acme': api.add_user('acme', KEY, '--partner'),
           'joe': api.add_user('joe', 'secret12345', '--partner-of', 'acme')}
    api.cli('phone', 'add', JOE, '--user', 'joe', '--call-enable')
    yield api, sipp, trunk, ids
    api.close()
    api.server.stop()
    sipp.stop_all()


def dial(c, to: str) -> dict:
    return c.post('/api/call/dial', json={'to': to, 'from': JOE}).json()


def test_credit_pays_two_intervals_then_the_server_hangs_up(setup):
    api, sipp, (trunk, tcmd, twork), ids = setup
    p = partner_client(api)
    joe = api.login('joe')
    joe.get('/api/call/event')
    events = Events(joe)
    g = p.post('/api/partner/usergroup', json={'description': 'prepaid'}).json()['group_uuid']
    credit = f'/api/partner/usergroup/{g}/credit'
    assert p.post(f'/api/partner/usergroup/{g}/user',
                  json={'users': {'add': [ids['joe']]}}).json()['status'] == 'ok'
    assert p.post(f'/api/partner/usergroup/{g}/zonefilter',
                  json={'zonefilter': ZONES}).json()['status'] == 'ok'
    assert p.post(credit, json={'add': 20}).json()['status'] == 'ok'

    # a mobile minute costs 25: more than is left, so it never leaves (no INVITE, see below)
    assert dial(joe, '+4915112345')['status'] == 'quota-exceeded'

    # the emergency call goes out and stays up through everything that follows
    sos = dial(joe, POLICE)
    assert sos['status'] == 'ok', sos
    events.call_update(sos['uuid'], status='answered')

    # 10 when answered, 10 a second later, then the credit cannot pay: our BYE
    r = dial(joe, '+4930100200')
    assert r['status'] == 'ok', r
    events.call_update(r['uuid'], status='answered')
    events.call_update(r['uuid'], status='hangup')
    assert p.get(credit).json() == {'status': 'ok', 'credit': 0}
    assert p.get('/api/partner/usergroup/credit').json()['credits'] == {g: 0}

    # with nothing left even a national minute is refused before it leaves
    assert dial(joe, '+4930100201')['status'] == 'quota-exceeded'

    live = joe.get('/api/call', params={'uuid': sos['uuid']}).json()['call'][sos['uuid']]
    assert live['status'] == 'answered', live
    control(joe, sos['uuid'], {'control': 'hangup'})
    events.call_update(sos['uuid'], status='hangup')
    assert p.get(credit).json()['credit'] == 0      # the emergency call paid nothing

    result = sipp.wait(trunk, tcmd, twork, timeout=60)
    assert_sipp_ok(result, calls=2)      # each ended by a BYE from us, as the scenario needs
    log = result._read('*messages*.log', None).splitlines()
    invites = [line.split()[1] for line in log if line.startswith('INVITE sip:')]
    assert invites == [f'sip:{ROUTE}@127.0.0.1', 'sip:+4930100200@127.0.0.1'], invites
    metered = requests(log, 'INVITE', 'sip:+4930100200@')
    assert metered and metered <= requests(log, 'BYE'), 'no BYE from us for the metered call'


def test_a_phones_call_out_is_ended_on_both_sides(setup):
    """A SIP account of joe's calls out through the trunk (a B2BUA bridge): when the credit
    is used up the server sends BYE to the trunk and to the phone."""
    api, sipp, (trunk, tcmd, twork), ids = setup
    p = partner_client(api)
    api.cli('sip', 'add', 'joephone', '--password', 'joe-phone-pw', '--user', 'joe')
    g = p.post('/api/partner/usergroup', json={}).json()['group_uuid']
    assert p.post(f'/api/partner/usergroup/{g}/user',
                  json={'users': {'add': [ids['joe']]}}).json()['status'] == 'ok'
    assert p.post(f'/api/partner/usergroup/{g}/zonefilter',
                  json={'zonefilter': ZONES}).json()['status'] == 'ok'
    assert p.post(f'/api/partner/usergroup/{g}/credit', json={'add': 15}).json()['status'] == 'ok'
    phone = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_auth_hungup.xml',
                       service='+4930100300', auth=('joephone', 'joe-phone-pw'),
                       keys={'caller': 'joephone', 'domain': 'localhost'}, global_timeout=60)
    assert_sipp_ok(sipp.wait(*phone, timeout=60), calls=1)   # our BYE ended it
    assert p.get(f'/api/partner/usergroup/{g}/credit').json()['credit'] == 5
    # the trunk's scenario wants two calls: the second is placed (and ended) by the API
    joe = api.login('joe')
    joe.get('/api/call/event')
    events = Events(joe)
    assert p.post(f'/api/partner/usergroup/{g}/credit', json={'add': 5}).json()['status'] == 'ok'
    r = dial(joe, '+4930100301')
    assert r['status'] == 'ok', r
    events.call_update(r['uuid'], status='hangup')
    assert p.get(f'/api/partner/usergroup/{g}/credit').json()['credit'] == 0
    result = sipp.wait(trunk, tcmd, twork, timeout=60)
    assert_sipp_ok(result, calls=2)
    log = result._read('*messages*.log', None).splitlines()
    bridged = requests(log, 'INVITE', 'sip:+4930100300@')
    assert bridged and bridged <= requests(log, 'BYE'), 'no BYE from us for the bridged call'


def requests(log: list[str], method: str, uri: str = '') -> set[str]:
    """The Call-IDs of the requests in SIPp's message log with this method (and URI)."""
    found, current = set(), False
    for line in log:
        if line.split(' ', 1)[0] in ('INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS') or \
                line.startswith('SIP/2.0'):
            current = line.startswith(f'{method} sip:') and uri in line
        elif current and line.lower().startswith('call-id:'):
            found.add(line.split(':', 1)[1].strip())
            current = False
    return found
