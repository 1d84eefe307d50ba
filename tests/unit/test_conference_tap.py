"""Conference taps (setting `conference_tap_dir`, conference/room.py): with a directory,
every member's received mix is written to DIR/<conference>/<member>.wav while it is in the
room, one frame per media clock tick from the `tick=` its tap line logs, finished when it
leaves; without one, nothing is written. Real endpoints on a MediaEngine whose clock the
test runs (`run_ticks`); the calls are stand-ins holding an endpoint (no SIP here).
"""
import asyncio
import logging
import random
from types import SimpleNamespace

import pytest
import soundfile as sf

from telephony.conference.registry import ConferenceRegistry
from telephony.conference.room import ConferenceRooms
from telephony.events import EventSink
from telephony.media.codecs import PCMU
from telephony.media.engine import MediaEngine
from telephony.store.conferences import Conference

from .test_media_ptime import RawPeer

CONF = Conference('conf-1', 'joe', 0.0, 'team', '2468', True, False)


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 100)   # not started: the test runs the clock
    eng.clock.add(eng._on_tick)                 # as start() does, with the clock not running
    eng.clock.start_time = 0.0
    eng.peer = await RawPeer.open()               # where the members' audio goes
    yield eng
    eng.peer.close()
    await eng.stop()


class Clock:
    def __init__(self, engine):
        self.clock = engine.clock
        self.now = 0.0

    def run(self, ticks: int) -> None:
        for _ in range(ticks):
            self.now += self.clock.period
            self.clock.run_ticks(self.now)


async def call(engine, name: str, peer):
    ep = await engine.create_endpoint()
    ep.configure(remote=peer.addr, codec=PCMU)
    loop = asyncio.get_running_loop()
    leg = SimpleNamespace(endpoint=ep, ended=False, hangup=lambda cause=None: None)
    return SimpleNamespace(id=name, leg=leg, info={'from': '+4922100077'},
                           ended=loop.create_future())


def fields(caplog, event: str) -> list[dict]:
    out = []
    for r in caplog.records:
        msg = r.getMessage()
        if msg.startswith(f'event={event} '):
            out.append(dict(kv.split('=', 1) for kv in msg.split() if '=' in kv))
    return out


async def joined(rooms, c, caplog) -> dict:
    """Start `rooms.join(c)`; returns its task once the call is in (it runs to `c.ended`)."""
    before = len(fields(caplog, 'conference-join'))
    task = asyncio.create_task(rooms.join(c, CONF))
    await asyncio.sleep(0)                      # join runs up to its `await call.ended`
    assert len(fields(caplog, 'conference-join')) == before + 1
    return task


async def test_each_member_is_tapped_from_its_tick_until_it_leaves(engine, tmp_path, caplog):
    caplog.set_level(logging.INFO, 'telephony.conference')
    rooms = ConferenceRooms(ConferenceRegistry(EventSink()), engine.mixer, tap_dir=tmp_path)
    ticks = Clock(engine)
    ticks.run(3)
    first, second = await call(engine, 'c1', engine.peer), await call(engine, 'c2', engine.peer)
    at1 = engine.clock.ticks
    t1 = await joined(rooms, first, caplog)
    ticks.run(10)
    at2 = engine.clock.ticks
    t2 = await joined(rooms, second, caplog)
    ticks.run(7)
    recorders = [m.tap for m in engine.mixer.rooms[CONF.uuid].members]
    [tap1, tap2] = fields(caplog, 'conference-tap')
    assert (int(tap1['tick']), int(tap2['tick'])) == (at1, at2) == (at1, at1 + 10)
    [j1, j2] = fields(caplog, 'conference-join')
    for tap, join in ((tap1, j1), (tap2, j2)):
        assert tap['member'] == join['member'] and tap['tick'] == join['tick']
        assert tap['path'] == str(tmp_path / CONF.uuid / f'{join["member"]}.wav')

    first.ended.set_result(None)
    await t1
    [leave] = fields(caplog, 'conference-leave')
    assert (leave['member'], int(leave['tick'])) == (tap1['member'], at1 + 17)
    ticks.run(5)
    second.ended.set_result(None)
    await t2
    for tap, recorder, frames in ((tap1, recorders[0], 17), (tap2, recorders[1], 12)):
        await asyncio.wait_for(recorder.finished, 10)      # leaving finished the tap
        data, rate = sf.read(tap['path'], dtype='int16')
        assert (rate, len(data)) == (8000, frames * 160)   # one frame a tick while in the room
    assert not rooms.rooms and engine.mixer.errors == 0


async def test_no_tap_directory_no_files(engine, tmp_path, caplog):
    caplog.set_level(logging.INFO, 'telephony.conference')
    rooms = ConferenceRooms(ConferenceRegistry(EventSink()), engine.mixer)
    c = await call(engine, 'c1', engine.peer)
    task = await joined(rooms, c, caplog)
    Clock(engine).run(5)
    assert not fields(caplog, 'conference-tap') and not any(tmp_path.iterdir())
    assert engine.mixer.rooms[CONF.uuid].members[0].tap is None
    c.ended.set_result(None)
    await task


async def test_a_tap_directory_that_cannot_be_made_is_logged_and_the_call_joins(
        engine, tmp_path, caplog):
    caplog.set_level(logging.INFO, 'telephony.conference')
    blocked = tmp_path / 'file'
    blocked.write_text('not a directory')
    rooms = ConferenceRooms(ConferenceRegistry(EventSink()), engine.mixer, tap_dir=blocked)
    c = await call(engine, 'c1', engine.peer)
    task = await joined(rooms, c, caplog)
    [err] = fields(caplog, 'conference-tap-error')
    assert err['conference'] == CONF.uuid
    assert rooms.rooms[CONF.uuid].members          # in the room all the same, untapped
    c.ended.set_result(None)
    await task
