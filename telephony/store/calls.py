"""Calls of the call API, kept for GET /api/call?state=hangup.

A call is written when it starts (`live`) and again when it ends, so a call that was up
when the process died is not lost: start-up ends it (`end_live`) and it shows as hung up.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import Boolean, Column, Float, String, Table, Text, select, true, update
from sqlalchemy.exc import IntegrityError

from .schema import metadata

call_history = Table(
    'call_history', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('owner', String(36), nullable=False, index=True),
    Column('create_time', Float, nullable=False, index=True),
    Column('info', Text, nullable=False),
    Column('live', Boolean, nullable=False, default=False, server_default='0'),
)

CRASH_CAUSE = 41   # temporary failure: the call ended because the server stopped


class CallHistory:
    def __init__(self, db):
        self.db = db

    async def put(self, uuid: str, owner: str, create_time: float, info: dict,
                  live: bool = False) -> None:
        """Write the call as it is: live while it is up, then ended. A live write never
        overwrites the ended row (PostgreSQL writers do not queue, so they may cross)."""
        values = dict(owner=owner, create_time=create_time, info=json.dumps(info), live=live)
        row = call_history.c.uuid == uuid
        async with self.db.write() as conn:
            done = await conn.execute(update(call_history).where(
                row, call_history.c.live.is_(True) if live else true()).values(**values))
            if done.rowcount:
                return
            try:
                async with conn.begin_nested():
                    await conn.execute(call_history.insert().values(uuid=uuid, **values))
            except IntegrityError:
                if not live:   # the live row landed meanwhile
                    await conn.execute(update(call_history).where(row).values(**values))

    async def end_live(self, now: float | None = None) -> int:
        """At start-up: calls still marked live were cut off by a crash; they ended."""
        now = time.time() if now is None else now
        async with self.db.write() as conn:
            rows = (await conn.execute(select(call_history.c.uuid, call_history.c.info)
                                       .where(call_history.c.live.is_(True)))).all()
            for uuid, raw in rows:
                info = json.loads(raw)
                info.update(status='hangup', hangup_time=int(now))
                info.setdefault('hangup_cause', CRASH_CAUSE)
                info.pop('current_control_id', None)
                await conn.execute(update(call_history).where(call_history.c.uuid == uuid)
                                   .values(info=json.dumps(info), live=False))
        return len(rows)

    async def find(self, owner: str, *, uuid: str | None = None, since: float | None = None,
                   until: float | None = None, order: str = 'asc', count: int = 10) -> list[tuple[str, dict]]:
        q = select(call_history).where(call_history.c.owner == owner,
                                       call_history.c.live.is_(False))
        if uuid is not None:
            q = q.where(call_history.c.uuid == uuid)
        if since is not None:
            q = q.where(call_history.c.create_time >= since)
        if until is not None:
            q = q.where(call_history.c.create_time <= until)
        col = call_history.c.create_time
        q = q.order_by(col.desc() if order == 'desc' else col.asc()).limit(count)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [(r['uuid'], json.loads(r['info'])) for r in rows]

    async def time_of(self, owner: str, uuid: str) -> float | None:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(call_history.c.create_time).where(
                call_history.c.owner == owner, call_history.c.uuid == uuid,
                call_history.c.live.is_(False)))).scalar()
