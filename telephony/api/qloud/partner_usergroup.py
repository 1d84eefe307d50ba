"""/api/partner/usergroup (§9.1.6): a partner's usergroups, their users, internal extensions,
concurrent call limit, credits and zone filter. The runtime reads them in calls/policy.py
(and charges the credits in calls/credit.py).
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictInt, StringConstraints

from ...dialplan.credit import ZoneFilter, ZoneFilterError
from ...store.policy import usergroups, zonefilter_of
from ..events import Session
from .common import UUID_RE, ApiError, Body, ok, require_partner, server_of
from .partner_policy import partner_user

router = APIRouter(prefix='/api/partner/usergroup', tags=['partner'])

MAX_GROUPS = 1000         # usergroups (and enterprises) per partner (`quota-exceeded`)
MAX_CHANGES = 1000        # entries of one add or delete list (`too-large`)
MAX_EXTENSIONS = 10_000   # extensions of one usergroup (`too-large`), as dialplan.usergroups reads
MAX_CREDIT = 10**15       # credits of one usergroup, and of one add or subtract (SQLite's integers)
SQLITE_MAX = 2**63 - 1    # what a query bound may be (a larger one cannot be compared)

Description = Annotated[str, StringConstraints(pattern=r'^.{0,200}$')]
Uuid = Annotated[str, StringConstraints(pattern=UUID_RE)]
Extension = Annotated[str, StringConstraints(pattern=r'^[0-9]{1,5}$')]
Prefix = Annotated[StrictInt, Field(ge=0, le=9)]


class Group(Body):
    description: Description | None = None
    prefix: Prefix | None = None   # 0 is no prefix: it removes the current one


class Change(Body):
    add: Annotated[list[Uuid], Field(max_length=MAX_CHANGES)] = []
    delete: Annotated[list[Uuid], Field(max_length=MAX_CHANGES)] = []


class Users(Body):
    users: Change


class Extensions(Body):
    add: Annotated[dict[Extension, Uuid], Field(max_length=MAX_CHANGES)] = {}
    delete: Annotated[list[Extension], Field(max_length=MAX_CHANGES)] = []


class Limit(Body):
    limit: Annotated[StrictInt, Field(ge=0, le=999)]   # ^[0-9]{1,3}$


Credits = Annotated[StrictInt, Field(ge=0, le=MAX_CREDIT)]


class CreditChange(Body):
    add: Credits | None = None
    subtract: Credits | None = None


class ZoneFilterBody(Body):
    zonefilter: list[Any]     # checked by dialplan.credit (250 entries: `too-large`)


async def mine(request: Request, s: Session, uuid: str) -> dict:
    row = await server_of(request).policy_store.get(usergroups, s.user, uuid)
    if row is None:
        raise ApiError('wrong-usergroup', 'the usergroup does not exist or does not belong '
                       'to the partner')
    return row


def shown(row: dict) -> dict:
    out = {'description': row['description']}
    if row['prefix']:
        out['prefix'] = row['prefix']
    return out


@router.post('')
async def create_group(body: Group, request: Request, s: Session = Depends(require_partner)) -> dict:
    store = server_of(request).policy_store
    if await store.count(usergroups, s.user) >= MAX_GROUPS:
        raise ApiError('quota-exceeded', f'a partner has at most {MAX_GROUPS} usergroups')
    uuid = await store.create(usergroups, s.user, description=body.description or '',
                              prefix=body.prefix or None)
    return ok(group_uuid=uuid)


@router.get('')
async def list_groups(request: Request, s: Session = Depends(require_partner)) -> dict:
    rows = await server_of(request).policy_store.all(usergroups, s.user)
    return ok(usergroups={r['uuid']: shown(r) for r in rows})


@router.get('/credit')
async def list_credits(request: Request, s: Session = Depends(require_partner),
                       least: Annotated[int | None, Query(alias='min', ge=0, le=SQLITE_MAX)] = None,
                       most: Annotated[int | None, Query(alias='max', ge=0, le=SQLITE_MAX)] = None
                       ) -> dict:
    """At most MAX_GROUPS entries: a partner has no more usergroups."""
    if least is not None and most is not None and least >= most:
        raise ApiError('wrong-syntax', 'min must be less than max')
    return ok(credits=await server_of(request).policy_store.credits(s.user, least, most))


@router.post('/{uuid}')
async def update_group(uuid: str, body: Group, request: Request,
                       s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    values = {}
    if body.description is not None:
        values['description'] = body.description
    if 'prefix' in body.model_fields_set:
        values['prefix'] = body.prefix or None
    if values:
        await server_of(request).policy_store.change(usergroups, uuid, **values)
    return ok()


@router.delete('/{uuid}')
async def delete_group(uuid: str, request: Request, s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    store = server_of(request).policy_store
    if await store.members(uuid):
        raise ApiError('not-empty', 'the usergroup still has users')
    await store.change_extensions(uuid, {}, list(await store.extensions(uuid)))
    await store.remove(usergroups, uuid)
    return ok()


@router.post('/{uuid}/user')
async def change_users(uuid: str, body: Users, request: Request,
                       s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    store = server_of(request).policy_store
    add, delete = list(dict.fromkeys(body.users.add)), list(dict.fromkeys(body.users.delete))
    for user in (*add, *delete):
        await partner_user(request, s, user)
    grouped = await store.groups_of(add)
    if any(g != uuid for g in grouped.values()):
        raise ApiError('already-grouped', 'a user in add is already in another usergroup')
    await store.change_members(uuid, [u for u in add if u not in grouped and u not in delete],
                               delete)
    return ok()


@router.get('/{uuid}/user')
async def list_users(uuid: str, request: Request, s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    return ok(usergroup={'users': await server_of(request).policy_store.members(uuid)})


@router.get('/{uuid}/extension')
async def list_extensions(uuid: str, request: Request,
                          s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    return ok(extensions=await server_of(request).policy_store.extensions(uuid))


@router.post('/{uuid}/extension')
async def change_extensions(uuid: str, body: Extensions, request: Request,
                            s: Session = Depends(require_partner)) -> dict:
    """`delete` first, then `add` (an extension in both ends up added)."""
    await mine(request, s, uuid)
    store = server_of(request).policy_store
    members = set(await store.members(uuid))
    if any(u not in members for u in body.add.values()):
        raise ApiError('wrong-user', 'a user does not exist, does not belong to the current '
                       'partner or is not a member of the usergroup')
    now = await store.extensions(uuid)
    after = {k: v for k, v in now.items() if k not in body.delete} | body.add
    if len(after) > MAX_EXTENSIONS:
        raise ApiError('too-large', f'a usergroup has at most {MAX_EXTENSIONS} extensions')
    await store.change_extensions(uuid, body.add, [e for e in body.delete if e in now])
    return ok()


@router.get('/{uuid}/limit')
async def get_limit(uuid: str, request: Request, s: Session = Depends(require_partner)) -> dict:
    row = await mine(request, s, uuid)
    if row['call_limit'] is None:
        raise ApiError('no-limit', 'the usergroup does not have a concurrent call limit')
    return ok(limit=row['call_limit'])


@router.post('/{uuid}/limit')
async def set_limit(uuid: str, body: Limit, request: Request,
                    s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    await server_of(request).policy_store.change(usergroups, uuid, call_limit=body.limit)
    return ok()


@router.delete('/{uuid}/limit')
async def delete_limit(uuid: str, request: Request, s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    await server_of(request).policy_store.change(usergroups, uuid, call_limit=None)
    return ok()


@router.get('/{uuid}/credit')
async def get_credit(uuid: str, request: Request, s: Session = Depends(require_partner)) -> dict:
    row = await mine(request, s, uuid)
    if row['credit'] is None:
        raise ApiError('no-credit', 'the usergroup does not have credits configured')
    return ok(credit=row['credit'])


@router.post('/{uuid}/credit')
async def change_credit(uuid: str, body: CreditChange, request: Request,
                        s: Session = Depends(require_partner)) -> dict:
    """Both fields may come: the difference is applied, in one update (calls charge
    concurrently). Never below 0; a group without credit starts from 0."""
    await mine(request, s, uuid)
    if body.add is None and body.subtract is None:
        raise ApiError('missing-element', 'at least one of add or subtract must be present')
    await server_of(request).policy_store.change_credit(
        uuid, (body.add or 0) - (body.subtract or 0), MAX_CREDIT)
    return ok()


@router.delete('/{uuid}/credit')
async def delete_credit(uuid: str, request: Request,
                        s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    await server_of(request).policy_store.change(usergroups, uuid, credit=None)
    return ok()


@router.get('/{uuid}/zonefilter')
async def get_zonefilter(uuid: str, request: Request,
                         s: Session = Depends(require_partner)) -> dict:
    doc = zonefilter_of(await mine(request, s, uuid))
    if doc is None:
        raise ApiError('empty-filter', 'the usergroup does not have a zone filter')
    return ok(zonefilter=doc)


@router.post('/{uuid}/zonefilter')
async def set_zonefilter(uuid: str, body: ZoneFilterBody, request: Request,
                         s: Session = Depends(require_partner)) -> dict:
    """An empty list is no filter (GET answers `empty-filter`)."""
    await mine(request, s, uuid)
    try:
        ZoneFilter.from_json(body.zonefilter)
    except ZoneFilterError as exc:
        raise ApiError('too-large' if exc.too_large else 'wrong-syntax', str(exc)) from None
    await server_of(request).policy_store.set_zonefilter(uuid, body.zonefilter or None)
    return ok()


@router.delete('/{uuid}/zonefilter')
async def delete_zonefilter(uuid: str, request: Request,
                            s: Session = Depends(require_partner)) -> dict:
    await mine(request, s, uuid)
    await server_of(request).policy_store.set_zonefilter(uuid, None)
    return ok()
