"""A conference over real UDP on 127.0.0.1: four plain sockets, each sending G.711 RTP of its
own tone to an endpoint in one room, each receiving what the mixer sends back.

The clock is not started: every tick, each peer sends one packet, the test waits until every
endpoint has taken it in, runs `engine._on_tick(n)`, and waits for every peer's packet of that
tick. What is heard then depends on the tick count alone, never on the machine's speed. The
received audio is checked by FFT at the four tone pitches.
"""
import asyncio
import random

import numpy as np
import pytest
import soundfile as sf

from telephony.media.codecs import PCMA, PCMU
from telephony.media.engine import MediaEngine
from telephony.media.rtp import RtpSender
from telephony.media.sources import Player, ToneSource

from .test_media_ptime import Arrivals, RawPeer

TONES = (540.0, 830.0, 1270.0, 1540.0)   # no low-order intermodulation lands on another
AMPLITUDE = 4000.0
WINDOW = 25            # ticks analysed per check: 0.5 s, a 2 Hz FFT resolution


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 100)   # not started: the test ticks
    yield eng
    await eng.stop()


class Rig:
    """n peers (socket + tone + RTP sender) and their endpoints in room 'r'."""

    def __init__(self, engine):
        self.engine = engine
        self.tick = 0

    async def open(self, n=4, codecs=None):
        e = self.engine
        self.peers = [await RawPeer.open() for _ in range(n)]
        self.eps = [await e.create_endpoint() for _ in range(n)]
        self.codecs = codecs or [PCMU] * n
        for ep, peer, codec in zip(self.eps, self.peers, self.codecs):
            ep.configure(remote=peer.addr, codec=codec)
        self.arrivals = [Arrivals(ep) for ep in self.eps]
        self.senders = [RtpSender() for _ in range(n)]
        self.tones = [ToneSource([f], amplitude=AMPLITUDE) for f in TONES[:n]]
        self.sending = [True] * n
        self.room = e.mixer.room('r')
        self.members = [self.room.add(ep) for ep in self.eps]
        await self.run(5)          # fill the jitter buffers
        return self

    def close(self):
        for p in self.peers:
            p.close()

    async def run(self, ticks):
        """Run `ticks` ticks; returns each peer's decoded audio of them."""
        start = [len(p.packets) for p in self.peers]
        tick0 = self.tick
        for _ in range(ticks):
            before = [ep.packets_received for ep in self.eps]
            for i, (ep, peer) in enumerate(zip(self.eps, self.peers)):
                frame = self.tones[i].read()
                if self.sending[i] and not ep.closed:
                    pkt = self.senders[i].packet(self.codecs[i].encode(frame),
                                                 self.codecs[i].payload_type)
                    peer.tr.sendto(pkt, ('127.0.0.1', ep.local_port))
            for i, (arr, n) in enumerate(zip(self.arrivals, before)):
                if self.sending[i] and not self.eps[i].closed:
                    await arr.beyond(n)
            self.engine._on_tick(self.tick)
            self.tick += 1
            for p, n, ep in zip(self.peers, start, self.eps):
                if ep.member is not None:       # out of the room it sends nothing
                    await p.wait(n + self.tick - tick0)
        return [self.codecs[i].decode(b''.join(pk.payload for pk in p.packets[n:]))
                for i, (p, n) in enumerate(zip(self.peers, start))]

    async def heard(self, settle=3):
        """Amplitudes of the four tones in what each peer receives, after `settle` ticks
        for a change to reach the wire."""
        await self.run(settle)
        return [amplitudes(pcm) for pcm in await self.run(WINDOW)]


def amplitudes(pcm):
    """The amplitude of each tone of TONES in `pcm` (its FFT at exactly those bins)."""
    if not len(pcm):
        return [0.0] * len(TONES)
    spec = np.abs(np.fft.rfft(pcm.astype(np.float64))) * 2 / len(pcm)
    return [float(spec[int(round(f * len(pcm) / 8000))]) for f in TONES]


@pytest.fixture
async def rig(engine):
    r = Rig(engine)
    yield await r.open()
    r.close()


PRESENT = 0.8 * AMPLITUDE
ABSENT = 0.02 * AMPLITUDE


def check(heard, expect):
    """expect[i][j]: peer i should hear tone j at this fraction of AMPLITUDE (0: absent)."""
    for i, (got, want) in enumerate(zip(heard, expect)):
        for j, (a, w) in enumerate(zip(got, want)):
            if w == 0:
                assert a < ABSENT, f'peer {i} hears tone {j} ({a:.0f})'
            else:
                assert a == pytest.approx(w * AMPLITUDE, rel=0.15), f'peer {i} tone {j}: {a:.0f}'


def others(n=4):
    return [[0 if i == j else 1 for j in range(n)] for i in range(n)]


async def test_everyone_hears_the_others_and_never_itself(rig):
    check(await rig.heard(), others())
    # one stream per member per tick, kept going whatever it hears
    assert all(ep.stats()['packets_sent'] == rig.tick for ep in rig.eps)


async def test_mute_deaf_and_volume_change_the_audio(rig):
    m = rig.members
    m[0].mute = True
    expect = others()
    for i in range(1, 4):
        expect[i][0] = 0
    check(await rig.heard(), expect)

    m[0].mute = False
    m[1].deaf = True
    expect = others()
    expect[1] = [0, 0, 0, 0]
    heard = await rig.run(WINDOW)
    await rig.run(3)
    heard = await rig.run(WINDOW)
    assert not heard[1].any()                                    # digital silence ...
    assert len(rig.peers[1].packets) == rig.tick                 # ... but still a stream
    check([amplitudes(p) for p in heard], expect)

    m[1].deaf = False
    m[2].volume_out = -4           # member 2 hears everyone 12 dB down
    m[3].volume_in = 4             # everyone hears member 3 12 dB up
    down, up = 10 ** (-12 / 20), 10 ** (12 / 20)
    expect = others()
    expect[2] = [down, down, 0, down * up]
    for i in (0, 1):
        expect[i][3] = up
    check(await rig.heard(), expect)


async def test_a_member_removed_or_closed_leaves_the_mix(rig):
    rig.room.remove(rig.members[0])
    assert rig.eps[0].member is None
    expect = others()
    for i in range(1, 4):
        expect[i][0] = 0
    heard = await rig.heard()
    check(heard[1:], expect[1:])
    rig.eps[3].close()
    assert rig.members[3] not in rig.room.members
    assert rig.engine.mixer.stats()['members'] == 2


async def test_a_missing_stream_counts_as_silence(rig):
    rig.sending[2] = False         # its jitter buffer runs dry
    await rig.run(5)
    expect = others()
    for i in (0, 1, 3):
        expect[i][2] = 0
    heard = await rig.heard()
    check(heard[:2] + heard[3:], expect[:2] + expect[3:])
    assert heard[2][:2] == pytest.approx([AMPLITUDE] * 2, rel=0.15)


async def test_a_private_prompt_plays_over_the_conference(rig):
    prompt = ToneSource([2000.0], amplitude=AMPLITUDE).read()
    rig.eps[0].source = Player(np.tile(prompt, 200))
    heard = await rig.run(3 + WINDOW)
    pcm = heard[0][3 * 160:]
    spec = np.abs(np.fft.rfft(pcm.astype(np.float64))) * 2 / len(pcm)
    assert spec[int(2000 * len(pcm) / 8000)] == pytest.approx(AMPLITUDE, rel=0.15)
    check([amplitudes(pcm)], [others()[0]])
    for pcm in heard[1:]:          # only member 0 hears it
        spec = np.abs(np.fft.rfft(pcm.astype(np.float64))) * 2 / len(pcm)
        assert spec[int(2000 * len(pcm) / 8000)] < ABSENT


async def test_alaw_and_mulaw_members_mix(engine):
    r = Rig(engine)
    await r.open(3, codecs=[PCMU, PCMA, PCMU])
    try:
        check(await r.heard(), others(3))
    finally:
        r.close()


async def test_the_mix_is_recorded(rig, tmp_path):
    path = tmp_path / 'room.wav'
    rec = rig.room.start_recording(str(path))
    await rig.run(WINDOW)
    duration = rig.room.stop_recording()
    await asyncio.wait_for(rec.finished, 10)
    assert duration == pytest.approx(WINDOW * 0.02)
    data, rate = sf.read(path, dtype='int16')
    assert rate == 8000 and len(data) == WINDOW * 160
    assert amplitudes(data) == pytest.approx([AMPLITUDE] * 4, rel=0.15)   # every member


async def test_join_and_leave_tones_reach_everyone(rig):
    for m in rig.members:
        m.mute = True              # only the tone is left to hear
    rig.room.play_tone('join')
    pcms = await rig.run(15)
    for pcm in pcms:
        first, second = pcm[80:800], pcm[1200:1920]     # the two 100 ms beeps
        assert dominant(first) == pytest.approx(660, abs=15)
        assert dominant(second) == pytest.approx(880, abs=15)
    with pytest.raises(ValueError):
        rig.room.play_tone('fanfare')


def dominant(pcm):
    spec = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return np.argmax(spec) * 8000 / len(pcm)


async def test_a_members_tap_records_what_it_hears(rig, tmp_path):
    path = tmp_path / 'tap.wav'
    m = rig.members[1]
    tap = m.start_tap(str(path))
    heard = await rig.run(WINDOW)
    assert m.stop_tap() == pytest.approx(WINDOW * 0.02)
    await asyncio.wait_for(tap.finished, 10)
    data, _ = sf.read(path, dtype='int16')
    check([amplitudes(data)], [others()[1]])
    # the very audio the peer got, tick for tick, before G.711 encoding
    assert np.array_equal(PCMU.decode(PCMU.encode(data)), heard[1])
    m.deaf = True
    tap = m.start_tap(str(path))
    await rig.run(5)
    rig.room.remove(m)                  # leaving the room finishes the tap
    await asyncio.wait_for(tap.finished, 10)
    data, _ = sf.read(path, dtype='int16')
    assert len(data) == 5 * 160 and not data.any()


async def test_the_running_clock_drives_the_mix():
    base = random.randrange(40000, 60000, 2)
    async with MediaEngine('127.0.0.1', base, base + 100) as eng:
        peers = [await RawPeer.open() for _ in range(2)]
        try:
            eps = [await eng.create_endpoint() for _ in peers]
            for ep, peer in zip(eps, peers):
                ep.configure(remote=peer.addr, codec=PCMU)
            room = eng.mixer.room('live')
            for ep in eps:
                room.add(ep)
            room.play_tone('join')
            for peer in peers:          # both get a stream, the tone in it
                pkts = await peer.wait(20)
                pcm = PCMU.decode(b''.join(p.payload for p in pkts[:20]))
                assert np.abs(pcm).max() > 2000
            eng.mixer.close_room('live')
            assert not eng.mixer.rooms and eng.mixer.stats()['members'] == 0
            assert all(ep.member is None for ep in eps)
        finally:
            for p in peers:
                p.close()
