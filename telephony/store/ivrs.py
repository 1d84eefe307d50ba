"""IVR menus (Q-loud §5.1.1): one row per menu, its body kept as JSON in the document's
field names (`description`, `announcement`, `0`..`9`, `*`, `#`, `other`, `timeout`), so
the API and the menu runtime (ivr/menu.py `Menu.from_json`) read the same thing."""
from __future__ import annotations

import json
import time

from sqlalchemy import Column, Float, String, Table, Text, delete, select, update

from ..ids import new_uuid
from .schema import metadata

ivrs = Table(
    'ivrs', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('owner', String(36), nullable=False, index=True),
    Column('created', Float, nullable=False),
    Column('body', Text, nullable=False),      # JSON, the document's field names
)


class IvrStore:
    def __init__(self, db):
        self.db = db

    async def create(self, owner: str, body: dict) -> str:
        uuid = new_uuid()
        async with self.db.write() as conn:
            await conn.execute(ivrs.insert().values(uuid=uuid, owner=owner, created=time.time(),
                                                    body=json.dumps(body)))
        return uuid

    async def get(self, uuid: str) -> dict | None:
        """The menu's fields plus `uuid`, `owner` and `created`; None if there is none."""
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(ivrs).where(ivrs.c.uuid == uuid.lower()))) \
                .mappings().first()
        return None if r is None else _fields(r)

    async def of_owner(self, owner: str, *, since: float | None = None,
                       until: float | None = None, after: str | None = None,
                       descending: bool = False, limit: int = 30) -> list[dict]:
        """The owner's menus in creation order; `after` is exclusive (§5.1.1 `start`)."""
        q = select(ivrs).where(ivrs.c.owner == owner)
        key = (ivrs.c.created, ivrs.c.uuid)
        if after is not None:
            start = await self.get(after)
            if start is not None and start['owner'] == owner:
                pos = (start['created'], start['uuid'])
                q = q.where(_beyond(key, pos, descending))
                since, until = (None, until) if not descending else (since, None)
        if since is not None:
            q = q.where(ivrs.c.created >= since)
        if until is not None:
            q = q.where(ivrs.c.created <= until)
        order = [k.desc() for k in key] if descending else list(key)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(q.order_by(*order).limit(limit))).mappings().all()
        return [_fields(r) for r in rows]

    async def replace(self, uuid: str, body: dict) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(ivrs).where(ivrs.c.uuid == uuid.lower())
                               .values(body=json.dumps(body)))

    async def remove(self, uuid: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(ivrs).where(ivrs.c.uuid == uuid.lower()))

    async def referring_to(self, owner: str, uuid: str) -> list[str]:
        """The owner's other menus that lead to `uuid` by a digit."""
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(ivrs).where(ivrs.c.owner == owner))).mappings().all()
        uuid = uuid.lower()
        return [r['uuid'] for r in rows if r['uuid'] != uuid
                and uuid in (str(v).lower() for v in json.loads(r['body']).values())]


def _beyond(key, pos, descending: bool):
    created, uuid = key
    if descending:
        return (created < pos[0]) | ((created == pos[0]) & (uuid < pos[1]))
    return (created > pos[0]) | ((created == pos[0]) & (uuid > pos[1]))


def _fields(r) -> dict:
    return {**json.loads(r['body']), 'uuid': r['uuid'], 'owner': r['owner'],
            'created': r['created']}
