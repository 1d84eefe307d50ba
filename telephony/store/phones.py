"""Phone numbers (Q-loud §3.9): who owns a number, what an inbound call to it does, the pool."""
from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

from sqlalchemy import Column, Integer, String, Table, delete, select, update

from .schema import metadata

FLAGS = ('dialplan_enable', 'call_enable', 'fax_enable', 'recording_enable',
         'play_announcement_only', 'conference_enable', 'notification_email',
         'notification_attachment')
# §3.9: dialplan_enable and call_enable default to false, the other switches to true;
# play_announcement_only and the notifications default to false.
DEFAULTS = {'dialplan_enable': False, 'call_enable': False, 'fax_enable': True,
            'recording_enable': True, 'conference_enable': True,
            'play_announcement_only': False, 'notification_email': False,
            'notification_attachment': False}
REFS = ('announcement', 'ivr', 'dialplan', 'on_hold_music')

phones = Table(
    'phones', metadata,
    Column('number', String(21), primary_key=True),
    Column('owner', String(36), nullable=False, index=True),
    *[Column(f, Integer, nullable=False, default=0) for f in FLAGS],
    *[Column(r, String(36), nullable=True) for r in REFS],
    Column('unlock_code', String(8), nullable=True),
)


@dataclass
class Phone:
    number: str
    owner: str
    dialplan_enable: bool = False
    call_enable: bool = False
    fax_enable: bool = True
    recording_enable: bool = True
    play_announcement_only: bool = False
    conference_enable: bool = True
    notification_email: bool = False
    notification_attachment: bool = False
    announcement: str | None = None
    ivr: str | None = None
    dialplan: str | None = None
    on_hold_music: str | None = None
    unlock_code: str | None = None

    @property
    def call_api_only(self) -> bool:
        """§3.9: the call API works only if call_enable is the only switch that is on."""
        return self.call_enable and not any(
            getattr(self, f) for f in ('dialplan_enable', 'fax_enable', 'recording_enable',
                                       'conference_enable'))


def _row(r) -> Phone:
    d = dict(r)
    for f in FLAGS:
        d[f] = bool(d[f])
    return Phone(**d)


def new_unlock_code() -> str:
    return f'{secrets.randbelow(10 ** 4):04d}'


def parse_pool(spec: str) -> list[str]:
    """'+4922100000-+4922100009, +4930123' -> the numbers, in order."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(',') if p.strip()):
        lo, sep, hi = part.partition('-')
        if not sep:
            out.append(lo)
            continue
        a, b = int(lo.lstrip('+')), int(hi.strip().lstrip('+'))
        width = len(lo.lstrip('+'))
        out.extend(f'+{n:0{width}d}' for n in range(a, b + 1))
    return out


class PhoneStore:
    def __init__(self, db):
        self.db = db

    async def get(self, number: str) -> Phone | None:
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(phones).where(phones.c.number == number))).mappings().first()
        return None if r is None else _row(r)

    async def of_owner(self, owner: str) -> list[Phone]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(phones).where(phones.c.owner == owner)
                                       .order_by(phones.c.number))).mappings().all()
        return [_row(r) for r in rows]

    async def add(self, phone: Phone) -> Phone:
        async with self.db.write() as conn:
            await conn.execute(phones.insert().values(**_values(phone)))
        return phone

    async def save(self, phone: Phone) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(phones).where(phones.c.number == phone.number)
                               .values(**_values(phone)))

    async def remove(self, number: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(phones).where(phones.c.number == number))

    async def take_from_pool(self, owner: str, pool: list[str]) -> Phone | None:
        """Reserve the first free pool number for owner, locked until its unlock code is keyed."""
        async with self.db.write() as conn:
            used = set((await conn.execute(select(phones.c.number))).scalars().all())
            free = next((n for n in pool if n not in used), None)
            if free is None:
                return None
            phone = Phone(free, owner, unlock_code=new_unlock_code())
            await conn.execute(phones.insert().values(**_values(phone)))
        return phone

    async def owners(self, numbers: list[str]) -> dict[str, str]:
        """number -> owner for those of `numbers` that are ours."""
        wanted = sorted(set(numbers))
        out: dict[str, str] = {}
        async with self.db.engine.connect() as conn:
            for i in range(0, len(wanted), 500):   # SQLite caps the variables of a statement
                rows = (await conn.execute(select(phones.c.number, phones.c.owner).where(
                    phones.c.number.in_(wanted[i:i + 500])))).all()
                out.update((r[0], r[1]) for r in rows)
        return out

    async def all(self) -> list[Phone]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(phones).order_by(phones.c.number))).mappings().all()
        return [_row(r) for r in rows]


def _values(phone: Phone) -> dict:
    d = asdict(phone)
    for f in FLAGS:
        d[f] = int(d[f])
    return d
