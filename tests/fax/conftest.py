"""Driving fax sessions on a media clock as fast as the sockets carry the packets.

A two-page fax is about a minute of line time.  The tests run the real clock's ticks (the
same `MediaClock.run_ticks` the clock's task calls, with a made-up `now`), and before the
next tick wait until every packet sent in this one has been received: the sockets are
real, the pacing is not.
"""
from __future__ import annotations

import asyncio
from typing import Callable

import pytest

from telephony.media.clock import MediaClock

from .documents import make_tiff


class TickDriver:
    def __init__(self, clock: MediaClock) -> None:
        self.clock = clock
        clock.start_time = 0.0
        clock.next_tick = 0
        self.ticks = 0

    async def run(self, until: Callable[[], bool], delivered: Callable[[], bool],
                  limit: int = 20000, each: Callable[[int], None] | None = None) -> int:
        while not until():
            if self.ticks >= limit:
                raise AssertionError(f'not done after {limit} ticks')
            if each is not None:
                each(self.ticks)
            self.clock.run_ticks(self.ticks * self.clock.period)
            self.ticks += 1
            await wait_for(delivered)    # the packets of this tick, through the kernel
        return self.ticks


async def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the loop run until `condition()` holds (datagrams on 127.0.0.1 arrive at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError('a packet sent on 127.0.0.1 never arrived')
        await asyncio.sleep(0)


@pytest.fixture
def document(tmp_path):
    return make_tiff(tmp_path / 'sent.tif', pages=2)
