from telephony.sip.dialog import Dialog
from telephony.sip.message import make_response, parse_message

INVITE = (b'INVITE sip:bob@10.0.0.2 SIP/2.0\r\n'
          b'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1\r\n'
          b'Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n'
          b'From: "Alice" <sip:alice@example.com>;tag=a1\r\n'
          b'To: <sip:bob@example.com>\r\n'
          b'Call-ID: c1\r\nCSeq: 7 INVITE\r\n'
          b'Contact: <sip:alice@10.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n')


def test_uas_dialog_builds_bye_along_the_route_set():
    d = Dialog.from_uas(parse_message(INVITE), 'b1')
    bye = d.request('BYE', 'SIP/2.0/UDP 10.0.0.2:5060')
    assert bye.method == 'BYE' and str(bye.uri) == 'sip:alice@10.0.0.1:5060'
    assert bye.get_all('Route') == ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']
    assert bye.from_.tag == 'b1' and bye.to.tag == 'a1'
    assert bye.from_.uri.user == 'bob' and bye.cseq.seq == 1 and bye.call_id == 'c1'
    assert d.request('INFO', 'SIP/2.0/UDP x').cseq.seq == 2


def test_uac_dialog_reverses_record_route_and_acks_with_invite_cseq():
    invite = parse_message(INVITE)
    resp = make_response(invite, 200, to_tag='b9')
    resp.set('Contact', '<sip:bob@10.0.0.2:5070>')
    resp.set('Record-Route', '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>')
    resp = parse_message(resp.to_bytes())
    d = Dialog.from_uac(invite, resp)
    assert d.route_set == ['<sip:p2.example.com;lr>', '<sip:p1.example.com;lr>']
    ack = d.request('ACK', 'SIP/2.0/UDP 10.0.0.1:5060', cseq=7)
    assert ack.cseq.seq == 7 and ack.cseq.method == 'ACK' and d.local_cseq == 7
    assert str(ack.uri) == 'sip:bob@10.0.0.2:5070' and ack.to.tag == 'b9'


def test_remote_cseq_must_grow():
    d = Dialog.from_uas(parse_message(INVITE), 'b1')
    bye = parse_message(INVITE.replace(b'CSeq: 7 INVITE', b'CSeq: 7 BYE').replace(
        b'INVITE sip', b'BYE sip'))
    assert not d.check_remote_cseq(bye)
    assert d.check_remote_cseq(parse_message(INVITE.replace(b'CSeq: 7 INVITE', b'CSeq: 8 BYE')
                                             .replace(b'INVITE sip', b'BYE sip')))
