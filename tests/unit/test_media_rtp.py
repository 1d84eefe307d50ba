
import pytest
from hypothesis import given, strategies as st

from telephony.media.rtp import RtpError, RtpPacket, RtpSender, parse_rtp, seq_diff


def test_round_trip_plain():
    p = RtpPacket(0, 65535, 0xFFFFFFFF, 0x12345678, b'\xff' * 160, marker=True)
    data = p.serialize()
    assert len(data) == 172
    assert data[:2] == b'\x80\x80'
    assert parse_rtp(data) == p


def test_round_trip_csrc_and_extension():
    p = RtpPacket(101, 7, 1234, 1, b'\x01\x80\x00\xa0', csrcs=(5, 6),
                  extension=(0xBEDE, b'\x10\x01\x00\x00'))
    assert parse_rtp(p.serialize()) == p


def test_padding_is_removed():
    body = RtpPacket(8, 1, 2, 3, b'abcd').serialize()
    data = bytes([body[0] | 0x20]) + body[1:] + b'\x00\x00\x03'
    assert parse_rtp(data).payload == b'abcd'


@given(pt=st.integers(0, 127).filter(lambda x: not 72 <= x <= 76), seq=st.integers(0, 0xFFFF),
       ts=st.integers(0, 2**32 - 1), ssrc=st.integers(0, 2**32 - 1), payload=st.binary(max_size=300),
       marker=st.booleans(), csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15))
def test_round_trip_property(pt, seq, ts, ssrc, payload, marker, csrcs):
    p = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrcs))
    assert parse_rtp(p.serialize()) == p


@pytest.mark.parametrize('data,why', [
    (b'', 'short'),
    (b'\x80\x00' + b'\x00' * 9, 'short'),
    (b'\x40\x00' + b'\x00' * 10, 'version'),
    (b'\xa0\x00' + b'\x00' * 10, 'padding count zero'),
    (b'\xa0\x00' + b'\x00' * 9 + b'\x20', 'padding longer'),
    (b'\x83\x00' + b'\x00' * 10 + b'\x00' * 8, 'CSRC'),
    (b'\x90\x00' + b'\x00' * 10 + b'\x00\x00', 'extension header'),
    (b'\x90\x00' + b'\x00' * 10 + b'\xbe\xde\x00\x02' + b'\x00' * 4, 'extension'),
    (b'\x80\xc8' + b'\x00' * 10, 'RTCP'),
])
def test_malformed_raise_rtp_error(data, why):
    with pytest.raises(RtpError):
        parse_rtp(data)


@given(st.binary(max_size=64))
def test_fuzz_only_rtp_error(data):
    try:
        parse_rtp(data)
    except RtpError:
        pass


def test_sender_numbers_packets_and_wraps():
    s = RtpSender(ssrc=42, sequence=0xFFFF, timestamp=2**32 - 160)
    p1 = parse_rtp(s.packet(b'x' * 160, 0, marker=True))
    p2 = parse_rtp(s.packet(b'y' * 160, 0))
    assert (p1.sequence, p1.timestamp, p1.marker, p1.ssrc) == (0xFFFF, 2**32 - 160, True, 42)
    assert (p2.sequence, p2.timestamp, p2.marker) == (0, 0, False)
    assert s.packets_sent == 2 and s.octets_sent == 320


def test_sender_event_packets_share_timestamp():
    s = RtpSender(ssrc=1, sequence=10, timestamp=1000)
    start = s.timestamp
    seqs, stamps = [], []
    for i in range(3):
        p = parse_rtp(s.packet_at(b'\x01\x0a\x00\xa0', 101, start, marker=(i == 0)))
        s.advance_ts(160)
        seqs.append(p.sequence)
        stamps.append(p.timestamp)
    assert seqs == [10, 11, 12] and stamps == [1000] * 3
    assert parse_rtp(s.packet(b'a' * 160, 0)).timestamp == 1480


def test_random_initial_values_differ():
    a, b = RtpSender(), RtpSender()
    assert (a.ssrc, a.sequence, a.timestamp) != (b.ssrc, b.sequence, b.timestamp)


def test_seq_diff_wraps():
    assert seq_diff(1, 0xFFFF) == 2
    assert seq_diff(0xFFFF, 1) == -2
    assert seq_diff(5, 5) == 0
