"""Media objects: announcements and recordings (Q-loud §3.14, §3.15), their rows and files.

A row in `objects` says what the object is and what state it is in
(`record|convert|ok|empty|fail`); its audio is `data_dir/objects/<uuid>.wav`,
8 kHz mono 16-bit, always written to a temporary name and renamed, so a
reader never sees half a file.  An Ogg Vorbis copy for downloads is made on
first request and cached next to it until the audio changes.

Work that outlives an HTTP request (an upload's conversion, text to speech, a
recording in progress) leaves a trace on disk, so `recover()` at start-up
finishes it or marks the object `fail`; nothing stays in `convert` or
`record` forever after a crash.

Every object has one owner; every query here is scoped by owner, so a user
never reaches another user's objects.  Events go to the owner through the event sink:
`object_new`, `object_modify`, `object_delete` (§7.6), `announcement_convert`
(§7.10), `trash_purge` (§7.5).
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import numpy as np
import soundfile as sf
import soxr
from sqlalchemy import Column, Float, Index, String, Table, delete, select, update

from ..ids import new_uuid
from ..media.audiofile import file_executor, write_atomic
from ..media.recorder import PART_SUFFIX, recover_partial
from ..media.vad import has_speech
from .schema import metadata

if TYPE_CHECKING:
    from ..events import EventSink
    from .db import Database

log = logging.getLogger('telephony.objects')

RATE = 8000
AUDIO = ('announcement', 'recording')
TYPES = (*AUDIO, 'fax')          # faxes: store/faxes.py keeps their pages and reports
STATUSES = ('record', 'ok', 'convert', 'empty', 'fail')
MAX_UPLOAD_BYTES = 20 * 1024 * 1024     # `too-large` above this many bytes ...
MAX_UPLOAD_SECONDS = 15 * 60            # ... or this much audio
TTS_TIMEOUT = 60.0
# espeak-ng voices for the document's text2speech locales (§3.15)
VOICES = {'de-DE': 'de', 'en-GB': 'en-gb', 'en-US': 'en-us', 'es-ES': 'es',
          'fr-FR': 'fr-fr', 'it-IT': 'it'}
# "only silence": no speech by VAD and less than this much audio above the level
LOUD_RMS = 180           # about -45 dBFS in a 20 ms frame
LOUD_MS = 300
_UUID = re.compile(r'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')

objects = Table(
    'objects', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('owner', String(36), nullable=False),
    Column('type', String(16), nullable=False),           # announcement | recording | fax
    Column('time', Float, nullable=False),                # creation, seconds since the epoch
    Column('description', String(200), nullable=False, default=''),
    Column('status', String(8), nullable=False),          # record|ok|convert|empty|fail
    Column('duration', Float, nullable=True),             # seconds of audio, when there is some
    Column('from_number', String(64), nullable=True),     # recordings: the call's parties
    Column('to_number', String(64), nullable=True),
    Column('call', String(64), nullable=True),            # recordings: the call it came from
    Column('source', String(1024), nullable=True),        # status record: the file being written
    Column('trashed', Float, nullable=True),              # in the trash since (None: not)
    Index('ix_objects_owner_type', 'owner', 'type'),
)


class NotFound(Exception):
    """No object of that type and uuid belongs to the user."""


class InTrash(Exception):
    """The object is in the trash; only delete (purge) works on it."""


class TooLarge(Exception):
    """An upload above MAX_UPLOAD_BYTES or MAX_UPLOAD_SECONDS."""


class Malformed(Exception):
    """An upload that is not audio libsndfile can decode."""


@dataclass
class MediaObject:
    uuid: str
    owner: str
    type: str
    time: float
    description: str
    status: str
    duration: float | None = None
    from_: str | None = None
    to: str | None = None
    call: str | None = None
    source: str | None = None
    trashed: float | None = None

    @classmethod
    def of(cls, r) -> 'MediaObject':
        return cls(r['uuid'], r['owner'], r['type'], r['time'], r['description'] or '',
                   r['status'], r['duration'], r['from_number'], r['to_number'], r['call'],
                   r['source'], r['trashed'])


# --- audio (runs in worker threads) -------------------------------------------------------
def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def probe(data: bytes, max_seconds: float = MAX_UPLOAD_SECONDS) -> float:
    """Seconds of audio in an upload; Malformed if libsndfile cannot read it, TooLarge if long."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            frames, rate = f.frames, f.samplerate
            if rate <= 0 or f.channels <= 0:
                raise Malformed('no audio stream')
            if frames > 0:          # read a little: a broken stream fails here, not later
                f.read(min(frames, 4096), dtype='float32')
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError) as exc:
        raise Malformed(str(exc)) from None
    seconds = frames / rate
    if seconds > max_seconds:
        raise TooLarge(f'{seconds:.0f} s of audio, at most {max_seconds:.0f} s')
    return seconds


def decode(src: bytes | str | os.PathLike) -> np.ndarray:
    """Any libsndfile format (WAV, Ogg Vorbis, FLAC, ...), any rate and channel count, as
    int16 mono 8 kHz.  Streams in blocks, so memory follows the output, not the input."""
    handle = io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else os.fspath(src)
    out: list[np.ndarray] = []
    with sf.SoundFile(handle) as f:
        rate = f.samplerate
        rs = None if rate == RATE else soxr.ResampleStream(rate, RATE, 1, dtype='float32',
                                                            quality='HQ')
        while True:
            block = f.read(65536, dtype='float32', always_2d=True)
            last = len(block) < 65536
            mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            if rs is not None:
                mono = rs.resample_chunk(np.ascontiguousarray(mono), last=last)
            if len(mono):
                out.append(_to_int16(mono))
            if last:
                break
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def is_empty(pcm: np.ndarray) -> bool:
    """Only silence: webrtcvad hears no speech and there is (almost) no sound at all."""
    if len(pcm) == 0:
        return True
    n = len(pcm) // 160 * 160
    if n:
        frames = pcm[:n].astype(np.float32).reshape(-1, 160)
        loud = int(np.count_nonzero(np.sqrt((frames * frames).mean(axis=1)) > LOUD_RMS))
        if loud * 20 >= LOUD_MS:
            return False
    return not has_speech(pcm)


def write_wav(path: Path, pcm: np.ndarray) -> None:
    """16-bit mono 8 kHz WAV, written to a temporary name in the same folder and renamed."""
    write_atomic(path, lambda f: sf.write(f, np.asarray(pcm, dtype=np.int16), RATE,
                                     subtype='PCM_16', format='WAV'))


def write_ogg(path: Path, pcm: np.ndarray) -> None:
    write_atomic(path, lambda f: sf.write(f, np.asarray(pcm, dtype=np.int16), RATE,
                                     format='OGG', subtype='VORBIS'))


def read_pcm(path: Path) -> np.ndarray:
    """A stored (or recorded) file as int16 8 kHz mono, converting only if it is not."""
    info = sf.info(str(path))
    if info.samplerate == RATE and info.channels == 1 and info.subtype == 'PCM_16':
        pcm, _ = sf.read(str(path), dtype='int16', always_2d=False)
        return np.ascontiguousarray(pcm)
    return decode(path)


def _in_order(fn, *args):
    """Job-file writes and removals, off the loop and in the order they were asked for."""
    return asyncio.get_running_loop().run_in_executor(file_executor(), fn, *args)


def _unlink(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning('event=object-unlink-failed path=%s error=%s', p, exc)


# --- the store ------------------------------------------------------------------------------
class ObjectStore:
    def __init__(self, db: 'Database', data_dir: Path, events: 'EventSink', *,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES,
                 max_upload_seconds: float = MAX_UPLOAD_SECONDS):
        self.db = db
        self.dir = Path(data_dir) / 'objects'
        self.events = events
        self.max_upload_bytes = max_upload_bytes
        self.max_upload_seconds = max_upload_seconds
        self._locks: dict[str, list] = {}   # uuid -> [lock, holders and waiters]
        self._gen: dict[str, int] = {}
        self._tasks: set[asyncio.Task] = set()
        # called with each purged object, after its row and files went (store/faxes.py)
        self.purge_hooks: list[Callable[[MediaObject], Awaitable[None]]] = []

    # files
    def wav_path(self, uuid: str) -> Path:
        return self.dir / f'{uuid}.wav'

    def _ogg_path(self, uuid: str) -> Path:
        return self.dir / f'{uuid}.ogg'

    def _job_path(self, uuid: str) -> Path:
        return self.dir / f'{uuid}.job'

    @contextlib.asynccontextmanager
    async def _lock(self, uuid: str):
        """Work on one object's files in turn.  The lock goes when nobody holds or awaits
        it, so a server that records every call does not keep one per recording."""
        entry = self._locks.get(uuid)
        if entry is None:
            entry = self._locks[uuid] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[uuid]

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def idle(self) -> None:
        """Wait for background conversions (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # rows
    async def _row(self, uuid: str) -> MediaObject | None:
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(objects).where(objects.c.uuid == uuid))).mappings().first()
        return None if r is None else MediaObject.of(r)

    async def _set(self, uuid: str, **values: Any) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(objects).where(objects.c.uuid == uuid).values(**values))

    async def get(self, owner: str, uuid: str, type_: str | None = None) -> MediaObject:
        """The user's object (of that type), or NotFound."""
        obj = await self._row(uuid.lower()) if _UUID.match(uuid.lower()) else None
        if obj is None or obj.owner != owner or (type_ is not None and obj.type != type_):
            raise NotFound(uuid)
        return obj

    async def list(self, owner: str, type_: str) -> list[MediaObject]:
        q = select(objects).where(objects.c.owner == owner, objects.c.type == type_) \
            .order_by(objects.c.time, objects.c.uuid)
        async with self.db.engine.connect() as conn:
            return [MediaObject.of(r) for r in (await conn.execute(q)).mappings().all()]

    async def create(self, owner: str, type_: str, description: str = '', status: str = 'empty',
                     *, from_: str | None = None, to: str | None = None, call: str | None = None,
                     source: str | None = None, uuid: str | None = None,
                     duration: float | None = None) -> MediaObject:
        assert type_ in TYPES and status in STATUSES
        obj = MediaObject(uuid or new_uuid(), owner, type_, time.time(), description,
                          status, duration, from_, to, call, source)
        async with self.db.write() as conn:
            await conn.execute(objects.insert().values(
                uuid=obj.uuid, owner=owner, type=type_, time=obj.time, description=description,
                status=status, duration=duration, from_number=from_, to_number=to, call=call,
                source=source))
        self.events.publish(owner, 'object_new', {
            'object': obj.uuid, 'type': type_, 'owner': owner, 'description': description,
            'tag': []})
        log.info('event=object-new uuid=%s type=%s owner=%s status=%s', obj.uuid, type_, owner,
                 status)
        return obj

    async def modify(self, owner: str, uuid: str, type_: str, description: str | None,
                     user: str | None = None) -> MediaObject:
        obj = await self.get(owner, uuid, type_)
        if obj.trashed is not None:
            raise InTrash(uuid)
        if description is not None and description != obj.description:
            await self._set(obj.uuid, description=description)
            obj.description = description
            self._modified(obj, user)
        return obj

    def _modified(self, obj: MediaObject, user: str | None = None) -> None:
        fields = {'object': obj.uuid, 'type': obj.type, 'owner': obj.owner,
                  'description': obj.description}
        if user:
            fields['user'] = user
        self.events.publish(obj.owner, 'object_modify', fields)

    async def delete(self, owner: str, uuid: str, type_: str, purge: bool = False,
                     user: str | None = None) -> None:
        """Move to the trash, or delete for good (purge, or deleting what is in the trash)."""
        obj = await self.get(owner, uuid, type_)
        if purge or obj.trashed is not None:
            await self._purge(obj, user)
        else:
            await self._set(obj.uuid, trashed=time.time())
            self.events.publish(owner, 'object_delete', {
                'object': obj.uuid, 'type': obj.type, 'owner': owner,
                **({'user': user} if user else {}), 'description': obj.description})
            log.info('event=object-trash uuid=%s', obj.uuid)

    async def _purge(self, obj: MediaObject, user: str | None) -> None:
        self._next_gen(obj.uuid)          # pending conversions of this object give up
        async with self._lock(obj.uuid):
            async with self.db.write() as conn:
                await conn.execute(delete(objects).where(objects.c.uuid == obj.uuid))
            await asyncio.to_thread(lambda: _unlink(*self.dir.glob(f'{obj.uuid}.*')))
        self._gen.pop(obj.uuid, None)
        for hook in self.purge_hooks:
            await hook(obj)
        self.events.publish(obj.owner, 'object_delete', {
            'object': obj.uuid, 'type': obj.type, 'owner': obj.owner,
            **({'user': user} if user else {}), 'description': obj.description, 'purge': True})
        log.info('event=object-purge uuid=%s', obj.uuid)

    async def purge_trash(self, owner: str, user: str | None = None) -> int:
        """DELETE /api/trash (§3.11): every object of the user in the trash, for good."""
        q = select(objects).where(objects.c.owner == owner, objects.c.trashed.is_not(None))
        async with self.db.engine.connect() as conn:
            found = [MediaObject.of(r) for r in (await conn.execute(q)).mappings().all()]
        for obj in found:
            await self._purge(obj, user)
        self.events.publish(owner, 'trash_purge', {})
        return len(found)

    # --- playing and downloading ---------------------------------------------------------------
    async def playable(self, owner_uuid: str, object_uuid: str) -> str | None:
        """The WAV of the user's announcement or recording with status ok (not in the trash)."""
        try:
            obj = await self.get(owner_uuid, object_uuid)
        except NotFound:
            return None
        if obj.type not in AUDIO or obj.status != 'ok' or obj.trashed is not None:
            return None
        path = self.wav_path(obj.uuid)
        return str(path) if path.exists() else None

    async def download(self, owner: str, uuid: str, type_: str, fmt: str) -> bytes | None:
        """The object's contents as 'wav' or 'ogg' bytes, or None (no such object, no contents)."""
        try:
            obj = await self.get(owner, uuid, type_)
        except NotFound:
            return None
        if obj.status != 'ok':
            return None
        wav = self.wav_path(obj.uuid)
        if fmt == 'wav':
            return await asyncio.to_thread(_read_or_none, wav)
        ogg = self._ogg_path(obj.uuid)
        data = await asyncio.to_thread(_read_or_none, ogg)
        if data is None:
            async with self._lock(obj.uuid):
                data = await asyncio.to_thread(self._make_ogg, wav, ogg)
        return data

    @staticmethod
    def _make_ogg(wav: Path, ogg: Path) -> bytes | None:
        try:
            if ogg.exists():
                return ogg.read_bytes()
            write_ogg(ogg, read_pcm(wav))
            return ogg.read_bytes()
        except (OSError, RuntimeError) as exc:
            log.warning('event=ogg-failed path=%s error=%s', wav, exc)
            return None

    # --- announcements: upload and text to speech -------------------------------------------
    # Each upload or text2speech gets a generation number; a conversion commits only while
    # its generation is the newest, so the last request wins however the work interleaves.
    async def _writable(self, owner: str, uuid: str, type_: str) -> MediaObject:
        obj = await self.get(owner, uuid, type_)
        if obj.trashed is not None:
            raise InTrash(uuid)
        return obj

    def _next_gen(self, uuid: str) -> int:
        gen = self._gen[uuid] = self._gen.get(uuid, 0) + 1
        return gen

    async def upload(self, owner: str, uuid: str, data: bytes, type_: str = 'announcement') -> None:
        """Accept new contents: TooLarge or Malformed at once; otherwise status `convert` and
        the conversion runs in the background, ending with `announcement_convert`."""
        obj = await self._writable(owner, uuid, type_)
        if len(data) > self.max_upload_bytes:
            raise TooLarge(f'{len(data)} bytes, at most {self.max_upload_bytes}')
        await asyncio.to_thread(probe, data, self.max_upload_seconds)
        self.dir.mkdir(parents=True, exist_ok=True)
        gen = self._next_gen(obj.uuid)
        staged = self.dir / f'{obj.uuid}.{gen}-{secrets.token_hex(4)}.upload'
        await asyncio.to_thread(write_atomic, staged, lambda f: f.write(data))
        await self._start(obj, gen, {'kind': 'upload', 'file': staged.name})

    async def text2speech(self, owner: str, uuid: str, text: str, locale: str = 'de-DE',
                          type_: str = 'announcement') -> None:
        """New contents spoken by espeak-ng; like an upload, it converts in the background."""
        obj = await self._writable(owner, uuid, type_)
        self.dir.mkdir(parents=True, exist_ok=True)
        await self._start(obj, self._next_gen(obj.uuid),
                          {'kind': 'tts', 'text': text, 'locale': locale})

    async def _start(self, obj: MediaObject, gen: int, job: dict) -> None:
        if self._gen.get(obj.uuid) != gen:        # a newer request came in meanwhile
            self._drop_staged(job)
            return
        # the job stays on disk until done, so a crash does not lose it (see recover())
        await _in_order(self._job_path(obj.uuid).write_text, json.dumps(job))
        await self._set(obj.uuid, status='convert')
        self._spawn(self._convert(obj, gen, job))

    def _drop_staged(self, job: dict) -> None:
        if job.get('file'):
            _unlink(self.dir / job['file'])

    async def _convert(self, obj: MediaObject, gen: int, job: dict) -> None:
        async with self._lock(obj.uuid):
            if self._gen.get(obj.uuid) != gen:
                self._drop_staged(job)
                return
            pcm = None
            try:
                if job.get('kind') == 'tts':
                    pcm = await self._speak(job['text'], job.get('locale') or 'de-DE')
                else:
                    pcm = await asyncio.to_thread(decode, self.dir / job['file'])
            except Exception as exc:       # noqa: BLE001 -- any failure ends as status fail
                log.warning('event=convert-failed uuid=%s error=%s', obj.uuid, exc)
            finally:
                self._drop_staged(job)
            if self._gen.get(obj.uuid) != gen or await self._row(obj.uuid) is None:
                return      # superseded or purged meanwhile
            if pcm is None:
                status = 'fail'
                await asyncio.to_thread(_unlink, self.wav_path(obj.uuid), self._ogg_path(obj.uuid))
            else:
                status = await asyncio.to_thread(self._store_pcm, obj.uuid, pcm)
            if self._gen.get(obj.uuid) != gen:
                return
            await _in_order(_unlink, self._job_path(obj.uuid))
            duration = None if pcm is None else len(pcm) / RATE
            await self._set(obj.uuid, status=status, duration=duration)
            log.info('event=convert uuid=%s status=%s duration=%s', obj.uuid, status, duration)
            self.events.publish(obj.owner, 'announcement_convert', {
                'announcement': obj.uuid, **({'success': True} if status != 'fail' else {})})

    def _store_pcm(self, uuid: str, pcm: np.ndarray) -> str:
        """Write the audio and say what status it earns: ok, or empty for only silence."""
        _unlink(self._ogg_path(uuid))
        write_wav(self.wav_path(uuid), pcm)
        _unlink(self._ogg_path(uuid))
        return 'empty' if is_empty(pcm) else 'ok'

    async def _speak(self, text: str, locale: str) -> np.ndarray:
        voice = VOICES.get(locale, 'de')
        fd, out = tempfile.mkstemp(prefix='.tts.', suffix='.wav', dir=self.dir)
        os.close(fd)
        try:
            proc = await asyncio.create_subprocess_exec(
                'espeak-ng', '-v', voice, '-b', '1', '-w', out, '--stdin',
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
            try:
                _, err = await asyncio.wait_for(proc.communicate(text.encode()), TTS_TIMEOUT)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                raise RuntimeError('espeak-ng timed out') from None
            if proc.returncode != 0:
                raise RuntimeError(f'espeak-ng exit {proc.returncode}: {err.decode(errors="replace")}')
            return await asyncio.to_thread(decode, out)
        finally:
            _unlink(Path(out))

    # --- recordings from calls -----------------------------------------------------------------
    def _recording_uuid(self, wav_path: Path, uuid: str | None) -> str:
        if uuid:
            return uuid
        stem = wav_path.stem.lower()   # the call layer names files by a fresh uuid: keep it
        return stem if _UUID.match(stem) else new_uuid()

    async def begin_recording(self, owner: str, wav_path: str | os.PathLike, *,
                              from_: str | None = None, to: str | None = None,
                              call: str | None = None, description: str = '') -> str:
        """A recording in progress (status `record`) whose file the recorder writes at
        wav_path; finish it with add_recording(..., uuid=) or finish_recording()."""
        wav_path = Path(wav_path)
        uuid = self._recording_uuid(wav_path, None)
        if await self._row(uuid) is not None:
            uuid = new_uuid()
        obj = await self.create(owner, 'recording', description, 'record', from_=from_, to=to,
                                call=call, source=str(wav_path), uuid=uuid)
        return obj.uuid

    async def add_recording(self, owner_uuid: str, wav_path: str | os.PathLike, from_: str |
                            None = None, to: str | None = None, call: str | None = None, *,
                            uuid: str | None = None, description: str = '') -> str:
        """Register a finished recording: the file moves into the store, VAD decides between
        `ok` and `empty`.  With the uuid of begin_recording() that object is finished;
        otherwise a new one appears (object_new).  Returns the recording's uuid."""
        wav_path = Path(wav_path)
        existing = await self._row(uuid) if uuid else None
        if existing is None:
            uuid = self._recording_uuid(wav_path, uuid)
            if await self._row(uuid) is not None:
                uuid = new_uuid()
            status, duration = await self._import(uuid, wav_path)
            await self.create(owner_uuid, 'recording', description, status, from_=from_, to=to,
                              call=call, uuid=uuid, duration=duration)
            return uuid
        await self.finish_recording(existing.uuid, wav_path)
        return existing.uuid

    async def finish_recording(self, uuid: str, wav_path: str | os.PathLike | None = None,
                               discard: bool = False) -> None:
        """End a recording begun with begin_recording(): import its file (or, with discard,
        drop the object and the file)."""
        obj = await self._row(uuid)
        if obj is None:
            return
        src = Path(wav_path or obj.source or self.wav_path(uuid))
        if discard:
            await asyncio.to_thread(_unlink, src, Path(str(src) + PART_SUFFIX))
            await self._purge(obj, None)
            return
        status, duration = await self._import(uuid, src)
        await self._set(uuid, status=status, duration=duration, source=None)
        obj.status, obj.duration = status, duration
        self._modified(obj)

    async def _import(self, uuid: str, src: Path) -> tuple[str, float | None]:
        async with self._lock(uuid):
            try:
                return await asyncio.to_thread(self._import_file, uuid, src)
            except Exception as exc:      # noqa: BLE001 -- a broken file is status fail
                log.warning('event=recording-import-failed uuid=%s path=%s error=%s', uuid, src,
                            exc)
                return 'fail', None

    def _import_file(self, uuid: str, src: Path) -> tuple[str, float | None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        dst = self.wav_path(uuid)
        info = sf.info(str(src))
        if info.samplerate == RATE and info.channels == 1 and info.subtype == 'PCM_16':
            tmp = dst.with_name(f'.{dst.name}.import.tmp')
            shutil.move(str(src), tmp)        # a rename on one file system, a copy otherwise
            os.replace(tmp, dst)
            pcm = read_pcm(dst)
        else:
            pcm = decode(src)
            write_wav(dst, pcm)
            _unlink(src)
        _unlink(self._ogg_path(uuid))
        status = 'empty' if is_empty(pcm) else 'ok'
        log.info('event=recording uuid=%s status=%s duration=%.2f', uuid, status, len(pcm) / RATE)
        return status, len(pcm) / RATE

    # --- start-up --------------------------------------------------------------------------------
    async def recover(self) -> None:
        """After a crash: finish recordings that were in progress (the recorder's file is
        playable up to the crash), rerun staged conversions, fail whatever cannot be saved."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for p in self.dir.glob('.*.tmp'):
            _unlink(p)
        q = select(objects).where(objects.c.status.in_(('record', 'convert')),
                                  objects.c.type.in_(AUDIO))     # faxes: FaxStore.recover()
        async with self.db.engine.connect() as conn:
            pending = [MediaObject.of(r) for r in (await conn.execute(q)).mappings().all()]
        for obj in pending:
            if obj.status == 'convert':
                try:
                    job = json.loads(self._job_path(obj.uuid).read_text())
                except (OSError, ValueError):
                    job = None
                if job and (job.get('kind') == 'tts' or (self.dir / job.get('file', '-')).exists()):
                    log.info('event=convert-resume uuid=%s', obj.uuid)
                    self._spawn(self._convert(obj, self._next_gen(obj.uuid), job))
                else:
                    await self._set(obj.uuid, status='fail', duration=None)
                continue
            src = Path(obj.source) if obj.source else self.wav_path(obj.uuid)
            part = Path(str(src) + PART_SUFFIX)
            if part.exists():   # noqa: ASYNC240 -- start-up, before any call
                try:
                    await asyncio.to_thread(recover_partial, part)
                except (OSError, ValueError) as exc:
                    log.warning('event=recording-recover-failed path=%s error=%s', part, exc)
            if src.exists():
                log.info('event=recording-resume uuid=%s path=%s', obj.uuid, src)
                await self.finish_recording(obj.uuid, src)
            else:
                await self._set(obj.uuid, status='fail', duration=None, source=None)


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
