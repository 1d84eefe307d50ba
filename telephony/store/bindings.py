"""Registrar bindings in the database, so that after a restart phones stay reachable.

Written behind REGISTER: the 200 goes out first, then the changed address-of-record is
marked and one writer task copies the registrar's current state for every marked AoR in one
transaction.  A burst of REGISTERs thus costs a few transactions, never a wait on SQLite's
single writer in the REGISTER path, and the last state always wins.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Callable

from sqlalchemy import delete, select

from ..sip.registrar import Binding, Registrar
from ..sip.transaction import Peer
from .schema import registrations, sip_accounts

log = logging.getLogger('telephony.store')

_CHUNK = 500   # AoRs per DELETE ... IN (...): below SQLite's host-parameter limit


class BindingStore:
    def __init__(self, db, registrar: Registrar, now: Callable[[], float],
                 wall: Callable[[], float] = time.time):
        self.db = db
        self.registrar = registrar
        self.now = now          # the registrar's clock (the event loop's)
        self.wall = wall        # what is stored: wall-clock expiry
        self._dirty: set[str] = set()
        self._task: asyncio.Task | None = None

    def changed(self, *aors: str) -> None:
        """These AoRs' bindings changed: write them soon (never waits)."""
        self._dirty.update(aors)
        if self._dirty and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._write())

    async def flush(self) -> None:
        """Wait for pending writes (at stop)."""
        while self._task is not None and not self._task.done():
            await self._task

    async def _write(self) -> None:
        while self._dirty:
            aors, self._dirty = sorted(self._dirty), set()
            offset = self.wall() - self.now()
            rows = [_row(b, offset) for aor in aors
                    for b in self.registrar.bindings.get(aor, {}).values()]
            try:
                async with self.db.write() as conn:
                    for i in range(0, len(aors), _CHUNK):
                        await conn.execute(delete(registrations).where(
                            registrations.c.aor.in_(aors[i:i + _CHUNK])))
                    if rows:
                        await conn.execute(registrations.insert(), rows)
            except Exception as exc:  # noqa: BLE001 -- kept marked: the next change retries
                self._dirty.update(aors)
                log.warning('event=bindings-write-failed aors=%d error=%r', len(aors), exc)
                return
            log.debug('event=bindings-written aors=%d rows=%d', len(aors), len(rows))

    async def load(self) -> int:
        """Put the stored bindings back into the registrar; returns how many.  Expired ones,
        those of deleted accounts and those the registrar now refuses are deleted."""
        offset = self.wall() - self.now()
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(registrations))).mappings().all()
            accounts = {f'{u}@{d}' for u, d in (await conn.execute(
                select(sip_accounts.c.user, sip_accounts.c.domain))).all()}
        found = [_binding(r, offset) for r in rows]
        kept = [b for b in found if b.aor in accounts]
        refused = self.registrar.restore(kept, self.now())
        stale = {b.aor for b in found if b.aor not in accounts} | {b.aor for b in refused}
        if stale:
            self.changed(*stale)
            await self.flush()
        log.info('event=bindings-loaded loaded=%d dropped=%d', len(kept) - len(refused),
                 len(found) - len(kept) + len(refused))
        return len(kept) - len(refused)


def _row(b: Binding, offset: float) -> dict:
    return {'aor': b.aor, 'contact': b.contact, 'transport': b.peer.transport,
            'source_host': b.peer.addr[0], 'source_port': b.peer.addr[1],
            'path': json.dumps(list(b.path)), 'call_id': b.call_id, 'cseq': b.cseq, 'q': b.q,
            'expires': b.expires_at + offset}


def _binding(r, offset: float) -> Binding:
    # the connection of a TCP flow does not survive a restart (Binding.target knows)
    return Binding(r['aor'], r['contact'], r['expires'] - offset,
                   Peer(r['transport'], (r['source_host'], r['source_port'])), r['call_id'],
                   r['cseq'], r['q'], tuple(json.loads(r['path'] or '[]')))
