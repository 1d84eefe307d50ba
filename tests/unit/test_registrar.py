import pytest

from telephony.sip.message import parse_message
from telephony.sip.registrar import MIN_EXPIRES, Binding, Registrar, RegisterError
from telephony.sip.transaction import Peer

PEER = Peer('UDP', ('127.0.0.1', 5080))


def register(contact='<sip:alice@127.0.0.1:5080>', expires=None, cseq=1, call_id='reg-1',
             extra=()):
    lines = ['REGISTER sip:localhost SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-r',
             'From: <sip:alice@localhost>;tag=1', 'To: <sip:alice@localhost>',
             f'Call-ID: {call_id}', f'CSeq: {cseq} REGISTER']
    if contact is not None:
        lines.append(f'Contact: {contact}')
    if expires is not None:
        lines.append(f'Expires: {expires}')
    lines += list(extra)
    return parse_message(('\r\n'.join(lines) + '\r\nContent-Length: 0\r\n\r\n').encode())


def test_bind_refresh_and_expire():
    reg = Registrar()
    (b,) = reg.update('alice@localhost', register(expires=60), PEER, 0.0)
    assert b.remaining(0.0) == 60 and b.peer == PEER
    reg.update('alice@localhost', register(expires=120, cseq=2), PEER, 30.0)
    assert reg.lookup('alice@localhost', 100.0)[0].remaining(100.0) == 50
    assert [g.contact for g in reg.sweep(200.0)] == ['sip:alice@127.0.0.1:5080']
    assert reg.lookup('alice@localhost', 200.0) == []


def test_contact_expires_param_wins_and_zero_unregisters():
    reg = Registrar()
    reg.update('a@l', register('<sip:a@1.2.3.4>;expires=40', expires=3600), PEER, 0.0)
    assert reg.lookup('a@l', 0.0)[0].remaining(0.0) == 40
    assert reg.update('a@l', register('<sip:a@1.2.3.4>;expires=0', cseq=2), PEER, 1.0) == []


def test_wildcard_unregister_needs_expires_zero():
    reg = Registrar()
    reg.update('a@l', register(), PEER, 0.0)
    with pytest.raises(RegisterError) as exc:
        reg.update('a@l', register('*', expires=60, cseq=2), PEER, 1.0)
    assert exc.value.status == 400
    assert reg.update('a@l', register('*', expires=0, cseq=3), PEER, 1.0) == []


def test_too_brief_and_out_of_order():
    reg = Registrar()
    with pytest.raises(RegisterError) as exc:
        reg.update('a@l', register(expires=5), PEER, 0.0)
    assert exc.value.status == 423 and exc.value.min_expires == MIN_EXPIRES
    reg.update('a@l', register(cseq=5), PEER, 0.0)
    with pytest.raises(RegisterError) as exc:
        reg.update('a@l', register(cseq=4), PEER, 0.0)
    assert exc.value.status == 500


def test_query_without_contact_lists_bindings():
    reg = Registrar()
    reg.update('a@l', register(), PEER, 0.0)
    assert len(reg.update('a@l', register(contact=None, cseq=2), PEER, 1.0)) == 1


def test_target_is_the_flow_never_the_contact_host():
    reg = Registrar()

    def target(contact, peer=PEER):
        reg.bindings.clear()
        (b,) = reg.update('a@l', register(contact), peer, 0.0)
        return b.target()
    # the Contact names another port, another host, a private address, a host name:
    # requests go where the REGISTER came from, the Contact is only the Request-URI
    assert target('<sip:a@127.0.0.1:5099>') == PEER
    assert target('<sip:+4919001234567@93.184.216.34>') == PEER
    nat = Peer('UDP', ('198.51.100.7', 40123))
    assert target('<sip:a@192.168.1.20:5060>', nat) == nat
    assert target('<sip:a@phone.example.com>') == PEER
    # over TCP the phone's own connection is reused
    tcp = Peer('TCP', ('127.0.0.1', 50123), conn=object())
    assert target('<sip:a@127.0.0.1:5080;transport=tcp>', tcp) is tcp


def test_restored_tcp_flow_goes_to_the_contact_port_on_the_same_host_only():
    reg = Registrar()
    restored = Peer('TCP', ('127.0.0.1', 50123))       # no connection: loaded after a restart
    (b,) = reg.update('a@l', register('<sip:a@127.0.0.1:5080;transport=tcp>'), restored, 0.0)
    assert b.target() == Peer('TCP', ('127.0.0.1', 5080))
    reg.bindings.clear()
    (b,) = reg.update('a@l', register('<sip:a@10.9.9.9:5080;transport=tcp>'), restored, 0.0)
    assert b.target() == restored

    class Closed:
        closed = True
    reg.bindings.clear()
    dead = Peer('TCP', ('127.0.0.1', 50123), Closed())    # the phone's connection dropped
    (b,) = reg.update('a@l', register('<sip:a@127.0.0.1:5080;transport=tcp>'), dead, 0.0)
    assert b.target() == Peer('TCP', ('127.0.0.1', 5080))


def test_a_binding_never_targets_the_trunk():
    trunk = ('127.0.0.1', 5999)
    reg = Registrar(forbidden=[trunk])
    # naming the trunk in the Contact is harmless: the flow is the target
    (b,) = reg.update('a@l', register(f'<sip:+4919001234567@{trunk[0]}:{trunk[1]}>'), PEER, 0.0)
    assert b.target() == PEER
    # a Path hop or a (spoofed) source at the trunk's address is refused
    with pytest.raises(RegisterError) as exc:
        reg.update('a@l', register(cseq=2, extra=[f'Path: <sip:{trunk[0]}:{trunk[1]};lr>']),
                   PEER, 0.0)
    assert exc.value.status == 403
    with pytest.raises(RegisterError):
        reg.update('b@l', register(), Peer('UDP', trunk), 0.0)
    assert reg.restore([Binding('c@l', 'sip:c@x', 100.0, Peer('UDP', trunk), 'i', 1)], 0.0)
    assert 'c@l' not in reg.bindings


def test_path_is_stored_and_routes_through_its_first_hop():
    reg = Registrar()
    proxy = Peer('UDP', ('127.0.0.1', 5070))
    req = register('<sip:a@192.0.2.1:5060>', extra=[
        'Path: <sip:p1@127.0.0.1:5071;lr>', 'Path: <sip:p2@198.51.100.1;lr>'])
    (b,) = reg.update('a@l', req, proxy, 0.0)
    assert b.routes() == ['<sip:p1@127.0.0.1:5071;lr>', '<sip:p2@198.51.100.1;lr>']
    assert b.target() == Peer('UDP', ('127.0.0.1', 5071))    # the proxy's listening port
    assert b.contact == 'sip:a@192.0.2.1:5060'
    # a first hop on another host than the REGISTER's source: only the flow is trusted
    reg.bindings.clear()
    req = register(extra=['Path: <sip:203.0.113.5;lr>'])
    (b,) = reg.update('a@l', req, proxy, 0.0)
    assert b.target() == proxy and b.routes() == ['<sip:203.0.113.5;lr>']
    with pytest.raises(RegisterError) as exc:
        reg.update('a@l', register(cseq=2, extra=['Path: <sip:a@x;lr']), proxy, 0.0)
    assert exc.value.status == 400


@pytest.mark.parametrize('contact, expires, reason', [
    ('<sip:a@h>;q=abc', None, 'Bad Contact q'),
    ('<sip:a@h>;q=nan', None, 'Bad Contact q'),
    ('<sip:a@h>;q=inf', None, 'Bad Contact q'),
    ('<sip:a@h>;q=1.5', None, 'Bad Contact q'),
    ('<sip:a@h>;q=-0.1', None, 'Bad Contact q'),
    ('<sip:a@h>;q', None, 'Bad Contact q'),
    ('<sip:a@h>;expires=-5', None, 'Bad Contact expires'),
    ('<sip:a@h>;expires=1e3', None, 'Bad Contact expires'),
    ('<sip:a@h>', '-5', 'Bad Expires'),
    ('<sip:a@h>', 'abc', 'Bad Expires'),
    ('<sip:a@h>', '60.5', 'Bad Expires'),
])
def test_bad_q_and_expires_are_400_and_change_nothing(contact, expires, reason):
    reg = Registrar()
    reg.update('a@l', register('<sip:a@keep>'), PEER, 0.0)
    # the good contact first: a bad one later in the same request must not half-apply
    with pytest.raises(RegisterError) as exc:
        reg.update('a@l', register(f'<sip:a@new>, {contact}', expires=expires, cseq=2), PEER, 0.0)
    assert (exc.value.status, exc.value.reason) == (400, reason)
    assert [b.contact for b in reg.lookup('a@l', 0.0)] == ['sip:a@keep']


def test_good_q_values_order_the_bindings():
    reg = Registrar()
    bs = reg.update('a@l', register('<sip:a@x>;q=0.5, <sip:a@y>;q=1.000, <sip:a@z>;q=0'), PEER, 0.0)
    assert [(b.contact, b.q) for b in bs] == [('sip:a@y', 1.0), ('sip:a@x', 0.5), ('sip:a@z', 0.0)]


def test_uses_tells_which_connections_carry_a_binding():
    reg = Registrar()
    conn, other = object(), object()
    reg.update('a@l', register(), Peer('TCP', ('127.0.0.1', 1), conn), 0.0)
    assert reg.uses(conn) and not reg.uses(other)


def test_stored_bindings_never_undo_a_register_made_since_start():
    """The server answers REGISTERs while the stored bindings are still loading: what a
    phone registered (or unregistered) since start is newer than anything stored."""
    reg = Registrar()
    now_flow, old_flow = Peer('UDP', ('127.0.0.1', 5080)), Peer('UDP', ('127.0.0.1', 40111))
    reg.update('alice@localhost', register(expires=600), now_flow, 0.0)
    reg.update('bob@localhost', register('<sip:bob@127.0.0.1:5090>', expires=600), PEER, 0.0)
    reg.update('bob@localhost', register('<sip:bob@127.0.0.1:5090>', expires=0, cseq=2), PEER,
               0.0)
    stored = [Binding('alice@localhost', 'sip:alice@127.0.0.1:5080', 500.0, old_flow, 'old', 7),
              Binding('bob@localhost', 'sip:bob@127.0.0.1:5090', 500.0, PEER, 'old', 7),
              Binding('carol@localhost', 'sip:carol@127.0.0.1:5070', 500.0, PEER, 'c', 1),
              Binding('alice@localhost', 'sip:alice@127.0.0.1:6060', 500.0, PEER, 'desk', 1)]
    reg.restore(stored, 1.0)
    # alice's phone that re-registered keeps its new flow; her other phone is restored
    assert {b.contact: b.peer for b in reg.lookup('alice@localhost', 1.0)} == {
        'sip:alice@127.0.0.1:5080': now_flow, 'sip:alice@127.0.0.1:6060': PEER}
    assert reg.lookup('bob@localhost', 1.0) == []
    assert [b.call_id for b in reg.lookup('carol@localhost', 1.0)] == ['c']
