"""The RFC 4475 torture set over the network (issue 4, item 2): every message, valid and
invalid, sent to the running server over UDP and over TCP (one fresh connection per message).

What each message must get comes from the codec's table, tests/unit/test_rfc4475.py EXPECT:

  parse             a request gets a final response, never 400 (404/407/481/501/... are all
                    fine: the application decides); a response is never answered
  error-answerable  exactly the table's status and reason (400, or 505/416 where it says so)
  error-drop        nothing is sent back (a malformed response is discarded)

Silence is checked without waiting a fixed time: an OPTIONS probe follows the message on the
same socket, and once the probe's 200 arrives anything the server had to say about the
message before it would have arrived too (the server handles a socket's messages in order).

Stream framing changes a few outcomes over TCP, as RFC 4475 says for those messages: `clerr`
(Content-Length past the end) waits for bytes that never come and the connection is closed
after the client's EOF; `ncl` (negative Content-Length) and `mcl01` (two Content-Lengths)
are framing errors, after which the connection is closed, with or without a 400 first; the
trailing INVITE of `dblreq` is a message of its own on a stream (in a datagram it is ignored).

The torture messages reuse Via branches across test cases (22 of them carry
branch=z9hG4bKkdjuw).  Within 32 s an RFC 3261 §17.2.3 server rightly takes a second
request with the same branch, sent-by and method for a retransmission and repeats the first
one's answer to the first sender, so a colliding branch is made unique here (`.tN` appended)
for the requests that reach the transaction layer; nothing else in the bytes changes.

After the whole set the server must still answer OPTIONS over UDP and TCP, carry a SIPp call
to `echo`, and have logged no traceback.
"""
from __future__ import annotations

import re
import socket

import pytest

from telephony.sip.message import Request, SipParseError, parse_message
from tests.unit.test_rfc4475 import EXPECT, load

from . import rawsip
from .conftest import assert_sipp_ok

MAX_DATAGRAM = 65507          # the largest UDP payload over IPv4
ANSWER_TIMEOUT = 10.0         # deadline for an answer that must come (not a wait)

# RFC 4475 leaves the element a choice for these (on top of the table's outcome).
MAY_ALSO_BE_400 = {
    # §3.1.2.13: "reasonable ... to respond with a 400"; the registrar challenges (401)
    # first and only then reads Contact.
    'regbadct',
}
# Stream-only outcomes (RFC 4475 §3.1.2.2, §3.1.2.3, §3.3.9).
TCP_INCOMPLETE = {'clerr'}
TCP_FRAMING_ERROR = {'ncl', 'mcl01'}

DBLREQ_TRAILING_CALL_ID = 'dblreq.0ha0isnda977644900765@192.0.2.15'
CALL_ID_RE = re.compile(rb'(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)')


# ---------------------------------------------------------------- the messages

class Torture:
    def __init__(self, name: str, data: bytes):
        self.name = name
        self.data = data
        self.expect = EXPECT[name]
        self.is_response = data.lstrip(b'\r\n').upper().startswith(b'SIP/')
        m = CALL_ID_RE.search(data.split(b'\r\n\r\n', 1)[0])
        self.call_id = m.group(1).decode('utf-8', 'replace') if m else None
        self.request: Request | None = None      # the parsed request, where it parses
        if not self.is_response:
            try:
                msg = parse_message(data)
                self.request = msg if isinstance(msg, Request) else None
            except SipParseError as exc:
                self.request = exc.request

    @property
    def answered(self) -> bool:
        """A response to it must come (valid or answerable requests)."""
        if self.is_response:
            return False
        return self.expect.outcome in ('parse', 'error-answerable')

    @property
    def key(self) -> tuple[str, str] | None:
        """(Call-ID, CSeq) that the answer carries."""
        if self.request is None:
            return None
        return self.request.get('Call-ID'), self.request.get('CSeq')

    def transaction_key(self):
        try:
            top = self.request.vias[0]
        except (SipParseError, IndexError):
            return None
        return top.branch, top.sent_by.lower(), self.request.method

    def __repr__(self):
        return f'<{self.name} {self.expect.outcome} {self.expect.section}>'


def torture_set() -> list[Torture]:
    """All messages of the table, with colliding Via branches made unique (see above)."""
    out = []
    seen = set()
    for i, name in enumerate(sorted(EXPECT)):
        t = Torture(name, load(name))
        if t.expect.outcome == 'parse' and t.request is not None:
            key = t.transaction_key()
            if key in seen and key[0]:
                old = b'branch=' + key[0].encode()
                new = old + f'.t{i}'.encode()
                assert t.data.count(old) >= 1
                t = Torture(name, t.data.replace(old, new, 1))
                assert t.request.vias[0].branch == key[0] + f'.t{i}', t
                key = t.transaction_key()
            seen.add(key)
        out.append(t)
    return out


def test_every_table_entry_is_sent():
    names = [t.name for t in torture_set()]
    assert sorted(names) == sorted(EXPECT)


# ---------------------------------------------------------------- helpers

def ack_for(t: Torture, resp: rawsip.Response) -> bytes:
    """ACK for a non-2xx final answer to a torture INVITE (RFC 3261 §17.1.1.3): its
    Request-URI as written, its top Via, From, Call-ID, the CSeq number; To from the answer."""
    req = t.request
    ruri = t.data.split(b'\r\n', 1)[0].split()[1].decode('utf-8', 'surrogateescape')
    lines = [f'ACK {ruri} SIP/2.0',
             f'Via: {req.get_all("Via")[0]}',
             'Max-Forwards: 70',
             f'From: {req.get("From")}',
             f'To: {resp.header("to")}',
             f'Call-ID: {req.get("Call-ID")}',
             f'CSeq: {req.cseq.seq} ACK',
             'Content-Length: 0']
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('utf-8', 'surrogateescape')


def options_probe(peer, transport: str) -> tuple[bytes, str]:
    call_id = rawsip.new_call_id()
    return rawsip.request('OPTIONS', 'sip:echo@127.0.0.1', transport=transport, port=peer.port,
                          call_id=call_id), call_id


def check_final(t: Torture, final: rawsip.Response | None, seen: list, transport: str):
    what = f'{t.name} over {transport} ({t.expect.section})'
    assert final is not None, f'{what}: no final response'
    assert final.reason, f'{what}: {final.status} without a reason phrase'
    statuses = [r.status for r in seen]
    exp = t.expect
    if exp.outcome == 'parse':
        if t.name in MAY_ALSO_BE_400 and final.status == 400:
            return
        assert 400 not in statuses and final.status >= 200, \
            f'{what}: a valid request was answered {statuses} ({final})'
        assert final.status not in (505, 513, 416), f'{what}: answered {final}'
    else:
        assert (final.status, final.reason) == (exp.status, exp.reason), \
            f'{what}: expected {exp.status} {exp.reason}, got {final}'


# ---------------------------------------------------------------- UDP

def udp_final(peer: rawsip.UdpPeer, key, answered: dict, timeout: float = ANSWER_TIMEOUT):
    """Responses for `key` until a final one; responses to other keys are kept in
    `answered` (retransmissions of earlier answers)."""
    seen = []
    deadline = rawsip.time.monotonic() + timeout
    while True:
        r = peer.recv(max(0.0, deadline - rawsip.time.monotonic()))
        if r is None:
            return None, seen
        rkey = (r.header('call-id'), r.header('cseq'))
        if rkey != key:
            answered.setdefault(rkey, []).append(r)
            continue
        seen.append(r)
        if r.status >= 200:
            return r, seen


def udp_silence(peer: rawsip.UdpPeer, t: Torture, earlier: set) -> list[rawsip.Response]:
    """Send a probe; return what arrived before its answer that is not a repeat of an
    answer to an earlier message."""
    probe, call_id = options_probe(peer, 'UDP')
    peer.send(probe)
    stray = []
    while True:
        r = peer.recv(ANSWER_TIMEOUT)
        assert r is not None, f'no answer to the OPTIONS probe after {t.name}'
        if r.header('call-id') == call_id:
            assert r.status == 200, r
            return stray
        if (r.header('call-id'), r.header('cseq')) not in earlier:
            stray.append(r)


def run_udp(server) -> None:
    peer = rawsip.UdpPeer(server.sip_port)
    answered: dict = {}
    try:
        for t in torture_set():
            if len(t.data) > MAX_DATAGRAM:
                continue            # does not fit in a datagram: only sent over TCP
            peer.send(t.data)
            if t.answered:
                final, seen = udp_final(peer, t.key, answered)
                check_final(t, final, seen, 'UDP')
                answered.setdefault(t.key, []).extend(seen)
                if t.request.method == 'INVITE' and final.status >= 300:
                    peer.send(ack_for(t, final))
            if not t.answered:
                stray = udp_silence(peer, t, set(answered))
                allowed = (t.name in MAY_ALSO_BE_400 and not t.is_response
                           and all(r.status == 400 for r in stray))
                assert not stray or allowed, \
                    f'{t.name} ({t.expect.section}) must not be answered over UDP: ' \
                    f'{[str(r) for r in stray]}'
        # a last probe, then: the INVITE behind dblreq's REGISTER in the same datagram was
        # ignored (RFC 4475 §3.1.1.8)
        late = udp_silence(peer, torture_set()[0], set())
        seen_ids = {cid for cid, _ in answered} | {r.header('call-id') for r in late}
        assert DBLREQ_TRAILING_CALL_ID not in seen_ids, 'the INVITE trailing dblreq was answered'
    finally:
        peer.close()


# ---------------------------------------------------------------- TCP

def tcp_final(peer: rawsip.TcpPeer, key, timeout: float = ANSWER_TIMEOUT):
    """The final answer for `key`; answers for other requests are kept for a later call
    (two requests on one connection may be answered in either order)."""
    seen = []
    deadline = rawsip.time.monotonic() + timeout
    others = peer.__dict__.setdefault('others', [])
    while True:
        mine = [r for r in others if (r.header('call-id'), r.header('cseq')) == key]
        r = mine[0] if mine else peer.recv(max(0.0, deadline - rawsip.time.monotonic()))
        if mine:
            others.remove(r)
        if r is None:
            return None, seen
        if (r.header('call-id'), r.header('cseq')) != key:
            others.append(r)
            continue
        seen.append(r)
        if r.status >= 200:
            return r, seen


def tcp_drain(peer: rawsip.TcpPeer) -> list[rawsip.Response]:
    """Everything the server sent until it closed the connection."""
    out = []
    while True:
        r = peer.recv(ANSWER_TIMEOUT)
        if r is None:
            return out
        out.append(r)


def run_tcp_one(server, t: Torture) -> None:
    peer = rawsip.TcpPeer(server.sip_port)
    what = f'{t.name} over TCP ({t.expect.section})'
    try:
        peer.send(t.data)
        if t.name in TCP_INCOMPLETE:
            # the body never completes; after our EOF the server closes, answering nothing
            # but (at most) a 400 for the broken message
            peer.sock.shutdown(socket.SHUT_WR)
            got = tcp_drain(peer)
            assert peer.closed, f'{what}: connection left open after EOF'
            assert all(r.status == 400 for r in got), f'{what}: {[str(r) for r in got]}'
            return
        if t.name in TCP_FRAMING_ERROR:
            got = tcp_drain(peer)
            assert peer.closed, f'{what}: framing error but the connection stays open'
            assert all(r.status == 400 and r.reason for r in got), \
                f'{what}: {[str(r) for r in got]}'
            return
        if t.answered:
            final, seen = tcp_final(peer, t.key)
            check_final(t, final, seen, 'TCP')
            if t.request.method == 'INVITE' and final.status >= 300:
                peer.send(ack_for(t, final))
            if t.name == 'dblreq':
                # on a stream the trailing INVITE is a message of its own and is answered
                final, seen = tcp_final(peer, (DBLREQ_TRAILING_CALL_ID, '8 INVITE'))
                assert final is not None and final.status != 400, f'{what}: {final}'
            return
        # must not be answered: a probe on the same connection marks the spot
        probe, call_id = options_probe(peer, 'TCP')
        peer.send(probe)
        stray = []
        while True:
            r = peer.recv(ANSWER_TIMEOUT)
            if r is None:
                # the server may drop the connection of a peer that sent junk
                assert peer.closed, f'{what}: no answer to the OPTIONS probe'
                break
            if r.header('call-id') == call_id:
                assert r.status == 200, r
                break
            stray.append(r)
        allowed = t.name in MAY_ALSO_BE_400 and all(r.status == 400 for r in stray)
        assert not stray or allowed, f'{what} must not be answered: {[str(r) for r in stray]}'
    finally:
        peer.close()


def run_tcp(server) -> None:
    for t in torture_set():
        run_tcp_one(server, t)


# ---------------------------------------------------------------- the tests

def assert_alive(server, sipp, transport: str) -> None:
    from .test_sipp import assert_alive_tcp, assert_alive_udp, target
    assert server.proc.poll() is None, 'the server died:\n' + server.log_tail()
    assert_alive_udp(server)
    assert_alive_tcp(server)
    result = sipp.run(target(server), builtin='uac', service='echo', calls=1,
                      transport='t1' if transport == 'TCP' else 'u1',
                      extra=['-d', '500'], timeout=60)
    assert_sipp_ok(result, calls=1, server=server)
    server.wait_no_calls()
    log = server.log()
    assert 'Traceback' not in log and 'event=parser-crash' not in log, server.log_tail()


@pytest.mark.parametrize('transport', ['UDP', 'TCP'])
def test_rfc4475_torture_set(server, sipp, transport):
    """Each transport gets its own server: the set sent twice to one server would be
    retransmissions of the same transactions the second time."""
    (run_udp if transport == 'UDP' else run_tcp)(server)
    assert_alive(server, sipp, transport)
