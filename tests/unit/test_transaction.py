"""Transactions driven with messages and times only (no sockets, no clock)."""
from telephony.sip.message import Request, make_response, parse_message
from telephony.sip.transaction import T1, T2, Peer, TransactionLayer

UDP = Peer('UDP', ('127.0.0.1', 5070))
TCP = Peer('TCP', ('127.0.0.1', 5070))


def req(method='INVITE', branch='z9hG4bK-1', cseq=1, to_tag='', body=b'') -> Request:
    to = '<sip:bob@example.com>' + (f';tag={to_tag}' if to_tag else '')
    text = (f'{method} sip:bob@example.com SIP/2.0\r\n'
            f'Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n'
            'Max-Forwards: 70\r\n'
            'From: <sip:alice@example.com>;tag=a1\r\n'
            f'To: {to}\r\n'
            'Call-ID: call-1@example.com\r\n'
            f'CSeq: {cseq} {method}\r\n'
            f'Content-Length: {len(body)}\r\n\r\n').encode() + body
    return parse_message(text)


def sent(layer):
    out = [parse_message(o.message) if isinstance(o.message, bytes) else o.message
           for o in layer.outbox]
    layer.outbox.clear()
    return out


def events(layer):
    ev = list(layer.events)
    layer.events.clear()
    return ev


def run_until(layer, t):
    """Fire every timer due up to t, in order, as the asyncio shell would."""
    while True:
        at = layer.next_deadline()
        if at is None or at > t:
            return
        layer.poll(at)


def test_non_invite_client_retransmits_then_times_out():
    layer = TransactionLayer()
    txn = layer.send_request(req('OPTIONS'), UDP, 0.0)
    assert len(sent(layer)) == 1
    times = []
    while True:
        at = layer.next_deadline()
        if at is None:
            break
        layer.poll(at)
        if sent(layer):
            times.append(at)
    # Timer E doubles up to T2, Timer F ends it at 64*T1
    assert times[:5] == [T1, 3 * T1, 7 * T1, 15 * T1, 15 * T1 + T2]
    assert all(t < 64 * T1 for t in times)
    ev = events(layer)
    assert [e.kind for e in ev] == ['timeout'] and ev[0].txn is txn
    assert layer.counts() == {'client': 0, 'server': 0}


def test_non_invite_client_over_tcp_never_retransmits():
    layer = TransactionLayer()
    layer.send_request(req('OPTIONS'), TCP, 0.0)
    sent(layer)
    run_until(layer, 31.0)
    assert sent(layer) == []


def test_invite_server_absorbs_retransmission_and_resends_last_response():
    layer = TransactionLayer()
    invite = req()
    layer.receive(invite, UDP, 0.0)
    (ev,) = events(layer)
    assert ev.kind == 'request'
    ev.txn.respond(make_response(invite, 180, to_tag='b1'), 0.1)
    assert [m.status for m in sent(layer)] == [180]
    layer.receive(req(), UDP, 0.2)  # retransmitted INVITE
    assert events(layer) == []
    assert [m.status for m in sent(layer)] == [180]


def test_invite_server_error_response_retransmitted_until_ack():
    layer = TransactionLayer()
    invite = req()
    layer.receive(invite, UDP, 0.0)
    txn = events(layer)[0].txn
    txn.respond(make_response(invite, 486, to_tag='b1'), 0.0)
    assert [m.status for m in sent(layer)] == [486]
    run_until(layer, T1 + 3 * T1 - 0.01)  # Timer G twice
    assert [m.status for m in sent(layer)] == [486, 486]
    layer.receive(req('ACK', to_tag='b1'), UDP, 2.0)
    assert events(layer) == []  # ACK for a non-2xx stays in the transaction
    run_until(layer, 60.0)
    assert sent(layer) == [] and events(layer) == []
    assert layer.counts()['server'] == 0


def test_invite_server_2xx_resent_until_ack_and_ack_goes_to_tu():
    layer = TransactionLayer()
    invite = req()
    layer.receive(invite, UDP, 0.0)
    txn = events(layer)[0].txn
    txn.respond(make_response(invite, 200, to_tag='b1'), 0.0)
    sent(layer)
    run_until(layer, T1)
    assert [m.status for m in sent(layer)] == [200]
    ack = req('ACK', branch='z9hG4bK-ack', to_tag='b1')
    layer.receive(ack, UDP, 1.0)
    (ev,) = events(layer)
    assert ev.kind == 'request' and ev.message.method == 'ACK' and ev.txn is None
    run_until(layer, 10.0)
    assert sent(layer) == []


def test_invite_server_2xx_never_acked_reports_ack_timeout():
    layer = TransactionLayer()
    invite = req()
    layer.receive(invite, UDP, 0.0)
    txn = events(layer)[0].txn
    txn.respond(make_response(invite, 200, to_tag='b1'), 0.0)
    run_until(layer, 64 * T1)
    assert [e.kind for e in events(layer)] == ['ack-timeout']


def test_invite_client_acks_error_itself_and_passes_it_up_once():
    layer = TransactionLayer()
    invite = req(branch='z9hG4bK-c1')
    txn = layer.send_request(invite, UDP, 0.0)
    sent(layer)
    busy = make_response(invite, 486, to_tag='x9')
    layer.receive(parse_message(busy.to_bytes()), UDP, 0.1)
    (ack,) = sent(layer)
    assert ack.method == 'ACK' and ack.vias[0].branch == 'z9hG4bK-c1' and ack.to.tag == 'x9'
    assert [e.kind for e in events(layer)] == ['response']
    layer.receive(parse_message(busy.to_bytes()), UDP, 0.6)  # retransmitted 486
    assert [m.method for m in sent(layer)] == ['ACK']
    assert events(layer) == []
    assert txn.state == 'completed'


def test_invite_client_passes_2xx_retransmissions_up_for_reack():
    layer = TransactionLayer()
    invite = req(branch='z9hG4bK-c2')
    layer.send_request(invite, UDP, 0.0)
    sent(layer)
    ok = make_response(invite, 200, to_tag='x1').to_bytes()
    layer.receive(parse_message(ok), UDP, 0.1)
    layer.receive(parse_message(ok), UDP, 0.6)
    assert [e.kind for e in events(layer)] == ['response', 'response']
    assert sent(layer) == []  # ACK for 2xx is the dialog's job


def test_cancel_finds_the_invite_transaction():
    layer = TransactionLayer()
    layer.receive(req(), UDP, 0.0)
    inv = events(layer)[0].txn
    cancel = req('CANCEL')
    layer.receive(cancel, UDP, 0.5)
    (ev,) = events(layer)
    assert ev.message.method == 'CANCEL' and ev.txn is not inv
    assert layer.find_invite_server(cancel) is inv


def test_stray_response_goes_to_tu():
    layer = TransactionLayer()
    resp = make_response(req(branch='z9hG4bK-none'), 200, to_tag='q')
    layer.receive(parse_message(resp.to_bytes()), UDP, 0.0)
    assert [e.kind for e in events(layer)] == ['stray-response']
