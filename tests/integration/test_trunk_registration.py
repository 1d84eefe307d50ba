"""Trunks as providers have them (issue 9, 3a), against the real server.

  - Registration: a SIPp registrar (sipp-scenarios/trunk_registrar.xml) challenges the
    settings trunk's REGISTER, checks its digest against the password (`verifyauth`),
    grants 4 s, refuses the refresh with 503, challenges the retry and grants an hour; the
    server's state goes registered -> failed -> registered, and its shutdown unregisters
    (Expires: 0, checked by SIPp).  A wrong password is refused by SIPp's digest check.
    The password is never in the log nor in /health.
  - Identification: an INVITE is from the trunk by its source address only.  One from the
    trunk host and one from a trunk_addresses network are marked; one from 127.0.0.2
    whose From, Contact and P-Asserted-Identity copy the trunk's is not.
"""
from __future__ import annotations

import pytest

from . import rawsip
from .conftest import HOST, free_port, wait_for

PASSWORD = 'Trunk-pw-7f3a'
SCENARIO = 'trunk_registrar.xml'


def trunk_env(port: int, **more) -> dict:
    return {'TELEPHONY_TRUNK': f'{HOST}:{port}', 'TELEPHONY_TRUNK_USER': 'pbx',
            'TELEPHONY_TRUNK_PASSWORD': PASSWORD, 'TELEPHONY_TRUNK_DOMAIN': 'provider.test',
            'TELEPHONY_TRUNK_REGISTER': 'true', 'TELEPHONY_TRUNK_REGISTER_RETRY': '1', **more}


def states(server) -> list[str]:
    """The trunk's public states so far, repeats folded."""
    out: list[str] = []
    for e in server.events('trunk-registration'):
        if e.get('trunk') == 'settings' and (not out or out[-1] != e['state']):
            out.append(e['state'])
    return out


def health_trunk(server) -> dict:
    (trunk,) = server.health()['trunks']
    return trunk


@pytest.mark.parametrize('transport', ['udp', 'tcp'])
def test_trunk_registers_fails_on_a_refused_refresh_and_recovers(start_server, sipp, transport):
    port = free_port()
    proc, cmd, workdir = sipp.start('', scenario=SCENARIO, port=port, calls=1,
                                    transport={'udp': 'u1', 'tcp': 't1'}[transport],
                                    keys={'password': PASSWORD}, global_timeout=120)
    server = start_server(env=trunk_env(port, TELEPHONY_TRUNK_TRANSPORT=transport.upper()))

    first = server.wait_event('trunk-registration', timeout=30, state='registered')[0]
    assert (first['status'], first['expires']) == ('200', '4')
    # the refresh (about 2 s later) carries the same credentials and gets the 503
    failed = server.wait_event('trunk-registration', timeout=30, state='failed')[0]
    assert (failed['status'], failed['reason']) == ('503', 'Refresh Refused'), failed
    # the back-off (trunk_register_retry 1 s) retries from scratch, and is granted an hour
    server.wait_event('trunk-registration', timeout=30, count=2, phase='registered')
    assert states(server) == ['registering', 'registered', 'failed', 'registering', 'registered']

    trunk = wait_for(lambda: (t := health_trunk(server))['expires'] and t, 10, '/health trunks')
    assert {k: trunk[k] for k in ('id', 'proxy', 'user', 'state', 'lastStatus', 'lastReason')} == {
        'id': 'settings', 'proxy': f'{HOST}:{port}', 'user': 'pbx', 'state': 'registered',
        'lastStatus': 200, 'lastReason': 'OK'}
    assert 3000 < trunk['expires'] <= 3600
    assert PASSWORD not in str(server.health())

    # shutdown unregisters: SIPp's last step wants Expires: 0 with a digest that checks out,
    # and every digest it checked was of the password, or it answered 403 Bad Digest
    assert server.stop() == 0
    result = sipp.wait(proc, cmd, workdir, timeout=30)
    assert result.returncode == 0, result.explain() + '\n' + server.log_tail()
    assert states(server)[-1] == 'unregistered'
    assert 'Bad Digest' not in server.log()
    assert PASSWORD not in server.log()


def test_wrong_password_fails_the_registration(start_server, sipp):
    port = free_port()
    proc, cmd, workdir = sipp.start('', scenario=SCENARIO, port=port, calls=1,
                                    keys={'password': 'not-the-password'}, global_timeout=60)
    server = start_server(env=trunk_env(port))
    failed = server.wait_event('trunk-registration', timeout=30, state='failed')[0]
    assert (failed['status'], failed['reason']) == ('403', 'Bad Digest'), failed
    assert states(server) == ['registering', 'failed']
    trunk = health_trunk(server)
    assert (trunk['state'], trunk['lastStatus'], trunk['expires']) == ('failed', 403, None)
    assert PASSWORD not in server.log()
    sipp.wait(proc, cmd, workdir, timeout=30)


# ---------------------------------------------------------------- inbound identification

def invite_echo(peer: rawsip.UdpPeer, spoof: str) -> str:
    """An INVITE to echo@ whose From, Contact and P-Asserted-Identity name `spoof`, the
    trunk's host; answered, ACKed and hung up.  Returns its Call-ID."""
    cid = rawsip.new_call_id()
    peer.send(rawsip.request(
        'INVITE', f'sip:echo@{HOST}', port=peer.port, call_id=cid, from_user='+4930123456',
        domain=spoof, body=rawsip.sdp_offer(40000), content_type='application/sdp',
        extra=[f'P-Asserted-Identity: <sip:+4930123456@{spoof}>']))
    ok, _ = peer.final(cid, timeout=20)
    assert ok is not None and ok.status == 200, ok
    to = ok.header('To')
    peer.send(rawsip.request('ACK', f'sip:echo@{HOST}', port=peer.port, call_id=cid, to=to))
    peer.send(rawsip.request('BYE', f'sip:echo@{HOST}', port=peer.port, call_id=cid, to=to,
                             cseq=2))
    return cid


def test_inbound_trunk_calls_are_known_by_source_address_only(start_server, peer_tools):
    trunk_port = free_port()
    server = start_server(env={'TELEPHONY_TRUNK': f'{HOST}:{trunk_port}',
                               'TELEPHONY_TRUNK_ADDRESSES': '127.0.0.3/32, 10.9.0.0/16'})
    marked = {}
    for source in ('127.0.0.1', '127.0.0.2', '127.0.0.3'):
        peer = rawsip.UdpPeer(server.sip_port, host=source)
        try:
            invite_echo(peer, spoof=HOST)
        finally:
            peer.close()
        (line,) = server.wait_event('invite', source=source)
        marked[source] = line['trunk']
    assert marked == {'127.0.0.1': 'settings', '127.0.0.2': '-', '127.0.0.3': 'settings'}
    server.wait_no_calls()
