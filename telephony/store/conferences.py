"""Conference objects (Q-loud §3.17): one row per conference, in the document's field names
(`description`, `pin`, `active`, `mute_default`), owned by one user.

A PIN is unique among the owner's conferences that are not in the trash (`duplicate-pin`);
a partial unique index holds that even when two requests race. A deleted conference goes to
the trash first (§3.11, as announcements and recordings do), where it can no longer be
joined and its PIN is free again; `purge` (or deleting it again, or DELETE /api/trash)
removes it for good. Events go to the owner: `object_new`, `object_modify`,
`object_delete` (§7.6) with type `conference`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Column, Float, Index, String, Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..ids import new_uuid
from .schema import metadata

if TYPE_CHECKING:
    from ..events import EventSink
    from .db import Database

log = logging.getLogger('telephony.conferences')

TYPE = 'conference'
FIELDS = ('description', 'pin', 'active', 'mute_default')

conferences = Table(
    'conferences', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('owner', String(36), nullable=False),
    Column('time', Float, nullable=False),                  # creation, seconds since the epoch
    Column('description', String(200), nullable=False, default=''),
    Column('pin', String(4), nullable=False),
    Column('active', Boolean, nullable=False),
    Column('mute_default', Boolean, nullable=False, default=False),
    Column('trashed', Float, nullable=True),                # in the trash since (None: not)
    Index('ix_conferences_owner', 'owner'),
)
# one live conference per (owner, PIN): the lookup a caller's PIN does must find one
Index('ux_conferences_owner_pin', conferences.c.owner, conferences.c.pin, unique=True,
      sqlite_where=conferences.c.trashed.is_(None),
      postgresql_where=conferences.c.trashed.is_(None))


class DuplicatePin(Exception):
    """Another of the owner's conferences (not in the trash) has this PIN."""


class InTrash(Exception):
    """The conference is in the trash; only delete (purge) works on it."""


@dataclass
class Conference:
    uuid: str
    owner: str
    time: float
    description: str
    pin: str
    active: bool
    mute_default: bool
    trashed: float | None = None

    @classmethod
    def of(cls, r) -> 'Conference':
        return cls(r['uuid'], r['owner'], r['time'], r['description'] or '', r['pin'],
                   bool(r['active']), bool(r['mute_default']), r['trashed'])


class ConferenceStore:
    def __init__(self, db: 'Database', events: 'EventSink'):
        self.db = db
        self.events = events

    async def create(self, owner: str, description: str, pin: str, active: bool,
                     mute_default: bool = False) -> Conference:
        c = Conference(new_uuid(), owner, time.time(), description, pin, active, mute_default)
        try:
            async with self.db.write() as conn:
                await conn.execute(conferences.insert().values(
                    uuid=c.uuid, owner=owner, time=c.time, description=description, pin=pin,
                    active=active, mute_default=mute_default))
        except IntegrityError:
            raise DuplicatePin(pin) from None
        self._event('object_new', c, tag=[])
        log.info('event=conference-new uuid=%s owner=%s', c.uuid, owner)
        return c

    async def get(self, owner: str, uuid: str) -> Conference | None:
        """The owner's conference (in the trash or not); None for anyone else's."""
        q = select(conferences).where(conferences.c.uuid == uuid.lower(),
                                      conferences.c.owner == owner)
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(q)).mappings().first()
        return None if r is None else Conference.of(r)

    async def count(self, owner: str) -> int:
        q = select(func.count()).select_from(conferences).where(conferences.c.owner == owner)
        async with self.db.engine.connect() as conn:
            return (await conn.execute(q)).scalar_one()

    async def by_pin(self, owner: str, pin: str) -> Conference | None:
        """The owner's conference with this PIN that is not in the trash (active or not)."""
        q = select(conferences).where(conferences.c.owner == owner, conferences.c.pin == pin,
                                      conferences.c.trashed.is_(None))
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(q)).mappings().first()
        return None if r is None else Conference.of(r)

    async def modify(self, owner: str, uuid: str, changes: dict, user: str | None = None) -> Conference:
        """Set the given fields (the document's names). KeyError if there is no such
        conference of the owner, InTrash, DuplicatePin."""
        c = await self.get(owner, uuid)
        if c is None:
            raise KeyError(uuid)
        if c.trashed is not None:
            raise InTrash(uuid)
        changes = {k: v for k, v in changes.items() if k in FIELDS and getattr(c, k) != v}
        if not changes:
            return c
        try:
            async with self.db.write() as conn:
                await conn.execute(update(conferences).where(conferences.c.uuid == c.uuid)
                                   .values(**changes))
        except IntegrityError:
            raise DuplicatePin(changes.get('pin', c.pin)) from None
        for k, v in changes.items():
            setattr(c, k, v)
        self._event('object_modify', c, user=user)
        return c

    async def delete(self, owner: str, uuid: str, purge: bool = False,
                     user: str | None = None) -> Conference:
        """To the trash, or for good (purge, or deleting what is in the trash). KeyError if
        there is no such conference of the owner."""
        c = await self.get(owner, uuid)
        if c is None:
            raise KeyError(uuid)
        if purge or c.trashed is not None:
            await self._purge(c, user)
        else:
            c.trashed = time.time()
            async with self.db.write() as conn:
                await conn.execute(update(conferences).where(conferences.c.uuid == c.uuid)
                                   .values(trashed=c.trashed))
            self._event('object_delete', c, user=user)
            log.info('event=conference-trash uuid=%s', c.uuid)
        return c

    async def purge_trash(self, owner: str, user: str | None = None) -> list[str]:
        """DELETE /api/trash (§3.11): the owner's conferences in the trash, for good; their
        uuids."""
        q = select(conferences).where(conferences.c.owner == owner,
                                      conferences.c.trashed.is_not(None))
        async with self.db.engine.connect() as conn:
            found = [Conference.of(r) for r in (await conn.execute(q)).mappings().all()]
        for c in found:
            await self._purge(c, user)
        return [c.uuid for c in found]

    async def _purge(self, c: Conference, user: str | None) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(conferences).where(conferences.c.uuid == c.uuid))
        self._event('object_delete', c, user=user, purge=True)
        log.info('event=conference-purge uuid=%s', c.uuid)

    def _event(self, name: str, c: Conference, user: str | None = None, **extra) -> None:
        fields = {'object': c.uuid, 'type': TYPE, 'owner': c.owner, 'description': c.description}
        if user:
            fields['user'] = user
        self.events.publish(c.owner, name, {**fields, **extra})
