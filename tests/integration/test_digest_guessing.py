"""Digest guessing against the real server (issue 8, section 1), and old phones (section 2).

  - A distributed guesser (one address per few guesses, so no address reaches the
    per-address limit) gets about 10 digests checked per account, then is refused
    unheard, even with the right password; the phone that registered before still
    registers.
  - Spoofed packets (a forged source address: malformed headers, forged, foreign or stale
    nonces) are not guesses, so they cannot lock the real phone out.
  - pyVoIP answers challenges without qop (RFC 2069): refused by default, registered with
    `digest_allow_rfc2069`.

Linux routes all of 127.0.0.0/8 to lo, so raw UDP sockets bound to 127.0.0.2, 127.0.0.3, ...
play the many source addresses; a second socket on 127.0.0.1 plays a spoofer that forges
the phone's address (the limits key on the address, not the port).
"""
from __future__ import annotations

import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from telephony.sip.auth import DigestServer

from . import rawsip
from .conftest import HOST, free_port

PASSWORD = 'alice-Secret-9'
ACCOUNT_GUESSES = 10          # the default per-account budget
PER_ADDRESS = 4               # guesses per address: one fewer than the per-address limit (5)
SOURCES = [f'127.0.0.{i}' for i in range(2, 42)]   # 40 addresses, 160 guesses
REFUSED = 'Too Many Failed Attempts'


class Peer(rawsip.UdpPeer):
    """A raw UDP peer bound to `host` (any address of 127/8)."""

    def __init__(self, server_port: int, host: str = HOST):
        self.server = (HOST, server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]


def register_request(peer: Peer, user: str, call_id: str, cseq: int, auth: str | None = None):
    extra = ['Expires: 60'] + ([f'Authorization: {auth}'] if auth else [])
    return rawsip.request('REGISTER', 'sip:localhost', port=peer.port, call_id=call_id,
                          cseq=cseq, from_user=user, to=f'<sip:{user}@localhost>', extra=extra)


def challenge(peer: Peer, user: str = 'alice') -> tuple[str, dict[str, str]]:
    """REGISTER without credentials; the call-id and the MD5 challenge of the 401."""
    call_id = rawsip.new_call_id()
    peer.send(register_request(peer, user, call_id, 1))
    first, _ = peer.final(call_id, timeout=20)
    assert first is not None and first.status == 401, f'expected a 401 challenge, got {first}'
    return call_id, rawsip.challenges(first, 'WWW-Authenticate')['MD5']


def answer(peer: Peer, call_id: str, auth: str, user: str = 'alice') -> rawsip.Response:
    peer.send(register_request(peer, user, call_id, 2, auth))
    final, _ = peer.final(call_id, timeout=20)
    assert final is not None, 'no answer to the REGISTER with credentials'
    return final


def register(peer: Peer, user: str, password: str) -> rawsip.Response:
    """The whole digest exchange; the final response."""
    call_id, chal = challenge(peer, user)
    return answer(peer, call_id, rawsip.digest_authorization(chal, 'REGISTER', 'sip:localhost',
                                                             user, password), user)


def registered_from(server, host: str) -> list[dict]:
    return [e for e in server.events('register') if e.get('from', '').startswith(f'{host}:')]


@pytest.fixture
def alice_server(start_server):
    # A budget of 10 per hour instead of per minute: the refill (one per 6 min) cannot hand
    # the late guesser a token however slowly this machine runs the test.
    server = start_server(env={'TELEPHONY_AUTH_ACCOUNT_WINDOW': '3600'})
    server.add_account('alice', PASSWORD)
    return server


def test_distributed_guesser_is_limited_per_account_and_the_phone_still_registers(alice_server):
    server = alice_server
    phone = Peer(server.sip_port, HOST)
    try:
        assert register(phone, 'alice', PASSWORD).status == 200
        server.wait_event('register', aor='alice@localhost')

        def guess_from(host: str) -> list[rawsip.Response]:
            peer = Peer(server.sip_port, host)
            try:
                return [register(peer, 'alice', f'wrong-{host}-{n}') for n in range(PER_ADDRESS)]
            finally:
                peer.close()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            answers = [r for rs in pool.map(guess_from, SOURCES) for r in rs]
        elapsed = time.monotonic() - started
        assert len(answers) == len(SOURCES) * PER_ADDRESS
        assert all(r.status == 403 for r in answers), {str(r) for r in answers}

        # the right password from a new address, after the limit: refused unheard
        late = Peer(server.sip_port, '127.0.0.200')
        try:
            final = register(late, 'alice', PASSWORD)
        finally:
            late.close()
        assert (final.status, final.reason) == (403, REFUSED), final.raw.decode()

        # the phone that registered before is still heard, and gets in
        again = register(phone, 'alice', PASSWORD)
        assert again.status == 200, again.raw.decode()
        # its line comes after every earlier one, so the log below is complete
        server.wait_event('register', count=2, aor='alice@localhost')
    finally:
        phone.close()

    checked = [e for e in server.events('auth-failed') if e.get('user') == 'alice']
    budget = ACCOUNT_GUESSES + elapsed * ACCOUNT_GUESSES / 3600
    assert len(checked) <= budget, \
        f'{len(checked)} of {len(answers)} guesses were checked against alice (budget {budget:.1f})'
    assert sum(r.reason == REFUSED for r in answers) >= len(answers) - budget
    assert not registered_from(server, '127.0.0.200')
    assert server.events('auth-account-limited'), 'no event=auth-account-limited in the log'
    assert 'Traceback' not in server.log(), server.log_tail()


def test_spoofed_packets_do_not_lock_the_phone_out(start_server):
    """Five and more packets with the phone's source address and bad Authorization headers.
    A spoofer can forge the address but never sees the nonces we send to it, so none of
    these is a guess; before, five of them locked the phone out for 60 s."""
    server = start_server()
    server.add_account('alice', PASSWORD)
    secret = (server.data_dir / 'secret').read_bytes()
    phone = Peer(server.sip_port, HOST)
    spoofer = Peer(server.sip_port, HOST)         # the phone's address, forged
    elsewhere = Peer(server.sip_port, '127.0.0.66')  # the spoofer's own address
    try:
        assert register(phone, 'alice', PASSWORD).status == 200

        _, own = challenge(elsewhere)       # a nonce the spoofer can get: sent to its address
        forged = dict(own, nonce=secrets.token_urlsafe(32))
        # a nonce for the phone's address, stale: made with the server's own secret, which a
        # spoofer does not have (the server's clock is the monotonic one)
        stale = dict(own, nonce=DigestServer(secret, 'localhost').make_nonce(
            time.monotonic() - 1000, bound_to=HOST))

        def digest(chal):
            return rawsip.digest_authorization(chal, 'REGISTER', 'sip:localhost', 'alice',
                                               'guess-' + secrets.token_hex(4))
        packets = [
            f'Digest username="alice", realm="localhost", nonce="{own["nonce"]}"',  # no response
            digest(own).replace(', qop=auth', ''),                                 # no qop
            digest(own), digest(own),                                              # foreign nonce
            digest(forged), digest(forged),
            digest(stale),
        ]
        spoofed = []
        for auth in packets:
            call_id = rawsip.new_call_id()
            spoofer.send(register_request(spoofer, 'alice', call_id, 2, auth))
            # waited for so that the server has handled it before the phone's turn
            spoofed.append(spoofer.final(call_id, timeout=20)[0])

        final = register(phone, 'alice', PASSWORD)
        assert final.status == 200, f'the phone was locked out: {final}'
        # 400 for a broken header, a fresh challenge for a bad nonce: never a 403
        assert [r and r.status for r in spoofed] == [400, 400, 401, 401, 401, 401, 401], spoofed
        server.wait_event('register', count=2, aor='alice@localhost')
    finally:
        for p in (phone, spoofer, elsewhere):
            p.close()
    assert not server.events('auth-failed'), 'a spoofed packet was counted as a guess'
    assert server.health()['auth_blocked'] == 0
    assert 'Traceback' not in server.log(), server.log_tail()


# ---------------------------------------------------------------- old phones

def pyvoip_register(server, user: str, password: str) -> bool:
    """pyVoIP's own REGISTER (RFC 2069 digest: no qop, nc or cnonce)."""
    try:
        import pyVoIP.VoIP  # noqa: F401  (first: pyVoIP.SIP alone is a circular import)
        from pyVoIP.SIP import SIPClient
    except ImportError:
        pytest.fail('pyVoIP is not installed: run `make install` (test extra)', pytrace=False)

    class Phone:          # SIPClient only records its status on the phone
        _status = None

    client = SIPClient(HOST, server.sip_port, user, password, phone=Phone(), myIP=HOST,
                       myPort=free_port('udp'))
    client.register_timeout = 20
    # not client.start(): that adds a receive thread and re-registration timers
    client.s = client.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.s.bind((HOST, client.myPort))
    try:
        return client.register() is True
    finally:
        client.s.close()


@pytest.mark.parametrize('allow', [False, True])
def test_pyvoip_registers_only_with_rfc2069_allowed(start_server, allow):
    env = {'TELEPHONY_DIGEST_ALLOW_RFC2069': 'true'} if allow else {}
    server = start_server(env=env)
    server.add_account('alice', PASSWORD)
    assert pyvoip_register(server, 'alice', PASSWORD) is allow
    if allow:
        server.wait_event('register', aor='alice@localhost')
        # a wrong password is still refused, and counted
        assert pyvoip_register(server, 'alice', 'not-' + PASSWORD) is False
        server.wait_event('auth-failed', user='alice')
    else:
        server.wait_event('auth-rejected', reason='no-qop')
        assert not server.events('register')
