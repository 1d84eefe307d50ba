"""Fax objects and fax reports (Q-loud §3.13, events §7.9), and the monthly page quota.

A fax is a media object like an announcement (store/objects.py: the `objects` row
with type `fax`, its owner, description, status, trash and the object_* events);
this module keeps what only faxes have: the contents (`data_dir/objects/<uuid>.tiff`,
a TIFF-F written atomically, see media/faxpages.py; read by media/fax/pages.py), its
pages and resolution, and the fax reports, one per transmission in or out, keyed by
the report's uuid.

Status of a fax: `empty` (created), `convert` (a PDF upload being rastered),
`record` (being received), then `ok`, `empty` (a reception with no page) or `fail`.
An upload converts in the background, as announcements do, and ends with
`fax_convert`; the job stays on disk until done, so `recover()` reruns it after a
crash.  A reception or transmission cut off by a crash ends `fail` / `error`.

The fax engine (sending and receiving over calls) calls `new_incoming`,
`received`, `outgoing_report` and `report_update`; `send` hands a checked request to
the engine through `sender` (a FaxSender), which the server sets when it has one.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import (Column, Float, Integer, PrimaryKeyConstraint, String, Table, delete,
                        select, update)

from ..dialplan.faxreport import (FINAL, NOTHING_SENT, IllegalTransition, cancellable,
                                  first_status, next_status)
from ..ids import new_uuid
from ..media import faxpages
from ..media.fax import pages as faxread
from ..media.audiofile import write_atomic
from .objects import (InTrash, Malformed, MediaObject, NotFound, TooLarge, _in_order,
                      _read_or_none, _unlink, objects)
from .schema import metadata

if TYPE_CHECKING:
    from ..events import EventSink
    from .db import Database
    from .objects import ObjectStore

log = logging.getLogger('telephony.fax')
TYPE = 'fax'
GS_AT_ONCE = 2

faxes = Table(
    'faxes', metadata,
    Column('uuid', String(36), primary_key=True),    # the fax object's uuid (objects.uuid)
    Column('page_count', Integer, nullable=True),    # set while there are contents
    Column('x_res', Integer, nullable=True),         # dpi
    Column('y_res', Integer, nullable=True),
    Column('incoming', Integer, nullable=False, default=0),   # received: contents are fixed
)

fax_reports = Table(
    'fax_reports', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('fax', String(36), nullable=False, index=True),
    Column('owner', String(36), nullable=False),
    Column('incoming', Integer, nullable=False),
    Column('from', String(64), nullable=False),
    Column('to', String(64), nullable=False),
    Column('time_start', Float, nullable=False),
    Column('time_end', Float, nullable=True),
    Column('status', String(8), nullable=False),     # dial|transmit|ok|fail|cancel|busy|error
    Column('sip_status_code', Integer, nullable=True),
    Column('fax_error_code', Integer, nullable=True),   # the T.30 phase E result
    Column('fax_ident', String(20), nullable=True),      # outgoing: the TSI sent
    Column('fax_header', String(40), nullable=True),     # outgoing: the header line
    Column('pages', Integer, nullable=True),   # outgoing: reserved from the quota; in: received
    # outgoing: the pages now counted against the quota (pages not sent are given back)
    Column('pages_charged', Integer, nullable=True),
)

# pages a user sent (reserved by POST .../send) per calendar month, UTC (`used.fax`)
fax_usage = Table(
    'fax_usage', metadata,
    Column('owner', String(36), nullable=False),
    Column('month', String(7), nullable=False),      # YYYY-MM
    Column('pages', Integer, nullable=False),
    PrimaryKeyConstraint('owner', 'month'),
)

# a user's fax defaults (POST /api/user `fax_ident`, `fax_header`)
fax_users = Table(
    'fax_users', metadata,
    Column('owner', String(36), primary_key=True),
    Column('fax_ident', String(20), nullable=True),
    Column('fax_header', String(40), nullable=True),
)


class WrongState(Exception):
    """Contents that cannot change: an incoming fax, one sent already, or one converting."""


class NoContent(Exception):
    """The fax has no pages to send."""


class QuotaExceeded(Exception):
    """Sending would pass the user's monthly page quota."""


class NoEngine(Exception):
    """No fax engine is wired, or it refused the job: nothing can be sent."""


class FaxSender(Protocol):
    """What the fax engine offers the store.  `send` queues the transmission and returns at
    once; the engine then moves the report on with report_update()."""

    async def send(self, fax: str, report: str, from_: str, to: str, ident: str, header: str,
                   tiff: Path) -> None: ...

    async def cancel(self, report: str) -> int | None:
        """Stop the transmission; the pages sent so far when it knows (refunded: the rest)."""


@dataclass
class Report:
    uuid: str
    fax: str
    owner: str
    incoming: bool
    from_: str
    to: str
    time_start: float
    status: str
    time_end: float | None = None
    sip_status_code: int | None = None
    fax_error_code: int | None = None
    pages: int | None = None

    @classmethod
    def of(cls, r) -> 'Report':
        return cls(r['uuid'], r['fax'], r['owner'], bool(r['incoming']), r['from'], r['to'],
                   r['time_start'], r['status'], r['time_end'], r['sip_status_code'],
                   r['fax_error_code'], r['pages'])

    def describe(self) -> dict:
        """A report as GET /api/fax/(uuid) and the fax_report event show it."""
        out: dict[str, Any] = {'incoming': self.incoming, 'from': self.from_, 'to': self.to,
                               'time_start': int(self.time_start)}
        if self.time_end is not None:
            out['time_end'] = int(self.time_end)
        out['status'] = self.status
        if self.sip_status_code is not None:
            out['sip_status_code'] = self.sip_status_code
        if self.fax_error_code is not None:
            out['fax_error_code'] = self.fax_error_code
        return out


def month_of(t: float) -> str:
    return time.strftime('%Y-%m', time.gmtime(t))


class FaxStore:
    def __init__(self, db: 'Database', objects: 'ObjectStore', events: 'EventSink', *,
                 max_upload_bytes: int = 20_000_000, max_pages: int = 100,
                 convert_timeout: float = 120.0, pages_per_month: int = 50,
                 downloads_at_once: int = 2):
        self.db = db
        self.objects = objects
        self.dir = objects.dir
        self.events = events
        self.max_upload_bytes = max_upload_bytes
        self.max_pages = max_pages
        self.convert_timeout = convert_timeout
        self.pages_per_month = pages_per_month
        self.sender: FaxSender | None = None       # the fax engine, when the server has one
        self._busy: set[str] = set()   # faxes an upload is staging or converting right now
        # ghostscript runs at most this many at once: each may take a core and 1 GiB
        self._gs_slots = asyncio.Semaphore(GS_AT_ONCE)
        # PDF/PNG renderings at once: each holds a decoded page (up to MAX_PIXELS bytes)
        self._renders = asyncio.Semaphore(max(1, downloads_at_once))
        objects.purge_hooks.append(self._forget)

    # --- files ------------------------------------------------------------------------------
    def tiff_path(self, uuid: str) -> Path:
        return self.dir / f'{uuid}.tiff'

    def _staged(self, uuid: str) -> Path:
        return self.dir / f'{uuid}.upload.pdf'

    def _job(self, uuid: str) -> Path:
        return self.dir / f'{uuid}.faxjob'

    # --- rows -------------------------------------------------------------------------------
    async def _fax_row(self, uuid: str) -> dict:
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(faxes).where(faxes.c.uuid == uuid))).mappings().first()
        return dict(r) if r is not None else {'uuid': uuid, 'page_count': None, 'x_res': None,
                                              'y_res': None, 'incoming': 0}

    async def _set_fax(self, uuid: str, **values: Any) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(faxes).where(faxes.c.uuid == uuid).values(**values))

    async def reports(self, fax: str) -> list[Report]:
        q = select(fax_reports).where(fax_reports.c.fax == fax) \
            .order_by(fax_reports.c.time_start, fax_reports.c.uuid)
        async with self.db.engine.connect() as conn:
            return [Report.of(r) for r in (await conn.execute(q)).mappings().all()]

    async def report(self, uuid: str) -> Report | None:
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(fax_reports).where(fax_reports.c.uuid == uuid))
                 ).mappings().first()
        return None if r is None else Report.of(r)

    async def get(self, owner: str, uuid: str) -> MediaObject:
        return await self.objects.get(owner, uuid, TYPE)

    async def _writable(self, owner: str, uuid: str) -> MediaObject:
        obj = await self.get(owner, uuid)
        if obj.trashed is not None:
            raise InTrash(uuid)
        return obj

    # --- the object ---------------------------------------------------------------------------
    async def create(self, owner: str, description: str = '', status: str = 'empty', *,
                     incoming: bool = False, from_: str | None = None,
                     to: str | None = None) -> MediaObject:
        obj = await self.objects.create(owner, TYPE, description, status, from_=from_, to=to)
        async with self.db.write() as conn:
            await conn.execute(faxes.insert().values(uuid=obj.uuid, incoming=int(incoming)))
        return obj

    async def describe(self, owner: str, uuid: str) -> dict:
        """GET /api/fax/(uuid): the fax section, its reports ordered by time."""
        obj = await self.get(owner, uuid)
        row = await self._fax_row(obj.uuid)
        out: dict[str, Any] = {'owner': obj.owner, 'time': int(obj.time),
                               'description': obj.description}
        if obj.status == 'ok' and row['page_count']:   # "will not show" without contents
            out.update(page_count=row['page_count'], x_res=row['x_res'], y_res=row['y_res'])
        out['status'] = obj.status
        out['tag'] = []                      # tags (§3.10) are not implemented yet
        out['trash'] = obj.trashed is not None
        out['report'] = {r.uuid: r.describe() for r in await self.reports(obj.uuid)}
        return out

    async def _forget(self, obj: MediaObject) -> None:
        """A purged fax: its transmissions stop, its rows go (the files went with the object)."""
        if obj.type != TYPE:
            return
        for r in await self.reports(obj.uuid):
            if self.sender is not None and cancellable(r.incoming, r.status):
                try:
                    await self.sender.cancel(r.uuid)
                except Exception:      # noqa: BLE001 -- the purge goes on regardless
                    log.exception('event=fax-cancel-failed report=%s', r.uuid)
        async with self.db.write() as conn:
            await conn.execute(delete(fax_reports).where(fax_reports.c.fax == obj.uuid))
            await conn.execute(delete(faxes).where(faxes.c.uuid == obj.uuid))

    # --- contents: upload and conversion ----------------------------------------------------
    async def check_upload(self, owner: str, uuid: str) -> MediaObject:
        """Before reading an upload's body: wrong-fax, in the trash, or WrongState."""
        obj = await self._writable(owner, uuid)
        if obj.status in ('convert', 'record'):
            raise WrongState('the fax is being converted or received')
        if (await self._fax_row(obj.uuid))['incoming']:
            raise WrongState('an incoming fax cannot be changed')
        if any(not r.incoming for r in await self.reports(obj.uuid)):
            raise WrongState('the fax was sent already')
        return obj

    async def upload(self, owner: str, uuid: str, data: bytes, *, landscape: bool = False,
                     photo: bool = False) -> None:
        """New contents from a PDF: TooLarge, Malformed or WrongState at once; otherwise status
        `convert`, and the conversion runs in the background, ending with `fax_convert`."""
        obj = await self.check_upload(owner, uuid)
        if len(data) > self.max_upload_bytes:
            raise TooLarge(f'{len(data)} bytes, at most {self.max_upload_bytes}')
        if not faxpages.is_pdf(data):
            raise Malformed('not a PDF file')
        if obj.uuid in self._busy:      # two uploads at once: the second waits for no one
            raise WrongState('another upload of this fax is being converted')
        self._busy.add(obj.uuid)
        try:
            job = await self._stage(obj, data, landscape, photo)
        except BaseException:
            self._busy.discard(obj.uuid)
            raise
        self.objects._spawn(self._convert(obj, job))

    async def _stage(self, obj: MediaObject, data: bytes, landscape: bool, photo: bool) -> dict:
        """The upload on disk, counted and its job written: status `convert`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        staged = self._staged(obj.uuid)
        await asyncio.to_thread(write_atomic, staged, lambda f: f.write(data))
        try:
            async with self._gs_slots:
                pages = await asyncio.to_thread(faxpages.pdf_page_count, staged,
                                                min(self.convert_timeout, 30.0))
        except faxpages.DocumentError as exc:
            await asyncio.to_thread(_unlink, staged)
            log.info('event=fax-upload-malformed uuid=%s error="%s"', obj.uuid, exc)
            raise Malformed('ghostscript finds no page in it') from None   # no paths to users
        if pages > self.max_pages:
            await asyncio.to_thread(_unlink, staged)
            raise TooLarge(f'{pages} pages, at most {self.max_pages}')
        if (await self.objects._row(obj.uuid)) is None:      # purged meanwhile
            await asyncio.to_thread(_unlink, staged)
            raise NotFound(obj.uuid)
        job = {'landscape': landscape, 'photo': photo}
        await _in_order(self._job(obj.uuid).write_text, json.dumps(job))   # see recover()
        await self.objects._set(obj.uuid, status='convert')
        return job

    async def _convert(self, obj: MediaObject, job: dict) -> None:
        self._busy.add(obj.uuid)
        try:
            await self._rasterise(obj, job)
        finally:
            self._busy.discard(obj.uuid)

    async def _rasterise(self, obj: MediaObject, job: dict) -> None:
        tiff, staged = self.tiff_path(obj.uuid), self._staged(obj.uuid)
        pages = None
        try:
            async with self._gs_slots:
                pages = await asyncio.to_thread(
                    faxpages.pdf_to_tiff, staged, tiff, landscape=bool(job.get('landscape')),
                    photo=bool(job.get('photo')), max_pages=self.max_pages,
                    timeout=self.convert_timeout)
        except Exception as exc:     # noqa: BLE001 -- any failure ends as status fail
            log.warning('event=fax-convert-failed uuid=%s error=%s', obj.uuid, exc)
        await asyncio.to_thread(_unlink, staged)
        if await self.objects._row(obj.uuid) is None:        # purged meanwhile
            await asyncio.to_thread(_unlink, tiff, self._job(obj.uuid))
            return
        if pages is None:
            await asyncio.to_thread(_unlink, tiff)
            await self._set_fax(obj.uuid, page_count=None, x_res=None, y_res=None)
            await self.objects._set(obj.uuid, status='fail')
        else:
            await self._set_fax(obj.uuid, page_count=pages.count, x_res=pages.x_res,
                                y_res=pages.y_res)
            await self.objects._set(obj.uuid, status='ok')
        await _in_order(_unlink, self._job(obj.uuid))
        log.info('event=fax-convert uuid=%s pages=%s', obj.uuid, pages.count if pages else None)
        self.events.publish(obj.owner, 'fax_convert', {
            'fax': obj.uuid, **({'page_count': pages.count} if pages else {})})

    # --- downloads ----------------------------------------------------------------------------
    async def contents(self, owner: str, uuid: str) -> Path | None:
        """The TIFF of the user's fax with contents (status ok), else None."""
        try:
            obj = await self.get(owner, uuid)
        except NotFound:
            return None
        path = self.tiff_path(obj.uuid)
        return path if obj.status == 'ok' and path.exists() else None

    async def download(self, owner: str, uuid: str, fmt: str, page: int | None = None
                       ) -> bytes | None:
        """'tif' (the stored file), 'pdf' (every page) or 'png' (one page, from 1), or None."""
        tiff = await self.contents(owner, uuid)
        if tiff is None:
            return None
        if fmt not in ('png', 'pdf'):
            return await asyncio.to_thread(_read_or_none, tiff)
        async with self._renders:
            try:
                if fmt == 'png':
                    return await asyncio.to_thread(faxread.page_png, tiff, (page or 0) - 1)
                return await asyncio.to_thread(faxread.document_pdf, tiff)
            except faxread.FaxDocumentError as exc:
                log.warning('event=fax-%s-failed uuid=%s error=%s', fmt, uuid, exc)
                return None

    async def report_pdf(self, owner: str, fax: str, report: str) -> bytes | None:
        """The one-page transmission report of one of the fax's reports, or None."""
        try:
            obj = await self.get(owner, fax)
        except NotFound:
            return None
        r = await self.report(report.lower())
        if r is None or r.fax != obj.uuid:
            return None
        lines = [('Fax', obj.uuid), ('Description', obj.description[:60]),
                 ('Direction', 'received' if r.incoming else 'sent'), ('From', r.from_),
                 ('To', r.to), ('Start', _utc(r.time_start)),
                 ('End', _utc(r.time_end) if r.time_end is not None else '-'),
                 ('Status', r.status), ('Pages', str(r.pages) if r.pages is not None else '-'),
                 ('SIP status', str(r.sip_status_code) if r.sip_status_code is not None else '-'),
                 ('Fax result', str(r.fax_error_code) if r.fax_error_code is not None else '-')]
        tiff = await self.contents(owner, fax)
        async with self._renders:
            return await asyncio.to_thread(faxpages.report_pdf, 'Fax transmission report',
                                           lines, tiff)

    # --- reports --------------------------------------------------------------------------------
    def _report_event(self, r: Report) -> None:
        self.events.publish(r.owner, 'fax_report', {'fax': r.fax, 'report': {r.uuid: r.describe()}})

    async def _add_report(self, r: Report, ident: str | None = None,
                          header: str | None = None) -> None:
        async with self.db.write() as conn:
            await conn.execute(fax_reports.insert().values(
                uuid=r.uuid, fax=r.fax, owner=r.owner, incoming=int(r.incoming),
                **{'from': r.from_, 'to': r.to}, time_start=r.time_start, status=r.status,
                fax_ident=ident, fax_header=header, pages=r.pages,
                pages_charged=None if r.incoming else r.pages))
        log.info('event=fax-report report=%s fax=%s incoming=%s status=%s', r.uuid, r.fax,
                 r.incoming, r.status)
        self._report_event(r)

    async def outgoing_report(self, owner: str, fax: str, from_: str, to: str, *,
                              ident: str = '', header: str = '', pages: int | None = None,
                              now: float | None = None) -> str:
        """A new outgoing report in `dial` (fax_report); returns its uuid."""
        r = Report(new_uuid(), fax, owner, False, from_, to, time.time() if now is None else now,
                   first_status(False), pages=pages)
        await self._add_report(r, ident, header)
        return r.uuid

    async def report_update(self, report: str, status: str, *, sip_status_code: int | None = None,
                            fax_error_code: int | None = None, pages: int | None = None,
                            pages_sent: int | None = None, now: float | None = None
                            ) -> Report | None:
        """The engine's word on a transmission: the report moves to `status` (fax_report).
        A report that ended already (e.g. the user cancelled it) stays as it is: None.
        `pages_sent`: how many pages of an outgoing one went out (from `transmit`, the rest
        go back to the quota; unknown, all are kept).  Read, check and write are one write
        transaction, so of two racing changes (a retry's `dial`, the user's cancel) the
        second sees the first."""
        async with self.db.write() as conn:
            row = (await conn.execute(select(fax_reports).where(fax_reports.c.uuid == report))
                   ).mappings().first()
            if row is None:
                return None
            r = Report.of(row)
            if r.status in FINAL and status == r.status:
                return None
            try:
                next_status(r.incoming, r.status, status)
            except IllegalTransition as exc:
                log.info('event=fax-report-ignored report=%s reason="%s"', report, exc)
                return None
            before, r.status = r.status, status
            if status in FINAL or status == 'busy':
                r.time_end = time.time() if now is None else now
            elif status == 'dial':          # a retry
                r.time_end = None
            if sip_status_code is not None:
                r.sip_status_code = sip_status_code
            if fax_error_code is not None:
                r.fax_error_code = fax_error_code
            if pages is not None and r.incoming:
                r.pages = pages
            charged = _charged(row)
            after = charged if r.incoming else charge_after(
                r.pages or 0, charged, before, status, pages_sent)
            await conn.execute(update(fax_reports).where(
                fax_reports.c.uuid == r.uuid, fax_reports.c.status == before).values(
                status=r.status, time_end=r.time_end, sip_status_code=r.sip_status_code,
                fax_error_code=r.fax_error_code, pages=r.pages, pages_charged=after))
            if after != charged:
                await _add_usage(conn, r.owner, month_of(r.time_start), after - charged)
        log.info('event=fax-report report=%s fax=%s status=%s sip=%s t30=%s charged=%s', r.uuid,
                 r.fax, status, r.sip_status_code, r.fax_error_code, after)
        self._report_event(r)
        return r

    # --- receiving (the engine) -----------------------------------------------------------------
    async def new_incoming(self, owner: str, from_: str, to: str, now: float | None = None
                           ) -> tuple[str, str, Path]:
        """A fax coming in for `owner` on their number `to`: a fax object in `record`
        (object_new) and its report in `transmit` (fax_report).  Returns the fax uuid, the
        report uuid and the path the engine writes the received TIFF to."""
        obj = await self.create(owner, '', 'record', incoming=True, from_=from_, to=to)
        self.dir.mkdir(parents=True, exist_ok=True)
        r = Report(new_uuid(), obj.uuid, owner, True, from_, to,
                   time.time() if now is None else now, first_status(True))
        await self._add_report(r)
        return obj.uuid, r.uuid, self.tiff_path(obj.uuid)

    async def received(self, fax: str, report: str, pages: int, x_res: int | None,
                       y_res: int | None, status: str, fax_error_code: int | None = None,
                       sip_status_code: int | None = None, now: float | None = None) -> None:
        """The reception ended: the report's final `status` (ok|fail|error, fax_report), and
        the fax `ok` with the pages that arrived (partial pages of a failed one are kept),
        else `empty` (`fail` when the report failed and nothing arrived); object_modify."""
        obj = await self.objects._row(fax)
        if obj is None:
            return
        tiff = self.tiff_path(fax)
        if pages > 0:      # the far end's TIFF: readable, its pages within MAX_PIXELS
            try:
                info = await asyncio.to_thread(faxread.tiff_info, tiff)
                x_res = info.x_res if x_res is None else x_res
                y_res = info.y_res if y_res is None else y_res
            except faxread.FaxDocumentError as exc:
                log.warning('event=fax-received-unreadable fax=%s error=%s', fax, exc)
                pages = 0
        if pages > 0 and not tiff.exists():
            pages = 0
        fax_status = 'ok' if pages > 0 else ('empty' if status == 'ok' else 'fail')
        await self._set_fax(fax, page_count=pages or None, x_res=x_res if pages else None,
                            y_res=y_res if pages else None)
        await self.objects._set(fax, status=fax_status)
        obj.status = fax_status
        await self.report_update(report, status, sip_status_code=sip_status_code,
                                 fax_error_code=fax_error_code, pages=pages, now=now)
        self.objects._modified(obj)

    # --- sending --------------------------------------------------------------------------------
    async def send(self, owner: str, uuid: str, from_: str, to: str, ident: str, header: str,
                   now: float | None = None) -> str:
        """POST .../send after the API checked the numbers: NoContent, NoEngine or
        QuotaExceeded; else the pages are reserved, a report in `dial` made and the job handed
        to the engine.  Returns the report's uuid."""
        obj = await self._writable(owner, uuid)
        if obj.uuid in self._busy:      # an upload is replacing the pages being sent
            raise WrongState('the fax is being converted')
        row = await self._fax_row(obj.uuid)
        tiff = self.tiff_path(obj.uuid)
        if obj.status != 'ok' or not row['page_count'] or not tiff.exists():
            raise NoContent(uuid)
        now = time.time() if now is None else now
        pages = row['page_count']
        await self._check_quota(owner, pages, now)     # a client learns this even unwired
        sender = self.sender
        if sender is None:
            raise NoEngine('no fax engine is running')
        await self.reserve_pages(owner, pages, now)
        report = await self.outgoing_report(owner, obj.uuid, from_, to, ident=ident,
                                            header=header, pages=pages, now=now)
        try:
            await sender.send(obj.uuid, report, from_, to, ident, header, tiff)
        except Exception as exc:      # noqa: BLE001 -- the engine refused: an internal error
            log.warning('event=fax-send-failed report=%s error=%s', report, exc)
            await self.report_update(report, 'error')
            raise NoEngine('the fax engine refused the job') from None   # details: the log
        return report

    async def cancel(self, owner: str, uuid: str, report: str) -> None:
        """Cancel an outgoing transmission (NotFound; WrongState when it ended already)."""
        obj = await self.get(owner, uuid)
        r = await self.report(report.lower())
        if r is None or r.fax != obj.uuid:
            raise NotFound(report)
        if not cancellable(r.incoming, r.status):
            raise WrongState(f'the report is {r.status}')
        sent = None
        if self.sender is not None:
            sent = await self.sender.cancel(r.uuid)
        await self.report_update(r.uuid, 'cancel', pages_sent=sent)

    # --- quota ------------------------------------------------------------------------------------
    async def used_pages(self, owner: str, now: float | None = None) -> int:
        month = month_of(time.time() if now is None else now)
        async with self.db.engine.connect() as conn:
            v = (await conn.execute(select(fax_usage.c.pages).where(
                fax_usage.c.owner == owner, fax_usage.c.month == month))).scalar()
        return int(v or 0)

    def _over(self, used: int, n: int) -> QuotaExceeded | None:
        if used + n <= self.pages_per_month:
            return None
        return QuotaExceeded(f'{used} of {self.pages_per_month} pages used this month, {n} more '
                             f'asked')

    async def _check_quota(self, owner: str, n: int, now: float) -> None:
        over = self._over(await self.used_pages(owner, now), n)
        if over is not None:
            raise over

    async def reserve_pages(self, owner: str, n: int, now: float | None = None, *,
                            force: bool = False) -> None:
        """Count n pages against this month's quota, or QuotaExceeded (nothing counted);
        `force` counts them regardless (a retry of pages the user was allowed already)."""
        month = month_of(time.time() if now is None else now)
        async with self.db.write() as conn:
            if not force:
                used = (await conn.execute(select(fax_usage.c.pages).where(
                    fax_usage.c.owner == owner, fax_usage.c.month == month))).scalar()
                over = self._over(used or 0, n)
                if over is not None:
                    raise over
            await _add_usage(conn, owner, month, n)

    async def refund_pages(self, owner: str, n: int, when: float) -> None:
        """Give back pages reserved in the month of `when` (a send that sent nothing)."""
        async with self.db.write() as conn:
            await _add_usage(conn, owner, month_of(when), -n)

    # --- the user's defaults ----------------------------------------------------------------------
    async def user_defaults(self, owner: str) -> dict:
        """`fax_ident` and `fax_header` as the user set them (only those set)."""
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(fax_users).where(fax_users.c.owner == owner))
                 ).mappings().first()
        if r is None:
            return {}
        return {k: r[k] for k in ('fax_ident', 'fax_header') if r[k] is not None}

    async def set_user_defaults(self, owner: str, **values: str) -> None:
        values = {k: v for k, v in values.items() if k in ('fax_ident', 'fax_header')
                  and v is not None}
        if not values:
            return
        async with self.db.write() as conn:
            found = (await conn.execute(select(fax_users.c.owner).where(
                fax_users.c.owner == owner))).first()
            if found is None:
                await conn.execute(fax_users.insert().values(owner=owner, **values))
            else:
                await conn.execute(update(fax_users).where(fax_users.c.owner == owner)
                                   .values(**values))

    # --- start-up -----------------------------------------------------------------------------------
    async def recover(self) -> None:
        """After a crash: rerun staged conversions; a reception cut off keeps the pages that
        reached the disk; transmissions that were under way end `error` (pages refunded)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        q = select(fax_reports).where(fax_reports.c.status.not_in(tuple(FINAL)))
        async with self.db.engine.connect() as conn:
            open_reports = [Report.of(r) for r in (await conn.execute(q)).mappings().all()]
            pending = [MediaObject.of(r) for r in (await conn.execute(select(objects).where(
                objects.c.type == TYPE, objects.c.status.in_(('record', 'convert'))))
            ).mappings().all()]
        for obj in pending:
            if obj.status == 'convert':
                try:
                    job = json.loads(self._job(obj.uuid).read_text())
                except (OSError, ValueError):
                    job = None
                if job is not None and self._staged(obj.uuid).exists():
                    log.info('event=fax-convert-resume uuid=%s', obj.uuid)
                    self.objects._spawn(self._convert(obj, job))
                else:
                    await self.objects._set(obj.uuid, status='fail')
                continue
            incoming = [r for r in open_reports if r.fax == obj.uuid and r.incoming]
            pages, x_res, y_res = 0, None, None
            try:
                info = await asyncio.to_thread(faxread.tiff_info, self.tiff_path(obj.uuid))
                pages, x_res, y_res = info.pages, info.x_res, info.y_res
            except faxread.FaxDocumentError:
                pass
            if incoming:
                await self.received(obj.uuid, incoming[0].uuid, pages, x_res, y_res, 'fail')
            else:
                await self.objects._set(obj.uuid, status='ok' if pages else 'fail')
        for r in open_reports:
            # a `busy` one has ended its last dial (its retry, if one was due, is dropped)
            if not r.incoming and r.status != 'busy':
                await self.report_update(r.uuid, 'error')


def _charged(row) -> int:
    """The pages a report's row counts against the quota (rows older than the column: all of
    them unless it ended having sent nothing)."""
    if row['pages_charged'] is not None:
        return row['pages_charged']
    return 0 if row['incoming'] or row['status'] in NOTHING_SENT else (row['pages'] or 0)


def charge_after(pages: int, charged: int, before: str, status: str,
                 pages_sent: int | None) -> int:
    """The pages an outgoing report counts after moving `before` -> `status`.  Counted at
    most once: a retry (`busy` -> `dial`) takes back what was given back.  What ended
    before `transmit` in cancel, busy or error sent nothing; from `transmit` only the pages
    the engine says went out stay counted (unknown: all of them stay)."""
    if status == 'dial':
        return pages
    if before == 'transmit':
        if pages_sent is None or status == 'ok':
            return charged
        return min(charged, max(pages_sent, 0))
    return 0 if status in NOTHING_SENT else charged


async def _add_usage(conn, owner: str, month: str, n: int) -> None:
    """Add n (may be negative; never below 0) to the owner's pages of `month`."""
    used = (await conn.execute(select(fax_usage.c.pages).where(
        fax_usage.c.owner == owner, fax_usage.c.month == month))).scalar()
    if used is None:
        if n > 0:
            await conn.execute(fax_usage.insert().values(owner=owner, month=month, pages=n))
        return
    await conn.execute(update(fax_usage).where(
        fax_usage.c.owner == owner, fax_usage.c.month == month).values(
        pages=max(used + n, 0)))


def _utc(t: float) -> str:
    return time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t))

