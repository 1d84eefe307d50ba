"""Property-based fuzzing of the RTP and RTCP codecs (issue 4, item 2).

(i)  Random datagrams and mutated valid packets: parse_rtp raises nothing but RtpError,
     parse_rtcp nothing but RtcpError, and the receiver statistics accept whatever parsed.
(ii) Generated packets round-trip: RTP with random payload type, marker, sequence,
     timestamp, SSRC, up to 15 CSRCs, a header extension and padding; RTCP SR/RR with
     report blocks, SDES CNAME and BYE, alone and in compounds.

Derandomised; FUZZ_EXAMPLES=N runs a longer random hunt instead.
"""
from __future__ import annotations

import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.media.rtcp import (Bye, ReceiverReport, ReceiverStats, ReportBlock, RtcpError,
                                  SenderReport, SourceDescription, build_bye, build_compound,
                                  build_rr, build_sdes, build_sr, parse_rtcp)
from telephony.media.rtp import RtpError, RtpPacket, RtpSender, is_rtcp, parse_rtp

HUNT = int(os.environ.get('FUZZ_EXAMPLES', '0'))


def fuzz(max_examples: int = 300):
    return settings(max_examples=HUNT or max_examples, derandomize=not HUNT, deadline=None,
                    database=None, print_blob=bool(HUNT),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
# payload types that are not RTCP seen through an RTP header (72..76 are refused)
payload_type = st.integers(0, 127).filter(lambda pt: not 72 <= pt <= 76)


@st.composite
def rtp_packets(draw) -> RtpPacket:
    ext = None
    if draw(st.booleans()):
        words = draw(st.integers(0, 6))
        ext = (draw(u16), draw(st.binary(min_size=4 * words, max_size=4 * words)))
    return RtpPacket(draw(payload_type), draw(u16), draw(u32), draw(u32),
                     draw(st.binary(max_size=400)), draw(st.booleans()),
                     tuple(draw(st.lists(u32, max_size=15))), ext)


def with_padding(wire: bytes, pad: int) -> bytes:
    """Set the P bit and append `pad` octets, the last one holding the count (RFC 3550 5.1)."""
    return bytes([wire[0] | 0x20]) + wire[1:] + b'\x00' * (pad - 1) + bytes([pad])


# ---------------------------------------------------------------- (i) RTP: only RtpError

def exercise_rtp(data: bytes) -> None:
    try:
        p = parse_rtp(data)
    except RtpError:
        return
    assert 0 <= p.payload_type <= 127 and len(p.csrcs) <= 15
    assert len(p.payload) <= len(data) - 12
    # what parsed serialises (padding dropped) and parses back to the same packet
    assert parse_rtp(p.serialize()) == p


@fuzz()
@given(st.binary(max_size=600))
def test_rtp_random_bytes(data):
    exercise_rtp(data)
    is_rtcp(data)


@fuzz()
@given(u8, u8, st.binary(max_size=80))
def test_rtp_random_headers(b0, b1, rest):
    """The first two octets decide everything (version, P, X, CC, M, PT); fuzz them hard."""
    exercise_rtp(bytes([b0, b1]) + rest)


@fuzz()
@given(rtp_packets(), st.integers(0, 255), st.lists(st.tuples(st.integers(0, 1000), u8),
                                                     min_size=1, max_size=4), st.integers(0, 1000))
def test_rtp_mutated_packets(p, pad, flips, cut):
    wire = p.serialize()
    if pad:
        wire = with_padding(wire, pad)
    buf = bytearray(wire)
    for pos, value in flips:
        buf[pos % len(buf)] ^= value
    exercise_rtp(bytes(buf))
    exercise_rtp(bytes(buf[:cut % (len(buf) + 1)]))


# ---------------------------------------------------------------- (ii) RTP round trip

@fuzz()
@given(rtp_packets())
def test_rtp_round_trip(p):
    wire = p.serialize()
    assert len(wire) == 12 + 4 * len(p.csrcs) + (4 + len(p.extension[1]) if p.extension else 0) \
        + len(p.payload)
    assert parse_rtp(wire) == p


@fuzz()
@given(rtp_packets(), st.integers(1, 255))
def test_rtp_padding_is_removed(p, pad):
    assert parse_rtp(with_padding(p.serialize(), pad)) == p


@fuzz(100)
@given(rtp_packets(), st.integers(1, 255))
def test_rtp_padding_longer_than_packet_is_refused(p, extra):
    """A padding count that reaches into the header is an error, not a negative slice."""
    wire = p.serialize()
    room = len(wire) - 12 - 4 * len(p.csrcs) - (4 + len(p.extension[1]) if p.extension else 0)
    bad = bytearray(with_padding(wire, 1))
    bad[-1] = min(255, room + 1 + extra)
    if bad[-1] <= room + 1:        # the count still fits: not the case under test
        return
    try:
        parse_rtp(bytes(bad))
    except RtpError:
        return
    raise AssertionError('padding past the header was accepted')


@fuzz(100)
@given(u32, u16, u32, st.lists(st.tuples(st.binary(max_size=160), payload_type, st.booleans(),
                                         st.integers(1, 960)), max_size=10))
def test_rtp_sender_numbers_packets(ssrc, seq, ts, frames):
    sender = RtpSender(ssrc, seq, ts)
    for i, (payload, pt, marker, samples) in enumerate(frames):
        p = parse_rtp(sender.packet(payload, pt, samples, marker))
        assert (p.ssrc, p.sequence, p.timestamp) == (ssrc, (seq + i) & 0xFFFF, ts)
        assert (p.payload, p.payload_type, p.marker) == (payload, pt, marker)
        ts = (ts + samples) & 0xFFFFFFFF


# ---------------------------------------------------------------- RTCP

blocks = st.builds(ReportBlock, u32, u8, st.integers(-0x800000, 0x7FFFFF), u32, u32, u32, u32)
cname = st.text(st.characters(blacklist_categories=('Cs',)), max_size=40).filter(
    lambda s: len(s.encode()) <= 255)
reason = st.text(st.characters(blacklist_categories=('Cs',)), max_size=40).filter(
    lambda s: len(s.encode()) <= 255)


@st.composite
def rtcp_first(draw):
    ssrc = draw(u32)
    reports = draw(st.lists(blocks, max_size=5))
    if draw(st.booleans()):
        ntp, ts, pc, oc = draw(st.integers(0, 2**64 - 1)), draw(u32), draw(u32), draw(u32)
        return build_sr(ssrc, ntp, ts, pc, oc, reports), SenderReport(ssrc, ntp, ts, pc, oc,
                                                                      reports)
    return build_rr(ssrc, reports), ReceiverReport(ssrc, reports)


@fuzz()
@given(rtcp_first(), u32, cname, st.none() | reason)
def test_rtcp_compound_round_trip(first, ssrc, name, bye):
    wire, expected = first
    packets = parse_rtcp(build_compound(wire, name, ssrc, bye))
    assert packets[0] == expected
    assert isinstance(packets[1], SourceDescription) and packets[1].cname(ssrc) == name
    if bye is None:
        assert len(packets) == 2
    else:
        assert packets[2] == Bye([ssrc], bye)
    assert all(is_rtcp(p) for p in (wire, build_sdes(ssrc, name), build_bye(ssrc, bye or '')))


def exercise_rtcp(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except RtcpError:
        return
    for p in packets:
        assert isinstance(p, (SenderReport, ReceiverReport, SourceDescription, Bye))


@fuzz()
@given(st.binary(max_size=600))
def test_rtcp_random_bytes(data):
    exercise_rtcp(data)


@fuzz()
@given(rtcp_first(), u32, cname, st.none() | reason,
       st.lists(st.tuples(st.integers(0, 2000), u8), min_size=1, max_size=4),
       st.integers(0, 2000))
def test_rtcp_mutated_compounds(first, ssrc, name, bye, flips, cut):
    buf = bytearray(build_compound(first[0], name, ssrc, bye))
    for pos, value in flips:
        buf[pos % len(buf)] ^= value
    exercise_rtcp(bytes(buf))
    exercise_rtcp(bytes(buf[:cut % (len(buf) + 1)]))


@fuzz()
@given(st.lists(st.tuples(u8, u8, st.binary(max_size=60)), min_size=1, max_size=5))
def test_rtcp_random_packet_headers(parts):
    """Compounds of packets with random first octets, types and a consistent length."""
    data = b''
    for b0, ptype, body in parts:
        body += b'\x00' * (-len(body) % 4)
        data += struct.pack('!BBH', b0, ptype, len(body) // 4) + body
    exercise_rtcp(data)


@fuzz(200)
@given(st.lists(st.tuples(u16, u32, st.floats(0, 1e6, allow_nan=False)), max_size=60), u32,
       st.lists(st.binary(min_size=8, max_size=120), max_size=3), st.integers(0, 2**64 - 1))
def test_receiver_stats_accept_any_stream(arrivals, ssrc, rtcp_noise, arrival_ntp):
    """Whatever sequence numbers, timestamps and RTCP arrive (wraps, jumps, duplicates,
    restarts), the receiver statistics keep going and report a block that packs."""
    stats = ReceiverStats(ssrc)
    for seq, ts, at in arrivals:
        stats.update(seq, ts, at)
    for data in rtcp_noise:
        try:
            packets = parse_rtcp(bytes([0x80 | (data[0] & 0x1F), 200 + data[1] % 2]) + data[2:])
        except RtcpError:
            continue
        for p in packets:
            if isinstance(p, SenderReport):
                stats.on_sender_report(p.ntp_timestamp, arrivals[-1][2] if arrivals else 0.0)
            for block in getattr(p, 'reports', ()):
                stats.on_report_block(block, arrival_ntp)
    block = stats.report_block(arrivals[-1][2] + 1 if arrivals else 1.0)
    assert 0 <= block.fraction_lost <= 255
    assert parse_rtcp(build_rr(1, [block]))[0].reports == [
        ReportBlock.unpack(block.pack(), 0)]
    stats.stats()
