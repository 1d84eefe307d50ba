"""FaxStore on a real SQLite file with real ghostscript conversions and TIFF files: uploads,
the engine's calls (new_incoming, received, outgoing_report, report_update), sending,
cancel, quota, trash and purge, recovery after a crash.  The fax engine is not here yet;
`Engine` stands in for it at the FaxSender interface and records what it was handed."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from telephony.api.events import SessionStore
from telephony.events import EventSink
from telephony.media import faxpages
from telephony.store.db import Database
from telephony.store.faxes import (FaxStore, NoContent, NoEngine, QuotaExceeded, WrongState,
                                   month_of)
from telephony.store.objects import InTrash, Malformed, NotFound, ObjectStore, TooLarge
from tests import faxdocs

OWNER = '11111111-2222-1333-8444-555555555555'
OTHER = '99999999-2222-1333-8444-555555555555'
A, B = '+4930555001', '+4922100078'


class Engine:
    """The FaxSender the engine will be: takes jobs, remembers them and cancellations."""

    def __init__(self, refuse: bool = False, sent: int | None = None):
        self.jobs: list[tuple] = []
        self.cancelled: list[str] = []
        self.refuse = refuse
        self.sent = sent        # what cancel() says went out

    async def send(self, fax, report, from_, to, ident, header, tiff):
        if self.refuse:
            raise RuntimeError('no trunk for fax')
        self.jobs.append((fax, report, from_, to, ident, header, Path(tiff)))

    async def cancel(self, report):
        self.cancelled.append(report)
        return self.sent


class Events:
    def __init__(self, sessions: SessionStore):
        self.sessions = sessions
        self.session = sessions.create()
        sessions.authenticate(self.session, OWNER)


def events_of(store) -> list[dict]:
    return list(store.events_log.session.events)


async def make_store(data: Path, **kw) -> FaxStore:
    db = Database.for_data_dir(data)
    await db.open()
    sessions = SessionStore()
    log = Events(sessions)
    sink = EventSink()
    sink.subscribe(sessions)
    objects = ObjectStore(db, data, sink)
    faxes = FaxStore(db, objects, sink, **kw)
    faxes.events_log = log
    await objects.recover()
    await faxes.recover()
    return faxes


@pytest.fixture
async def store(tmp_path):
    st = await make_store(tmp_path)
    yield st
    await st.objects.idle()
    await st.db.close()


def named(store, name: str) -> list[dict]:
    return [e for e in events_of(store) if e['event'] == name]


async def with_pages(store, pages: int = 2, **kw) -> str:
    obj = await store.create(OWNER, 'contract')
    await store.upload(OWNER, obj.uuid, faxdocs.pdf(pages), **kw)
    await store.objects.idle()
    return obj.uuid


# --- upload and conversion ------------------------------------------------------------------
async def test_upload_converts_to_tiff_f_and_announces_page_count(store):
    obj = await store.create(OWNER, 'contract')
    assert named(store, 'object_new')[-1]['type'] == 'fax'
    desc = await store.describe(OWNER, obj.uuid)
    assert desc['status'] == 'empty' and 'page_count' not in desc and desc['report'] == {}
    await store.upload(OWNER, obj.uuid, faxdocs.pdf(3))
    await store.objects.idle()
    assert named(store, 'fax_convert')[-1] == {**named(store, 'fax_convert')[-1],
                                               'fax': obj.uuid, 'page_count': 3}
    desc = await store.describe(OWNER, obj.uuid)
    assert (desc['status'], desc['page_count'], desc['x_res'], desc['y_res']) == ('ok', 3, 203, 196)
    with Image.open(store.tiff_path(obj.uuid)) as im:
        assert im.n_frames == 3 and im.size == (1728, 2292) and im.mode == '1'
        assert im.info['compression'] == 'group4'
        assert tuple(round(v) for v in im.info['dpi']) == (204, 196)
        sides = []
        for i in range(3):
            im.seek(i)
            sides.append(faxdocs.dark_side(im))
    assert sides == ['left', 'right', 'left']
    assert not list(store.dir.glob(f'{obj.uuid}.upload*')) and not store._job(obj.uuid).exists()


async def test_landscape_and_photo_uploads_fit_the_fax_page(store):
    wide = await store.create(OWNER)
    await store.upload(OWNER, wide.uuid, faxdocs.pdf(1, size=(842, 595)), landscape=True,
                       photo=True)
    await store.objects.idle()
    with Image.open(store.tiff_path(wide.uuid)) as im:
        assert im.size == (1728, 2292)
        # the left half of the landscape page, turned clockwise, is the top of the fax page
        g = im.convert('L')
        top, bottom = faxdocs.mean(g.crop((0, 0, 1728, 1146))), faxdocs.mean(g.crop((0, 1146,
                                                                                  1728, 2292)))
        assert top < 100 < bottom, (top, bottom)


async def test_two_uploads_at_once_one_is_wrong_state(store):
    obj = await store.create(OWNER)
    results = await asyncio.gather(store.upload(OWNER, obj.uuid, faxdocs.pdf(1)),
                                   store.upload(OWNER, obj.uuid, faxdocs.pdf(2)),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ['NoneType', 'WrongState']
    with pytest.raises(WrongState):                  # converting: no upload over it
        await store.upload(OWNER, obj.uuid, faxdocs.pdf(1))
    await store.objects.idle()
    assert (await store.describe(OWNER, obj.uuid))['status'] == 'ok'
    await store.upload(OWNER, obj.uuid, faxdocs.pdf(1))    # done: a new one is fine


@pytest.mark.parametrize('data, error', [
    (b'hello, not a pdf', Malformed),
    (b'%PDF-1.4\n garbage, no objects, no trailer', Malformed),
])
async def test_malformed_uploads_are_refused_and_leave_the_fax_as_it_was(store, data, error):
    obj = await store.create(OWNER)
    with pytest.raises(error):
        await store.upload(OWNER, obj.uuid, data)
    assert (await store.describe(OWNER, obj.uuid))['status'] == 'empty'
    assert not list(store.dir.glob(f'{obj.uuid}*'))


async def test_too_large_by_bytes_and_by_pages(tmp_path):
    st = await make_store(tmp_path, max_upload_bytes=400_000, max_pages=2)
    obj = await st.create(OWNER)
    with pytest.raises(TooLarge):
        await st.upload(OWNER, obj.uuid, faxdocs.pdf(1) + b' ' * 400_000)
    with pytest.raises(TooLarge, match='3 pages'):
        await st.upload(OWNER, obj.uuid, faxdocs.pdf(3))
    await st.db.close()


async def test_downloads_png_pdf_tiff(store):
    uuid = await with_pages(store, 2)
    png = await store.download(OWNER, uuid, 'png', 2)
    import io
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == 'PNG' and im.size == (1728, 2292)
        assert faxdocs.dark_side(im) == 'right'
    assert await store.download(OWNER, uuid, 'png', 3) is None
    assert await store.download(OWNER, uuid, 'png', 0) is None
    pdf = await store.download(OWNER, uuid, 'pdf')
    assert pdf.startswith(b'%PDF-')
    back = store.dir / 'back.pdf'
    back.write_bytes(pdf)
    assert faxpages.pdf_page_count(back, 30) == 2
    assert await store.download(OWNER, uuid, 'tif') == store.tiff_path(uuid).read_bytes()
    assert await store.download(OTHER, uuid, 'tif') is None   # another user's fax


async def test_downloads_render_under_the_download_slots(tmp_path, monkeypatch):
    import telephony.store.faxes as store_module
    st = await make_store(tmp_path, downloads_at_once=1)
    uuid = await with_pages(st, 1)
    seen = []
    real_pdf, real_png = store_module.faxread.document_pdf, store_module.faxread.page_png

    def pdf(path):
        seen.append(('pdf', st._renders.locked()))
        return real_pdf(path)

    def png(path, n):
        seen.append(('png', st._renders.locked()))
        return real_png(path, n)
    monkeypatch.setattr(store_module.faxread, 'document_pdf', pdf)
    monkeypatch.setattr(store_module.faxread, 'page_png', png)
    got = await asyncio.gather(st.download(OWNER, uuid, 'pdf'), st.download(OWNER, uuid, 'png', 1))
    assert got[0].startswith(b'%PDF-') and got[1].startswith(b'\x89PNG')
    assert sorted(seen) == [('pdf', True), ('png', True)]     # the one slot was held
    await st.objects.idle()
    await st.db.close()


async def test_a_received_page_beyond_the_pixel_cap_is_no_page(store, monkeypatch):
    import telephony.media.fax.pages as pages
    fax, report, path = await store.new_incoming(OWNER, B, A)
    faxpages.write_tiff(path, [Image.new('1', (1728, 400), 1)])
    monkeypatch.setattr(pages, 'MAX_PIXELS', 1728 * 200)
    await store.received(fax, report, 1, 203, 196, 'ok', fax_error_code=0)   # the engine's word
    desc = await store.describe(OWNER, fax)
    assert desc['status'] == 'empty' and 'page_count' not in desc
    assert await store.download(OWNER, fax, 'pdf') is None


# --- owner, trash, purge ----------------------------------------------------------------------
async def test_other_users_trash_and_purge(store):
    uuid = await with_pages(store)
    with pytest.raises(NotFound):
        await store.describe(OTHER, uuid)
    await store.objects.delete(OWNER, uuid, 'fax')
    assert (await store.describe(OWNER, uuid))['trash'] is True
    with pytest.raises(InTrash):
        await store.upload(OWNER, uuid, faxdocs.pdf(1))
    with pytest.raises(InTrash):
        await store.send(OWNER, uuid, A, B, '', '')
    await store.objects.delete(OWNER, uuid, 'fax')     # from the trash: for good
    with pytest.raises(NotFound):
        await store.describe(OWNER, uuid)
    assert not store.tiff_path(uuid).exists()
    assert named(store, 'object_delete')[-1]['purge'] is True


async def test_purge_cancels_a_transmission_and_drops_its_reports(store):
    store.sender = engine = Engine()
    uuid = await with_pages(store)
    report = await store.send(OWNER, uuid, A, B, '+49 30', 'Acme')
    await store.objects.delete(OWNER, uuid, 'fax', purge=True)
    assert engine.cancelled == [report]
    assert await store.report(report) is None
    assert await store.report_update(report, 'transmit') is None   # the engine, too late


# --- receiving -------------------------------------------------------------------------------
async def test_incoming_fax_record_then_ok_with_report_and_events(store):
    fax, report, path = await store.new_incoming(OWNER, B, A, now=1000.0)
    desc = await store.describe(OWNER, fax)
    assert desc['status'] == 'record' and 'page_count' not in desc
    assert desc['report'] == {report: {'incoming': True, 'from': B, 'to': A,
                                       'time_start': 1000, 'status': 'transmit'}}
    assert named(store, 'object_new')[-1]['object'] == fax
    faxpages.write_tiff(path, [faxdocs.page_image(1, (1728, 2292)).convert('1')] * 2)
    await store.received(fax, report, 2, 204, 196, 'ok', fax_error_code=0, sip_status_code=200,
                         now=1060.0)
    desc = await store.describe(OWNER, fax)
    assert (desc['status'], desc['page_count'], desc['x_res'], desc['y_res']) == ('ok', 2, 204, 196)
    assert desc['report'][report] == {'incoming': True, 'from': B, 'to': A, 'time_start': 1000,
                                      'time_end': 1060, 'status': 'ok', 'sip_status_code': 200,
                                      'fax_error_code': 0}
    last = named(store, 'fax_report')[-1]
    assert last['fax'] == fax and last['report'] == {report: desc['report'][report]}
    assert named(store, 'object_modify')[-1]['object'] == fax
    # an incoming fax's contents are fixed
    with pytest.raises(WrongState):
        await store.upload(OWNER, fax, faxdocs.pdf(1))


async def test_a_reception_cut_off_keeps_its_pages_and_one_with_none_is_fail_or_empty(store):
    fax, report, path = await store.new_incoming(OWNER, B, A)
    faxpages.write_tiff(path, [faxdocs.page_image(2, (1728, 2292)).convert('1')])
    await store.received(fax, report, 1, None, None, 'fail', fax_error_code=49)
    desc = await store.describe(OWNER, fax)
    assert desc['status'] == 'ok' and desc['page_count'] == 1 and desc['x_res'] == 203
    assert desc['report'][report]['status'] == 'fail'
    assert desc['report'][report]['fax_error_code'] == 49
    fax2, report2, _ = await store.new_incoming(OWNER, B, A)
    await store.received(fax2, report2, 0, None, None, 'fail', fax_error_code=70)
    assert (await store.describe(OWNER, fax2))['status'] == 'fail'
    fax3, report3, _ = await store.new_incoming(OWNER, B, A)
    await store.received(fax3, report3, 0, None, None, 'ok', fax_error_code=0)
    assert (await store.describe(OWNER, fax3))['status'] == 'empty'


# --- sending -------------------------------------------------------------------------------------
async def test_send_without_content_without_engine_and_a_refusing_engine(store):
    empty = await store.create(OWNER)
    with pytest.raises(NoContent):
        await store.send(OWNER, empty.uuid, A, B, '', '')
    uuid = await with_pages(store)
    with pytest.raises(NoEngine):
        await store.send(OWNER, uuid, A, B, '', '')
    assert await store.used_pages(OWNER) == 0 and (await store.describe(OWNER, uuid))['report'] == {}
    store.sender = Engine(refuse=True)
    with pytest.raises(NoEngine, match='refused'):
        await store.send(OWNER, uuid, A, B, '', '')
    (report,) = (await store.describe(OWNER, uuid))['report'].values()
    assert report['status'] == 'error' and 'time_end' in report
    assert await store.used_pages(OWNER) == 0      # an error sent nothing


async def test_send_hands_the_job_to_the_engine_and_the_report_moves_on(store):
    store.sender = engine = Engine()
    uuid = await with_pages(store, 2)
    report = await store.send(OWNER, uuid, A, B, '+49 30 555001', 'Acme Inc.', now=5000.0)
    assert engine.jobs == [(uuid, report, A, B, '+49 30 555001', 'Acme Inc.',
                            store.tiff_path(uuid))]
    assert (await store.describe(OWNER, uuid))['report'][report] == {
        'incoming': False, 'from': A, 'to': B, 'time_start': 5000, 'status': 'dial'}
    assert await store.used_pages(OWNER, 5000.0) == 2
    assert await store.report_update(report, 'busy', sip_status_code=486, now=5010.0)
    assert await store.used_pages(OWNER, 5000.0) == 0      # busy: nothing went out
    assert await store.report_update(report, 'dial')       # the engine's retry
    assert await store.used_pages(OWNER, 5000.0) == 2
    await store.report_update(report, 'transmit', sip_status_code=200)
    await store.report_update(report, 'ok', fax_error_code=0, now=5100.0)
    got = (await store.describe(OWNER, uuid))['report'][report]
    assert got == {'incoming': False, 'from': A, 'to': B, 'time_start': 5000, 'time_end': 5100,
                   'status': 'ok', 'sip_status_code': 200, 'fax_error_code': 0}
    assert [e['report'][report]['status'] for e in named(store, 'fax_report')] == [
        'dial', 'busy', 'dial', 'transmit', 'ok']
    later = await store.send(OWNER, uuid, A, '+4940123456', '', '', now=4000.0)
    assert list((await store.describe(OWNER, uuid))['report']) == [later, report]   # by time
    assert await store.report_update(report, 'fail') is None     # ended: stays ok
    with pytest.raises(WrongState):                               # sent: contents fixed
        await store.upload(OWNER, uuid, faxdocs.pdf(1))
    pdf = await store.report_pdf(OWNER, uuid, report)
    assert pdf.startswith(b'%PDF-')
    assert await store.report_pdf(OTHER, uuid, report) is None
    assert await store.report_pdf(OWNER, uuid, OTHER) is None


async def test_cancel(store):
    store.sender = engine = Engine()
    uuid = await with_pages(store, 1)
    report = await store.send(OWNER, uuid, A, B, '', '')
    await store.cancel(OWNER, uuid, report)
    assert engine.cancelled == [report]
    assert (await store.report(report)).status == 'cancel'
    assert await store.used_pages(OWNER) == 0
    with pytest.raises(WrongState):
        await store.cancel(OWNER, uuid, report)
    with pytest.raises(NotFound):
        await store.cancel(OWNER, uuid, OTHER)
    fax, incoming, _ = await store.new_incoming(OWNER, B, A)
    with pytest.raises(WrongState):          # only outgoing faxes are cancelled
        await store.cancel(OWNER, fax, incoming)


async def test_cancel_while_transmitting_refunds_only_the_pages_not_sent(store):
    store.sender = Engine(sent=1)
    uuid = await with_pages(store, 3)
    report = await store.send(OWNER, uuid, A, B, '', '')
    await store.report_update(report, 'transmit', sip_status_code=200)
    await store.cancel(OWNER, uuid, report)
    assert (await store.report(report)).status == 'cancel'
    assert await store.used_pages(OWNER) == 1          # page one went out


@pytest.mark.parametrize('status, sent, used', [
    ('error', 2, 2), ('fail', 0, 0), ('busy', 1, 1),
    ('error', None, 3),       # the engine does not say: what may have gone out stays counted
    ('ok', 1, 3)])
async def test_a_transmission_ending_keeps_the_pages_sent(store, status, sent, used):
    store.sender = Engine()
    uuid = await with_pages(store, 3)
    report = await store.send(OWNER, uuid, A, B, '', '')
    await store.report_update(report, 'transmit')
    assert await store.report_update(report, status, pages_sent=sent)
    assert await store.used_pages(OWNER) == used
    if status == 'busy':           # a retry counts the report's pages once
        await store.report_update(report, 'dial')
        assert await store.used_pages(OWNER) == 3
        await store.report_update(report, 'cancel')
        assert await store.used_pages(OWNER) == 0


async def test_a_report_from_before_the_charged_column_counts_its_pages(store):
    from sqlalchemy import update

    from telephony.store.faxes import fax_reports
    store.sender = Engine()
    uuid = await with_pages(store, 2)
    report = await store.send(OWNER, uuid, A, B, '', '')
    async with store.db.write() as conn:          # as an older server left it
        await conn.execute(update(fax_reports).where(fax_reports.c.uuid == report)
                           .values(pages_charged=None))
    await store.report_update(report, 'busy')
    assert await store.used_pages(OWNER) == 0
    await store.report_update(report, 'dial')
    assert await store.used_pages(OWNER) == 2


async def test_racing_updates_one_wins_and_the_quota_follows_it(store):
    store.sender = Engine()
    uuid = await with_pages(store, 2)
    done = await store.send(OWNER, uuid, A, B, '', '')
    await store.report_update(done, 'transmit')
    got = await asyncio.gather(store.report_update(done, 'ok'), store.report_update(done, 'cancel'))
    assert sum(r is not None for r in got) == 1        # ok is never overwritten, nor cancel
    final = (await store.report(done)).status
    assert final == ('ok' if got[0] else 'cancel')
    assert await store.used_pages(OWNER) == 2          # unknown pages sent: kept counted
    retried = await store.send(OWNER, uuid, A, B, '', '')
    await store.report_update(retried, 'busy')
    got = await asyncio.gather(store.report_update(retried, 'dial'),
                               store.report_update(retried, 'cancel'))
    status = (await store.report(retried)).status
    assert status == 'cancel' and got[1] is not None
    assert await store.used_pages(OWNER) == 2          # only the first report's pages


async def test_monthly_quota(tmp_path):
    st = await make_store(tmp_path, pages_per_month=3)
    st.sender = Engine()
    uuid = await with_pages(st, 2)
    jan, feb = time.mktime((2026, 1, 20, 12, 0, 0, 0, 0, 0)), time.mktime((2026, 2, 2, 12, 0, 0, 0,
                                                                           0, 0))
    await st.send(OWNER, uuid, A, B, '', '', now=jan)
    with pytest.raises(QuotaExceeded):
        await st.send(OWNER, uuid, A, B, '', '', now=jan)
    with pytest.raises(QuotaExceeded):
        await st.reserve_pages(OWNER, 2, jan)
    await st.reserve_pages(OWNER, 1, jan)
    assert await st.used_pages(OWNER, jan) == 3 and await st.used_pages(OTHER, jan) == 0
    assert month_of(feb) == '2026-02' and await st.used_pages(OWNER, feb) == 0
    await st.send(OWNER, uuid, A, B, '', '', now=feb)     # a new month, a new allowance
    await st.db.close()


# --- recovery --------------------------------------------------------------------------------------
async def test_recover_after_a_crash(tmp_path):
    st = await make_store(tmp_path)
    st.sender = Engine()
    sent = await with_pages(st, 2)
    report = await st.send(OWNER, sent, A, B, '', '')
    busy = await st.send(OWNER, sent, A, B, '', '')
    await st.report_update(busy, 'busy', sip_status_code=486)   # its last dial was busy
    # a conversion under way: the staged PDF and its job on disk, status convert
    converting = await st.create(OWNER)
    st._staged(converting.uuid).write_bytes(faxdocs.pdf(2))
    st._job(converting.uuid).write_text(json.dumps({'landscape': False, 'photo': False}))
    await st.objects._set(converting.uuid, status='convert')
    lost = await st.create(OWNER)
    await st.objects._set(lost.uuid, status='convert')       # its job never reached the disk
    # a reception under way, one page on disk
    fax, incoming, path = await st.new_incoming(OWNER, B, A)
    faxpages.write_tiff(path, [faxdocs.page_image(1, (1728, 2292)).convert('1')])
    await st.db.close()

    st = await make_store(tmp_path)
    await st.objects.idle()
    assert (await st.describe(OWNER, converting.uuid))['page_count'] == 2
    assert (await st.describe(OWNER, lost.uuid))['status'] == 'fail'
    got = await st.describe(OWNER, fax)
    assert got['status'] == 'ok' and got['page_count'] == 1
    assert got['report'][incoming]['status'] == 'fail'
    assert (await st.report(report)).status == 'error' and await st.used_pages(OWNER) == 0
    assert (await st.report(busy)).status == 'busy'     # what it was: its retry is dropped
    await st.db.close()
