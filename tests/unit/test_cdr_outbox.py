"""The CDR receivers' outbox on a real SQLite file: per-receiver order, acknowledgement,
the bound (oldest records go, and the receiver is told how many), and what a receiver
must accept (http:// only)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from telephony.calls.cdr_delivery import receivers_from, refusal, render
from telephony.store.cdr_outbox import CdrOutbox, OpenLeg, Record
from telephony.store.db import Database

A, B = 'http://127.0.0.1:9/a', 'http://127.0.0.1:9/b'


def rec(i: int, session: str = 's1') -> Record:
    return Record('callLegStart', '2026-01-01T00:00:00Z', f'<callLeg id="leg{i}"/>', session)


async def _outbox(tmp_path, limit: int = 100):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    return db, CdrOutbox(db, limit)


async def test_each_receiver_gets_everything_in_order_until_it_acknowledges(tmp_path):
    db, box = await _outbox(tmp_path)
    try:
        assert await box.next_correlator_index() == 0
        await box.append([rec(1), rec(2)], [A, B])
        await box.append([rec(3)], [A, B])
        missing, got = await box.pending(A, 10)
        assert missing == 0 and [r.seq for r in got] == [1, 2, 3]
        assert [r.body for r in got] == ['<callLeg id="leg1"/>', '<callLeg id="leg2"/>',
                                         '<callLeg id="leg3"/>']
        assert [r.seq for r in (await box.pending(A, 2))[1]] == [1, 2]
        await box.acknowledged(A, 2, [A, B])
        assert [r.seq for r in (await box.pending(A, 10))[1]] == [3]
        assert [r.seq for r in (await box.pending(B, 10))[1]] == [1, 2, 3]   # B took nothing yet
        assert await box.count() == 3
        await box.acknowledged(B, 3, [A, B])
        assert await box.count() == 1       # both have 1 and 2; A still needs 3
        await box.acknowledged(A, 3, [A, B])
        assert await box.count() == 0
        assert await box.next_correlator_index() == 3
        # numbers are never reused after the rows went
        await box.append([rec(4)], [A, B])
        assert [r.seq for r in (await box.pending(A, 10))[1]] == [4]
    finally:
        await db.close()


async def test_a_new_receiver_starts_with_the_records_queued_after_it_appeared(tmp_path):
    db, box = await _outbox(tmp_path)
    try:
        await box.append([rec(1)], [A])
        await box.append([rec(2)], [A, B])
        assert [r.seq for r in (await box.pending(B, 10))[1]] == [2]
        assert (await box.pending('http://127.0.0.1:9/unknown', 10)) == (0, [])
        # a receiver no longer configured does not hold records back
        await box.acknowledged(A, 2, [A])
        assert await box.count() == 0
    finally:
        await db.close()


async def test_a_full_outbox_drops_the_oldest_and_says_how_many(tmp_path):
    db, box = await _outbox(tmp_path, limit=3)
    try:
        assert await box.append([rec(i) for i in range(1, 4)], [A]) == 0
        assert await box.append([rec(4), rec(5)], [A]) == 2
        missing, got = await box.pending(A, 10)
        assert missing == 2 and [r.seq for r in got] == [3, 4, 5]
        doc = ET.fromstring(render(got, missing))
        first = doc.findall('record')[0]
        assert first.get('numPreceedingRecordsMissing') == '2'
        assert doc.findall('record')[1].get('numPreceedingRecordsMissing') is None
    finally:
        await db.close()


async def test_open_legs_are_kept_until_their_end_is_queued(tmp_path):
    db, box = await _outbox(tmp_path)
    try:
        await box.append([rec(1)], [A], opened=[OpenLeg('leg1', 'call1', 10.0, 9.0),
                                                OpenLeg('leg2', 'call1', 11.0, 9.0)])
        await box.append([rec(2)], [A], closed=['leg1'])
        assert await box.open_legs() == [OpenLeg('leg2', 'call1', 11.0, 9.0)]
    finally:
        await db.close()


def test_render_is_a_records_document_of_one_session():
    records = [rec(1, 'abc'), rec(2, 'abc')]
    for i, r in enumerate(records, 1):
        r.seq = i + 40
    doc = ET.fromstring(render(records))
    assert doc.tag == 'records' and doc.get('session') == 'abc'
    assert [(r.get('type'), r.get('recordIndex'), r.get('correlatorIndex'), r.get('time'))
            for r in doc.findall('record')] == [
        ('callLegStart', '41', '40', '2026-01-01T00:00:00Z'),
        ('callLegStart', '42', '41', '2026-01-01T00:00:00Z')]
    assert doc.findall('record/callLeg')[1].get('id') == 'leg2'


def test_only_http_urls_with_a_host_are_receivers():
    assert refusal('http://monitoring.example.com/cdr_receiver1') is None
    assert refusal('http://monitoring.example.com:8080/cdr_receiver1?system_id=acano1') is None
    assert refusal('https://monitoring.example.com/cdr') == 'only http:// receivers are supported'
    assert refusal('file:///etc/passwd') == 'only http:// receivers are supported'
    assert refusal('http:///nohost') == 'no host'
    assert refusal('http://h:port/') == 'not a URL'


async def test_the_receivers_are_the_setting_and_the_store_once_each():
    async def store() -> list[str]:
        return [B, A]
    assert await receivers_from(f' {A} ,, ')() == [A]
    assert await receivers_from(A, store)() == [A, B]
    assert await receivers_from('')() == []


async def test_cdrs_are_written_once_and_listed_in_date_order(tmp_path):
    from telephony.store.cdrs import CdrStore, shown
    db = Database.for_data_dir(tmp_path)
    await db.open()
    store = CdrStore(db)
    try:
        def cdr(i: str, date: int, **kw) -> dict:
            return {'id': i, 'date': date, 'service': 'call', 'phone': '+4930555001',
                    'partner': 'p1', 'written': 1.0, 't_pre': 1, 't_post': 2, **kw}
        await store.add([cdr('b', 2000, a_number='+491'), cdr('a', 2000), cdr('c', 1000)])
        await store.add([cdr('a', 5, service='fax'), cdr('d', 3000)])   # 'a' exists: kept as it was
        rows = await store.find('p1', '+4930555001', count=10)
        assert [r['id'] for r in rows] == ['c', 'a', 'b', 'd']
        assert rows[1]['service'] == 'call'
        assert shown(rows[2]) == {'id': 'b', 'date': 2000, 'service': 'call', 'phone': '+4930555001',
                                  'a_number': '+491', 't_pre': 1, 't_post': 2}
        assert [r['id'] for r in await store.find('p1', '+4930555001', start='a')] == ['b', 'd']
        assert [r['id'] for r in await store.find('p1', '+4930555001', start='b', order='desc')] \
            == ['a', 'c']
        assert [r['id'] for r in await store.find('p1', '+4930555001', since_ms=1500,
                                                  until_ms=2000)] == ['a', 'b']
        assert await store.find('p2', '+4930555001') == []
    finally:
        await db.close()
