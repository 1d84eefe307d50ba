"""Call detail records (Q-loud §9.1.4): one row per leg, written when the leg ends.

The fields are the document's: `id`, `date` (ms since the epoch when the call was
initiated), `service`, `a_number` (incoming legs), `b_number` (outgoing legs), `parent`
and `root` (the leg that caused this one, and the first of the group), `t_pre`/`t_post`
(seconds before and after the answer), `recording_id`, `conference_id`, `fax_id`,
`page_count`, and `phone` (the number of ours the record belongs to). `owner` and
`partner` (user uuids) say who may read it; they are never shown.
"""
from __future__ import annotations

import json

from sqlalchemy import Column, Float, Index, Integer, String, Table, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from .calls import call_history
from .schema import metadata, users

cdrs = Table(
    'cdrs', metadata,
    Column('id', String(36), primary_key=True),
    Column('date', Integer, nullable=False),
    Column('service', String(20), nullable=False),
    Column('phone', String(21), nullable=True),
    Column('a_number', String(320), nullable=True),
    Column('b_number', String(320), nullable=True),
    Column('parent', String(36), nullable=True),
    Column('root', String(36), nullable=True),
    Column('t_pre', Integer, nullable=False, default=0),
    Column('t_post', Integer, nullable=False, default=0),
    Column('recording_id', String(36), nullable=True),
    Column('conference_id', String(36), nullable=True),
    Column('fax_id', String(36), nullable=True),
    Column('page_count', Integer, nullable=True),
    Column('owner', String(36), nullable=True),
    Column('partner', String(36), nullable=True),
    Column('written', Float, nullable=False),
    Index('cdrs_by_partner_phone', 'partner', 'phone', 'date'),
)

# what GET /api/partner/cdr and the `cdr` event show, in the document's order
SHOWN = ('id', 'date', 'service', 'phone', 'a_number', 'b_number', 'parent', 'root', 't_pre',
         't_post', 'recording_id', 'conference_id', 'fax_id', 'page_count')


def shown(row: dict) -> dict:
    """A CDR as the API shows it: optional fields only when set."""
    return {k: row[k] for k in SHOWN if row.get(k) is not None}


class CdrStore:
    def __init__(self, db):
        self.db = db

    async def add(self, rows: list[dict]) -> None:
        """Write finished CDRs in one transaction; a row whose id exists already (written
        before a crash, then again at start-up) is kept as it was."""
        if not rows:
            return
        values = [{c.name: row.get(c.name) for c in cdrs.columns} for row in rows]
        for v in values:
            v['t_pre'], v['t_post'] = v['t_pre'] or 0, v['t_post'] or 0
        async with self.db.write() as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(cdrs.insert(), values)   # one statement for the batch
                return
            except IntegrityError:
                pass
            for v in values:
                try:
                    async with conn.begin_nested():
                        await conn.execute(cdrs.insert().values(**v))
                except IntegrityError:
                    pass

    async def partners(self, owners: set[str]) -> dict[str, str]:
        """owner uuid -> the uuid of the partner that manages the owner (if any)."""
        if not owners:
            return {}
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(users.c.uuid, users.c.partner_of).where(
                users.c.uuid.in_(list(owners)), users.c.partner_of.is_not(None)))).all()
        return {u: p for u, p in rows}

    async def lost_calls(self, now: float) -> list[dict]:
        """CDRs of the call API calls still live in the call history: a crash cut them off.
        Run before `CallHistory.end_live`, which marks them ended."""
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(call_history.c.uuid, call_history.c.owner,
                                              call_history.c.info)
                                       .where(call_history.c.live.is_(True)))).all()
        return [from_history(uuid, owner, history_json(raw), now) for uuid, owner, raw in rows]

    async def set_recording(self, cdr_id: str, recording_id: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(cdrs).where(cdrs.c.id == cdr_id)
                               .values(recording_id=recording_id))

    async def get(self, cdr_id: str) -> dict | None:
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(cdrs).where(cdrs.c.id == cdr_id))).mappings().first()
        return None if r is None else dict(r)

    async def find(self, partner: str, phone: str, *, since_ms: int | None = None,
                   until_ms: int | None = None, start: str | None = None, order: str = 'asc',
                   count: int = 10) -> list[dict]:
        """The partner's CDRs of `phone`, by date (then id) ascending or descending. `start`
        (a CDR id, exclusive) replaces `since` for asc and `until` for desc (§9.1.4)."""
        q = select(cdrs).where(cdrs.c.partner == partner, cdrs.c.phone == phone)
        desc = order == 'desc'
        if start is not None:
            first = await self.get(start)
            if first is not None and first['partner'] == partner and first['phone'] == phone:
                d = first['date']
                if desc:
                    until_ms = None
                    q = q.where(or_(cdrs.c.date < d, and_(cdrs.c.date == d, cdrs.c.id < start)))
                else:
                    since_ms = None
                    q = q.where(or_(cdrs.c.date > d, and_(cdrs.c.date == d, cdrs.c.id > start)))
        if since_ms is not None:
            q = q.where(cdrs.c.date >= since_ms)
        if until_ms is not None:
            q = q.where(cdrs.c.date <= until_ms)
        keys = (cdrs.c.date.desc(), cdrs.c.id.desc()) if desc else (cdrs.c.date, cdrs.c.id)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(q.order_by(*keys).limit(count))).mappings().all()
        return [dict(r) for r in rows]


def from_history(uuid: str, owner: str, info: dict, now: float) -> dict:
    """The CDR of a call API call the process lost in a crash, from its call-history row
    (read before `CallHistory.end_live` marks it ended): it lasted until start-up."""
    created = float(info.get('create_time') or now)
    answered = info.get('answer_time')
    end = max(now, created)
    incoming = bool(info.get('incoming'))
    return {
        'id': uuid, 'date': int(created * 1000), 'service': 'call',
        'phone': info.get('to') if incoming else info.get('from'),
        'a_number': info.get('from') if incoming else None,
        'b_number': None if incoming else info.get('to'),
        't_pre': round((answered or end) - created), 't_post': round(end - answered) if answered else 0,
        'recording_id': info.get('recording'), 'owner': owner, 'written': now,
    }


def history_json(raw: str) -> dict:
    try:
        info = json.loads(raw)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}
