"""The registrar against the real server on 127.0.0.1, with raw SIP sockets (issue 8):

  - a Contact naming the trunk's address does not make the server call the trunk; the call
    reaches the flow the REGISTER came from, with the Contact as the Request-URI;
  - Path (RFC 3327): stored, echoed with `Supported: path`, calls routed through its first hop;
  - bad q / Expires values get a 400 with a reason;
  - bindings survive a restart (the server is killed, not stopped);
  - keep-alives: TCP ping gets a pong, UDP ones leave no INFO line; the TCP connection cap and
    the idle timeout.
"""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import time

import pytest

from .conftest import HOST, wait_for
from .rawsip import TcpPeer, UdpPeer, challenges, digest_authorization, new_call_id, request

USER, PASSWORD = 'alice', 'alice-Secret-9'


# ---------------------------------------------------------------- raw SIP helpers

def final(peer, call_id: str, timeout: float = 20.0, want=lambda r: r.status >= 200):
    """The first response for `call_id` that `want` accepts (None on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        r = peer.recv(max(0.0, deadline - time.monotonic()))
        if r is None:
            return None
        if r.header('call-id') == call_id and want(r):
            return r


def with_digest(peer, method: str, ruri: str, *, user=USER, password=PASSWORD, contact=None,
                extra=(), transport='UDP', port=None, first_via=None, body=b'',
                content_type=None):
    """Send `method`, answer the 401/407 challenge, return (final response, call-id, cseq,
    branch of the authenticated request)."""
    call_id = new_call_id()
    omit = ('Contact',) if contact is not None else ()
    headers = ([f'Contact: {contact}'] if contact is not None else []) + list(extra)
    port = port or peer.port

    def send(cseq, more=(), branch=None):
        to = f'<sip:{user}@localhost>' if method == 'REGISTER' else None   # the AoR
        data = request(method, ruri, transport=transport, port=port, call_id=call_id, cseq=cseq,
                       from_user=user, to=to, extra=headers + list(more), omit=omit, body=body,
                       content_type=content_type, branch=branch)
        if first_via:   # a proxy hop: its Via (sent-by) above the phone's
            via = f'{first_via};branch=z9hG4bK{new_call_id().split("@")[0]};rport'
            data = data.replace(b'\r\nVia:', f'\r\nVia: {via}\r\nVia:'.encode(), 1)
        peer.send(data)
    send(1)
    r = final(peer, call_id)
    assert r is not None and r.status in (401, 407), r
    if method == 'INVITE':   # the 407 is ACKed (same branch as the INVITE)
        branch = re.search(r'branch=([^;,\s]+)', r.header('via')).group(1)
        peer.send(request('ACK', ruri, transport=transport, port=port, call_id=call_id, cseq=1,
                          from_user=user, to=r.header('to'), branch=branch))
    header = 'Proxy-Authenticate' if r.status == 407 else 'WWW-Authenticate'
    auth = 'Proxy-Authorization' if r.status == 407 else 'Authorization'
    challenge = challenges(r, header)['MD5']
    branch = 'z9hG4bK' + new_call_id().split('@')[0]
    send(2, [f'{auth}: {digest_authorization(challenge, method, ruri, user, password)}'], branch)
    # an INVITE: its 100 Trying (the phone rings later)
    ok = final(peer, call_id, want=lambda x: x.status >= (200 if method != 'INVITE' else 100))
    return ok, call_id, branch


class RawSocket(UdpPeer):
    """A UDP socket that also receives requests and answers them (the phone, the trunk, a
    proxy hop)."""

    def __init__(self, server_port: int = 0):
        super().__init__(server_port)

    def recv_request(self, timeout: float) -> tuple[bytes, tuple] | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.recv_raw(left)
            if got is None:
                return None
            if got[0][:8] != b'SIP/2.0 ' and got[0].strip():
                return got
        return None

    def answer(self, req: bytes, addr, status: int, reason: str) -> None:
        head = req.split(b'\r\n\r\n', 1)[0].decode()
        keep = [line for line in head.split('\r\n')[1:]
                if line.split(':', 1)[0].strip().lower() in ('via', 'from', 'to', 'call-id', 'cseq')]
        keep = [line + ';tag=phone1' if line.lower().startswith('to:') and 'tag=' not in line
                else line for line in keep]
        self.sock.sendto((f'SIP/2.0 {status} {reason}\r\n' + '\r\n'.join(keep)
                          + '\r\nContent-Length: 0\r\n\r\n').encode(), addr)


def header_of(data: bytes, name: str) -> list[str]:
    head = data.split(b'\r\n\r\n', 1)[0].decode()
    return [line.split(':', 1)[1].strip() for line in head.split('\r\n')[1:]
            if line.split(':', 1)[0].strip().lower() == name.lower()]


def call_and_ring(server, phone: RawSocket, timeout: float = 30.0) -> bytes:
    """Call the account; the socket `phone` must get the INVITE: it rings (180), the caller
    sees the 180, then the phone is busy (486) and the caller gets a final answer.
    Returns the INVITE the phone received."""
    caller = UdpPeer(server.sip_port)
    try:
        ringing, call_id, branch = with_digest(caller, 'INVITE', f'sip:{USER}@{HOST}')
        got = phone.recv_request(timeout)
        assert got is not None, 'the INVITE never reached the phone\n' + server.log_tail()
        invite, addr = got
        assert invite.startswith(b'INVITE '), invite[:200]
        phone.answer(invite, addr, 180, 'Ringing')
        if ringing is None or ringing.status < 180 or ringing.status >= 200:
            ringing = final(caller, call_id, want=lambda r: r.status >= 180)
        assert ringing is not None and ringing.status == 180, ringing
        phone.answer(invite, addr, 486, 'Busy Here')
        end = final(caller, call_id)
        assert end is not None and end.status >= 300, end
        caller.send(request('ACK', f'sip:{USER}@{HOST}', port=caller.port, call_id=call_id,
                            cseq=2, from_user=USER, to=end.header('to'), branch=branch))
        return invite
    finally:
        caller.close()


def register(server, peer, contact: str, **kw):
    ok, _, _ = with_digest(peer, 'REGISTER', f'sip:{HOST}', contact=contact, **kw)
    assert ok is not None and ok.status == 200, f'{ok}\n{server.log_tail()}'
    return ok


# ---------------------------------------------------------------- 1. toll fraud

def test_a_contact_naming_the_trunk_never_reaches_the_trunk(start_server, peer_tools):
    trunk = RawSocket()
    server = start_server(env={'TELEPHONY_TRUNK': f'{HOST}:{trunk.port}'})
    server.add_account(USER, PASSWORD)
    phone = RawSocket(server.sip_port)
    try:
        register(server, phone, f'<sip:+4919001234567@{HOST}:{trunk.port}>')
        invite = call_and_ring(server, phone)
        # the Contact is the Request-URI; the packets went to the REGISTER's source
        assert invite.split(b' ')[1] == f'sip:+4919001234567@{HOST}:{trunk.port}'.encode()
        assert trunk.drain() == [], 'the trunk was sent something'
    finally:
        trunk.close()
        phone.close()


def test_a_path_or_source_at_the_trunk_is_refused(start_server, peer_tools):
    trunk = RawSocket()
    try:
        server = start_server(env={'TELEPHONY_TRUNK': f'{HOST}:{trunk.port}'})
        server.add_account(USER, PASSWORD)
        peer = UdpPeer(server.sip_port)
        ok, _, _ = with_digest(peer, 'REGISTER', f'sip:{HOST}', contact=f'<sip:a@{HOST}:{peer.port}>',
                               extra=[f'Path: <sip:{HOST}:{trunk.port};lr>'])
        assert ok is not None and ok.status == 403, ok
        peer.close()
        assert trunk.drain() == []
    finally:
        trunk.close()


# ---------------------------------------------------------------- 2. Path

def test_path_is_echoed_and_calls_go_through_its_first_hop(start_server, peer_tools):
    # The proxy relays from one socket and listens on another, as a proxy with a fixed
    # listening port and an ephemeral sending port would; the phone is a third socket.
    server = start_server()
    server.add_account(USER, PASSWORD)
    relay, listen, phone = RawSocket(server.sip_port), RawSocket(), RawSocket()
    try:
        path = f'<sip:proxy@{HOST}:{listen.port};lr>'
        ok = register(server, relay, f'<sip:{USER}@{HOST}:{phone.port}>', port=phone.port,
                      first_via=f'SIP/2.0/UDP {HOST}:{relay.port}',
                      extra=[f'Path: {path}', 'Supported: path'])
        assert ok.all('path') == [path]
        assert 'path' in [t.strip() for v in ok.all('supported') for t in v.split(',')]
        invite = call_and_ring(server, listen)
        assert header_of(invite, 'Route') == [path]
        assert invite.split(b' ')[1] == f'sip:{USER}@{HOST}:{phone.port}'.encode()
        assert phone.drain() == [], 'the call went around the proxy'
    finally:
        relay.close()
        listen.close()
        phone.close()


def test_a_cancel_follows_the_invite_through_the_path(start_server, peer_tools):
    """RFC 3261 §9.1: a CANCEL carries the Route of the INVITE it cancels, so it takes the
    same proxies and reaches the phone that rings."""
    server = start_server()
    server.add_account(USER, PASSWORD)
    relay, listen, phone = RawSocket(server.sip_port), RawSocket(), RawSocket()
    caller = UdpPeer(server.sip_port)
    try:
        path = f'<sip:proxy@{HOST}:{listen.port};lr>'
        register(server, relay, f'<sip:{USER}@{HOST}:{phone.port}>', port=phone.port,
                 first_via=f'SIP/2.0/UDP {HOST}:{relay.port}',
                 extra=[f'Path: {path}', 'Supported: path'])
        ruri = f'sip:{USER}@{HOST}'
        _, call_id, branch = with_digest(caller, 'INVITE', ruri)
        invite, addr = listen.recv_request(30)
        listen.answer(invite, addr, 180, 'Ringing')
        assert final(caller, call_id, want=lambda r: r.status == 180) is not None
        caller.send(request('CANCEL', ruri, port=caller.port, call_id=call_id, cseq=2,
                            from_user=USER, branch=branch))
        got = listen.wait(lambda data: data.startswith(b'CANCEL '), timeout=30)
        assert got is not None, 'no CANCEL reached the proxy\n' + server.log_tail()
        assert header_of(got, 'Route') == [path], got
    finally:
        for s in (relay, listen, phone, caller):
            s.close()


def test_require_path_is_accepted_and_path_is_echoed_only_with_supported(start_server, peer_tools):
    server = start_server()
    server.add_account(USER, PASSWORD)
    peer = UdpPeer(server.sip_port)
    try:
        ok = register(server, peer, f'<sip:{USER}@{HOST}:{peer.port}>',
                      extra=[f'Path: <sip:{HOST}:{peer.port};lr>', 'Require: path'])
        assert ok.all('path') == []
    finally:
        peer.close()


# ---------------------------------------------------------------- 3. input

@pytest.mark.parametrize('contact, extra, reason', [
    ('<sip:alice@127.0.0.1:5999>;q=abc', [], 'Bad Contact q'),
    ('<sip:alice@127.0.0.1:5999>;q=nan', [], 'Bad Contact q'),
    ('<sip:alice@127.0.0.1:5999>', ['Expires: -5'], 'Bad Expires'),
])
def test_bad_q_and_expires_get_400_on_the_wire(start_server, peer_tools, contact, extra, reason):
    server = start_server()
    server.add_account(USER, PASSWORD)
    peer = UdpPeer(server.sip_port)
    try:
        ok, _, _ = with_digest(peer, 'REGISTER', f'sip:{HOST}', contact=contact, extra=extra)
        assert ok is not None and (ok.status, ok.reason) == (400, reason), ok
        assert 'Traceback' not in server.log()
    finally:
        peer.close()


# ---------------------------------------------------------------- 4. restart

def test_a_phone_registered_before_a_crash_still_rings(start_server, peer_tools):
    server = start_server()
    server.add_account(USER, PASSWORD)
    phone = RawSocket(server.sip_port)
    try:
        register(server, phone, f'<sip:{USER}@{HOST}:{phone.port}>')
        db = server.data_dir / 'telephony.db'

        def stored():
            with sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=10) as conn:
                return conn.execute('SELECT expires FROM registrations WHERE aor LIKE ?',
                                    (f'{USER}@%',)).fetchall()
        (row,) = wait_for(stored, 20, 'the binding in the database')
        assert row[0] > time.time() + 3000         # wall-clock expiry, about an hour ahead
        os.kill(server.proc.pid, signal.SIGKILL)   # a crash, not a clean stop
        server.proc.wait(10)
        again = start_server()                     # same name: the same data directory
        assert again.data_dir == server.data_dir
        again.wait_event('bindings-loaded', loaded=1)
        call_and_ring(again, phone)
    finally:
        phone.close()


# ---------------------------------------------------------------- 5. keep-alives and TCP

def test_tcp_ping_gets_a_pong(server):
    tcp = TcpPeer(server.sip_port)
    try:
        tcp.send(b'\r\n\r\n')
        tcp.sock.settimeout(20)
        assert tcp.sock.recv(16) == b'\r\n'
        # the connection still carries SIP afterwards
        cid = new_call_id()
        tcp.send(request('OPTIONS', f'sip:{HOST}', transport='TCP', port=tcp.port, call_id=cid))
        r = tcp.recv(20)
        assert r is not None and r.status == 200
    finally:
        tcp.close()


def test_udp_keepalives_leave_no_info_line(server):
    peer = UdpPeer(server.sip_port)
    try:
        for ka in (b'\r\n\r\n', b'\r\n'):
            peer.send(ka)
        cid = new_call_id()   # answered after the keep-alives were handled: they came first
        peer.send(request('OPTIONS', f'sip:{HOST}', port=peer.port, call_id=cid))
        r = peer.recv(20)
        assert r is not None and r.status == 200
        mine = re.compile(rf':{peer.port}\b')
        assert [line for line in server.log_lines() if mine.search(line)] == []
    finally:
        peer.close()


def options_ok(tcp: TcpPeer) -> bool:
    cid = new_call_id()
    tcp.send(request('OPTIONS', f'sip:{HOST}', transport='TCP', port=tcp.port, call_id=cid))
    r = tcp.recv(20)
    return r is not None and r.status == 200


def test_tcp_connection_cap(start_server, peer_tools):
    server = start_server(env={'TELEPHONY_TCP_MAX_CONNECTIONS': '2'})
    conns = [TcpPeer(server.sip_port) for _ in range(2)]
    try:
        assert all(options_ok(c) for c in conns)
        extra = TcpPeer(server.sip_port)
        conns.append(extra)
        assert extra.wait_closed(20), 'the connection over the cap stayed open'
        server.wait_event('tcp-refused', cap='2')
        conns[0].close()

        def another_fits():
            c = TcpPeer(server.sip_port)
            conns.append(c)
            try:
                return options_ok(c)
            except OSError:
                return False
        wait_for(another_fits, 30, 'a connection once one closed')
    finally:
        for c in conns:
            c.close()


def test_idle_tcp_connections_close_unless_registered(start_server, peer_tools):
    server = start_server(env={'TELEPHONY_TCP_IDLE_TIMEOUT': '1'})
    server.add_account(USER, PASSWORD)
    registered, idle = TcpPeer(server.sip_port), TcpPeer(server.sip_port)
    try:
        register(server, registered, f'<sip:{USER}@{HOST}:{registered.port};transport=tcp>',
                 transport='TCP')
        assert options_ok(idle)
        assert idle.wait_closed(30), 'the idle connection stayed open'
        server.wait_event('tcp-idle-close', peer=f'{HOST}:{idle.port}')
        # the registered one was idle longer, and is still open: its binding holds it
        assert options_ok(registered)
        closed = [e['peer'] for e in server.events('tcp-idle-close')]
        assert f'{HOST}:{registered.port}' not in closed
    finally:
        registered.close()
        idle.close()
