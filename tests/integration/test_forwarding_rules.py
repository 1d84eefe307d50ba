"""Incoming calls for other domains (issue 9): forwarding rules bridge them out through the
outbound rules, as a B2BUA, with the caller id the rule asks for; a stranger's call never
reaches a trunk. Inbound rules that resolve to nothing answer 404. Real server, rules over
/api/v1, a SIPp trunk, and a raw SIP peer as the caller (its source address is what makes
it a trunk's call or a stranger's)."""
from __future__ import annotations

# ruff: noqa: F811 -- start_api is the API tests' fixture, imported to be used as one

import pytest

from tests.api.cisco import add_admin, basic_client, create
from tests.api.conftest import start_api  # noqa: F401 -- the fixture
from tests.integration.conftest import Sipp, assert_sipp_ok, free_port
from tests.integration.rawsip import UdpPeer, new_call_id, request, sdp_offer
from tests.integration.test_outbound_rules import no_invite

CARRIER = '127.0.0.2'    # where the carrier's own calls come from (its trunkAddresses)
RURI = 'sip:+4940111222@fwd.test'
FORWARDED = 'INVITE sip:+4940111222@carrier.test SIP/2.0'


@pytest.fixture
def sipp(tmp_path, peer_tools):
    runner = Sipp(tmp_path)
    yield runner
    runner.stop_all()


def rules(start_api, port: int, mode: str = 'preserve', action: str = 'forward'):
    api = start_api()
    admin = add_admin(api)
    create(admin, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{port}',
           trunkAddresses=CARRIER, localFromDomain='pbx.test')
    create(admin, 'forwardingDialPlanRules', matchPattern='fwd.test', action=action,
           destinationDomain='carrier.test', callerIdMode=mode)
    return api


def invite(peer: UdpPeer, cid: str) -> None:
    peer.send(request('INVITE', RURI, port=peer.port, call_id=cid, from_user='alice',
                      domain='caller.test', body=sdp_offer(40010), content_type='application/sdp'))


@pytest.mark.parametrize('mode,shown', [('preserve', '<sip:alice@caller.test>'),
                                        ('regenerate', '<sip:alice@pbx.test>')])
def test_a_carrier_call_is_forwarded_with_the_caller_id_of_the_rule(start_api, sipp, mode, shown):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api = rules(start_api, port, mode)
    peer = UdpPeer(api.server.sip_port, host=CARRIER)
    try:
        cid = new_call_id()
        invite(peer, cid)
        final, _ = peer.final(cid, timeout=30)
        assert final is not None and final.status == 200, final   # answered when the trunk did
        to = final.header('To')
        peer.send(request('ACK', RURI, port=peer.port, call_id=cid, to=to, from_user='alice',
                          domain='caller.test'))
        peer.send(request('BYE', RURI, port=peer.port, call_id=cid, to=to, cseq=2,
                          from_user='alice', domain='caller.test'))
        result = sipp.wait(*trunk, timeout=60)
        assert_sipp_ok(result, calls=1)   # the trunk got its BYE: the bridge hung up both
        assert FORWARDED in result.messages, result.messages
        headers = result.messages[result.messages.index(FORWARDED):].split('\n\n')[0]
        assert f'From: {shown};tag=' in headers, headers
        assert api.server.events('forward')
    finally:
        peer.close()


def test_a_strangers_call_is_never_forwarded(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api = rules(start_api, port)
    peer = UdpPeer(api.server.sip_port)   # 127.0.0.1: no trunk's address, no credentials
    try:
        cid = new_call_id()
        invite(peer, cid)
        final, _ = peer.final(cid, timeout=30)
        assert final is not None and final.status in (401, 407), final
        no_invite(sipp, trunk)
    finally:
        peer.close()


def test_reject_rules_and_inbound_rules_that_resolve_to_nothing(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api = rules(start_api, port, action='reject')
    admin = basic_client(api)
    create(admin, 'inboundDialPlanRules', domain='conf.test')
    peer = UdpPeer(api.server.sip_port, host=CARRIER)
    try:
        cid = new_call_id()
        invite(peer, cid)
        final, _ = peer.final(cid, timeout=30)
        assert final is not None and final.status == 403, final
        cid = new_call_id()
        peer.send(request('INVITE', 'sip:nobody@conf.test', port=peer.port, call_id=cid,
                          body=sdp_offer(40012), content_type='application/sdp'))
        final, _ = peer.final(cid, timeout=30)
        assert final is not None and final.status == 404, final
        # the log is read as it comes: the line may follow the answer
        assert len(api.server.wait_event('call-refused', count=2)) == 2
        no_invite(sipp, trunk)
    finally:
        peer.close()


def test_an_accounts_forwarded_call_is_its_owners_outgoing_call(start_api, sipp):
    """A forwarding rule's domain is no way around the owner's call filter (nor its limit or
    credit): the account's call is refused, and the trunk never sees it."""
    from tests.api.test_partner_cdr import KEY, partner_client
    port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=port)
    api = rules(start_api, port)
    api.add_user('acme', KEY, '--partner')
    joe = api.add_user('joe', 'secret12345', '--partner-of', 'acme')
    api.cli('sip', 'add', 'joephone', '--password', 'joe-phone-pw', '--user', 'joe')
    assert partner_client(api).post(f'/api/partner/callfilter/{joe}', json={'callfilter': [
        {'operator': 'match', 'key': '.*', 'pass': False}]}).json()['status'] == 'ok'
    caller = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_auth.xml',
                        service='+4940111222', auth=('joephone', 'joe-phone-pw'),
                        keys={'caller': 'joephone', 'domain': 'fwd.test'}, global_timeout=30)
    refused = api.server.wait_event('call-refused', status=403)[0]
    assert refused['reason'].endswith('Call Filter Denied'), refused
    sipp.wait(*caller, timeout=40)
    no_invite(sipp, trunk)
    assert not api.server.events('forward')
