"""/api/partner/enterprise (§9.1.7): enterprises group a partner's usergroups; with
`group_prefix_enable` users dial a usergroup's prefix to reach its extensions."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import StrictBool

from ...store.policy import enterprises, usergroups
from ..events import Session
from .common import ApiError, Body, ok, require_partner, server_of
from .partner_usergroup import MAX_GROUPS, Change, Description, mine

router = APIRouter(prefix='/api/partner/enterprise', tags=['partner'])


class Enterprise(Body):
    description: Description | None = None
    group_prefix_enable: StrictBool | None = None


class Groups(Body):
    usergroups: Change


async def _mine(request: Request, s: Session, uuid: str) -> dict:
    row = await server_of(request).policy_store.get(enterprises, s.user, uuid)
    if row is None:
        raise ApiError('wrong-enterprise', 'the enterprise does not exist or does not belong '
                       'to the partner')
    return row


@router.post('')
async def create_enterprise(body: Enterprise, request: Request,
                            s: Session = Depends(require_partner)) -> dict:
    store = server_of(request).policy_store
    if await store.count(enterprises, s.user) >= MAX_GROUPS:
        raise ApiError('quota-exceeded', f'a partner has at most {MAX_GROUPS} enterprises')
    uuid = await store.create(enterprises, s.user, description=body.description or '',
                              group_prefix_enable=int(bool(body.group_prefix_enable)))
    return ok(enterprise_uuid=uuid)


@router.get('')
async def list_enterprises(request: Request, s: Session = Depends(require_partner)) -> dict:
    rows = await server_of(request).policy_store.all(enterprises, s.user)
    return ok(enterprises={r['uuid']: {'description': r['description'],
                                       'group_prefix_enable': bool(r['group_prefix_enable'])}
                           for r in rows})


@router.post('/{uuid}')
async def update_enterprise(uuid: str, body: Enterprise, request: Request,
                            s: Session = Depends(require_partner)) -> dict:
    await _mine(request, s, uuid)
    values: dict = {}
    if body.description is not None:
        values['description'] = body.description
    if body.group_prefix_enable is not None:
        values['group_prefix_enable'] = int(body.group_prefix_enable)
    if values:
        await server_of(request).policy_store.change(enterprises, uuid, **values)
    return ok()


@router.delete('/{uuid}')
async def delete_enterprise(uuid: str, request: Request,
                            s: Session = Depends(require_partner)) -> dict:
    await _mine(request, s, uuid)
    store = server_of(request).policy_store
    if await store.enterprise_groups(uuid):
        raise ApiError('not-empty', 'the enterprise still has usergroups')
    await store.remove(enterprises, uuid)
    return ok()


@router.post('/{uuid}/usergroup')
async def change_groups(uuid: str, body: Groups, request: Request,
                        s: Session = Depends(require_partner)) -> dict:
    await _mine(request, s, uuid)
    store = server_of(request).policy_store
    rows = [await mine(request, s, g) for g in (*body.usergroups.add, *body.usergroups.delete)]
    added = rows[:len(body.usergroups.add)]
    if any(r['enterprise'] not in (None, uuid) for r in added):
        raise ApiError('already-grouped', 'a usergroup in add is already in another enterprise')
    for r in added:
        await store.change(usergroups, r['uuid'], enterprise=uuid)
    for r in rows[len(added):]:
        if r['enterprise'] == uuid and r['uuid'] not in body.usergroups.add:
            await store.change(usergroups, r['uuid'], enterprise=None)
    return ok()
