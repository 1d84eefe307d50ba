"""A hand-made SIP/RTP peer for what SIPp and baresip do not exercise: an INVITE without
SDP (our offer in the 200, the answer in the ACK) and in-band DTMF from a peer that has no
telephone-event."""
from __future__ import annotations

import socket
import struct
import time

import numpy as np

from telephony.media.codecs import ulaw_decode, ulaw_encode
from telephony.sdp import parse_sdp

from .conftest import HOST, wait_for
from .rawsip import UdpPeer, new_call_id, request, sdp_offer

DTMF = {'1': (697, 1209), '5': (770, 1336), '9': (852, 1477), '#': (941, 1477)}


class RtpPeer:
    """One UDP socket sending 20 ms PCMU packets and collecting what comes back."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.seq = 1000
        self.ts = 0
        self.received: list[np.ndarray] = []

    def send(self, remote: tuple[str, int], pcm: np.ndarray) -> None:
        """Send pcm as 20 ms packets, paced by the wall clock, draining replies as we go."""
        start = time.monotonic()
        for i in range(0, len(pcm) - 159, 160):
            header = struct.pack('!BBHII', 0x80, 0, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF, 0x1234)
            self.sock.sendto(header + ulaw_encode(pcm[i:i + 160]), remote)
            self.seq += 1
            self.ts += 160
            self.drain()
            pause = start + (i // 160 + 1) * 0.02 - time.monotonic()
            if pause > 0:
                time.sleep(pause)   # real-time pacing of the audio we send, not a wait

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return
            if len(data) > 12 and data[1] & 0x7F == 0:
                self.received.append(ulaw_decode(data[12:]))

    def close(self):
        self.sock.close()


def tone(freqs, ms, amp=6000) -> np.ndarray:
    t = np.arange(int(8 * ms)) / 8000
    wave = sum((np.sin(2 * np.pi * f * t) for f in freqs), np.zeros_like(t))
    return (wave * amp).astype(np.int16)


def test_offerless_invite_gets_our_offer_and_the_ack_carries_the_answer(server):
    sip, rtp = UdpPeer(server.sip_port), RtpPeer()
    try:
        cid = new_call_id()
        sip.send(request('INVITE', f'sip:echo@{HOST}', port=sip.port, call_id=cid))
        ok, _ = sip.final(cid)
        assert ok is not None and ok.status == 200, ok
        offer = parse_sdp(ok.body)
        m = offer.media[0]
        assert {0, 8} <= set(m.formats)
        remote = (offer.connection or m.connection, m.port)
        answer = ('v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
                  f'm=audio {rtp.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n')
        to = ok.header('To')
        sip.send(request('ACK', f'sip:echo@{HOST}', port=sip.port, call_id=cid, to=to,
                         body=answer, content_type='application/sdp'))
        rtp.send(remote, tone([1000], 1500))
        wait_for(lambda: (rtp.drain(), len(rtp.received) >= 40)[1], 10, 'echoed audio')
        echoed = np.concatenate(rtp.received)
        spectrum = np.abs(np.fft.rfft(echoed.astype(float)))
        assert abs(np.argmax(spectrum) * 8000 / len(echoed) - 1000) < 30
        sip.send(request('BYE', f'sip:echo@{HOST}', port=sip.port, call_id=cid, cseq=2, to=to))
        bye_ok, _ = sip.final(cid)
        assert bye_ok is not None and bye_ok.status == 200
    finally:
        sip.close()
        rtp.close()


def test_inband_dtmf_from_a_peer_without_telephone_event(server):
    sip, rtp = UdpPeer(server.sip_port), RtpPeer()
    try:
        cid = new_call_id()
        offer = ('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
                 f'm=audio {rtp.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n')
        sip.send(request('INVITE', f'sip:dtmf@{HOST}', port=sip.port, call_id=cid, body=offer,
                         content_type='application/sdp'))
        ok, _ = sip.final(cid)
        assert ok is not None and ok.status == 200
        answer = parse_sdp(ok.body)
        assert answer.media[0].formats == [0]   # no telephone-event to be had
        remote = (answer.connection or answer.media[0].connection, answer.media[0].port)
        to = ok.header('To')
        sip.send(request('ACK', f'sip:dtmf@{HOST}', port=sip.port, call_id=cid, to=to))
        keys = '159#'
        audio = [tone([], 300)]
        for k in keys:
            audio += [tone(DTMF[k], 120), tone([], 120)]
        rtp.send(remote, np.concatenate(audio))
        hits = server.wait_event('dtmf-demo', count=len(keys))
        assert [h['digit'] for h in hits] == list(keys)
        sip.send(request('BYE', f'sip:dtmf@{HOST}', port=sip.port, call_id=cid, cseq=2, to=to))
        bye_ok, _ = sip.final(cid)
        assert bye_ok is not None and bye_ok.status == 200
    finally:
        sip.close()
        rtp.close()


def _two_calls(server) -> tuple:
    """Two echo calls, the first held up; returns the second's final answer."""
    sip = UdpPeer(server.sip_port)
    try:
        first, second = new_call_id(), new_call_id()
        for cid in (first, second):
            sip.send(request('INVITE', f'sip:echo@{HOST}', port=sip.port, call_id=cid,
                             body=sdp_offer_pcmu(40010), content_type='application/sdp'))
            final, _ = sip.final(cid)
            assert final is not None
            if cid == first:
                assert final.status == 200
                to = final.header('To')
        sip.send(request('BYE', f'sip:echo@{HOST}', port=sip.port, call_id=first, cseq=2, to=to))
        assert sip.final(first)[0].status == 200
        return final
    finally:
        sip.close()


def test_a_full_rtp_port_range_sheds_new_calls(start_server):
    from .conftest import free_port_block
    base = free_port_block(2)
    server = start_server(env={'TELEPHONY_RTP_PORT_MIN': str(base),
                               'TELEPHONY_RTP_PORT_MAX': str(base + 1)})   # room for one call
    final = _two_calls(server)
    assert final.status == 503 and final.reason == 'Overloaded'
    assert final.header('Retry-After') == '5'
    assert server.health()['shed_by']['ports'] == 1
    shed = server.wait_event('calls-shed', status='503', reason='ports')   # and says why
    assert shed[0]['count'] == '1', shed


def test_rtp_ports_held_by_another_process_are_a_503_not_a_hang(start_server):
    from .conftest import free_port_block
    base = free_port_block(4)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # holds the second pair
    squatter.bind((HOST, base + 2))
    try:
        server = start_server(env={'TELEPHONY_RTP_PORT_MIN': str(base),
                                   'TELEPHONY_RTP_PORT_MAX': str(base + 3)})
        final = _two_calls(server)
    finally:
        squatter.close()
    assert final.status == 503 and 'cause=47' in final.header('Reason')


def sdp_offer_pcmu(port: int) -> str:
    return ('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
            f'm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n')


def test_the_silence_stream_starts_with_the_ack(server):
    """An answered call streams (silence when nothing plays), but only once our 200 is
    ACKed: an INVITE flood whose ACKs never come must not make us stream to each caller."""
    sip, rtp = UdpPeer(server.sip_port), RtpPeer()
    try:
        cid = new_call_id()
        sip.send(request('INVITE', f'sip:echo@{HOST}', port=sip.port, call_id=cid,
                         body=sdp_offer(rtp.port), content_type='application/sdp'))
        ok, _ = sip.final(cid)
        assert ok is not None and ok.status == 200, ok
        # the 200 waits for its ACK (it is retransmitted meanwhile): give the server a
        # second in which it could stream, then look at what arrived before the ACK
        sip.wait(lambda data: False, timeout=1.0)
        rtp.drain()
        assert rtp.received == [], 'RTP before the ACK'
        to = ok.header('To')
        sip.send(request('ACK', f'sip:echo@{HOST}', port=sip.port, call_id=cid, to=to))
        wait_for(lambda: (rtp.drain(), len(rtp.received) >= 10)[1], 20, 'the silence stream')
        assert np.abs(np.concatenate(rtp.received)).max() < 16, 'silence, not audio'
        sip.send(request('BYE', f'sip:echo@{HOST}', port=sip.port, call_id=cid, cseq=2, to=to))
        sip.final(cid)
    finally:
        sip.close()
        rtp.close()
