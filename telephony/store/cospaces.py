"""coSpaces and their access methods (CMS §6.1-6.5), the Cisco dialect's conferences.

Rows carry the document's field names, as store/dialrules.py does (whose generic get, list
and delete this store shares); an access method's row also has `coSpace`, its coSpace's id.
Every write checks, inside its write transaction (so two racing requests cannot both pass),
what the document forbids (§4.6), raising `Clash` with its failure reason:

- `duplicateCoSpaceUri`: a URI (`uri`, `secondaryUri`, an access method's `uri`) that
  another coSpace or one of its access methods already answers to: an incoming call must
  resolve to one coSpace.
- `duplicateCoSpaceId`: the same for a `callId`.
- `duplicateCoSpaceUriPasscode` / `duplicateCoSpaceIdPasscode`: within one coSpace (itself
  and its access methods) a URI or call ID may repeat only with another passcode, which is
  what tells the entries apart.
- `accessMethodDoesNotExist`: a `defaultAccessMethod` that is not one of the coSpace's.
- `tooManyCoSpaces` / `tooManyAccessMethods` (ours): the caps (`tooManyIvrs`: the API's).
- `ivrUriConflict`: an IVR (§8.9) whose `uri` another IVR or a coSpace answers to; a
  coSpace URI that an IVR has is `duplicateCoSpaceUri` (a call resolves to one of them).

URIs compare without regard to case (SIP user parts as callers type them); an unset
passcode and an empty one are the same.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Column, Index, Integer, String, Table, Text, and_, delete, func, or_, select, update,
)

from .dialrules import DialRuleStore, _row
from .schema import metadata

COSPACES = 'coSpaces'
ACCESS_METHODS = 'accessMethods'
IVRS = 'ivrs'
PARENT = 'coSpace'   # an access method's coSpace id

FIELDS: dict[str, dict[str, type]] = {
    COSPACES: {'name': str, 'uri': str, 'secondaryUri': str, 'callId': str, 'cdrTag': str,
               'passcode': str, 'defaultLayout': str, 'tenant': str, 'callLegProfile': str,
               'callProfile': str, 'callBrandingProfile': str, 'lobbyProfile': str,
               'dialInSecurityProfile': str, 'nonMemberAccess': str, 'ownerJid': str,
               'defaultAccessMethod': str},
    ACCESS_METHODS: {'uri': str, 'callId': str, 'passcode': str, 'name': str,
                     'callLegProfile': str, 'lobbyProfile': str, 'dialInSecurityProfile': str,
                     'scope': str, 'importance': int},
    IVRS: {'uri': str, 'tenant': str, 'tenantGroup': str, 'ivrBrandingProfile': str,
           'resolveCoSpaceCallIds': str, 'resolveLyncConferenceIds': str},
}


def _table(name: str, kind: str, *extra: Column) -> Table:
    return Table(name, metadata,
                 Column('seq', Integer, primary_key=True, autoincrement=True),
                 Column('id', String(36), nullable=False, unique=True),
                 *extra,
                 *[Column(n, Integer if typ is int else Text, nullable=True)
                   for n, typ in FIELDS[kind].items()])


cospaces = _table('cospaces', COSPACES)
access_methods = _table('cospace_access_methods', ACCESS_METHODS,
                        Column(PARENT, String(36), nullable=False, index=True))
ivrs = _table('cisco_ivrs', IVRS)
TABLES = {COSPACES: cospaces, ACCESS_METHODS: access_methods, IVRS: ivrs}
# every incoming call to a coSpace domain and every uniqueness check looks URIs up by case
for _t, _c in ((cospaces, 'uri'), (cospaces, 'secondaryUri'), (access_methods, 'uri'),
               (ivrs, 'uri'),
               (cospaces, 'callId'), (access_methods, 'callId')):
    Index(f'ix_{_t.name}_{_c.lower()}', func.lower(_t.c[_c]) if _c != 'callId' else _t.c[_c])


class Clash(Exception):
    """A write the document refuses; `reason` is its failure reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Entry:
    """One way into a coSpace that a dialled URI reached: the coSpace itself (`method` None)
    or one of its access methods, with the passcode that way asks for ('' for none)."""
    cospace: dict
    method: dict | None
    passcode: str


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def _code(value: str | None) -> str:
    return value or ''


def _uri_is(column, uris: set[str]):
    return func.lower(column).in_(uris)


class CoSpaceStore(DialRuleStore):
    tables = TABLES

    def __init__(self, db, max_cospaces: int = 10000, max_methods: int = 32):
        super().__init__(db)
        self.max_cospaces = max_cospaces
        self.max_methods = max_methods

    async def delete(self, kind: str, row_id: str) -> bool:
        """A coSpace goes with its access methods; a coSpace whose default access method
        goes forgets it."""
        if kind == IVRS:
            return await super().delete(kind, row_id)
        async with self.db.write() as conn:
            if kind == COSPACES:
                await conn.execute(delete(access_methods).where(access_methods.c[PARENT] == row_id))
                done = await conn.execute(delete(cospaces).where(cospaces.c.id == row_id))
            else:
                done = await conn.execute(delete(access_methods).where(access_methods.c.id == row_id))
                await conn.execute(update(cospaces).where(cospaces.c.defaultAccessMethod == row_id)
                                   .values(defaultAccessMethod=None))
        self._changed()
        return done.rowcount > 0

    async def ivr(self, user: str) -> dict | None:
        """The IVR whose `uri` the URI user part `user` dials (the checks keep it to one)."""
        async with self.db.engine.connect() as conn:
            got = (await conn.execute(select(ivrs).where(_uri_is(ivrs.c.uri, {user.lower()}))
                                      .order_by(ivrs.c.seq).limit(1))).mappings().first()
        return _row(got, secrets=False) if got is not None else None

    async def by_call_id(self, call_id: str) -> list[Entry]:
        """The ways into the coSpace whose `callId` (its own or an access method's) a caller
        keyed into an IVR: at most one coSpace's (duplicateCoSpaceId keeps it so)."""
        if not call_id:
            return []
        return await self._ways(cospaces.c.callId == call_id, access_methods.c.callId == call_id,
                                lambda s: s['callId'] == call_id)

    async def entries(self, user: str) -> list[Entry]:
        """The ways into coSpaces that the URI user part `user` dials: at most one coSpace's
        (the checks keep a URI to one coSpace), itself and its access methods."""
        uris = {user.lower()}
        return await self._ways(
            or_(_uri_is(cospaces.c.uri, uris), _uri_is(cospaces.c.secondaryUri, uris)),
            _uri_is(access_methods.c.uri, uris),
            lambda s: user.lower() in (_lower(s['uri']), _lower(s['secondaryUri'])))

    async def _ways(self, space_where, method_where, space_matches) -> list[Entry]:
        """coSpaces that `space_where` selects (those `space_matches`) and access methods
        that `method_where` selects, with their coSpaces."""
        async with self.db.engine.connect() as conn:
            spaces = (await conn.execute(select(cospaces).where(space_where))).mappings().all()
            methods = (await conn.execute(select(access_methods).where(method_where)
                                          .order_by(access_methods.c.seq))).mappings().all()
            parents = {m[PARENT] for m in methods} - {s['id'] for s in spaces}
            if parents:
                spaces = [*spaces, *(await conn.execute(select(cospaces).where(
                    cospaces.c.id.in_(parents)))).mappings().all()]
        by_id = {s['id']: _row(s, secrets=True) for s in spaces}
        out = [Entry(s, None, _code(s['passcode'])) for s in by_id.values() if space_matches(s)]
        out += [Entry(by_id[m[PARENT]], _row(m, secrets=True), _code(m['passcode']))
                for m in methods if m[PARENT] in by_id]
        return out

    # --- the document's uniqueness rules, inside the write transaction ------------------------
    async def _check(self, conn, kind: str, row_id: str | None, fields: dict) -> None:
        t = self.tables[kind]
        stored = {}
        if row_id is not None:
            got = (await conn.execute(select(t).where(t.c.id == row_id))).mappings().first()
            if got is None:
                return   # gone: the update finds nothing
            stored = dict(got)
        row = {**stored, **fields}
        if kind == IVRS:
            await self._check_ivr(conn, row_id, row)
        elif kind == COSPACES:
            await self._check_cospace(conn, row_id, row)
        else:
            await self._check_method(conn, row_id, row)

    async def _count(self, conn, table: Table, *where) -> int:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))) \
            .scalar_one()

    async def _check_cospace(self, conn, row_id: str | None, row: dict) -> None:
        if row_id is None and await self._count(conn, cospaces) >= self.max_cospaces:
            raise Clash('tooManyCoSpaces')
        uris = {u for u in (_lower(row.get('uri')), _lower(row.get('secondaryUri'))) if u}
        own = row_id or ''
        await self._refuse_others(conn, own, uris, row.get('callId'))
        code = _code(row.get('passcode'))
        mine = access_methods.c[PARENT] == own
        if uris and await self._count(conn, access_methods, mine, _uri_is(access_methods.c.uri, uris),
                                      func.coalesce(access_methods.c.passcode, '') == code):
            raise Clash('duplicateCoSpaceUriPasscode')
        if row.get('callId') and await self._count(
                conn, access_methods, mine, access_methods.c.callId == row['callId'],
                func.coalesce(access_methods.c.passcode, '') == code):
            raise Clash('duplicateCoSpaceIdPasscode')
        default = row.get('defaultAccessMethod')
        if default and not await self._count(conn, access_methods, mine,
                                             access_methods.c.id == default):
            raise Clash('accessMethodDoesNotExist')

    async def _check_method(self, conn, row_id: str | None, row: dict) -> None:
        parent = row[PARENT]
        mine = access_methods.c[PARENT] == parent
        if row_id is None and await self._count(conn, access_methods, mine) >= self.max_methods:
            raise Clash('tooManyAccessMethods')
        uri, call_id, code = _lower(row.get('uri')), row.get('callId'), _code(row.get('passcode'))
        await self._refuse_others(conn, parent, {uri} if uri else set(), call_id)
        space = (await conn.execute(select(cospaces).where(cospaces.c.id == parent))) \
            .mappings().first()
        siblings = [and_(mine, access_methods.c.id != (row_id or ''),
                         func.coalesce(access_methods.c.passcode, '') == code)]
        same_code = space is not None and _code(space['passcode']) == code
        if uri and ((same_code and uri in (_lower(space['uri']), _lower(space['secondaryUri'])))
                    or await self._count(conn, access_methods, *siblings,
                                         _uri_is(access_methods.c.uri, {uri}))):
            raise Clash('duplicateCoSpaceUriPasscode')
        if call_id and ((same_code and space['callId'] == call_id)
                        or await self._count(conn, access_methods, *siblings,
                                             access_methods.c.callId == call_id)):
            raise Clash('duplicateCoSpaceIdPasscode')

    async def _check_ivr(self, conn, row_id: str | None, row: dict) -> None:
        uri = _lower(row.get('uri'))
        if uri and (await self._count(conn, ivrs, ivrs.c.id != (row_id or ''),
                                      _uri_is(ivrs.c.uri, {uri}))
                    or await self._cospace_uri_count(conn, None, {uri})):
            raise Clash('ivrUriConflict')

    async def _cospace_uri_count(self, conn, own: str | None, uris: set[str]) -> int:
        """coSpaces (other than `own`) and their access methods that answer to one of `uris`."""
        return (await self._count(conn, cospaces, cospaces.c.id != (own or ''),
                                  or_(_uri_is(cospaces.c.uri, uris),
                                      _uri_is(cospaces.c.secondaryUri, uris)))
                or await self._count(conn, access_methods, access_methods.c[PARENT] != (own or ''),
                                     _uri_is(access_methods.c.uri, uris)))

    async def _refuse_others(self, conn, own: str, uris: set[str], call_id: str | None) -> None:
        """A URI or call ID of another coSpace (`own` is the coSpace being written)."""
        others = cospaces.c.id != own
        their_methods = access_methods.c[PARENT] != own
        if uris and (await self._cospace_uri_count(conn, own, uris)
                     or await self._count(conn, ivrs, _uri_is(ivrs.c.uri, uris))):
            raise Clash('duplicateCoSpaceUri')
        if call_id and (
                await self._count(conn, cospaces, others, cospaces.c.callId == call_id)
                or await self._count(conn, access_methods, their_methods,
                                     access_methods.c.callId == call_id)):
            raise Clash('duplicateCoSpaceId')
