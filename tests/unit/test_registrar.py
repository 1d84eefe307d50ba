import pytest

from telephony.sip.message import parse_message
from telephony.sip.registrar import MIN_EXPIRES, Registrar, RegisterError
from telephony.sip.transaction import Peer

PEER = Peer('UDP', ('127.0.0.1', 5080))


def register(contact='<sip:alice@127.0.0.1:5080>', expires=None, cseq=1, call_id='reg-1'):
    lines = ['REGISTER sip:localhost SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-r',
             'From: <sip:alice@localhost>;tag=1', 'To: <sip:alice@localhost>',
             f'Call-ID: {call_id}', f'CSeq: {cseq} REGISTER']
    if contact is not None:
        lines.append(f'Contact: {contact}')
    if expires is not None:
        lines.append(f'Expires: {expires}')
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


def test_target_is_the_contact_unless_nat_or_a_connection():
    reg = Registrar()

    def target(contact, peer=PEER):
        reg.bindings.clear()
        (b,) = reg.update('a@l', register(contact), peer, 0.0)
        return b.target()
    # a third party registered this phone: the Contact says where it listens
    assert target('<sip:a@127.0.0.1:5099>') == Peer('UDP', ('127.0.0.1', 5099))
    assert target('<sip:a@93.184.216.34>') == Peer('UDP', ('93.184.216.34', 5060))
    # behind NAT: a private Contact from a different source address
    nat = Peer('UDP', ('198.51.100.7', 40123))
    assert target('<sip:a@192.168.1.20:5060>', nat) == nat
    # over TCP the phone's own connection is reused
    tcp = Peer('TCP', ('127.0.0.1', 50123), conn=object())
    assert target('<sip:a@127.0.0.1:5080;transport=tcp>', tcp) is tcp
    # a host name: no DNS on the call path, use where the REGISTER came from
    assert target('<sip:a@phone.example.com>') == PEER
