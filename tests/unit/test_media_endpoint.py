"""RtpEndpoints on 127.0.0.1 talking real RTP to each other, driven by the real clock."""
import asyncio
import random

import numpy as np
import pytest
import soundfile as sf

from telephony.media.codecs import PCMA, PCMU
from telephony.media.dtmf import build_telephone_event
from telephony.media.engine import MediaEngine
from telephony.media.rtcp import ReceiverReport, SenderReport
from telephony.media.rtp import RtpPacket
from telephony.media.sources import Player, ToneSource

TIMEOUT = 10


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 400, rtcp_interval=0.2)
    await eng.start()
    yield eng
    await eng.stop()


async def pair(engine, codec_a=PCMU, codec_b=PCMU, dtmf_pt=101):
    a = await engine.create_endpoint()
    b = await engine.create_endpoint()
    a.configure(remote=('127.0.0.1', b.local_port), codec=codec_a, dtmf_pt=dtmf_pt)
    b.configure(remote=('127.0.0.1', a.local_port), codec=codec_b, dtmf_pt=dtmf_pt)
    return a, b


def dominant(pcm):
    spec = np.abs(np.fft.rfft(pcm.astype(float)))
    return np.argmax(spec) * 8000 / len(pcm)


class LoudFrames:
    """A listener that collects non-silent frames and fires when it has `n`."""

    def __init__(self, n):
        self.n = n
        self.frames = []
        self.done = asyncio.Event()

    def __call__(self, frame):
        if np.abs(frame).max() > 500:
            self.frames.append(frame.copy())
            if len(self.frames) >= self.n:
                self.done.set()

    async def wait(self):
        await asyncio.wait_for(self.done.wait(), TIMEOUT)
        return np.concatenate(self.frames)


class Digits:
    def __init__(self):
        self.got = []
        self._waiters = []

    def __call__(self, digit, ms):
        self.got.append((digit, ms))
        for n, ev in self._waiters:
            if len(self.got) >= n:
                ev.set()

    async def wait(self, n):
        ev = asyncio.Event()
        self._waiters.append((n, ev))
        if len(self.got) >= n:
            ev.set()
        await asyncio.wait_for(ev.wait(), TIMEOUT)
        return ''.join(d for d, _ in self.got)


async def test_ports_even_and_idle_endpoints_not_ticked(engine):
    a, b = await pair(engine)
    assert a.local_port % 2 == 0 and a.rtcp_port == a.local_port + 1
    assert engine.port_min <= a.local_port < engine.port_max
    assert engine.stats()['active'] == 0          # nothing to send, nobody listening
    a.source = ToneSource([440])
    assert engine.stats()['active'] == 1
    a.source = None
    assert engine.stats()['active'] == 0


async def test_port_range_exhausted():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 3)
    await eng.start()
    try:
        eps = [await eng.create_endpoint(), await eng.create_endpoint()]
        assert {e.local_port for e in eps} == {base, base + 2}
        with pytest.raises(OSError):
            await eng.create_endpoint()
        freed = eps[0].local_port
        await asyncio.wait_for(eps[0].aclose(), TIMEOUT)
        assert (await eng.create_endpoint()).local_port == freed
    finally:
        await eng.stop()


async def test_tone_is_recorded_by_peer(engine, tmp_path):
    a, b = await pair(engine)
    loud = LoudFrames(50)
    b.add_listener(loud)
    path = tmp_path / 'rec.wav'
    rec = b.start_recording(str(path))
    a.source = ToneSource([1000], amplitude=8000)
    heard = await loud.wait()
    a.source = None
    duration = b.stop_recording()
    await asyncio.wait_for(rec.finished, TIMEOUT)     # written by the recorder thread
    assert dominant(heard) == pytest.approx(1000, abs=10)
    data, rate = sf.read(path, dtype='int16')
    assert rate == 8000 and len(data) == pytest.approx(duration * 8000)
    frames = data[:len(data) // 160 * 160].reshape(-1, 160)
    voiced = frames[np.abs(frames).max(axis=1) > 500]
    assert len(voiced) >= 45
    assert dominant(data) == pytest.approx(1000, abs=10)
    rms = np.sqrt(np.mean(voiced.astype(float) ** 2))
    assert 4500 < rms < 6500                      # 8000 peak sine: rms 5657
    s = b.stats()
    assert s['packets_received'] >= 50 and s['malformed'] == 0
    assert a.stats()['packets_sent'] >= 50


async def test_rfc4733_digits_exactly_once_in_order(engine):
    a, b = await pair(engine)
    digits = Digits()
    b.on_dtmf = digits
    sent = a.send_dtmf('123#')
    assert await asyncio.wait_for(sent, TIMEOUT) is True
    await digits.wait(4)
    a.send_dtmf('9')                               # a fence: everything before it has arrived
    assert await digits.wait(5) == '123#9'
    assert [ms for _, ms in digits.got] == [100] * 5
    assert b.stats()['dtmf_received'] == 5


async def test_rfc4733_while_playing_keeps_one_timeline(engine):
    a, b = await pair(engine)
    packets = []
    orig = b._on_rtp

    def spy(data, addr):
        packets.append(data)
        orig(data, addr)
    b._rtp_tr.get_protocol().ep = type('P', (), {'_on_rtp': staticmethod(spy),
                                                  'local_port': b.local_port})()
    digits = Digits()
    b.on_dtmf = digits
    a.source = ToneSource([440])
    await asyncio.wait_for(a.send_dtmf('5'), TIMEOUT)
    await digits.wait(1)
    a.send_dtmf('6')
    await digits.wait(2)
    from telephony.media.rtp import parse_rtp
    parsed = [parse_rtp(p) for p in packets]
    seqs = [p.sequence for p in parsed]
    assert all((y - x) & 0xFFFF == 1 for x, y in zip(seqs, seqs[1:]))   # one sequence space
    assert len({p.ssrc for p in parsed}) == 1
    events = [p for p in parsed if p.payload_type == 101]
    first_event_ts = events[0].timestamp
    assert all(p.timestamp == first_event_ts for p in events[:7])
    assert events[0].marker
    audio_after = [p for p in parsed if p.payload_type == 0 and p.sequence - events[6].sequence == 1]
    assert audio_after and audio_after[0].timestamp == first_event_ts + 7 * 160
    assert digits.got[0] == ('5', 100)


async def test_inband_dtmf_when_no_telephone_event(engine):
    a, b = await pair(engine, dtmf_pt=None)
    b.inband_dtmf = True
    digits = Digits()
    b.on_dtmf = digits
    await asyncio.wait_for(a.send_dtmf('159'), TIMEOUT)
    await digits.wait(3)
    a.send_dtmf('0')
    assert await digits.wait(4) == '1590'


async def test_echo_returns_audio_and_latches_to_source(engine):
    a = await engine.create_endpoint()
    b = await engine.create_endpoint()
    a.configure(remote=('127.0.0.1', b.local_port), codec=PCMA)
    b.configure(remote=('127.0.0.1', 9), codec=PCMA)   # wrong address in the SDP
    b.echo = True
    loud = LoudFrames(25)
    a.add_listener(loud)
    a.source = ToneSource([1000], amplitude=8000)
    heard = await loud.wait()
    assert dominant(heard) == pytest.approx(1000, abs=10)
    assert b.remote_address == ('127.0.0.1', a.local_port)
    assert b.stats()['packets_sent'] >= 25


async def test_bridge_relays_payload_unchanged(engine):
    a, b = await pair(engine)
    c, d = await pair(engine)
    b.bridge(c)
    rng = np.random.default_rng(7)
    pcm = rng.integers(-8000, 8000, 160 * 100).astype(np.int16)
    pcm = PCMU.decode(PCMU.encode(pcm))            # what survives one G.711 pass
    expected = [pcm[i:i + 160] for i in range(0, len(pcm), 160)]
    loud = LoudFrames(60)
    d.add_listener(loud)
    a.source = Player(pcm)
    await loud.wait()
    # bit-exact: the bridge relays payload bytes, it does not decode and re-encode
    index = {f.tobytes(): i for i, f in enumerate(expected)}
    positions = [index.get(f.tobytes()) for f in loud.frames]
    assert None not in positions
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert not b._need_pcm and not c._need_pcm


async def test_bridge_transcodes_both_ways(engine):
    a, b = await pair(engine, PCMU, PCMU)
    c, d = await pair(engine, PCMA, PCMA)
    b.bridge(c)
    at_d, at_a = LoudFrames(30), LoudFrames(30)
    d.add_listener(at_d)
    a.add_listener(at_a)
    a.source = ToneSource([1000], amplitude=8000)
    d.source = ToneSource([500], amplitude=8000)
    assert dominant(await at_d.wait()) == pytest.approx(1000, abs=10)
    assert dominant(await at_a.wait()) == pytest.approx(500, abs=10)
    b.unbridge()
    assert b.bridged_to is None and c.bridged_to is None


async def test_source_done_callback_and_hold_sends_nothing(engine):
    a, b = await pair(engine)
    a.configure(remote=('127.0.0.1', b.local_port), codec=PCMU, dtmf_pt=101,
                direction='recvonly')                  # on hold: we do not send
    done = asyncio.get_running_loop().create_future()
    a.on_source_done = lambda src: done.set_result(src)
    tone = ToneSource([1000], duration_ms=200, loop=1)
    a.source = tone
    assert await asyncio.wait_for(done, TIMEOUT) is tone
    assert a.source is None and a.stats()['packets_sent'] == 0


async def test_on_source_done_can_chain_next_source(engine):
    a, b = await pair(engine)
    loud = LoudFrames(15)
    b.add_listener(loud)
    queue = [ToneSource([700], duration_ms=100, loop=1), ToneSource([700], duration_ms=200, loop=1)]
    finished = asyncio.Event()

    def next_one(src):
        if queue:
            a.source = queue.pop(0)
        else:
            finished.set()
    a.on_source_done = next_one
    a.source = ToneSource([700], duration_ms=100, loop=1)
    await asyncio.wait_for(finished.wait(), TIMEOUT)
    assert a.stats()['packets_sent'] == 20          # 100 + 100 + 200 ms, no gaps


async def test_malformed_datagrams_are_counted_and_dropped(engine):
    a, b = await pair(engine)
    digits = Digits()
    b.on_dtmf = digits
    loop = asyncio.get_running_loop()
    tr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                remote_addr=('127.0.0.1', b.local_port))
    try:
        for junk in (b'\x80\x00', b'\x00' * 20, b'\x80', b'\xbf' + b'\x00' * 11, b'hello world!!'):
            tr.sendto(junk)
        pkt = RtpPacket(101, 1, 1000, 77, build_telephone_event(1, True, 10, 800))
        tr.sendto(pkt.serialize())
        assert await digits.wait(1) == '1'
    finally:
        tr.close()
    assert b.stats()['malformed'] == 5
    b.close()


async def test_rtcp_reports_and_round_trip(engine):
    a, b = await pair(engine)
    got_rtt = asyncio.Event()
    seen = []

    def on_rtcp(packets):
        seen.extend(type(p) for p in packets)
        if a.stats()['rtt_ms'] is not None:
            got_rtt.set()
    a.on_rtcp = on_rtcp
    a.source = ToneSource([440])
    b.source = ToneSource([440])
    await asyncio.wait_for(got_rtt.wait(), TIMEOUT)
    s = a.stats()
    assert 0 <= s['rtt_ms'] < 1000
    assert SenderReport in seen
    assert s['remote_lost'] is not None and s['packets_received'] > 0
    assert b.stats()['rtcp_received'] >= 1
    assert ReceiverReport in seen or SenderReport in seen


async def test_close_finishes_recording_and_releases(engine, tmp_path):
    a, b = await pair(engine)
    loud = LoudFrames(10)
    b.add_listener(loud)
    path = tmp_path / 'r.wav'
    rec = b.start_recording(str(path))
    a.source = ToneSource([1000])
    await loud.wait()
    port = b.local_port
    b.close()
    b.close()                                      # idempotent
    await asyncio.wait_for(rec.finished, TIMEOUT)
    assert path.exists() and sf.info(path).frames >= 10 * 160
    assert b not in engine.endpoints
    fut = a.send_dtmf('1')
    a.close()
    assert await fut is False
    with pytest.raises(ValueError):
        (await pair(engine))[0].send_dtmf('1x')
    assert port
