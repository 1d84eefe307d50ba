"""The call history keeps API calls from their start, so a crash cannot lose one."""
from __future__ import annotations

import sqlite3

from telephony.store.calls import CRASH_CAUSE, CallHistory
from telephony.store.db import Database

OWNER = '5c6b7a89-0000-1000-8000-00000000000a'


async def _history(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    return db, CallHistory(db)


async def test_a_live_call_is_not_listed_until_it_ends(tmp_path):
    db, history = await _history(tmp_path)
    try:
        await history.put('c1', OWNER, 100.0, {'status': 'calling'}, live=True)
        assert await history.find(OWNER) == []
        assert await history.time_of(OWNER, 'c1') is None
        await history.put('c1', OWNER, 100.0, {'status': 'answered'}, live=True)
        await history.put('c1', OWNER, 100.0, {'status': 'hangup', 'hangup_cause': 16})
        assert await history.find(OWNER) == [('c1', {'status': 'hangup', 'hangup_cause': 16})]
        # a late live write (writers may cross on PostgreSQL) never reopens an ended call
        await history.put('c1', OWNER, 100.0, {'status': 'answered'}, live=True)
        assert (await history.find(OWNER))[0][1]['status'] == 'hangup'
    finally:
        await db.close()


async def test_start_up_ends_the_calls_a_crash_left_live(tmp_path):
    db, history = await _history(tmp_path)
    await history.put('up', OWNER, 100.0, {'status': 'answered', 'answer_time': 101,
                                          'current_control_id': 'x'}, live=True)
    await history.put('done', OWNER, 90.0, {'status': 'hangup', 'hangup_cause': 16})
    await db.close()
    db, history = await _history(tmp_path)   # the next start
    try:
        assert await history.end_live(now=200.0) == 1
        found = dict(await history.find(OWNER))
        assert found['up'] == {'status': 'hangup', 'answer_time': 101, 'hangup_time': 200,
                               'hangup_cause': CRASH_CAUSE}
        assert found['done']['hangup_cause'] == 16
        assert await history.end_live() == 0
    finally:
        await db.close()


async def test_an_old_database_gains_the_live_column(tmp_path):
    con = sqlite3.connect(tmp_path / 'telephony.db')
    con.execute('CREATE TABLE call_history (uuid VARCHAR(36) PRIMARY KEY, owner VARCHAR(36) '
                'NOT NULL, create_time FLOAT NOT NULL, info TEXT NOT NULL)')
    con.execute("INSERT INTO call_history VALUES ('old', ?, 1.0, '{\"status\": \"hangup\"}')",
                (OWNER,))
    con.commit()
    con.close()
    db, history = await _history(tmp_path)
    try:
        assert await history.find(OWNER) == [('old', {'status': 'hangup'})]
    finally:
        await db.close()
