"""ObjectStore on a real SQLite file and real audio files: recordings from calls,
conversions, trash, and recovery after a crash (no mocks)."""
from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from telephony.api.events import SessionStore
from telephony.events import EventSink
from telephony.media.recorder import WavRecorder
from telephony.media.vad import has_speech
from telephony.store.db import Database
from telephony.store.objects import Malformed, NotFound, ObjectStore, TooLarge, decode, is_empty

OWNER = '11111111-2222-1333-8444-555555555555'
OTHER = '99999999-2222-1333-8444-555555555555'


def speechlike(seconds: float, rate: int = 8000) -> np.ndarray:
    """A vowel-like signal: harmonics of a gliding pitch with syllable-rate amplitude
    modulation (webrtcvad calls it speech; steady tones it does not)."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    x = x * env
    return (x / np.abs(x).max() * 0.5 * 32767).astype(np.int16)


@pytest.fixture
async def store(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    sessions = SessionStore()
    s = sessions.create()
    sessions.authenticate(s, OWNER)
    events = EventSink()
    events.subscribe(sessions)
    st = ObjectStore(db, tmp_path, events)
    st.session = s
    await st.recover()
    yield st
    await st.idle()
    await db.close()


def events(store, name=None):
    return [e for e in store.session.events if name is None or e['event'] == name]


def record_file(path: Path, pcm: np.ndarray, crash: bool = False) -> None:
    rec = WavRecorder(path)
    for i in range(0, len(pcm), 160):
        rec.write(pcm[i:i + 160])
    if crash:
        rec.flush()          # what the once-a-second header update leaves behind
        rec._file.close()    # the process dies: no close(), the .part file stays
    else:
        rec.close()


async def test_add_recording_moves_the_file_and_marks_ok(store, tmp_path):
    rec = tmp_path / 'recordings'
    rec.mkdir()
    src = rec / '0f1e2d3c-4b5a-4697-8877-665544332211.wav'
    record_file(src, speechlike(2.0))
    uuid = await store.add_recording(OWNER, src, from_='+4922100001', to='+4922100002',
                                     call='c-1')
    assert uuid == '0f1e2d3c-4b5a-4697-8877-665544332211'   # the call layer's name is kept
    assert not src.exists()
    obj = await store.get(OWNER, uuid, 'recording')
    assert (obj.status, obj.from_, obj.to, obj.call) == ('ok', '+4922100001', '+4922100002', 'c-1')
    assert obj.duration == pytest.approx(2.0, abs=0.02)
    path = await store.playable(OWNER, uuid)
    assert path and sf.info(path).samplerate == 8000
    assert await store.playable(OTHER, uuid) is None
    with pytest.raises(NotFound):
        await store.get(OTHER, uuid)
    new = events(store, 'object_new')[-1]
    assert new['object'] == uuid and new['type'] == 'recording' and new['owner'] == OWNER
    ogg = await store.download(OWNER, uuid, 'recording', 'ogg')
    pcm, rate = sf.read(io.BytesIO(ogg), dtype='int16')
    assert rate == 8000 and abs(len(pcm) - 16000) < 400


async def test_many_recordings_stored_at_once_are_all_kept_and_leave_no_locks(store, tmp_path):
    """Every call ending at once stores its recording: the writes queue for SQLite's one
    writer instead of failing, and no per-recording lock is kept afterwards."""
    rec = tmp_path / 'recordings'
    rec.mkdir()
    srcs = []
    for i in range(30):
        srcs.append(rec / f'rec-{i:02d}.wav')
        record_file(srcs[-1], speechlike(0.5))
    uuids = await asyncio.gather(*(store.add_recording(OWNER, s, from_='+4922100001',
                                                       to='+4922100002', call=f'c-{i}')
                                   for i, s in enumerate(srcs)))
    assert len(set(uuids)) == 30
    for uuid in uuids:
        assert (await store.get(OWNER, uuid, 'recording')).status == 'ok'
    assert store._locks == {}


async def test_silent_recording_is_empty_and_not_playable(store, tmp_path):
    src = tmp_path / 'quiet.wav'
    noise = (np.random.default_rng(1).normal(0, 20, 24000)).astype(np.int16)  # line hiss
    record_file(src, noise)
    uuid = await store.add_recording(OWNER, src, from_='+1', to='+2')
    obj = await store.get(OWNER, uuid)
    assert obj.status == 'empty'
    assert await store.playable(OWNER, uuid) is None
    assert await store.download(OWNER, uuid, 'recording', 'wav') is None


async def test_recording_in_progress_survives_a_crash(store, tmp_path):
    src = tmp_path / 'recordings' / 'abc.wav'
    src.parent.mkdir()
    uuid = await store.begin_recording(OWNER, src, from_='+491', to='+492', call='c-9')
    assert (await store.get(OWNER, uuid)).status == 'record'
    assert await store.playable(OWNER, uuid) is None
    record_file(src, speechlike(3.0), crash=True)
    assert Path(str(src) + '.part').exists()
    # a new process: same database and data directory
    again = ObjectStore(store.db, tmp_path, store.events)
    await again.recover()
    obj = await again.get(OWNER, uuid)
    assert obj.status == 'ok' and obj.from_ == '+491' and obj.source is None
    assert obj.duration == pytest.approx(3.0, abs=0.05)
    pcm, _ = sf.read(await again.playable(OWNER, uuid), dtype='int16')
    assert has_speech(pcm)


async def test_lost_recording_fails_and_finish_and_discard(store, tmp_path):
    gone = await store.begin_recording(OWNER, tmp_path / 'never-written.wav')
    await store.recover()
    assert (await store.get(OWNER, gone)).status == 'fail'

    src = tmp_path / 'r2.wav'
    uuid = await store.begin_recording(OWNER, src, from_='+1', to='+2')
    record_file(src, speechlike(1.0))
    assert await store.add_recording(OWNER, src, uuid=uuid) == uuid
    assert (await store.get(OWNER, uuid)).status == 'ok'
    assert events(store, 'object_modify')[-1]['object'] == uuid

    src3 = tmp_path / 'r3.wav'
    u3 = await store.begin_recording(OWNER, src3)
    record_file(src3, speechlike(1.0))
    await store.finish_recording(u3, discard=True)
    assert not src3.exists()
    with pytest.raises(NotFound):
        await store.get(OWNER, u3)


async def test_upload_conversion_trash_and_purge(store, tmp_path):
    obj = await store.create(OWNER, 'announcement', 'hello')
    assert obj.status == 'empty'
    t = np.arange(44100 * 2) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1) * 0.3
    buf = io.BytesIO()
    sf.write(buf, stereo, 44100, format='OGG', subtype='VORBIS')
    await store.upload(OWNER, obj.uuid, buf.getvalue())
    assert (await store.get(OWNER, obj.uuid)).status == 'convert'
    await store.idle()
    got = await store.get(OWNER, obj.uuid)
    assert got.status == 'ok' and got.duration == pytest.approx(2.0, abs=0.05)
    assert events(store, 'announcement_convert')[-1] == {
        **events(store, 'announcement_convert')[-1], 'announcement': obj.uuid, 'success': True}

    with pytest.raises(Malformed):
        await store.upload(OWNER, obj.uuid, b'RIFF\x00\x00\x00\x00WAVEjunk' * 10)
    small = ObjectStore(store.db, tmp_path, store.events, max_upload_seconds=1.0)
    with pytest.raises(TooLarge):
        await small.upload(OWNER, obj.uuid, buf.getvalue())
    assert (await store.get(OWNER, obj.uuid)).status == 'ok'   # rejected uploads change nothing

    await store.delete(OWNER, obj.uuid, 'announcement')
    assert (await store.get(OWNER, obj.uuid)).trashed is not None
    assert await store.playable(OWNER, obj.uuid) is None
    assert await store.purge_trash(OWNER) == 1
    assert not list((tmp_path / 'objects').glob(f'{obj.uuid}*'))
    assert events(store, 'object_delete')[-1]['purge'] is True
    assert events(store)[-1]['event'] == 'trash_purge'


async def test_last_of_overlapping_uploads_wins_and_staged_job_resumes(store, tmp_path):
    obj = await store.create(OWNER, 'announcement')

    def wav(seconds):
        buf = io.BytesIO()
        sf.write(buf, speechlike(seconds, 16000), 16000, format='WAV')
        return buf.getvalue()

    for seconds in (1.0, 2.0, 3.0):
        await store.upload(OWNER, obj.uuid, wav(seconds))
    await store.idle()
    got = await store.get(OWNER, obj.uuid)
    assert got.status == 'ok' and got.duration == pytest.approx(3.0, abs=0.05)
    assert not list((tmp_path / 'objects').glob('*.upload'))

    # a crash between accepting an upload and converting it: the staged job is rerun
    staged = tmp_path / 'objects' / f'{obj.uuid}.7-abcd.upload'
    staged.write_bytes(wav(1.5))
    (tmp_path / 'objects' / f'{obj.uuid}.job').write_text(
        json.dumps({'kind': 'upload', 'file': staged.name}))
    await store._set(obj.uuid, status='convert')
    again = ObjectStore(store.db, tmp_path, store.events)
    await again.recover()
    await again.idle()
    got = await again.get(OWNER, obj.uuid)
    assert got.status == 'ok' and got.duration == pytest.approx(1.5, abs=0.05)


def test_decode_any_rate_and_channels_and_emptiness():
    for rate, channels in ((44100, 2), (16000, 1), (48000, 6), (8000, 1)):
        t = np.arange(rate) / rate
        x = np.tile((0.4 * np.sin(2 * np.pi * 300 * t))[:, None], (1, channels))
        buf = io.BytesIO()
        sf.write(buf, x, rate, format='FLAC' if channels == 6 else 'WAV')
        pcm = decode(buf.getvalue())
        assert pcm.dtype == np.int16 and abs(len(pcm) - 8000) <= 2
        assert 0.35 * 32767 < np.abs(pcm[200:-200]).max() < 0.45 * 32767
        assert not is_empty(pcm)              # a tone is not silence
    assert is_empty(np.zeros(16000, dtype=np.int16))
    assert is_empty(np.zeros(0, dtype=np.int16))
    assert not is_empty(speechlike(1.0) // 40)   # quiet speech still counts (VAD)


async def test_a_recording_whose_start_was_not_stored_is_stored_when_it_ends(store, tmp_path):
    """A database too busy when the call began recording (pool timeout) must not lose the
    recording: the object is created when the recording ends instead."""
    from types import SimpleNamespace

    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from telephony.calls.manager import CallManager

    manager = CallManager(stack=None, media=None, settings=None, events=store.events, auth=None,
                          registrar=None, db=store.db, phones=None, objects=store, history=None,
                          apps=None, recordings_dir=tmp_path / 'recordings')
    updates, stored = {}, asyncio.Event()

    def update(**kw):
        updates.update(kw)
        stored.set()
    call = SimpleNamespace(id='c-9', owner=OWNER, info={'from': '+4922100001', 'to': '+4922100002'},
                           record_begun=None, update=update)

    async def busy():
        raise PoolTimeout('QueuePool limit of size 5 overflow 10 reached')
    path = manager.recording_path('0f1e2d3c-4b5a-4697-8877-665544330009')
    record_file(path, speechlike(1.0))
    call.record_begun = asyncio.get_running_loop().create_task(busy())
    manager.keep_recording(call, path)
    await asyncio.wait_for(stored.wait(), 10)
    obj = await store.get(OWNER, updates['recording'], 'recording')
    assert (obj.status, obj.call, obj.from_) == ('ok', 'c-9', '+4922100001')
    assert obj.duration == pytest.approx(1.0, abs=0.02)
