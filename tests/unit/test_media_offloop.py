"""File work never runs on the event loop that carries every call's audio.

Each test makes the file operation block (on a threading.Event) and checks that it runs
in another thread while the media clock keeps ticking, then lets it finish.  Nothing
here measures time.
"""
import asyncio
import json
import random
import threading

import numpy as np
import pytest
import soundfile as sf

from telephony.calls.controls import Control, ControlQueue
from telephony.media import audiofile, recorder, sources
from telephony.media.engine import MediaEngine

TIMEOUT = 10


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 100)
    await eng.start()
    yield eng
    await eng.stop()


class Gate:
    """Wraps a blocking function: records the thread it ran in and holds it until opened."""

    def __init__(self, fn):
        self.fn = fn
        self.threads = []
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, *args, **kw):
        self.threads.append(threading.current_thread())
        self.entered.set()
        self.open.wait(TIMEOUT)     # were this the loop's thread, the clock would stop here
        return self.fn(*args, **kw)

    @property
    def off_loop(self):
        return bool(self.threads) and threading.main_thread() not in self.threads


async def ticking_while(gate, engine, ticks=10):
    """Wait until the gate's call is blocked, see the clock run `ticks` more ticks, open it."""
    await asyncio.wait_for(asyncio.to_thread(gate.entered.wait, TIMEOUT), TIMEOUT)
    start = engine.clock.ticks
    advanced = asyncio.Event()

    def on_tick(_n: int) -> None:
        if engine.clock.ticks >= start + ticks:
            advanced.set()
    engine.clock.add(on_tick)
    try:
        await asyncio.wait_for(advanced.wait(), TIMEOUT)
    finally:
        engine.clock.remove(on_tick)
        gate.open.set()


async def test_recorder_open_and_fsync_run_off_the_loop(engine, tmp_path, monkeypatch):
    opens = Gate(open)
    fsyncs = Gate(recorder.os.fsync)
    monkeypatch.setattr(recorder, 'open', opens, raising=False)
    monkeypatch.setattr(recorder.os, 'fsync', fsyncs)
    a = await engine.create_endpoint()
    a.configure(remote=('127.0.0.1', 9))
    path = tmp_path / 'r.wav'
    rec = a.start_recording(str(path))         # returns at once: the open is blocked
    await ticking_while(opens, engine)
    frame = np.full(160, 1000, np.int16)
    for _ in range(60):
        rec.write(frame)
    a.stop_recording()
    await ticking_while(fsyncs, engine)
    await asyncio.wait_for(rec.finished, TIMEOUT)
    assert opens.off_loop and fsyncs.off_loop
    assert sf.info(path).frames == rec.samples >= 60 * 160   # (the clock's frames too)


class Leg:
    state = 'answered'
    ended = False
    incoming = True

    def __init__(self, endpoint):
        self.endpoint = endpoint


class Manager:
    def __init__(self, load):
        self.load_audio = load


class Call:
    """What ControlQueue needs of a call (the leg's SIP side plays no part in `play`)."""
    id = 'offloop'
    bridged_with = None

    def __init__(self, endpoint, load):
        self.leg = Leg(endpoint)
        self.manager = Manager(load)

    def control_changed(self):
        pass


async def test_play_stats_decodes_and_encodes_off_the_loop(engine, tmp_path, monkeypatch):
    path = tmp_path / 'p.wav'
    pcm = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)
    audiofile.save_wav(path, pcm)
    audiofile.clear_cache()
    stats = Gate(audiofile.os.stat)
    monkeypatch.setattr(audiofile.os, 'stat', stats)
    encodes = []
    real_encoded = sources.encoded

    def spy_encoded(a, codec):
        encodes.append(threading.current_thread())
        return real_encoded(a, codec)
    monkeypatch.setattr(sources, 'encoded', spy_encoded)
    ep = await engine.create_endpoint()
    ep.configure(remote=('127.0.0.1', 9))
    q = ControlQueue(Call(ep, audiofile.load_audio))
    play = Control.make('play', path=str(path))
    q.enqueue([play])
    await ticking_while(stats, engine)           # the stat is blocked, the clock is not
    assert await asyncio.wait_for(play.done, TIMEOUT) is True
    assert stats.off_loop
    assert encodes and threading.main_thread() not in encodes
    assert ep.stats()['packets_sent'] == 50


async def test_job_file_written_off_the_loop(tmp_path, monkeypatch, engine):
    from telephony.api.events import SessionStore
    from telephony.store.db import Database
    from telephony.store.objects import ObjectStore
    db = Database.for_data_dir(tmp_path)
    await db.open()
    try:
        store = ObjectStore(db, tmp_path, SessionStore())
        owner = '11111111-2222-1333-8444-555555555555'
        obj = await store.create(owner, 'announcement', 'x', 'ok')
        writes = Gate(type(tmp_path).write_text)
        monkeypatch.setattr(type(tmp_path), 'write_text',
                            lambda self, *a, **kw: writes(self, *a, **kw))
        started = asyncio.ensure_future(store.text2speech(owner, obj.uuid, 'hallo'))
        await ticking_while(writes, engine)
        await asyncio.wait_for(started, TIMEOUT)
        assert writes.off_loop
        job = json.loads(store._job_path(obj.uuid).read_text()) \
            if store._job_path(obj.uuid).exists() else {'kind': 'tts'}
        assert job['kind'] == 'tts'
        await store.idle()
    finally:
        await db.close()


def test_skipped_ticks_while_idle_are_not_a_warning(caplog):
    """At start-up the loop pauses (the GC freeze) while no call exists: nothing was lost."""
    eng = MediaEngine('127.0.0.1', 40000, 40100)
    clock = eng.clock
    clock.start_time, clock.next_tick = 0.0, 0
    with caplog.at_level('DEBUG', logger='telephony.media'):
        clock.run_ticks(0.5)                         # 26 ticks due, nothing to send
        assert clock.skipped == 21 and clock.idle_skipped == 21
        assert not [r for r in caplog.records if r.levelname == 'WARNING']
        eng._active.add(object())                    # a call's audio on the clock
        eng._dirty = False
        clock.run_ticks(1.0)
    warned = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING']
    assert len(warned) == 1 and 'event=media-clock-skip ' in warned[0]
    assert clock.idle_skipped == 21 and clock.skipped == 41
