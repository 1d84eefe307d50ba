"""conference/deadlines.py: one timer for all rooms' deadlines; cancelled ones do not pile up."""
from __future__ import annotations

import asyncio

from telephony.conference.deadlines import Deadlines


async def test_cancelled_deadlines_do_not_grow_the_heap():
    loop = asyncio.get_running_loop()
    d = Deadlines(loop.time)
    d.set('keep', loop.time() + 3600, lambda now: None)
    for i in range(10_000):          # members join and leave, each with a week's deadline
        d.set(('max', i), loop.time() + 7 * 86400, lambda now: None)
        d.cancel(('max', i))
    assert len(d) == 1 and d.entries <= 2 * len(d) + 64 + 1


async def test_a_deadline_fires_once_and_a_cancelled_one_never():
    loop = asyncio.get_running_loop()
    d = Deadlines(loop.time)
    fired: list[str] = []
    done = asyncio.Event()
    d.set('a', loop.time() + 0.01, lambda now: (fired.append('a'), done.set()))
    d.set('b', loop.time() + 0.005, lambda now: fired.append('b'))
    d.cancel('b')
    await asyncio.wait_for(done.wait(), 5)
    assert fired == ['a'] and len(d) == 0
