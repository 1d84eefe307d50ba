"""A peer that stops sending RTP is reported after media_timeout; one that talks is not."""
import asyncio
import random

import pytest

from telephony.media.engine import MediaEngine
from telephony.media.sources import ToneSource


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 400, rtcp_interval=0.2, media_timeout=0.5)
    await eng.start()
    yield eng
    await eng.stop()


async def test_vanished_peer_times_out_and_talking_peer_does_not(engine):
    a = await engine.create_endpoint()
    b = await engine.create_endpoint()
    c = await engine.create_endpoint()
    a.configure(remote=('127.0.0.1', b.local_port))
    b.configure(remote=('127.0.0.1', a.local_port))
    c.configure(remote=('127.0.0.1', 9))   # its peer never sends anything
    a.source = ToneSource([440.0], duration_ms=0)   # a talks to b for ever
    timed_out = asyncio.get_running_loop().create_future()
    for name, ep in (('a', a), ('b', b), ('c', c)):
        ep.on_media_timeout = lambda n=name: timed_out.done() or timed_out.set_result(n)
    assert await asyncio.wait_for(timed_out, 10) == 'c'


async def test_no_timeout_on_hold(engine):
    a = await engine.create_endpoint()
    b = await engine.create_endpoint()
    a.configure(remote=('127.0.0.1', b.local_port), direction='sendonly')  # we hold: no RTP in
    fired = []
    a.on_media_timeout = lambda: fired.append(True)
    done = asyncio.Event()
    b.add_listener(lambda frame: done.set() if engine.clock.ticks > 75 else None)
    b.configure(remote=('127.0.0.1', a.local_port))
    await asyncio.wait_for(done.wait(), 10)   # well past the 0.5 s timeout
    assert fired == []
