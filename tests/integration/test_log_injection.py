"""Text from the wire cannot put control characters or a forged line into the server's log:
a real call, and an RTCP BYE whose reason carries a NUL, an escape sequence and a newline
followed by a fake log line."""
from __future__ import annotations

import socket
import struct


from .conftest import HOST, parse_kv, wait_for
from .rawsip import UdpPeer, echo_call, new_call_id, parse_challenge, request

FORGED = '2026-12-01 12:00:00,000 INFO telephony event=register aor=admin@localhost'
REASON = f'bye\x00\x1b[31m\r\n{FORGED}'.encode()


def rtcp_rr_then_bye(ssrc: int, reason: bytes) -> bytes:
    """RFC 3550 compound packet: an empty receiver report, then BYE with a reason."""
    rr = struct.pack('!BBHI', 0x80, 201, 1, ssrc)
    body = struct.pack('!I', ssrc) + bytes([len(reason)]) + reason
    body += b'\x00' * (-len(body) % 4)
    bye = struct.pack('!BBH', 0x81, 203, len(body) // 4) + body
    return rr + bye


def test_rtcp_bye_reason_is_escaped_in_the_log(server):
    sip = UdpPeer(server.sip_port)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((HOST, 0))
    try:
        cid, to, (host, port) = echo_call(sip, rtp.getsockname()[1])
        rtp.sendto(rtcp_rr_then_bye(0x1234, REASON), (host, port + 1))
        server.wait_event('rtcp-bye')   # the forged event=... stays inside the quoted reason
        sip.send(request('BYE', f'sip:echo@{HOST}', port=sip.port, call_id=cid, cseq=2, to=to))
        sip.final(cid)
    finally:
        sip.close()
        rtp.close()
    log = server.log()
    assert '\x00' not in log and '\x1b' not in log and '\r' not in log
    lines = server.log_lines()
    assert not any(line.startswith(FORGED) for line in lines), 'a forged log line'
    [line] = [ln for ln in lines if 'event=rtcp-bye' in ln]
    assert line.endswith('reason="bye\\x00\\x1b[31m\\r\\n' + FORGED.replace('"', '\\"') + '"'), line
    assert server.events('rtcp-bye')[0]['port'].isdigit()   # no field was forged


def test_sip_header_text_is_escaped_in_the_log(server):
    """A digest username (logged when a login is refused) carrying NUL, ESC, BEL and a C1
    control (CSI), which would drive the terminal of whoever reads the log."""
    sip = UdpPeer(server.sip_port)
    try:
        cid = new_call_id()
        uri = 'sip:localhost'
        sip.send(request('REGISTER', uri, port=sip.port, call_id=cid, from_user='alice'))
        challenge, _ = sip.final(cid)
        assert challenge is not None and challenge.status == 401, challenge
        c = parse_challenge(challenge.header('WWW-Authenticate'))
        user = 'alice\x00\x1b]0;owned\x07\x9b2J'
        auth = (f'Digest username="{user}", realm="{c["realm"]}", nonce="{c["nonce"]}", '
                f'uri="{uri}", response="{"0" * 32}", algorithm=MD5')
        if 'opaque' in c:
            auth += f', opaque="{c["opaque"]}"'
        sip.send(request('REGISTER', uri, port=sip.port, call_id=cid, cseq=2, from_user='alice',
                         extra=[f'Authorization: {auth}']))
        refused, _ = sip.final(cid)
        assert refused is not None and refused.status in (400, 401, 403), refused
        # refused as a wrong guess (auth-failed) or unread (auth-rejected): logged with the
        # user name either way
        wait_for(lambda: [ln for ln in server.log_lines() if 'user="alice' in ln], 20,
                 'the refused login\'s log line')
    finally:
        sip.close()
    [line] = [ln for ln in server.log_lines() if 'user="alice' in ln]
    assert 'event=auth-' in line and 'user="alice\\x00\\x1b]0;owned\\x07\\x9b2J"' in line, line
    log = server.log()
    assert not any(ch in log for ch in '\x00\x1b\x07\x9b'), line


def test_sdp_a_peer_sent_is_one_field_in_the_log(server):
    """An SDP answer in an ACK that we cannot use is logged with the parser's reason, which
    quotes the peer's line: a '"' and spaces in it must not forge key=value fields."""
    sip = UdpPeer(server.sip_port)
    try:
        cid = new_call_id()
        sip.send(request('INVITE', f'sip:echo@{HOST}', port=sip.port, call_id=cid))  # offerless
        ok, _ = sip.final(cid)
        assert ok is not None and ok.status == 200, ok
        bad = ('v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 x" forged=yes\r\nt=0 0\r\n'
               'm=audio 4000 RTP/AVP 0\r\n')
        to = ok.header('To')
        sip.send(request('ACK', f'sip:echo@{HOST}', port=sip.port, call_id=cid, to=to,
                         body=bad, content_type='application/sdp'))
        [line] = wait_for(lambda: [ln for ln in server.log_lines() if 'event=bad-ack-sdp' in ln],
                          20, 'the bad-ack-sdp line')
    finally:
        sip.close()
    fields = parse_kv(line)
    assert 'forged' not in fields and 'forged=yes' in fields['reason'], line
    server.wait_no_calls()
