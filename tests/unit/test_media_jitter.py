from telephony.media.jitter import JitterBuffer
from telephony.media.rtp import RtpPacket


def pkt(seq, ssrc=1):
    return RtpPacket(0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, bytes([seq & 0xFF]) * 160)


def seqs(out):
    return [None if p is None else p.sequence for p in out]


def test_prebuffers_then_plays_in_order():
    jb = JitterBuffer(depth_frames=2)
    jb.push(pkt(10))
    assert jb.pop() is None            # waiting for the second frame
    jb.push(pkt(11))
    out = [jb.pop()]
    for s in range(12, 16):
        jb.push(pkt(s))
        out.append(jb.pop())
    assert seqs(out) == [10, 11, 12, 13, 14]


def test_reorders_and_drops_duplicates():
    jb = JitterBuffer(depth_frames=3)
    for s in (5, 7, 6, 6, 8):
        jb.push(pkt(s))
    assert jb.duplicates == 1
    assert seqs([jb.pop() for _ in range(5)]) == [5, 6, 7, 8, None]


def test_missing_packet_gives_none_slot_and_late_packet_is_dropped():
    jb = JitterBuffer(depth_frames=2)
    for s in (1, 2, 4, 5):
        jb.push(pkt(s))
    out = [jb.pop(), jb.pop(), jb.pop()]
    assert seqs(out) == [1, 2, None]
    jb.push(pkt(3))                    # arrives after its slot
    assert jb.late == 1
    assert seqs([jb.pop(), jb.pop()]) == [4, 5]
    assert jb.missing == 1


def test_sequence_wrap():
    jb = JitterBuffer(depth_frames=2)
    order = [65534, 0, 65535, 1, 2]
    for s in order:
        jb.push(pkt(s))
    assert seqs([jb.pop() for _ in range(5)]) == [65534, 65535, 0, 1, 2]


def test_pause_rebuffers_without_marking_packets_late():
    jb = JitterBuffer(depth_frames=2)
    for s in (1, 2, 3):
        jb.push(pkt(s))
    assert seqs([jb.pop() for _ in range(3)]) == [1, 2, 3]
    for _ in range(50):                # the sender pauses (hold, DTX)
        assert jb.pop() is None
    assert jb.underruns == 1
    jb.push(pkt(4))
    assert jb.pop() is None            # prebuffering again
    jb.push(pkt(5))
    assert seqs([jb.pop(), jb.pop()]) == [4, 5]
    assert jb.late == 0


def test_ssrc_change_resyncs():
    jb = JitterBuffer(depth_frames=2)
    for s in (100, 101, 102):
        jb.push(pkt(s))
    jb.pop()
    jb.push(pkt(7, ssrc=2))
    jb.push(pkt(8, ssrc=2))
    assert seqs([jb.pop(), jb.pop()]) == [7, 8]
    assert jb.resyncs == 1


def test_big_jump_resyncs_only_when_confirmed():
    jb = JitterBuffer(depth_frames=1)
    for s in (10, 11):
        jb.push(pkt(s))
    assert seqs([jb.pop(), jb.pop()]) == [10, 11]
    jb.push(pkt(30000))                # one stray packet: ignored
    jb.push(pkt(12))
    assert seqs([jb.pop()]) == [12]
    jb.push(pkt(40000))
    jb.push(pkt(40001))                # a restarted sequence: followed
    assert seqs([jb.pop(), jb.pop()]) == [40000, 40001]


def test_overflow_keeps_latency_small():
    jb = JitterBuffer(depth_frames=2, max_frames=4)
    for s in range(20):
        jb.push(pkt(s))
    first = jb.pop()
    assert first.sequence == 16 and jb.overflow == 16 and len(jb) == 3
