"""send_dtmf: its future resolves once the last packet is on the wire, in-band digits cost
one frame at a time, and cancelling stops after the digit on the wire.  Ticks are run by
the test (the clock is not started), packets counted on a raw socket."""
import tracemalloc

import numpy as np

from telephony.media.codecs import PCMU
from telephony.media.dtmf import GoertzelDetector, InbandDtmfGenerator

from .test_media_ptime import RawPeer, engine, peer  # noqa: F401  (fixtures)


def events(pkts):
    return [(p.payload[0], bool(p.payload[1] & 0x80)) for p in pkts if p.payload_type == 101]


async def test_future_resolves_after_the_last_end_packet(engine, peer):  # noqa: F811
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMU, dtmf_pt=101)
    fut = ep.send_dtmf('12', duration_ms=100, gap_ms=60)
    tick = 0
    while not fut.done():
        assert tick < 100
        engine._on_tick(tick)
        tick += 1                    # (the tick that sends the last end packet resolves it)
    # 2 digits x (4 growing + 3 end packets) + 3 gap ticks: all sent before it resolved
    assert fut.result() is True and ep.stats()['packets_sent'] == 14
    pkts = await peer.wait(14)
    ev = events(pkts)
    assert ev == [(1, False)] * 4 + [(1, True)] * 3 + [(2, False)] * 4 + [(2, True)] * 3


async def test_cancel_ends_the_digit_on_the_wire_and_sends_no_more(engine, peer):  # noqa: F811
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMU, dtmf_pt=101)
    fut = ep.send_dtmf('123')
    engine._on_tick(0)
    engine._on_tick(1)
    fut.cancel()
    for tick in range(2, 40):
        engine._on_tick(tick)
    pkts = await peer.wait(7)
    assert events(pkts) == [(1, False)] * 4 + [(1, True)] * 3
    assert ep.stats()['packets_sent'] == 7


def test_inband_digits_of_an_hour_each_cost_one_frame():
    """Issue 8: 100 in-band digits of 3,600,000 ms froze the server and ran out of memory."""
    tracemalloc.start()
    try:
        gen = InbandDtmfGenerator('0123456789' * 10, duration_ms=3_600_000, gap_ms=60)
        it = iter(gen)
        frames = [next(it) for _ in range(50)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(gen) == 100 * (3_600_000 + 60) * 8 // 160
    assert peak < 16_000_000          # the whole signal would be 5.8 GB
    det = GoertzelDetector()
    assert [d for f in frames for d in det.feed(f)] == ['0']
    # the frame where digit 1 starts is digit 1 (frames are computed where they fall)
    k = (3_600_000 + 60) * 8 // 160 + 1
    det = GoertzelDetector()
    assert [d for j in range(k, k + 5) for d in det.feed(gen.frame(j))] == ['1']
    assert not np.any(gen.frame(3_600_000 * 8 // 160 + 1))     # the gap after digit 0
