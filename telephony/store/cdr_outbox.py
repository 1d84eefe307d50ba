"""The outbox of Cisco CDR records (callStart, callLegStart, callLegEnd, callEnd) on their
way to the CDR receivers, so that a record survives a restart until every receiver took it.

Records are numbered by `seq` (never reused: AUTOINCREMENT), which is also their
`recordIndex`. Each receiver has a cursor: the last seq it acknowledged with a 2xx. A
record goes once every configured receiver is past it, or when the outbox is full (the
oldest go first; a receiver that had not got them is told `numPreceedingRecordsMissing`).
The legs whose callLegStart was queued and whose callLegEnd was not are kept in
`cdr_open_legs`: after a crash, start-up ends them (`open_legs`).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Float, Integer, String, Table, Text, delete, func, select, update

from .schema import metadata

cdr_outbox = Table(
    'cdr_outbox', metadata,
    Column('seq', Integer, primary_key=True, autoincrement=True),
    Column('session', String(36), nullable=False),
    Column('type', String(20), nullable=False),
    Column('time', String(20), nullable=False),
    Column('body', Text, nullable=False),
    sqlite_autoincrement=True,
)

cdr_cursors = Table(
    'cdr_cursors', metadata,
    Column('receiver', String(1000), primary_key=True),
    Column('delivered', Integer, nullable=False),   # last seq it acknowledged
)

cdr_open_legs = Table(
    'cdr_open_legs', metadata,
    Column('leg', String(36), primary_key=True),
    Column('call', String(36), nullable=False),
    Column('started', Float, nullable=False),        # wall clock
    Column('call_started', Float, nullable=False),
)


@dataclass
class Record:
    type: str       # callStart | callLegStart | callLegEnd | callEnd
    time: str       # RFC 3339, UTC
    body: str       # the record's inner XML: <call id=...>...</call> or <callLeg ...>
    session: str = ''
    seq: int = 0


@dataclass
class OpenLeg:
    leg: str
    call: str
    started: float
    call_started: float


class CdrOutbox:
    def __init__(self, db, limit: int = 10000):
        self.db = db
        self.limit = max(1, limit)

    async def append(self, records: list[Record], receivers: list[str],
                     opened: list[OpenLeg] = (), closed: list[str] = ()) -> int:
        """Queue records for `receivers` (a receiver seen for the first time gets the records
        from these on); returns how many old records had to go to keep the outbox bounded."""
        async with self.db.write() as conn:
            top = (await conn.execute(select(func.max(cdr_outbox.c.seq)))).scalar() or 0
            known = set((await conn.execute(select(cdr_cursors.c.receiver))).scalars().all())
            for r in receivers:
                if r not in known:
                    await conn.execute(cdr_cursors.insert().values(receiver=r, delivered=top))
            if records:
                await conn.execute(cdr_outbox.insert(), [
                    dict(session=r.session, type=r.type, time=r.time, body=r.body) for r in records])
            if opened:
                await conn.execute(cdr_open_legs.insert(), [
                    dict(leg=o.leg, call=o.call, started=o.started, call_started=o.call_started)
                    for o in opened])
            if closed:
                await conn.execute(delete(cdr_open_legs).where(cdr_open_legs.c.leg.in_(list(closed))))
            top = (await conn.execute(select(func.max(cdr_outbox.c.seq)))).scalar() or 0
            dropped = (await conn.execute(delete(cdr_outbox).where(
                cdr_outbox.c.seq <= top - self.limit))).rowcount
        return dropped or 0

    async def pending(self, receiver: str, count: int) -> tuple[int, list[Record]]:
        """The next records for `receiver` in order, and how many it lost before the first
        of them (dropped while the outbox was full)."""
        async with self.db.engine.connect() as conn:
            delivered = (await conn.execute(select(cdr_cursors.c.delivered).where(
                cdr_cursors.c.receiver == receiver))).scalar()
            if delivered is None:
                return 0, []
            rows = (await conn.execute(select(cdr_outbox).where(cdr_outbox.c.seq > delivered)
                                       .order_by(cdr_outbox.c.seq).limit(count))).mappings().all()
        records = [Record(r['type'], r['time'], r['body'], r['session'], r['seq']) for r in rows]
        missing = records[0].seq - delivered - 1 if records else 0
        return missing, records

    async def acknowledged(self, receiver: str, seq: int, receivers: list[str]) -> None:
        """`receiver` took everything up to `seq`; what every receiver took goes."""
        async with self.db.write() as conn:
            await conn.execute(update(cdr_cursors).where(
                cdr_cursors.c.receiver == receiver, cdr_cursors.c.delivered < seq)
                .values(delivered=seq))
            low = (await conn.execute(select(func.min(cdr_cursors.c.delivered)).where(
                cdr_cursors.c.receiver.in_(receivers or [receiver])))).scalar()
            if low is not None:
                await conn.execute(delete(cdr_outbox).where(cdr_outbox.c.seq <= low))

    async def open_legs(self) -> list[OpenLeg]:
        """Legs whose start was queued but not their end: cut off by a crash."""
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(cdr_open_legs))).mappings().all()
        return [OpenLeg(r['leg'], r['call'], r['started'], r['call_started']) for r in rows]

    async def next_correlator_index(self) -> int:
        """system/status `cdrCorrelatorIndex`: the correlatorIndex (seq - 1) of the next record,
        0 before the first one."""
        async with self.db.engine.connect() as conn:
            queued = (await conn.execute(select(func.max(cdr_outbox.c.seq)))).scalar() or 0
            sent = (await conn.execute(select(func.max(cdr_cursors.c.delivered)))).scalar() or 0
        return max(queued, sent)

    async def count(self) -> int:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(cdr_outbox))).scalar() or 0
