"""The database handle: one async engine, tables created on first start."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, event, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..ids import new_uuid
from ..sip.auth import ha1
from .passwords import hash_password
from . import calls as _calls, ivrs as _ivrs, phones as _phones  # noqa: F401  (register their tables)
from .schema import metadata, sip_accounts, users
from . import objects as _objects  # noqa: F401  (registers the objects table on metadata)
from . import dialplans as _dialplans  # noqa: F401  (registers the dial plan tables)
from . import cdr_outbox as _cdr_outbox, cdrs as _cdrs  # noqa: F401  (register their tables)
from . import dialrules as _dialrules  # noqa: F401  (registers the dial plan tables)
from . import policy as _policy  # noqa: F401  (registers the outgoing call policy tables)
from . import conferences as _conferences  # noqa: F401  (registers the conference table)

# aiosqlite's DEBUG lines show every statement with its parameters (HA1 digests, a trunk's
# password): not at any log level
logging.getLogger('aiosqlite').setLevel(logging.INFO)


@dataclass
class User:
    uuid: str
    username: str
    email: str | None
    password_hash: str
    admin: bool
    partner: bool = False           # a partner (Q-loud §9): logs in with partner + key
    partner_of: str | None = None   # uuid of the partner that manages this user


@dataclass
class SipAccount:
    user: str
    domain: str
    ha1_md5: str
    ha1_sha256: str
    description: str = ''
    owner: str | None = None      # API user uuid; None for operator (CLI) accounts


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    """WAL: readers never wait for a writer, and a commit is one append instead of a
    rollback journal's several fsyncs, so call records and recordings written while calls
    run do not queue the API's reads behind them.  synchronous=NORMAL stays consistent
    through a crash of the process (only a power cut may lose the last commits).
    busy_timeout: the CLI and the server share the file."""
    cur = dbapi_conn.cursor()
    for pragma in ('journal_mode=WAL', 'synchronous=NORMAL', 'busy_timeout=5000'):
        cur.execute(f'PRAGMA {pragma}')
    cur.close()


class Database:
    def __init__(self, url: str):
        self.url = url
        # hide_parameters: an SQL error in the log never shows the values (a trunk password)
        self.engine: AsyncEngine = create_async_engine(url, hide_parameters=True)
        sqlite = self.engine.dialect.name == 'sqlite'
        if sqlite:
            event.listen(self.engine.sync_engine, 'connect', _sqlite_pragmas)
        self._write_lock = asyncio.Lock() if sqlite else contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def write(self):
        """A write transaction.  SQLite has one writer at a time: our writers queue here,
        holding no pooled connection while they wait.  Left to SQLite, a deferred transaction
        that read before writing fails at once with `database is locked` when another
        connection committed meanwhile (busy_timeout does not apply), and waiting writers
        exhaust the pool; both lost recordings at full load."""
        async with self._write_lock:
            async with self.engine.begin() as conn:
                yield conn

    @classmethod
    def for_data_dir(cls, data_dir: Path, url: str | None = None) -> 'Database':
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(url or f'sqlite+aiosqlite:///{data_dir / "telephony.db"}')

    async def open(self) -> None:
        async with self.write() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.run_sync(_add_missing_columns)

    async def close(self) -> None:
        await self.engine.dispose()

    # --- SIP accounts ---------------------------------------------------------
    async def put_sip_account(self, user: str, domain: str, password: str,
                              description: str = '', owner: str | None = None) -> SipAccount:
        """Create or replace an account; the realm of the digest is the domain."""
        acct = SipAccount(user, domain, ha1(user, domain, password, 'MD5'),
                          ha1(user, domain, password, 'SHA-256'), description, owner)
        async with self.write() as conn:
            await conn.execute(delete(sip_accounts).where(
                sip_accounts.c.user == user, sip_accounts.c.domain == domain))
            await conn.execute(sip_accounts.insert().values(
                user=user, domain=domain, ha1_md5=acct.ha1_md5, ha1_sha256=acct.ha1_sha256,
                description=description, created=time.time(), owner=owner))
        return acct

    async def create_sip_account(self, user: str, domain: str, password: str,
                                 description: str, owner: str | None) -> SipAccount | None:
        """Create an account; None if user@domain exists already (never replaces)."""
        acct = SipAccount(user, domain, ha1(user, domain, password, 'MD5'),
                          ha1(user, domain, password, 'SHA-256'), description, owner)
        try:
            async with self.write() as conn:
                await conn.execute(sip_accounts.insert().values(
                    user=user, domain=domain, ha1_md5=acct.ha1_md5, ha1_sha256=acct.ha1_sha256,
                    description=description, created=time.time(), owner=owner))
        except IntegrityError:
            return None
        return acct

    async def update_sip_account(self, user: str, domain: str, *, password: str | None = None,
                                 description: str | None = None) -> bool:
        """Change password (new HA1 values) and/or description; False if there is no account."""
        values: dict = {}
        if password is not None:
            values.update(ha1_md5=ha1(user, domain, password, 'MD5'),
                          ha1_sha256=ha1(user, domain, password, 'SHA-256'))
        if description is not None:
            values['description'] = description
        where = (sip_accounts.c.user == user, sip_accounts.c.domain == domain)
        async with self.write() as conn:
            if not values:
                return (await conn.execute(select(sip_accounts.c.id).where(*where))).first() \
                    is not None
            res = await conn.execute(update(sip_accounts).where(*where).values(**values))
        return res.rowcount > 0

    async def sip_user_names(self, domain: str, prefix: str) -> set[str]:
        """Account user names in `domain` that start with `prefix` (for picking a free one)."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(sip_accounts.c.user).where(
                sip_accounts.c.domain == domain))).all()
        return {r[0] for r in rows if r[0].startswith(prefix)}

    async def delete_sip_account(self, user: str, domain: str) -> bool:
        async with self.write() as conn:
            res = await conn.execute(delete(sip_accounts).where(
                sip_accounts.c.user == user, sip_accounts.c.domain == domain))
        return res.rowcount > 0

    async def sip_account(self, user: str, domain: str) -> SipAccount | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(sip_accounts).where(
                sip_accounts.c.user == user, sip_accounts.c.domain == domain))).mappings().first()
        return None if r is None else _sip_account(r)

    async def sip_accounts(self, owner: str | None = None) -> list[SipAccount]:
        """All accounts, or those of one API user (by uuid), oldest first."""
        q = select(sip_accounts).order_by(sip_accounts.c.created, sip_accounts.c.id)
        if owner is not None:
            q = q.where(sip_accounts.c.owner == owner)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [_sip_account(r) for r in rows]

    # --- API users ----------------------------------------------------------------
    async def create_user(self, username: str, password: str, email: str | None = None,
                          admin: bool = False, partner: bool = False,
                          partner_of: str | None = None) -> User:
        user = User(new_uuid(), username, email, hash_password(password), admin, partner,
                    partner_of)
        async with self.write() as conn:
            await conn.execute(users.insert().values(
                uuid=user.uuid, username=username, email=email,
                password_hash=user.password_hash, admin=int(admin), created=time.time(),
                partner=int(partner), partner_of=partner_of))
        return user

    async def user_by(self, *, uuid_: str | None = None, username: str | None = None,
                      email: str | None = None) -> User | None:
        q = select(users)
        if uuid_ is not None:
            q = q.where(users.c.uuid == uuid_)
        elif username is not None:
            q = q.where(users.c.username == username)
        else:
            q = q.where(users.c.email == email)
        async with self.engine.connect() as conn:
            r = (await conn.execute(q)).mappings().first()
        return None if r is None else _user(r)

    async def users(self) -> list[User]:
        """All API users, by name."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(users).order_by(users.c.username))).mappings().all()
        return [_user(r) for r in rows]

    async def delete_user(self, uuid_: str) -> bool:
        async with self.write() as conn:
            res = await conn.execute(delete(users).where(users.c.uuid == uuid_))
        return res.rowcount > 0


def _user(r) -> User:
    return User(r['uuid'], r['username'], r['email'], r['password_hash'], bool(r['admin']),
                bool(r['partner']), r['partner_of'])


def _sip_account(r) -> SipAccount:
    return SipAccount(r['user'], r['domain'], r['ha1_md5'], r['ha1_sha256'], r['description'],
                      r['owner'])


def _add_missing_columns(conn) -> None:
    """Columns added after a table was first created (create_all never alters a table)."""
    added = {('sip_accounts', 'owner'): 'VARCHAR(36)',
             ('call_history', 'live'): 'BOOLEAN NOT NULL DEFAULT false',
             ('users', 'partner'): 'INTEGER NOT NULL DEFAULT 0',
             ('users', 'partner_of'): 'VARCHAR(36)',
             ('outbound_dial_plan_rules', 'trunkInboundUsername'): 'TEXT',
             ('outbound_dial_plan_rules', 'trunkInboundPassword'): 'TEXT',
             ('usergroups', 'credit'): 'INTEGER',
             ('usergroups', 'zonefilter'): 'TEXT',
             ('fax_reports', 'pages_charged'): 'INTEGER'}
    seen = inspect(conn)
    for (table, column), sql_type in added.items():
        if not seen.has_table(table):   # its store module is not loaded here (e.g. the CLI)
            continue
        have = {c['name'] for c in seen.get_columns(table)}
        if column not in have:
            conn.execute(text(f'ALTER TABLE {table} ADD COLUMN "{column}" {sql_type}'))
