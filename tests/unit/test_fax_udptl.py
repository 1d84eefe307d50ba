"""UDPTL encoder/decoder, packet by packet (T.38 clause 9.1, PER encoding)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.media.fax.udptl import (
    MAX_IFP,
    MAX_REDUNDANCY,
    UdptlDecoder,
    UdptlEncoder,
    UdptlError,
    UdptlPacket,
    decode_packet,
    encode_packet,
)


def test_wire_format_of_a_packet_with_two_secondaries():
    data = encode_packet(UdptlPacket(0x0102, b'\x06\x00', (b'\xaa', b'\xbb\xcc')))
    # seq, len+primary, choice redundancy, 2 entries, len+each
    assert data == bytes([1, 2, 2, 6, 0, 0, 2, 1, 0xAA, 2, 0xBB, 0xCC])
    assert decode_packet(data) == UdptlPacket(0x0102, b'\x06\x00', (b'\xaa', b'\xbb\xcc'))


def test_two_octet_length_determinant():
    ifp = bytes(range(256)) * 2   # 512 octets
    data = encode_packet(UdptlPacket(7, ifp))
    assert data[2:4] == bytes([0x82, 0x00])
    assert decode_packet(data).primary == ifp


@given(st.integers(0, 0xFFFF), st.binary(min_size=1, max_size=MAX_IFP),
       st.lists(st.binary(min_size=1, max_size=300), max_size=MAX_REDUNDANCY))
def test_round_trip(seq, primary, secondaries):
    pkt = UdptlPacket(seq, primary, tuple(secondaries))
    assert decode_packet(encode_packet(pkt)) == pkt


@pytest.mark.parametrize('data, why', [
    (b'', 'too short'),
    (b'\x00\x01\x05\x01', 'truncated IFP'),
    (b'\x00\x01\x00\x00', 'empty primary'),
    (b'\x00\x01\x01\x06\x00\x01\x00', 'empty secondary'),
    (b'\x00\x01\x01\x06', 'missing error-recovery'),
    (b'\x00\x01\x01\x06\x00\x02\x01\xaa', 'truncated'),        # 2 announced, 1 there
    (b'\x00\x01\x01\x06\x00\x11' + b'\x01\xaa' * 17, 'secondary'),  # 17 > 16
    (b'\x00\x01\xc1\x06\x00\x00', 'fragmented'),
    (b'\x00\x01\x01\x06\x00\x00\xff', 'trailing'),
    (b'\x00\x01\x84\x01' + b'\x00' * 1025 + b'\x00\x00', 'larger than'),
    (b'\x00' * 9000, 'too large'),
])
def test_malformed_datagrams_are_refused(data, why):
    with pytest.raises(UdptlError, match=why):
        decode_packet(data)


def test_fec_datagram_keeps_its_primary():
    assert decode_packet(b'\x00\x05\x01\x06\x80\x01\x01\x01\xaa') == UdptlPacket(5, b'\x06')


def test_encoder_refuses_what_it_cannot_send():
    with pytest.raises(UdptlError):
        UdptlEncoder().encode(b'')
    with pytest.raises(UdptlError):
        UdptlEncoder().encode(b'x' * (MAX_IFP + 1))
    with pytest.raises(ValueError):
        UdptlEncoder(redundancy=MAX_REDUNDANCY + 1)


def test_encoder_numbers_and_carries_the_last_ifps_newest_first():
    enc = UdptlEncoder(redundancy=2, first_seq=0xFFFE)
    p0, p1, p2, p3 = (decode_packet(enc.encode(bytes([n]))) for n in range(4))
    assert [p.seq for p in (p0, p1, p2, p3)] == [0xFFFE, 0xFFFF, 0, 1]
    assert p0.secondaries == ()
    assert p1.secondaries == (b'\x00',)
    assert p2.secondaries == (b'\x01', b'\x00')
    assert p3.secondaries == (b'\x02', b'\x01')


def test_encoder_leaves_out_the_oldest_secondaries_to_fit_the_datagram_size():
    enc = UdptlEncoder(redundancy=3, max_datagram=45 + 41 + 41)   # primary + 2 secondaries
    for n in range(3):
        enc.encode(bytes([n]) * 40)
    pkt = decode_packet(data := enc.encode(b'\x03' * 40))
    assert len(data) <= enc.max_datagram
    assert pkt.secondaries == (b'\x02' * 40, b'\x01' * 40)   # the oldest went
    assert enc.trimmed == 1


def test_encoder_sends_a_primary_larger_than_the_datagram_size_alone():
    enc = UdptlEncoder(redundancy=2, max_datagram=50)
    enc.encode(b'a')
    assert decode_packet(enc.encode(b'b' * 60)).secondaries == ()


def test_encoder_without_redundancy():
    enc = UdptlEncoder(redundancy=0)
    enc.encode(b'a')
    assert decode_packet(enc.encode(b'b')).secondaries == ()


def _stream(n, redundancy=3, first=0):
    enc = UdptlEncoder(redundancy=redundancy, first_seq=first)
    return [enc.encode(bytes([k + 1])) for k in range(n)]


def test_decoder_in_order():
    dec = UdptlDecoder()
    got = [x for d in _stream(4) for x in dec.feed(d)]
    assert got == [(0, b'\x01'), (1, b'\x02'), (2, b'\x03'), (3, b'\x04')]
    assert dec.recovered == dec.lost == dec.duplicates == 0


def test_decoder_recovers_a_lost_datagram_from_the_next_secondaries():
    s = _stream(4)
    dec = UdptlDecoder()
    assert dec.feed(s[0]) == [(0, b'\x01')]
    assert dec.feed(s[2]) == [(1, b'\x02'), (2, b'\x03')]   # 1 came back from redundancy
    assert dec.recovered == 1 and dec.lost == 0


def test_decoder_counts_a_gap_larger_than_the_redundancy_as_lost():
    s = _stream(6, redundancy=1)
    dec = UdptlDecoder()
    dec.feed(s[0])
    assert dec.feed(s[4]) == [(3, b'\x04'), (4, b'\x05')]    # 1 and 2 are gone
    assert dec.lost == 2 and dec.recovered == 1


def test_decoder_drops_duplicates_and_late_datagrams():
    s = _stream(3)
    dec = UdptlDecoder()
    dec.feed(s[0])
    dec.feed(s[2])              # delivers 1 (recovered) and 2
    assert dec.feed(s[1]) == []  # late: its IFP was delivered from the redundancy
    assert dec.feed(s[2]) == []  # a repeat
    assert dec.duplicates == 2


def test_decoder_across_the_sequence_wrap():
    s = _stream(4, first=0xFFFE)
    dec = UdptlDecoder()
    dec.feed(s[0])
    assert dec.feed(s[3]) == [(0xFFFF, b'\x02'), (0, b'\x03'), (1, b'\x04')]


def test_decoder_resynchronises_on_a_restarted_peer():
    dec = UdptlDecoder()
    dec.feed(_stream(1)[0])
    jumped = _stream(1, first=5000)[0]
    assert dec.feed(jumped) == [(5000, b'\x01')]
    assert dec.expected == 5001


def test_decoder_counts_malformed_and_raises():
    dec = UdptlDecoder()
    with pytest.raises(UdptlError):
        dec.feed(b'\x00')
    assert dec.malformed == 1 and dec.expected is None


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_any_datagrams_give_ifps_or_udptl_error_never_anything_else(datagrams):
    dec = UdptlDecoder()
    seen = set()
    for d in datagrams:
        try:
            out = dec.feed(d)
        except UdptlError:
            continue
        for seq, ifp in out:
            assert 0 <= seq <= 0xFFFF and 0 < len(ifp) <= MAX_IFP
            assert seq not in seen or dec.lost     # each IFP once, unless resynchronised
            seen.add(seq)
