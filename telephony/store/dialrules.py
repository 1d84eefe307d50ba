"""Dial plan rules of the Cisco /api/v1 dialect (CMS §7) and the CDR receivers (§10.4).

Columns carry the document's own field names (`domain`, `sipProxy`, `failureAction`, ...),
so the rows are the plain dicts the pure router reads (`from_fields(d)`): numbers
(`priority`, `registerExpiry`) are ints, everything else is the text the API accepted
(`true`/`false` included), None where unset. The API checks every value before it gets
here. `sipProxyPassword` is kept as given, in its own column, because we answer a trunk's
digest challenge with it as a UAC (an HA1 needs the realm, which only the challenge
tells); it leaves this module only when a caller asks for `secrets=True`.
`trunkInboundPassword` (what the trunk's own calls authenticate with) is never kept: its
column holds the HA1s an account keeps (`hash_inbound_password`), write-only like the other.

The order of a kind's rules is the document's: higher `priority` first, then the order
of creation (`seq`).
"""
from __future__ import annotations

from sqlalchemy import Column, Integer, String, Table, Text, delete, func, or_, select, update

from ..ids import new_uuid
from ..sip.trunks import inbound_secret
from .schema import metadata

DIAL_TRANSFORMS = 'dialTransforms'
OUTBOUND = 'outboundDialPlanRules'
INBOUND = 'inboundDialPlanRules'
FORWARDING = 'forwardingDialPlanRules'
CDR_RECEIVERS = 'cdrReceivers'
RULE_KINDS = (DIAL_TRANSFORMS, OUTBOUND, INBOUND, FORWARDING)

SECRETS = frozenset({'sipProxyPassword', 'trunkInboundPassword'})

# field name -> type, per kind (the document's names; ours marked)
FIELDS: dict[str, dict[str, type]] = {
    DIAL_TRANSFORMS: {'type': str, 'match': str, 'transform': str, 'priority': int,
                      'action': str},
    OUTBOUND: {'domain': str, 'priority': int, 'localContactDomain': str,
               'localFromDomain': str, 'sipProxy': str, 'trunkType': str,
               'failureAction': str, 'sipControlEncryption': str, 'scope': str,
               'callBridge': str, 'callBridgeGroup': str, 'tenant': str, 'callRouting': str,
               # trunk extensions (ours, docs/decisions.md)
               'sipProxyUsername': str, 'sipProxyPassword': str, 'sipProxyTransport': str,
               'register': str, 'registerExpiry': int, 'trunkAddresses': str,
               'trunkInboundUsername': str, 'trunkInboundPassword': str},
    INBOUND: {'domain': str, 'priority': int, 'resolveToCoSpaces': str, 'resolveToIvrs': str,
              'resolveToLyncConferences': str, 'resolveToLyncSimplejoin': str, 'tenant': str},
    FORWARDING: {'matchPattern': str, 'destinationDomain': str, 'action': str,
                 'callerIdMode': str, 'priority': int, 'tenant': str, 'uriParameters': str},
    CDR_RECEIVERS: {'uri': str},
}

TABLE_NAMES = {DIAL_TRANSFORMS: 'dial_transforms', OUTBOUND: 'outbound_dial_plan_rules',
               INBOUND: 'inbound_dial_plan_rules', FORWARDING: 'forwarding_dial_plan_rules',
               CDR_RECEIVERS: 'cdr_receivers'}


def _table(kind: str) -> Table:
    return Table(TABLE_NAMES[kind], metadata,
                 Column('seq', Integer, primary_key=True, autoincrement=True),
                 Column('id', String(36), nullable=False, unique=True),
                 *[Column(name, Integer if typ is int else Text, nullable=True)
                   for name, typ in FIELDS[kind].items()])


TABLES: dict[str, Table] = {kind: _table(kind) for kind in FIELDS}


def hash_inbound_password(changes: dict, stored: dict | None, realm: str) -> dict:
    """`changes` with a given `trunkInboundPassword` replaced by its HA1s in `realm`, for the
    rule's user name as it will be (changed, else stored). Without a user name it stays as
    given: the rule's check refuses it before anything is written."""
    password = changes.get('trunkInboundPassword')
    user = changes.get('trunkInboundUsername', (stored or {}).get('trunkInboundUsername'))
    if not password or not user:
        return changes
    return {**changes, 'trunkInboundPassword': inbound_secret(user, realm, password)}


class TooMany(Exception):
    """The kind already holds as many rows as the caller allows (tooManyCdrReceivers)."""


def _order(t: Table):
    if 'priority' in t.c:
        return (t.c.priority.desc(), t.c.seq)
    return (t.c.seq,)


def _row(r, secrets: bool) -> dict:
    d = {k: v for k, v in r.items() if k != 'seq'}
    if not secrets:
        for name in SECRETS & d.keys():
            del d[name]
    return d


class DialRuleStore:
    tables: dict[str, Table] = TABLES   # kind -> table (store/cospaces.py has its own)

    def __init__(self, db):
        self.db = db
        # bumped by every write: a reader that caches rules() knows when to read again
        self.generation = 0
        self.listeners: list = []   # called after every write (trunk registrations follow rules)
        self._receivers: tuple[int, list[str]] | None = None

    def _changed(self) -> None:
        self.generation += 1
        for listener in self.listeners:
            listener()

    async def create(self, kind: str, fields: dict, max_rows: int | None = None) -> str:
        """A new row with these fields (others NULL); its id. TooMany past `max_rows`."""
        t = self.tables[kind]
        rule_id = new_uuid()
        async with self.db.write() as conn:
            if max_rows is not None:
                have = (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                if have >= max_rows:
                    raise TooMany(kind)
            await self._check(conn, kind, None, fields)
            await conn.execute(t.insert().values(id=rule_id, **fields))
        self._changed()
        return rule_id

    async def _check(self, conn, kind: str, row_id: str | None, fields: dict) -> None:
        """Called inside the write transaction before a row is inserted (`row_id` None) or
        changed: a subclass refuses what clashes with other rows by raising."""

    async def get(self, kind: str, rule_id: str, secrets: bool = False) -> dict | None:
        t = self.tables[kind]
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(t).where(t.c.id == rule_id))).mappings().first()
        return None if r is None else _row(r, secrets)

    async def update(self, kind: str, rule_id: str, fields: dict) -> bool:
        """Set these fields (None unsets one); False if there is no such row."""
        t = self.tables[kind]
        async with self.db.write() as conn:
            if fields:
                await self._check(conn, kind, rule_id, fields)
                done = await conn.execute(update(t).where(t.c.id == rule_id).values(**fields))
                found = done.rowcount > 0
            else:
                found = (await conn.execute(select(t.c.seq).where(t.c.id == rule_id))).first() \
                    is not None
        self._changed()
        return found

    async def delete(self, kind: str, rule_id: str) -> bool:
        t = self.tables[kind]
        async with self.db.write() as conn:
            done = await conn.execute(delete(t).where(t.c.id == rule_id))
        self._changed()
        return done.rowcount > 0

    async def list(self, kind: str, *, offset: int = 0, limit: int | None = None,
                   contains: str | None = None, fields: tuple[str, ...] = (),
                   equal: dict | None = None, where=None) -> tuple[int, list[dict]]:
        """(how many match, one page of them) in rule order. `contains`: a case-insensitive
        substring of any of `fields`; `equal`: field -> value that must match exactly;
        `where`: a further condition (a subclass's)."""
        t = self.tables[kind]
        where = [] if where is None else [where]
        if contains:
            where.append(or_(*[t.c[f].icontains(contains, autoescape=True) for f in fields]))
        for name, value in (equal or {}).items():
            where.append(t.c[name] == value)
        async with self.db.engine.connect() as conn:
            total = (await conn.execute(select(func.count()).select_from(t).where(*where))) \
                .scalar_one()
            q = select(t).where(*where).order_by(*_order(t)).offset(offset)
            if limit is not None:
                q = q.limit(limit)
            rows = (await conn.execute(q)).mappings().all()
        return total, [_row(r, secrets=False) for r in rows]

    async def rules(self, kind: str, secrets: bool = False) -> list[dict]:
        """Every rule of a kind as a dict of the document's field names and `id`, higher
        priority first, then in creation order. `sipProxyPassword` only with secrets=True."""
        t = self.tables[kind]
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(t).order_by(*_order(t)))).mappings().all()
        return [_row(r, secrets) for r in rows]

    async def receivers(self) -> list[str]:
        """The configured CDR receiver URIs (at most two), oldest first; receivers whose
        uri was unset are skipped. Asked at every call's end, so read again only after a
        write."""
        if self._receivers is None or self._receivers[0] != self.generation:
            generation = self.generation
            urls = [r['uri'] for r in await self.rules(CDR_RECEIVERS) if r['uri']]
            self._receivers = (generation, urls)
        return list(self._receivers[1])
