"""The SQLite file runs in WAL mode, so reads never wait behind a writer."""
from __future__ import annotations

import sqlite3

from sqlalchemy import text

from telephony.store.db import Database


async def test_sqlite_runs_in_wal_mode_and_a_reader_is_not_blocked_by_a_writer(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text('PRAGMA journal_mode'))).scalar() == 'wal'
            assert (await conn.execute(text('PRAGMA busy_timeout'))).scalar() == 5000
            assert (await conn.execute(text('PRAGMA synchronous'))).scalar() == 1  # NORMAL
        await db.put_sip_account('joe_01', 'example.com', 'secret-pw', description='before')
        # A writer holds an open transaction (as a call-record write does mid-call) ...
        writer = sqlite3.connect(tmp_path / 'telephony.db', timeout=0)
        writer.execute('BEGIN IMMEDIATE')
        writer.execute("UPDATE sip_accounts SET description = 'uncommitted'")
        try:
            # ... and the server's reads still answer at once, with the committed data.
            account = await db.sip_account('joe_01', 'example.com')
            assert account is not None and account.description == 'before'
        finally:
            writer.rollback()
            writer.close()
    finally:
        await db.close()
