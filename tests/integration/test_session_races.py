"""The INVITE session's races against the real server, from raw SIP sockets: a CANCEL racing
the answer, a hangup before the caller's ACK, and an offer with no codec of ours."""
from __future__ import annotations


from . import rawsip
from .conftest import HOST, free_port_block
from .rawsip import new_call_id, request, sdp_offer
from .test_sipp import baresip_bob  # noqa: F401 -- the fixture

G722_ONLY = ('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
             'm=audio 40000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\na=sendrecv\r\n')


class RawUdp(rawsip.UdpPeer):
    """A UDP SIP peer that sees requests (BYE) as well as responses."""

    def final_of(self, call_id: str, method: str = 'INVITE') -> rawsip.Response | None:
        def is_final(data):
            r = rawsip.parse_message(data)
            return (r is not None and r.status >= 200 and r.header('call-id') == call_id
                    and r.header('cseq').endswith(method))
        data = self.wait(is_final)
        return rawsip.parse_message(data) if data else None


def _header(data: bytes, name: str) -> str:
    for line in data.decode('latin-1').split('\r\n'):
        k, _, v = line.partition(':')
        if k.strip().lower() == name.lower():
            return v.strip()
    return ''


def _bye_ok(bye: bytes) -> bytes:
    """A 200 for a BYE the server sent us: its Via, From, To, Call-ID and CSeq echoed."""
    lines = ['SIP/2.0 200 OK'] + [f'{h}: {_header(bye, h)}' for h in
                                  ('Via', 'From', 'To', 'Call-ID', 'CSeq')]
    return ('\r\n'.join(lines) + '\r\nContent-Length: 0\r\n\r\n').encode()


def _is_bye(data: bytes) -> bool:
    return data.startswith(b'BYE ')


def test_cancel_racing_the_answer_frees_the_ports(start_server):
    """INVITE and CANCEL to `echo`, with and without an offer, the CANCEL at once (the INVITE
    is still being routed) or after the 100 (answer() is binding its ports): whichever
    wins, the RTP ports come back. The range has room for one call, so a leak from one
    round makes the next call a 503."""
    base = free_port_block(2)
    server = start_server(env={'TELEPHONY_RTP_PORT_MIN': str(base),
                               'TELEPHONY_RTP_PORT_MAX': str(base + 1)})
    peer = RawUdp(server.sip_port)
    outcomes = []
    try:
        for offer, wait_100 in [('sdp', False), ('', False), ('sdp', True), ('', True)] * 2:
            cid, branch = new_call_id(), 'z9hG4bK' + new_call_id()[:12]
            body = sdp_offer(40000) if offer else ''
            ctype = 'application/sdp' if offer else None
            peer.send(request('INVITE', f'sip:echo@{HOST}', port=peer.port, call_id=cid,
                              branch=branch, body=body, content_type=ctype))
            if wait_100:
                assert peer.wait(lambda d: d.startswith(b'SIP/2.0 100 ')) is not None
            peer.send(request('CANCEL', f'sip:echo@{HOST}', port=peer.port, call_id=cid,
                              branch=branch, cseq=1))
            final = peer.final_of(cid)
            assert final is not None, server.log_tail()
            outcomes.append(final.status)
            if final.status == 200:   # the answer won: the CANCEL had no effect, we end it
                to = final.header('To')
                peer.send(request('ACK', f'sip:echo@{HOST}', port=peer.port, call_id=cid, to=to))
                peer.send(request('BYE', f'sip:echo@{HOST}', port=peer.port, call_id=cid,
                                  cseq=2, to=to))
                assert peer.final_of(cid, 'BYE').status == 200
            else:
                assert final.status == 487, final
            server.wait_no_calls()
            # the one port pair is free again: a plain call is answered
            cid = new_call_id()
            peer.send(request('INVITE', f'sip:echo@{HOST}', port=peer.port, call_id=cid,
                              body=sdp_offer(40000), content_type='application/sdp'))
            ok = peer.final_of(cid)
            assert ok is not None and ok.status == 200, (offer, ok, server.log_tail())
            to = ok.header('To')
            peer.send(request('ACK', f'sip:echo@{HOST}', port=peer.port, call_id=cid, to=to))
            peer.send(request('BYE', f'sip:echo@{HOST}', port=peer.port, call_id=cid, cseq=2,
                              to=to))
            assert peer.final_of(cid, 'BYE').status == 200
            server.wait_no_calls()
        assert 487 in outcomes, outcomes   # the CANCEL did win some races
    finally:
        peer.close()


def test_hangup_before_the_ack_sends_bye_only_after_it(server):
    """`hello` hangs up when its prompt ends; we hold our ACK until then (RFC 3261 §15)."""
    peer = RawUdp(server.sip_port)
    try:
        cid = new_call_id()
        peer.send(request('INVITE', f'sip:hello@{HOST}', port=peer.port, call_id=cid,
                          body=sdp_offer(40000), content_type='application/sdp'))
        ok = peer.final_of(cid)
        assert ok is not None and ok.status == 200
        hangup = server.wait_event('leg-state', state='hangup')[0]
        assert hangup['cause'] == '16' and hangup['cause_name'] == 'normal_clearing', hangup
        early = [d for d in peer.drain() if _is_bye(d)]
        assert not early, f'BYE before our ACK: {early[0][:200]!r}'
        to = ok.header('To')
        peer.send(request('ACK', f'sip:hello@{HOST}', port=peer.port, call_id=cid, to=to))
        bye = peer.wait(_is_bye)
        assert bye is not None, server.log_tail()
        assert 'cause=16' in _header(bye, 'Reason')
        peer.send(_bye_ok(bye))
        server.wait_no_calls()
    finally:
        peer.close()


def test_an_offer_without_our_codecs_is_refused_before_the_callee_rings(
        server, baresip_bob):  # noqa: F811
    bob = baresip_bob(answer_auto=True)
    server.add_account('alice', 'alice-secret')
    peer = RawUdp(server.sip_port)
    try:
        cid, uri, branch = new_call_id(), 'sip:bob@localhost', 'z9hG4bK' + new_call_id()[:12]

        def invite(cseq, extra=(), branch=None):
            return request('INVITE', uri, port=peer.port, call_id=cid, cseq=cseq,
                           from_user='alice', extra=list(extra), body=G722_ONLY,
                           content_type='application/sdp', branch=branch)
        peer.send(invite(1, branch=branch))
        final = peer.final_of(cid)
        if final is not None and final.status == 407:   # authenticate, as a phone would
            chal = rawsip.challenges(final, 'Proxy-Authenticate')['MD5']
            auth = rawsip.digest_authorization(chal, 'INVITE', uri, 'alice', 'alice-secret')
            peer.send(request('ACK', uri, port=peer.port, call_id=cid, from_user='alice',
                              to=final.header('To'), branch=branch))
            peer.send(invite(2, [f'Proxy-Authorization: {auth}']))
            final = peer.final_of(cid)
        assert final is not None and final.status == 488, (final, server.log_tail())
        assert final.header('Warning') == f'305 {HOST} "Incompatible media format"'
        server.wait_no_calls()
        calls = [e['type'] for e in bob.event_list() if e.get('type', '').startswith('CALL_')]
        assert not calls, f'the callee was called for an offer we cannot answer: {calls}'
    finally:
        peer.close()
