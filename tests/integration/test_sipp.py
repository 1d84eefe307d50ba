"""SIPp against the real server: load on `hello`, a pcap recorded by `record`, RFC 4733
digits to `dtmf`, hold/resume, CANCEL through the B2BUA, wrong passwords and bad input.

The scenarios live in sipp-scenarios/ (see its README); SIPp runs from that folder so that
their pcap/ paths resolve.
"""
from __future__ import annotations

import socket

import numpy as np
import pytest

from . import rawsip
from .baresip import Baresip, account_line
from .conftest import ROOT, SCENARIOS, assert_sipp_ok, free_port, wait_for
from .media import (RATE, active_span, envelope_correlation, frame_energy, pcap_audio,
                    read_wav, rms, rtp_events, write_tone)

DTMF_SEQUENCE = ['1', '3', '5', '7', '9', '*', '#']   # as played by dtmf_2833.xml
BEEP_SECONDS = 0.25            # record's tone after its prompt


def record_prompt_wait_ms() -> int:
    """-d for uac_pcap.xml against record: its prompt and beep first, plus a second."""
    import soundfile
    return int((soundfile.info(str(ROOT / 'prompts' / 'record.wav')).duration
                + BEEP_SECONDS + 1.0) * 1000)


def target(server) -> str:
    return f'127.0.0.1:{server.sip_port}'


# ---------------------------------------------------------------- load

def test_builtin_uac_200_calls_to_hello(server, sipp):
    """SIPp's built-in uac: 200 calls at 20 calls/s, 0 failed.  The built-in scenario
    hangs up itself right after the ACK (-d 0), before hello's prompt ends."""
    result = sipp.run(target(server), builtin='uac', service='hello', calls=200, rate=20,
                      extra=['-d', '0'], global_timeout=90, timeout=120)
    assert_sipp_ok(result, calls=200, server=server)
    server.wait_no_calls(timeout=30)
    assert 'Traceback' not in server.log(), server.log_tail()


# ---------------------------------------------------------------- media: record

def test_uac_pcap_is_recorded_by_record(server, sipp):
    source = pcap_audio(SCENARIOS / 'pcap' / 'g711a.pcap')
    assert abs(len(source) / RATE - 7.08) < 0.01           # 236 packets x 30 ms

    result = sipp.run(target(server), scenario='uac_pcap.xml', service='record',
                      extra=['-d', str(record_prompt_wait_ms())], timeout=90)
    assert_sipp_ok(result, calls=1, server=server)

    # the caller hung up: the recording is kept and completed (no .part left)
    rec_event = server.wait_event('recording', timeout=20)[-1]
    server.wait_no_calls()
    rec_dir = server.data_dir / 'recordings'
    files = wait_for(lambda: not list(rec_dir.glob('*.part')) and server.recordings(), 10,
                     'a finished .wav (no .part left) under DATA/recordings')
    rec_path = files[-1]
    assert rec_event.get('path', '').endswith(rec_path.name), (rec_event, rec_path)
    recorded, rate = read_wav(rec_path)
    if rate != RATE:
        pytest.fail(f'recording is {rate} Hz, expected 8000 Hz')

    # the source's own audio: 0.6 s of digital silence then ~6.5 s of speech
    threshold = 0.005
    src_span = active_span(source, threshold)
    rec_span = active_span(recorded, threshold)
    src_rms = rms(source[frame_energy_mask(source, threshold)])
    rec_rms = rms(recorded[frame_energy_mask(recorded, threshold)])
    corr, shift = envelope_correlation(recorded, source)
    report = (f'recording {rec_path.name}: {len(recorded) / rate:.2f} s, active {rec_span:.2f} s, '
              f'rms {rec_rms:.4f}; source active {src_span:.2f} s, rms {src_rms:.4f}; '
              f'envelope correlation {corr:.2f} at shift {shift * 20} ms')
    assert len(recorded) / rate >= src_span - 1.0, report
    assert abs(rec_span - src_span) <= 1.0, report
    assert rec_rms > 10 * rms(np.full(160, 1 / 32768)), report         # clearly above silence
    assert 0.5 <= rec_rms / src_rms <= 2.0, report
    assert corr >= 0.8, report


def frame_energy_mask(x: np.ndarray, threshold: float) -> np.ndarray:
    """Sample mask of the 20 ms frames louder than `threshold`."""
    e = frame_energy(x)
    return np.repeat(e > threshold, 160)[:len(x)] if len(e) else np.zeros(len(x), bool)


# ---------------------------------------------------------------- media: DTMF

def test_dtmf_pcaps_detected_in_order(server, sipp):
    # the pcaps really carry those events, and each digit is one event (end bit at the end)
    names = {'*': 'star', '#': 'pound'}
    for d in DTMF_SEQUENCE:
        evs = rtp_events(SCENARIOS / 'pcap' / f'dtmf_2833_{names.get(d, d)}.pcap')
        assert {e[0] for e in evs} == {'0123456789*#'.index(d)} and evs[-1][1]

    result = sipp.run(target(server), scenario='dtmf_2833.xml', service='dtmf', timeout=60)
    assert_sipp_ok(result, calls=1, server=server)
    server.wait_no_calls()
    digits = [e.get('digit') for e in server.events('dtmf-demo')]
    assert digits == DTMF_SEQUENCE, f'detected {digits}\n{server.log_tail()}'


# ---------------------------------------------------------------- dialogs

def test_hold_and_resume_reinvite_to_echo(server, sipp):
    result = sipp.run(target(server), scenario='hold_resume.xml', service='echo', timeout=60)
    assert_sipp_ok(result, calls=1, server=server)
    server.wait_no_calls()


def register_with_sipp(server, sipp, user: str, password: str, contact_port: int):
    result = sipp.run(target(server), scenario='register.xml', service=user, auth=(user, password),
                      keys={'domain': 'localhost', 'contact_port': contact_port}, timeout=30)
    assert_sipp_ok(result, calls=1, server=server)
    return result


def test_sipp_registers_with_digest(server, sipp):
    server.add_account('bob', 'bob-secret')
    register_with_sipp(server, sipp, 'bob', 'bob-secret', free_port())
    assert server.wait_event('register', aor='bob@localhost')


@pytest.fixture
def baresip_bob(server, tmp_path, peer_tools):
    """bob@localhost registered from a baresip that plays a tone; answer mode per test."""
    started = []

    def start(answer_auto: bool) -> Baresip:
        server.add_account('bob', 'bob-secret')
        wav = tmp_path / 'bob.wav'
        write_tone(wav, 1900, 60)
        bob = Baresip('bob', tmp_path / 'bob', wav)
        started.append(bob)
        bob.start([account_line('bob', 'bob-secret', 'localhost', server.sip_port,
                                answer_auto=answer_auto)])
        bob.wait_event('REGISTER_OK', fail_on=('REGISTER_FAIL',))
        return bob
    yield start
    for b in started:
        b.stop()


def test_authenticated_sipp_call_reaches_registered_baresip(server, sipp, baresip_bob):
    bob = baresip_bob(answer_auto=True)
    server.add_account('alice', 'alice-secret')
    result = sipp.run(target(server), scenario='uac_auth.xml', service='bob',
                      auth=('alice', 'alice-secret'), keys={'caller': 'alice', 'domain': 'localhost'},
                      extra=['-d', '2000'], timeout=60)
    assert_sipp_ok(result, calls=1, server=server)
    bob.wait_event('CALL_ESTABLISHED')
    closed = bob.wait_event('CALL_CLOSED')
    assert 'peer' in closed.get('param', ''), closed      # the caller's BYE reached bob
    server.wait_no_calls()


def test_cancel_of_a_ringing_call_reaches_the_callee(server, sipp, baresip_bob):
    bob = baresip_bob(answer_auto=False)                  # rings (180) until cancelled
    server.add_account('alice', 'alice-secret')
    result = sipp.run(target(server), scenario='uac_cancel.xml', service='bob',
                      auth=('alice', 'alice-secret'), keys={'caller': 'alice', 'domain': 'localhost'},
                      timeout=60)
    assert_sipp_ok(result, calls=1, server=server)
    bob.wait_event('CALL_INCOMING')
    bob.wait_event('CALL_CLOSED', fail_on=('CALL_ESTABLISHED',))
    server.wait_no_calls()


# ---------------------------------------------------------------- wrong passwords

def register_raw(peer: rawsip.UdpPeer, user: str, password: str, algorithm: str,
                 call_id: str, cseq: int = 1, contact: str | None = None):
    """REGISTER, answer the 401 with `algorithm`; returns (challenge response, final response)."""
    uri = 'sip:localhost'

    def req(cseq, extra=()):
        contact_hdr = [f'Contact: {contact}'] if contact else []
        return rawsip.request('REGISTER', uri, port=peer.port, call_id=call_id, cseq=cseq,
                              from_user=user, to=f'<sip:{user}@localhost>',
                              omit=('Contact',) if contact else (),
                              extra=['Expires: 60', *contact_hdr, *extra])
    peer.send(req(cseq))
    first, _ = peer.final(call_id)
    assert first is not None and first.status == 401, f'expected a 401 challenge, got {first}'
    chal = rawsip.challenges(first, 'WWW-Authenticate')
    assert algorithm in chal, f'no {algorithm} challenge in {first.all("WWW-Authenticate")}'
    auth = rawsip.digest_authorization(chal[algorithm], 'REGISTER', uri, user, password)
    peer.send(req(cseq + 1, [f'Authorization: {auth}']))
    final, _ = peer.final(call_id)
    return first, final


SHA256_FIRST = {'TELEPHONY_DIGEST_ALGORITHMS': 'SHA-256,MD5'}


def test_default_challenge_is_md5_for_old_clients(server):
    """baresip 1.0 and SIPp 3.6 cannot compute SHA-256 digests (and fail rather than skip
    such a challenge), so the default server challenges with MD5."""
    peer = rawsip.UdpPeer(server.sip_port)
    try:
        call_id = rawsip.new_call_id()
        peer.send(rawsip.request('REGISTER', 'sip:localhost', port=peer.port, call_id=call_id,
                                 from_user='alice', to='<sip:alice@localhost>'))
        first, _ = peer.final(call_id)
    finally:
        peer.close()
    assert first is not None and first.status == 401, first
    assert list(rawsip.challenges(first, 'WWW-Authenticate')) == ['MD5'], first.raw.decode()


@pytest.mark.parametrize('algorithm', ['MD5', 'SHA-256'])
def test_register_with_wrong_password_is_refused(start_server, peer_tools, algorithm):
    server = start_server(env=SHA256_FIRST if algorithm == 'SHA-256' else None)
    server.add_account('alice', 'alice-secret')
    peer = rawsip.UdpPeer(server.sip_port)
    try:
        # the right password works (so the refusals below mean something)
        _, final = register_raw(peer, 'alice', 'alice-secret', algorithm, rawsip.new_call_id())
        assert final is not None and final.status == 200, f'right password answered {final}'
        _, final = register_raw(peer, 'alice', 'wrong-password', algorithm, rawsip.new_call_id())
        assert final is not None, 'no answer to a wrong password'
        assert final.status in (401, 403), f'wrong password answered {final}'
        assert final.reason, 'a status needs a reason phrase'
        # an unknown user is refused the same way
        _, final = register_raw(peer, 'mallory', 'whatever1', algorithm, rawsip.new_call_id())
        assert final is not None and final.status in (401, 403), final
    finally:
        peer.close()
    assert 'wrong-password' not in server.log() and 'alice-secret' not in server.log()


@pytest.mark.parametrize('algorithm', ['MD5', 'SHA-256'])
def test_invite_with_wrong_password_gets_no_call(start_server, tmp_path, peer_tools, algorithm):
    server = start_server(env=SHA256_FIRST if algorithm == 'SHA-256' else None)
    server.add_account('alice', 'alice-secret')
    server.add_account('bob', 'bob-secret')
    # bob is registered (from a raw socket we read afterwards): a call that got through
    # would reach this socket as an INVITE
    bob = rawsip.UdpPeer(server.sip_port)
    peer = rawsip.UdpPeer(server.sip_port)
    try:
        _, final = register_raw(bob, 'bob', 'bob-secret', algorithm, rawsip.new_call_id(),
                                contact=f'<sip:bob@127.0.0.1:{bob.port}>')
        assert final is not None and final.status == 200, final

        call_id = rawsip.new_call_id()
        ruri = 'sip:bob@localhost'
        sdp = rawsip.sdp_offer(free_port('udp'))

        def invite(cseq, extra=()):
            return rawsip.request('INVITE', ruri, port=peer.port, call_id=call_id, cseq=cseq,
                                  from_user='alice', extra=list(extra), body=sdp,
                                  content_type='application/sdp')
        peer.send(invite(1))
        first, _ = peer.final(call_id)
        assert first is not None and first.status == 407, f'expected 407, got {first}'
        peer.send(ack_for(first, ruri, peer.port, call_id, 1))
        chal = rawsip.challenges(first, 'Proxy-Authenticate')
        assert algorithm in chal, first.all('Proxy-Authenticate')
        auth = rawsip.digest_authorization(chal[algorithm], 'INVITE', ruri, 'alice', 'wrong-pw1')
        peer.send(invite(2, [f'Proxy-Authorization: {auth}']))
        final, seen = peer.final(call_id)
        assert final is not None, 'no final answer to INVITE with a wrong password'
        assert final.status in (403, 407), f'wrong password answered {final}'
        assert all(r.status < 200 or r.status >= 300 for r in seen), [str(r) for r in seen]
        peer.send(ack_for(final, ruri, peer.port, call_id, 2))
        assert server.health()['calls'] == 0
        # bob's socket got no INVITE (anything the server sent would be queued by now,
        # since the final answer to alice came after any forwarding decision)
        bob.sock.setblocking(False)
        try:
            leaked = bob.sock.recv(65536)
        except BlockingIOError:
            leaked = b''
        assert not leaked.startswith(b'INVITE'), leaked[:500]
    finally:
        peer.close()
        bob.close()


def ack_for(resp: rawsip.Response, ruri: str, port: int, call_id: str, cseq: int) -> bytes:
    """ACK for a non-2xx final response: same Via branch, To with the response's tag."""
    via = resp.header('via')
    branch = via.split('branch=')[1].split(';')[0].split(',')[0]
    return rawsip.request('ACK', ruri, port=port, call_id=call_id, cseq=cseq, from_user='alice',
                          to=resp.header('to'), branch=branch)


# ---------------------------------------------------------------- bad input (issue item 9)

GARBAGE = [
    bytes(range(256)) * 4,                       # binary noise
    b'\x00' * 1400,
    b'hello world\r\n\r\n',
    b'INVITE\r\n\r\n',
    b'SIP/2.0 200\r\n\r\n',                       # a response nobody asked for, no headers
    'INVITE sip:\u00e9cho@127.0.0.1 SIP/2.0\r\n\r\n'.encode('latin-1'),
    b'\xff\xfe\xfd' * 100,
]


def options(peer, transport='UDP', **kw) -> bytes:
    return rawsip.request('OPTIONS', 'sip:echo@127.0.0.1', transport=transport, port=peer.port,
                          call_id=kw.pop('call_id', None) or rawsip.new_call_id(), **kw)


def assert_alive_udp(server):
    """An OPTIONS over UDP is still answered 200."""
    peer = rawsip.UdpPeer(server.sip_port)
    try:
        call_id = rawsip.new_call_id()
        peer.send(options(peer, call_id=call_id))
        final, _ = peer.final(call_id, timeout=10)
        assert final is not None and final.status == 200, f'OPTIONS after bad input: {final}'
    finally:
        peer.close()


def assert_alive_tcp(server):
    peer = rawsip.TcpPeer(server.sip_port)
    try:
        peer.send(options(peer, 'TCP'))
        r = peer.recv(10)
        assert r is not None and r.status == 200, f'OPTIONS over TCP after bad input: {r}'
    finally:
        peer.close()


def drops(server) -> int:
    return sum(1 for line in server.log_lines()
               if 'event=drop' in line or 'event=bad-frame' in line or 'event=bad-request' in line)


def test_bad_input_gets_clear_answers_and_a_call_still_succeeds(server, sipp):
    udp = rawsip.UdpPeer(server.sip_port)
    try:
        # -- garbage datagrams: nothing to answer; each one is dropped and logged
        before = drops(server)
        for junk in GARBAGE:
            udp.send(junk)
        wait_for(lambda: drops(server) - before >= len(GARBAGE), 10,
                 f'{len(GARBAGE)} drop lines in the server log')

        # -- truncated messages: cut inside the request line, the headers, before the blank line
        full = options(udp)
        before = drops(server)
        cuts = (7, 30, len(full) // 2, len(full) - 4)
        for cut in cuts:
            udp.send(full[:cut])
        wait_for(lambda: drops(server) - before >= len(cuts), 10, 'truncated messages logged')

        # -- a body shorter than its Content-Length in a datagram: 400 (RFC 3261 18.3)
        call_id = rawsip.new_call_id()
        msg = options(udp, call_id=call_id, body=b'x' * 10, content_type='text/plain')
        udp.send(msg.replace(b'Content-Length: 10', b'Content-Length: 200'))
        final, _ = udp.final(call_id)
        assert final is not None and final.status == 400 and final.reason, final

        # -- the largest datagram IPv4 carries (65,507 bytes; more than 64 KiB cannot be one
        #    UDP datagram): answered, whatever the answer, and nothing breaks
        call_id = rawsip.new_call_id()
        head = options(udp, call_id=call_id, extra=['X-Padding: PAD'])
        big = head.replace(b'PAD', b'p' * (65507 - len(head) + 3))
        assert len(big) == 65507
        udp.send(big)
        final, _ = udp.final(call_id)
        assert final is not None and final.reason, 'no answer to a 65,507-byte OPTIONS'
        assert final.status in (200, 413, 513), final

        # -- an unknown method: 501 with a reason phrase
        call_id = rawsip.new_call_id()
        udp.send(rawsip.request('FROBNICATE', 'sip:echo@127.0.0.1', port=udp.port, call_id=call_id))
        final, _ = udp.final(call_id)
        assert final is not None and final.status == 501 and final.reason, final
    finally:
        udp.close()

    # -- TCP: a message over 64 KiB is refused (513) or the connection is closed
    tcp = rawsip.TcpPeer(server.sip_port)
    try:
        tcp.send(options(tcp, 'TCP', body=b'b' * 70000, content_type='text/plain'))
        r = tcp.recv(10)
        assert (r is not None and r.status == 513) or tcp.closed or tcp.wait_closed(10), \
            f'70 kB message over TCP answered {r}'
    finally:
        tcp.close()

    # -- TCP: Content-Length that is not a number, negative or absurd: 400 or closed
    for bad in (b'abc', b'-5', b'99999999999'):
        tcp = rawsip.TcpPeer(server.sip_port)
        try:
            tcp.send(options(tcp, 'TCP').replace(b'Content-Length: 0', b'Content-Length: ' + bad))
            r = tcp.recv(10)
            assert (r is not None and r.status == 400 and r.reason) or tcp.closed \
                or tcp.wait_closed(10), f'Content-Length: {bad!r} answered {r}'
        finally:
            tcp.close()

    # -- TCP: Content-Length too long, then the client stops sending: the server closes
    tcp = rawsip.TcpPeer(server.sip_port)
    try:
        tcp.send(options(tcp, 'TCP').replace(b'Content-Length: 0', b'Content-Length: 50'))
        tcp.sock.shutdown(socket.SHUT_WR)
        r = tcp.recv(10)
        assert r is None or (r.status == 400 and r.reason), r
        assert tcp.closed or tcp.wait_closed(10), 'half-sent message: connection left open'
    finally:
        tcp.close()

    # -- TCP: Content-Length too short: the rest of the body is framed as the next message,
    #    which is garbage; it is dropped (or answered 400, or the connection closed) and a
    #    later request on the same connection is still understood if it stays open
    tcp = rawsip.TcpPeer(server.sip_port)
    try:
        body = b'v=0\r\nNOT A SIP MESSAGE\r\n\r\n'
        msg = options(tcp, 'TCP', body=body, content_type='text/plain')
        tcp.send(msg.replace(b'Content-Length: %d' % len(body), b'Content-Length: 5'))
        r = tcp.recv(10)
        assert r is not None and r.status == 200, f'OPTIONS framed by its Content-Length: {r}'
        tcp.send(options(tcp, 'TCP'))
        r = tcp.recv(10)
        if r is not None and r.status == 400:
            r = tcp.recv(10)
        assert (r is not None and r.status == 200) or tcp.closed, r
    finally:
        tcp.close()

    # after all that: the listeners answer, and normal calls succeed over UDP and TCP
    assert_alive_udp(server)
    assert_alive_tcp(server)
    result = sipp.run(target(server), builtin='uac', service='echo', calls=2, extra=['-d', '1000'],
                      timeout=60)
    assert_sipp_ok(result, calls=2, server=server)
    result = sipp.run(target(server), builtin='uac', service='echo', calls=2, transport='t1',
                      extra=['-d', '1000'], timeout=60)
    assert_sipp_ok(result, calls=2, server=server)
    server.wait_no_calls()
    assert 'Traceback' not in server.log(), server.log_tail()


@pytest.mark.parametrize('header', ['Call-ID', 'From', 'To'])
def test_request_missing_a_mandatory_header_gets_400(server, header):
    """RFC 3261 8.1.1 lists the headers every request carries; RFC 4475 3.3.1: an element
    must not break on a request without Call-ID/From/To and ideally answers 400.  Via and
    CSeq are present, so the client can match the answer to its transaction."""
    udp = rawsip.UdpPeer(server.sip_port)
    try:
        branch = 'z9hG4bK' + rawsip.secrets.token_hex(6)
        udp.send(rawsip.request('OPTIONS', 'sip:echo@127.0.0.1', port=udp.port,
                                call_id=rawsip.new_call_id(), omit=(header,), branch=branch))
        # a valid OPTIONS right behind it: its answer marks where the first one's would be
        probe = rawsip.new_call_id()
        udp.send(options(udp, call_id=probe))
        answers = []
        while True:
            r = udp.recv(10)
            assert r is not None, f'no answer to the OPTIONS after one without {header}'
            if r.header('call-id') == probe and branch not in (r.header('via') or ''):
                break
            answers.append(r)
    finally:
        udp.close()
    assert answers, (f'a request without {header} got no answer (dropped)\n'
                     + '\n'.join(line for line in server.log_lines() if 'event=drop' in line))
    r = answers[0]
    assert r.status == 400 and r.reason, r
    assert branch in (r.header('via') or ''), r.raw.decode(errors='replace')
