"""Packet sizes and the silence stream, counted on a raw RTP socket.

The clock is not started: each test runs `engine._on_tick(n)` itself, so what goes on the
wire depends on the tick count alone, never on the machine's speed.
"""
import asyncio
import random

import numpy as np
import pytest

from telephony.media.codecs import PCMA, PCMU
from telephony.media.engine import MediaEngine
from telephony.media.rtp import RtpPacket, parse_rtp
from telephony.media.sources import Player

TIMEOUT = 10


class RawPeer(asyncio.DatagramProtocol):
    """A plain UDP socket on 127.0.0.1 that keeps every RTP packet it receives."""

    def __init__(self):
        self.packets: list[RtpPacket] = []
        self._changed = asyncio.Event()

    def datagram_received(self, data, addr):
        self.packets.append(parse_rtp(data))
        self._changed.set()

    @classmethod
    async def open(cls):
        loop = asyncio.get_running_loop()
        tr, peer = await loop.create_datagram_endpoint(cls, local_addr=('127.0.0.1', 0))
        peer.tr = tr
        peer.addr = tr.get_extra_info('sockname')
        return peer

    async def wait(self, n):
        async def enough():
            while len(self.packets) < n:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(enough(), TIMEOUT)
        return self.packets

    def close(self):
        self.tr.close()


class Arrivals:
    """The RTP datagrams an endpoint takes in, seen through its receive path, so a test
    waits on an event for the next one rather than polling a counter."""

    def __init__(self, ep):
        self.ep = ep
        self._changed = asyncio.Event()
        take = ep._on_rtp

        def on_rtp(data, addr):
            take(data, addr)
            self._changed.set()
        ep._on_rtp = on_rtp

    async def beyond(self, n: int) -> None:
        """Until the endpoint has taken in more than `n` packets."""
        async def enough():
            while self.ep.packets_received <= n:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(enough(), TIMEOUT)


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 100)   # not started: the test ticks
    yield eng
    await eng.stop()


@pytest.fixture
async def peer():
    p = await RawPeer.open()
    yield p
    p.close()


def audio(n):
    rng = np.random.default_rng(3)
    return rng.integers(-8000, 8000, n).astype(np.int16)


def contiguous(pkts):
    seqs = [p.sequence for p in pkts]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))
    ts = [p.timestamp for p in pkts]
    assert all((b - a) & 0xFFFFFFFF == len(p.payload) for a, b, p in zip(ts, ts[1:], pkts))


@pytest.mark.parametrize('ptime, size', [(20, 160), (30, 240), (10, 80), (60, 480)])
async def test_a_prompt_goes_out_at_the_peers_ptime(engine, peer, ptime, size):
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMU, ptime=ptime)
    pcm = audio(9600)                                # 1.2 s: 60 ticks
    ep.source = Player(pcm)
    for tick in range(62):
        engine._on_tick(tick)
    pkts = await peer.wait(9600 // size)
    assert ep.source is None                        # the prompt ended within those ticks
    assert [len(p.payload) for p in pkts] == [size] * (9600 // size)
    assert [p.marker for p in pkts] == [True] + [False] * (len(pkts) - 1)
    contiguous(pkts)
    assert b''.join(p.payload for p in pkts) == PCMU.encode(pcm)
    assert ep.stats()['packets_sent'] == 9600 // size


async def test_a_30ms_leg_sends_on_two_ticks_of_three(engine, peer):
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMA, ptime=30)
    ep.source = Player(audio(8000 * 60))
    sent = []
    for tick in range(30):
        engine._on_tick(tick)
        sent.append(ep.stats()['packets_sent'])
    per_tick = np.diff([0] + sent).tolist()
    assert per_tick == [0, 1, 1] * 10
    assert sum(per_tick) == 20                      # 600 ms: 20 packets, not 30


async def test_echo_answers_at_the_peers_ptime(engine, peer):
    """The peer sends 20 ms packets but asked (a=ptime:30) for 30 ms: the echo comes back
    in 240-byte packets, two for every three it sent."""
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMU, ptime=30)
    ep.echo = True
    rx = Arrivals(ep)
    pcm = audio(160 * 30)
    seq, ts = 1000, 5000
    for tick in range(34):
        if tick < 30:
            n = ep.packets_received
            pkt = RtpPacket(0, seq + tick, ts + 160 * tick, 0x1234,
                            PCMU.encode(pcm[160 * tick:160 * (tick + 1)]))
            peer.tr.sendto(pkt.serialize(), ('127.0.0.1', ep.local_port))
            await rx.beyond(n)
        engine._on_tick(tick)
    pkts = await peer.wait(20)
    assert [len(p.payload) for p in pkts] == [240] * 20
    contiguous(pkts)
    assert b''.join(p.payload for p in pkts) == PCMU.encode(pcm)


async def test_bridge_relays_at_the_receivers_ptime(engine, peer):
    """A 20 ms caller bridged to a 30 ms callee: the callee gets 240-byte packets (the
    payload bytes relayed unchanged, only cut differently)."""
    caller = await RawPeer.open()
    try:
        a = await engine.create_endpoint()
        b = await engine.create_endpoint()
        a.configure(remote=caller.addr, codec=PCMU, ptime=20)
        b.configure(remote=peer.addr, codec=PCMU, ptime=30)
        a.bridge(b)
        rx = Arrivals(a)
        pcm = audio(160 * 30)
        for tick in range(34):
            if tick < 30:
                n = a.packets_received
                pkt = RtpPacket(0, tick, 160 * tick, 0x99,
                                PCMU.encode(pcm[160 * tick:160 * (tick + 1)]))
                caller.tr.sendto(pkt.serialize(), ('127.0.0.1', a.local_port))
                await rx.beyond(n)
            engine._on_tick(tick)
        pkts = await peer.wait(20)
        assert [len(p.payload) for p in pkts] == [240] * 20
        assert b''.join(p.payload for p in pkts) == PCMU.encode(pcm)
    finally:
        caller.close()


async def test_answered_leg_sends_silence_when_nothing_plays(engine, peer):
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMU, ptime=30)
    assert engine.stats()['active'] == 0
    ep.transmit_silence = True
    assert engine.stats()['active'] == 1
    pcm = audio(800)                     # 100 ms: five ticks, then silence follows
    ep.source = Player(pcm)
    for tick in range(15):
        engine._on_tick(tick)
    pkts = await peer.wait(10)           # 15 ticks = 300 ms = 10 packets of 30 ms
    assert [len(p.payload) for p in pkts] == [240] * 10
    contiguous(pkts)                     # no gap, no new talkspurt where the prompt ended
    assert [p.marker for p in pkts].count(True) == 1
    data = b''.join(p.payload for p in pkts)
    assert data[:800] == PCMU.encode(pcm)
    assert data[800:] == PCMU.silence[:1] * (2400 - 800)


async def test_no_silence_on_hold_or_when_not_asked(engine, peer):
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMU)
    for tick in range(5):                            # not answered: nothing to send
        engine._on_tick(tick)
    ep.transmit_silence = True
    ep.configure(remote=peer.addr, codec=PCMU, direction='recvonly')   # held
    assert engine.stats()['active'] == 0
    for tick in range(5, 10):
        engine._on_tick(tick)
    ep.configure(remote=peer.addr, codec=PCMU, direction='sendrecv')   # resumed
    for tick in range(10, 13):
        engine._on_tick(tick)
    pkts = await peer.wait(3)
    assert len(pkts) == 3 and pkts[0].marker
    assert ep.stats()['packets_sent'] == 3


def test_sdp_answer_mirrors_the_offered_ptime():
    from telephony.sdp import answer_offer, build_offer, parse_sdp
    for offered, answered in [(30, 30), (20, 20), (None, 20), (1000, 20), (10, 10)]:
        offer = parse_sdp(build_offer('127.0.0.1', 4000, ptime=offered).to_bytes())
        answer, neg = answer_offer(offer, '127.0.0.1', 5000)
        assert neg.ptime == (offered or 20)              # what we send
        assert parse_sdp(answer.to_bytes()).media[0].ptime == answered
