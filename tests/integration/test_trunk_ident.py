"""Inbound trunks known by credential or by a host-name sipProxy (issue 9 §3a), against the
real server: a SIPp caller from an address that is no trunk's is challenged, answers with the
trunk's inbound credential and is forwarded (a trunk's privilege) to a SIPp trunk; a wrong
password, or a stranger writing the trunk's From, is refused and never reaches the trunk.
A rule whose sipProxy is `localhost:PORT` makes calls from 127.0.0.1 that trunk's."""
from __future__ import annotations

# ruff: noqa: F811 -- start_api is the API tests' fixture, imported to be used as one

import pytest

from tests.api.cisco import add_admin, create
from tests.api.conftest import start_api  # noqa: F401 -- the fixture
from tests.integration.conftest import Sipp, assert_sipp_ok, free_port
from tests.integration.rawsip import UdpPeer, new_call_id, request, sdp_offer
from tests.integration.test_hunting import register
from tests.integration.test_outbound_rules import no_invite

USER, SECRET = 'carrier9', 'In-Pa55-zq81'
NUMBER = '+4940111222'
FORWARDED = f'INVITE sip:{NUMBER}@carrier.test SIP/2.0'


@pytest.fixture
def sipp(tmp_path, peer_tools):
    runner = Sipp(tmp_path)
    yield runner
    runner.stop_all()


def carrier(start_api, proxy: str, **trunk):
    """A carrier trunk (outbound rule) and a forwarding rule fwd.test -> carrier.test."""
    api = start_api()
    admin = add_admin(api)
    rule = create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=proxy, **trunk)
    create(admin, 'forwardingDialPlanRules', matchPattern='fwd.test', action='forward',
           destinationDomain='carrier.test')
    return api, rule


def call_with(sipp: Sipp, api, user: str, password: str):
    """SIPp calls NUMBER@fwd.test from 127.0.0.1, answering the challenge as user/password."""
    return sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario='uac_auth.xml', service=NUMBER,
                    auth=(user, password), keys={'caller': 'alice', 'domain': 'fwd.test'},
                    extra=['-d', '500'], timeout=90)


def test_a_call_with_the_trunks_credential_is_the_trunks_and_is_forwarded(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    # its own calls come from 192.0.2.1: 127.0.0.1 is not the trunk's address
    api, rule = carrier(start_api, f'127.0.0.1:{port}', trunkAddresses='192.0.2.1',
                        trunkInboundUsername=USER, trunkInboundPassword=SECRET)
    result = call_with(sipp, api, USER, SECRET)
    assert_sipp_ok(result, calls=1, server=api.server)
    assert 'SIP/2.0 407' in result.messages          # challenged first: not a trunk's address
    got = sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(got, calls=1)                      # forwarded, answered, hung up
    assert FORWARDED in got.messages, got.messages
    invite = api.server.wait_event('invite', to=f'sip:{NUMBER}@fwd.test')[0]
    assert invite['trunk'] == rule and invite['source'] == '127.0.0.1'
    api.server.wait_event('forward')
    assert SECRET not in api.server.log()


def test_a_wrong_password_or_the_trunks_from_never_reaches_the_trunk(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api, _ = carrier(start_api, f'127.0.0.1:{port}', trunkAddresses='192.0.2.1',
                     trunkInboundUsername=USER, trunkInboundPassword=SECRET)
    wrong = call_with(sipp, api, USER, SECRET + 'x')
    assert wrong.returncode != 0 and 'SIP/2.0 403' in wrong.messages, wrong.explain()
    api.server.wait_event('auth-failed', user=USER)
    # a stranger writing the trunk's name in From (and its domain) is challenged like anyone
    peer = UdpPeer(api.server.sip_port)
    try:
        cid = new_call_id()
        peer.send(request('INVITE', f'sip:{NUMBER}@fwd.test', port=peer.port, call_id=cid,
                          from_user=USER, domain='carrier.test', body=sdp_offer(40020),
                          content_type='application/sdp'))
        final, _ = peer.final(cid, timeout=30)
        assert final is not None and final.status == 407, final
    finally:
        peer.close()
    no_invite(sipp, trunk)
    assert not api.server.events('forward')


def test_a_host_name_sip_proxy_makes_its_addresses_the_trunks(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api, rule = carrier(start_api, f'localhost:{port}')   # no trunkAddresses: localhost's
    api.server.wait_event('trunk-resolved', rule=rule)
    peer = UdpPeer(api.server.sip_port)   # 127.0.0.1, no credentials
    try:
        cid = new_call_id()
        ruri = f'sip:{NUMBER}@fwd.test'
        peer.send(request('INVITE', ruri, port=peer.port, call_id=cid, from_user='alice',
                          domain='caller.test', body=sdp_offer(40022),
                          content_type='application/sdp'))
        final, _ = peer.final(cid, timeout=30)
        assert final is not None and final.status == 200, final   # no challenge: the trunk's
        to = final.header('To')
        peer.send(request('ACK', ruri, port=peer.port, call_id=cid, to=to, from_user='alice',
                          domain='caller.test'))
        peer.send(request('BYE', ruri, port=peer.port, call_id=cid, to=to, cseq=2,
                          from_user='alice', domain='caller.test'))
        got = sipp.wait(*trunk, timeout=60)
        assert_sipp_ok(got, calls=1)
        assert FORWARDED in got.messages, got.messages
    finally:
        peer.close()
    invite = api.server.wait_event('invite', to=f'sip:{NUMBER}@fwd.test')[0]
    assert invite['trunk'] == rule and invite['source'] == '127.0.0.1'


def test_a_trunk_may_ring_our_accounts_but_neither_call_out_nor_register(start_api, sipp):
    carrier_port, phone_port = free_port(), free_port()
    out = sipp.start('', scenario='uas_trunk.xml', port=carrier_port)   # must see nothing
    phone = sipp.start('', scenario='uas_trunk.xml', port=phone_port)  # bob's phone
    api, rule = carrier(start_api, f'127.0.0.1:{carrier_port}', trunkAddresses='192.0.2.1',
                        trunkInboundUsername=USER, trunkInboundPassword=SECRET)
    target = f'127.0.0.1:{api.server.sip_port}'
    api.server.add_account('bob', 's3cret-pw')
    register(api, sipp, 'bob', phone_port)
    # the trunk's call for our account rings its phone
    result = sipp.run(target, scenario='uac_auth.xml', service='bob', auth=(USER, SECRET),
                      keys={'caller': 'alice', 'domain': 'localhost'}, extra=['-d', '500'],
                      timeout=90)
    assert_sipp_ok(result, calls=1, server=api.server)
    assert_sipp_ok(sipp.wait(*phone, timeout=60), calls=1)
    invite = api.server.wait_event('invite', to='sip:bob@localhost')[0]
    assert invite['trunk'] == rule
    # no forwarding rule speaks for carrier.test: a trunk does not call out through the rules
    result = sipp.run(target, scenario='uac_auth.xml', service='+4930999', auth=(USER, SECRET),
                      keys={'caller': 'alice', 'domain': 'carrier.test'}, timeout=90)
    assert result.returncode != 0 and 'SIP/2.0 404' in result.messages, result.explain()
    api.server.wait_event('call-refused', status=404, reason='No Such Account',
                          to='sip:+4930999@carrier.test')
    assert not api.server.events('trunk-attempt')
    # nor register as an account
    result = sipp.run(target, scenario='register.xml', service=USER, auth=(USER, SECRET),
                      keys={'domain': 'localhost', 'contact_port': free_port()}, timeout=30)
    assert result.returncode != 0 and 'SIP/2.0 403 Not Your Address' in result.messages, \
        result.explain()
    no_invite(sipp, out)
