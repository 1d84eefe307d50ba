"""Finished calls of the call API, kept for GET /api/call?state=hangup."""
from __future__ import annotations

import json

from sqlalchemy import Column, Float, String, Table, Text, select

from .schema import metadata

call_history = Table(
    'call_history', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('owner', String(36), nullable=False, index=True),
    Column('create_time', Float, nullable=False, index=True),
    Column('info', Text, nullable=False),
)


class CallHistory:
    def __init__(self, db):
        self.db = db

    async def add(self, uuid: str, owner: str, create_time: float, info: dict) -> None:
        async with self.db.write() as conn:
            await conn.execute(call_history.insert().values(
                uuid=uuid, owner=owner, create_time=create_time, info=json.dumps(info)))

    async def find(self, owner: str, *, uuid: str | None = None, since: float | None = None,
                   until: float | None = None, order: str = 'asc', count: int = 10) -> list[tuple[str, dict]]:
        q = select(call_history).where(call_history.c.owner == owner)
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
                call_history.c.owner == owner, call_history.c.uuid == uuid))).scalar()
