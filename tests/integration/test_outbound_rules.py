"""Outgoing calls through dial transforms and outbound rules (issue 9), rules made over
/api/v1 on the real server, SIPp instances as the trunks."""
from __future__ import annotations

# ruff: noqa: F811 -- start_api is the API tests' fixture, imported to be used as one

import hashlib
import re

import pytest

from tests.api.cisco import add_admin, create
from tests.api.conftest import start_api  # noqa: F401 -- the fixture
from tests.api.test_call_api import Events, control
from tests.integration.conftest import SCENARIOS, Sipp, assert_sipp_ok, free_port
from tests.integration.rawsip import UdpPeer, new_call_id, request, sdp_offer

NUMBER = '+4930555001'
OTHER = '+4930555002'
TO = '+4922100099'
TRANSFORMED = 'INVITE sip:004922100099@carrier.test SIP/2.0'


@pytest.fixture
def sipp(tmp_path, peer_tools):
    runner = Sipp(tmp_path)
    yield runner
    runner.stop_all()


def started(start_api, **env):
    """A server with user joe (number NUMBER, call API), an /api/v1 admin and joe's events."""
    api = start_api(**env)
    admin = add_admin(api)
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    c.get('/api/call/event')
    return api, admin, c, Events(c)


def to_carrier(admin) -> None:
    """+4922… becomes 004922…@carrier.test"""
    create(admin, 'dialTransforms', type='raw', match='($1/^[+]4922/)',
           transform='$1{/^[+]/00/}@carrier.test', priority='10')


def refusing(tmp_path, status: int):
    """uas_refuse.xml answering `status` instead of 503."""
    path = tmp_path / f'uas_refuse_{status}.xml'
    text = (SCENARIOS / 'uas_refuse.xml').read_text()
    path.write_text(text.replace('SIP/2.0 503 Service Unavailable', f'SIP/2.0 {status} Refused'))
    return path


def no_invite(sipp: Sipp, trunk) -> str:
    """Stop a SIPp trunk that should have seen nothing; what it logged."""
    proc, cmd, work = trunk
    proc.terminate()
    result = sipp.wait(proc, cmd, work, timeout=30)
    assert 'INVITE sip:' not in result.messages, result.messages
    return result.messages


def test_failover_to_the_second_trunk_with_the_transformed_number(start_api, sipp):
    p1, p2 = free_port(), free_port()
    first = sipp.start('', scenario='uas_refuse.xml', port=p1)
    second = sipp.start('', scenario='uas_trunk.xml', port=p2)
    api, admin, c, events = started(start_api)
    to_carrier(admin)
    create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{p1}',
           priority='20', failureAction='continue')
    create(admin, 'outboundDialPlanRules', domain='*.test', sipProxy=f'127.0.0.1:{p2}',
           priority='10')
    r = c.post('/api/call/dial', json={'to': TO, 'from': NUMBER}).json()
    assert r['status'] == 'ok', r
    events.call_update(r['uuid'], status='answered')
    control(c, r['uuid'], {'control': 'hangup'})
    events.call_update(r['uuid'], status='hangup')
    refused = sipp.wait(*first, timeout=60)
    assert_sipp_ok(refused, calls=1)
    assert TRANSFORMED in refused.messages
    answered = sipp.wait(*second, timeout=60)
    assert_sipp_ok(answered, calls=1)
    assert TRANSFORMED in answered.messages, answered.messages
    invite = answered.messages[answered.messages.index(TRANSFORMED):]
    assert f'From: <sip:{NUMBER}@localhost>' in invite.split('\n\n')[0]
    assert api.server.events('trunk-failover')


@pytest.mark.parametrize('action,status', [('stop', 503), ('continue', 486)])
def test_no_failover_after_stop_or_busy(start_api, sipp, tmp_path, action, status):
    p1, p2 = free_port(), free_port()
    first = sipp.start('', scenario=refusing(tmp_path, status), port=p1)
    second = sipp.start('', scenario='uas_trunk.xml', port=p2)
    api, admin, c, events = started(start_api)
    to_carrier(admin)
    create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{p1}',
           priority='20', failureAction=action)
    create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{p2}',
           priority='10')
    r = c.post('/api/call/dial', json={'to': TO, 'from': NUMBER}).json()
    assert r['status'] == 'ok', r
    ended = events.call_update(r['uuid'], status='hangup')
    if status == 486:
        assert ended['call'][r['uuid']]['hangup_cause'] == 17   # busy, as the trunk said
    assert_sipp_ok(sipp.wait(*first, timeout=60), calls=1)
    no_invite(sipp, second)


def test_digest_towards_a_trunk_that_challenges(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk_auth.xml', port=port)
    api, admin, c, events = started(start_api)
    to_carrier(admin)
    create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{port}',
           sipProxyUsername='pbx', sipProxyPassword='trunk-secret')
    r = c.post('/api/call/dial', json={'to': TO, 'from': NUMBER}).json()
    assert r['status'] == 'ok', r
    events.call_update(r['uuid'], status='answered')
    control(c, r['uuid'], {'control': 'hangup'})
    result = sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(result, calls=1)
    auth = re.search(r'Proxy-Authorization: Digest username="pbx", realm="carrier.test", '
                     r'nonce="([^"]+)", uri="([^"]+)", response="([0-9a-f]{32})"', result.messages)
    assert auth, result.messages
    nonce, uri, response = auth.groups()

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()
    assert response == md5(f'{md5("pbx:carrier.test:trunk-secret")}:{nonce}:{md5("INVITE:" + uri)}')
    assert 'trunk-secret' not in api.server.log()


def test_a_deny_transform_keeps_the_call_in(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api, admin, c, events = started(start_api, TELEPHONY_TRUNK=f'127.0.0.1:{port}')
    create(admin, 'dialTransforms', type='raw', match='($1/^[+]49900/)', action='deny',
           priority='10')
    create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{port}')
    r = c.post('/api/call/dial', json={'to': '+499001234', 'from': NUMBER}).json()
    assert r['status'] == 'fail' and 'denied' in r['message'], r
    assert api.server.wait_event('dial-failed')[0]['status'] == '403'
    no_invite(sipp, trunk)


def test_a_call_to_our_own_number_stays_in(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api, admin, c, events = started(start_api, TELEPHONY_TRUNK=f'127.0.0.1:{port}')
    api.cli('phone', 'add', OTHER, '--user', 'joe', '--call-enable')
    create(admin, 'outboundDialPlanRules', domain='*', sipProxy=f'127.0.0.1:{port}')
    r = c.post('/api/call/dial', json={'to': OTHER, 'from': NUMBER}).json()
    assert r['status'] == 'ok', r
    # joe's other number rings in joe's call API: an incoming call, not a trunk's INVITE
    ev = events.wait(lambda e: e['event'] == 'call_update' and any(
        v.get('incoming') is True and v.get('to') == OTHER for v in e['call'].values()),
        what='the incoming side of the internal call')
    inbound = next(iter(ev['call']))
    control(c, inbound, {'control': 'answer'})
    events.call_update(r['uuid'], status='answered')
    control(c, r['uuid'], {'control': 'hangup'})
    events.call_update(inbound, status='hangup')
    assert api.server.wait_event('dial')[0]['route'] == 'internal'
    no_invite(sipp, trunk)


def test_an_outbound_rule_with_register_registers_and_stops_when_deleted(start_api, sipp):
    port = free_port()
    registrar = sipp.start('', scenario='trunk_registrar.xml', port=port,
                           keys={'password': 'trunk-secret'})
    api, admin, c, events = started(start_api)
    rule = create(admin, 'outboundDialPlanRules', domain='carrier.test',
                  sipProxy=f'127.0.0.1:{port}', sipProxyUsername='pbx',
                  sipProxyPassword='trunk-secret', register='true', registerExpiry='60')
    # no restart: the rule's write makes the registration (SIPp checks the digest)
    api.server.wait_event('trunk-registration', timeout=30, trunk=rule, state='registered')
    status = admin.get('/system/status')
    assert f'<trunkRegistration id="{rule}">' in status.text, status.text
    assert admin.delete(f'/outboundDialPlanRules/{rule}').status_code == 200
    api.server.wait_event('trunk-registration', timeout=30, trunk=rule, state='unregistered')
    assert f'id="{rule}"' not in admin.get('/system/status').text
    assert 'trunk-secret' not in api.server.log()
    registrar[0].terminate()


def test_a_phone_of_ours_calls_out_through_the_rules(start_api, sipp):
    """An authenticated SIP account dialling a number that is not ours: transforms, outbound
    rule, trunk; bridged both ways until the phone hangs up."""
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api, admin, c, events = started(start_api)
    api.server.add_account('alice', 'alice-secret')
    to_carrier(admin)
    create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{port}')
    phone = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario='uac_auth.xml', service=TO,
                     auth=('alice', 'alice-secret'), keys={'caller': 'alice', 'domain': 'localhost'},
                     extra=['-d', '1000'], timeout=60)
    assert_sipp_ok(phone, calls=1, server=api.server)
    result = sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(result, calls=1)   # the phone's BYE reached the trunk
    assert TRANSFORMED in result.messages, result.messages
    invite = result.messages[result.messages.index(TRANSFORMED):].split('\n\n')[0]
    assert 'From: <sip:alice@localhost>' in invite, invite


def test_a_stranger_cannot_call_out(start_api, sipp):
    """No credentials, no trunk's address: challenged, and no INVITE reaches the trunk."""
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api, admin, c, events = started(start_api, TELEPHONY_TRUNK=f'127.0.0.1:{port}')
    create(admin, 'outboundDialPlanRules', domain='*', sipProxy=f'127.0.0.1:{port}')
    peer = UdpPeer(api.server.sip_port)
    try:
        for uri in (f'sip:{TO}@localhost', 'sip:bob@carrier.test'):
            cid = new_call_id()
            peer.send(request('INVITE', uri, port=peer.port, call_id=cid, body=sdp_offer(40020),
                              content_type='application/sdp'))
            final, _ = peer.final(cid, timeout=30)
            assert final is not None and final.status in (401, 407), final
    finally:
        peer.close()
    no_invite(sipp, trunk)
