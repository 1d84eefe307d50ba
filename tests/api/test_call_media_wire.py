"""What the call API's media controls put on the wire, counted on a raw SIP/RTP peer.

The caller is a plain UDP socket for SIP and another for RTP (a=ptime:30), so every RTP
packet the server sends is seen: none before answer (Q-loud §3.24's own `ring`, `silence`,
`answer`), a silence stream while nothing plays, 30 ms packets, and every RFC 4733 digit
of a `dtmf_send` (end packets included) before the BYE of a `hangup` queued after it.
"""
from __future__ import annotations

import re
import select
import socket
import time

from tests.api.test_call_api import NUMBER, Events, control, new_call, upload_announcement
from tests.integration import rawsip
from tests.integration.media import RtpPacket

HOST = '127.0.0.1'
TIMEOUT = 30.0


def sdp_offer(rtp_port: int) -> str:
    return ('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
            f'm=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n'
            'a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:30\r\n'
            'a=sendrecv\r\n')


class RtpSocket:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.packets: list[RtpPacket] = []

    def drain(self, timeout: float = 0.0) -> list[RtpPacket]:
        """Read what has arrived (waiting up to `timeout` for the first datagram)."""
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(2048)
            except (BlockingIOError, socket.timeout, TimeoutError):
                return self.packets
            self.sock.settimeout(0)
            self.packets.append(RtpPacket(time.monotonic(), data[1] & 0x7F, bool(data[1] & 0x80),
                                          int.from_bytes(data[2:4], 'big'),
                                          int.from_bytes(data[4:8], 'big'),
                                          int.from_bytes(data[8:12], 'big'), data[12:]))

    def wait(self, predicate, what: str):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            self.drain(0.2)
            if predicate(self.packets):
                return self.packets
        raise AssertionError(f'no {what} within {TIMEOUT} s: {len(self.packets)} packets')

    def close(self):
        self.sock.close()


def wait_answer_without_rtp(peer, rtp: RtpSocket, call_id):
    """The 200 to our INVITE, asserting that no RTP came before it.  The server sends the
    200 before any RTP, and loopback delivers in that order: so whenever an RTP datagram is
    waiting, a 200 already sent is waiting too -- read SIP first, then judge."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        readable, _, _ = select.select([peer.sock, rtp.sock], [], [], 0.5)
        for data in peer.drain():
            r = rawsip.parse_message(data)
            if r is not None and r.header('call-id') == call_id and r.status == 200:
                return r
        assert rtp.sock not in readable, 'RTP before the answer'
    raise AssertionError(f'no 200 for {call_id}')


def answer_bye(peer, data: bytes):
    head = data.split(b'\r\n\r\n', 1)[0].decode()
    keep = [ln for ln in head.split('\r\n')[1:]
            if re.match(r'(?i)(via|from|to|call-id|cseq):', ln)]
    peer.send('SIP/2.0 200 OK\r\n' + '\r\n'.join(keep) + '\r\nContent-Length: 0\r\n\r\n')


def test_media_controls_on_the_wire(api):
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    assert c.get('/api/call/event').json()['status'] == 'ok'
    events = Events(c)
    prompt = upload_announcement(c)          # 1.5 s of a 600 Hz tone
    peer = rawsip.UdpPeer(api.server.sip_port)
    rtp = RtpSocket()
    try:
        call_id = rawsip.new_call_id()
        ruri = f'sip:{NUMBER}@{HOST}:{api.server.sip_port}'
        peer.send(rawsip.request('INVITE', ruri, port=peer.port, call_id=call_id,
                                 body=sdp_offer(rtp.port), content_type='application/sdp'))
        uuid = new_call(events)

        # §3.24 lines 5511-5536, the document's own example
        r = control(c, uuid, {'control': 'ring'}, {'control': 'silence', 'duration': 1000,
                                                   'id': 'wait'},
                    {'id': 'hook-off', 'control': 'answer'})
        assert r == {'status': 'ok'}, r
        events.call_update(uuid, current_control_id='wait')
        ok = wait_answer_without_rtp(peer, rtp, call_id)    # the silence sent nothing
        peer.send(rawsip.request('ACK', ruri, port=peer.port, call_id=call_id,
                                 to=ok.header('to')))
        events.call_update(uuid, status='answered')

        # nothing plays: a stream of silence in the peer's 30 ms packets
        pkts = rtp.wait(lambda p: len(p) >= 10, 'silence stream')
        assert {(p.payload_type, p.payload) for p in pkts} == {(0, b'\xff' * 240)}

        # digits, a prompt, a digit, hangup: each waits for what it sent
        mark = len(rtp.packets)
        control(c, uuid, {'control': 'dtmf_send', 'digits': '12', 'id': 'd1'},
                {'control': 'play', 'object': prompt, 'id': 'p'},
                {'control': 'dtmf_send', 'digits': '3', 'id': 'd2'},
                {'control': 'hangup', 'id': 'bye'})
        bye = peer.wait(lambda data: data.startswith(b'BYE '), TIMEOUT)
        assert bye is not None, api.server.log_tail(40)
        answer_bye(peer, bye)
        pkts = rtp.drain(0.5)[mark:]      # sent before the BYE, so arrived before it too
    finally:
        rtp.close()
        peer.close()

    events_ = [(p.payload[0], bool(p.payload[1] & 0x80), p.timestamp)
               for p in pkts if p.payload_type == 101]
    digits = {}
    for ev, end, ts in events_:
        digits.setdefault(ts, []).append((ev, end))
    assert [v[0][0] for v in digits.values()] == [1, 2, 3], events_
    assert all([e for _, e in v].count(True) == 3 for v in digits.values()), events_

    # the prompt plays whole, after the first digits and before the last one
    kinds = [p.payload_type for p in pkts]
    first_3 = next(i for i, p in enumerate(pkts) if p.payload_type == 101 and p.payload[0] == 3)
    last_2 = max(i for i, p in enumerate(pkts) if p.payload_type == 101 and p.payload[0] == 2)
    audio = b''.join(p.payload for p in pkts[last_2:first_3] if p.payload_type == 0)
    loud = sum(1 for b in audio if b not in (0xFF, 0x7F, 0xFE, 0x7E))
    assert loud >= 0.9 * 1.5 * 8000, f'{loud} loud samples of the 1.5 s prompt'
    # 30 ms audio packets; only the one cut short by a digit (or the hangup) is shorter
    for p, after in zip(pkts, pkts[1:] + [None]):
        if p.payload_type == 0 and len(p.payload) != 240:
            assert after is None or after.payload_type == 101, [len(q.payload) for q in pkts]
    assert kinds.count(0) > 50
