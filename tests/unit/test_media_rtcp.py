import pytest
from hypothesis import given, strategies as st

from telephony.media.rtcp import (Bye, ReceiverReport, ReceiverStats, ReportBlock, RtcpError,
                                  SenderReport, SourceDescription, build_compound,
                                  build_rr, build_sdes, build_sr, ntp_compact, ntp_from_seconds,
                                  parse_rtcp, round_trip)


def block(**kw):
    d = dict(ssrc=0xCAFEBABE, fraction_lost=64, cumulative_lost=-3, highest_seq=0x10005,
             jitter=123, lsr=0x12345678, dlsr=65536)
    d.update(kw)
    return ReportBlock(**d)


def test_sr_round_trip():
    data = build_sr(1, 0x0123456789ABCDEF, 1000, 50, 8000, [block()])
    assert len(data) == 52
    [sr] = parse_rtcp(data)
    assert sr == SenderReport(1, 0x0123456789ABCDEF, 1000, 50, 8000, [block()])


def test_rr_and_compound_with_cname_and_bye():
    data = build_compound(build_rr(7, [block(), block(ssrc=9)]), 'abc@host', 7, bye='going')
    rr, sdes, bye = parse_rtcp(data)
    assert rr == ReceiverReport(7, [block(), block(ssrc=9)])
    assert isinstance(sdes, SourceDescription) and sdes.cname(7) == 'abc@host'
    assert bye == Bye([7], 'going')
    assert len(data) % 4 == 0


@pytest.mark.parametrize('cname', ['', 'a', 'ab', 'abc', 'abcd', 'x' * 255])
def test_sdes_padding(cname):
    data = build_sdes(3, cname)
    assert len(data) % 4 == 0
    [sdes] = parse_rtcp(data)
    assert sdes.cname(3) == cname


def test_cumulative_lost_sign_and_clamp():
    [rr] = parse_rtcp(build_rr(1, [block(cumulative_lost=-5), block(cumulative_lost=10**9)]))
    assert rr.reports[0].cumulative_lost == -5
    assert rr.reports[1].cumulative_lost == 0x7FFFFF


@pytest.mark.parametrize('data', [
    b'', b'\x80\xc9', b'\x40\xc9\x00\x01\x00\x00\x00\x01',       # short / bad version
    b'\x80\xc9\x00\x05\x00\x00\x00\x01',                          # length beyond datagram
    b'\x81\xc9\x00\x01\x00\x00\x00\x01',                          # RC=1 without a block
    b'\x81\xca\x00\x02\x00\x00\x00\x01\x01\x09abc',               # SDES item too long
])
def test_malformed(data):
    with pytest.raises(RtcpError):
        parse_rtcp(data)


@given(st.binary(max_size=80))
def test_fuzz_only_rtcp_error(data):
    try:
        parse_rtcp(data)
    except RtcpError:
        pass


def test_unknown_packet_types_are_skipped():
    app = b'\x80\xcc\x00\x02\x00\x00\x00\x01TEST'
    out = parse_rtcp(build_rr(5) + app)
    assert out == [ReceiverReport(5, [])]


# --- ReceiverStats (RFC 3550 A.1, A.3, A.8) ----------------------------------------------------

def feed(stats, seqs, t0=0.0):
    for i, s in enumerate(seqs):
        stats.update(s & 0xFFFF, (s * 160) & 0xFFFFFFFF, t0 + i * 0.02)


def test_loss_counting():
    st_ = ReceiverStats(1)
    seqs = [s for s in range(100, 200) if s not in (150, 151, 152)]
    feed(st_, seqs)
    # the first packet is the probation packet (MIN_SEQUENTIAL = 2); base is 101
    assert st_.expected == 99 and st_.received == 96 and st_.lost == 3
    b = st_.report_block(10.0)
    assert b.cumulative_lost == 3 and b.highest_seq == 199
    assert b.fraction_lost == (3 << 8) // 99
    # next interval without loss: fraction 0
    feed(st_, range(200, 250), 5.0)
    assert st_.report_block(11.0).fraction_lost == 0
    assert st_.stats()['lost'] == 3


def test_sequence_wrap_extends_highest():
    st_ = ReceiverStats(1, min_sequential=1)
    feed(st_, range(65530, 65536 + 10))
    assert st_.extended_max == 65536 + 9 and st_.lost == 0 and st_.cycles == 65536


def test_duplicates_and_reordering():
    st_ = ReceiverStats(1, min_sequential=1)
    feed(st_, [1, 2, 4, 3, 5, 5, 6])
    assert st_.max_seq == 6 and st_.expected == 6 and st_.received == 7 and st_.lost == -1


def test_source_restart_needs_two_sequential_packets():
    st_ = ReceiverStats(1, min_sequential=1)
    feed(st_, [10, 11, 12])
    assert st_.update(40000, 0, 1.0) is False            # one stray packet: ignored
    assert st_.max_seq == 12
    assert st_.update(40000, 0, 1.02) is False
    assert st_.update(40001, 160, 1.04) is True           # sequential: restarted
    assert st_.base_seq == 40001 and st_.lost == 0


def test_jitter_estimator():
    st_ = ReceiverStats(1, min_sequential=1)
    j = 0.0
    for i in range(50):
        arrival = i * 0.02 + (0.005 if i % 2 else 0.0)   # every other packet 5 ms late
        st_.update(i, i * 160, arrival)
        if i:
            j += (40 - j) / 16                            # |D| = 40 timestamp units
    assert st_.jitter == pytest.approx(j)
    assert st_.stats()['jitter_ms'] == pytest.approx(j / 8, abs=1e-3)


def test_jitter_zero_for_perfect_stream_and_skips_events():
    st_ = ReceiverStats(1, min_sequential=1)
    for i in range(20):
        st_.update(i, 1000 + i * 160, 3.0 + i * 0.02)
    st_.update(20, 1000, 3.4, jitter=False)               # RFC 4733 packet: old timestamp
    assert st_.jitter == pytest.approx(0.0, abs=1e-6)


def test_round_trip_from_lsr_dlsr():
    t_sr = 1_700_000_000.25
    sr_ntp = ntp_from_seconds(t_sr)
    # the peer holds our SR for 1.5 s, the network takes 40 ms both ways in total
    b = block(lsr=ntp_compact(sr_ntp), dlsr=int(1.5 * 65536))
    arrival = ntp_from_seconds(t_sr + 1.5 + 0.040)
    assert round_trip(b, arrival) == pytest.approx(0.040, abs=1e-4)
    assert round_trip(block(lsr=0), arrival) is None


def test_report_block_carries_lsr_dlsr():
    st_ = ReceiverStats(9, min_sequential=1)
    feed(st_, range(5))
    ntp = ntp_from_seconds(1000.0)
    st_.on_sender_report(ntp, arrival=50.0)
    b = st_.report_block(now=50.75)
    assert b.lsr == ntp_compact(ntp) and b.dlsr == int(0.75 * 65536)
    st_.on_report_block(block(lsr=ntp_compact(ntp), dlsr=65536), ntp_from_seconds(1001.1))
    assert st_.stats()['rtt_ms'] == pytest.approx(100.0, abs=0.1)
