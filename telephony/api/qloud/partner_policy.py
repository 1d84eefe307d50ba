"""/api/partner/callfilter (§9.1.3) and /api/partner/emergency (§9.1.5): what a partner sets
for the outgoing calls of one of its users.

A call filter is checked with `dialplan.callfilter.parse_filter`, the parser the runtime
runs it with, so what is accepted is what runs. Only the user's partner may read or change
either (`wrong-user` for anyone else's user, as for a user that does not exist).
"""
from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import StringConstraints

from ...dialplan.callfilter import CallFilterError, parse_filter
from ..events import Session
from .common import UUID_RE, ApiError, Body, ok, require_partner, server_of

router = APIRouter(prefix='/api/partner', tags=['partner'])

# §9.1.5 says `^.{0,10}$` and `^.{0,200}$`; the control centre is dialled (it becomes a
# Request-URI user part) and the UUI a header value, so neither may carry what would
# break out of them (`@`, `>`, spaces, CR/LF). The document's examples fit.
CENTRE_RE = r'^[0-9A-Za-z+*#]{0,10}$'
UUI_RE = r'^[\x21-\x7e]{0,200}$'
EMERGENCY_FIELDS = ('uui_header', 'emergency_police', 'emergency_rescue')


async def partner_user(request: Request, s: Session, user: str) -> str:
    """The uuid of a user the partner manages, else `wrong-user`."""
    found = await server_of(request).db.user_by(uuid_=user) if re.match(UUID_RE, user) else None
    if found is None or found.partner_of != s.user:
        raise ApiError('wrong-user', 'the user does not exist or does not belong to the '
                       'current partner')
    return found.uuid


@router.post('/callfilter/{user}')
async def set_callfilter(user: str, body: dict[str, Any], request: Request,
                         s: Session = Depends(require_partner)) -> dict:
    uuid = await partner_user(request, s, user)
    if 'callfilter' not in body:
        raise ApiError('missing-element', 'callfilter is required')
    try:
        parse_filter(body['callfilter'])
    except CallFilterError as exc:
        raise ApiError(exc.status, str(exc)) from None
    await server_of(request).policy_store.set_callfilter(uuid, body['callfilter'])
    return ok()


@router.get('/callfilter/{user}')
async def get_callfilter(user: str, request: Request,
                         s: Session = Depends(require_partner)) -> dict:
    uuid = await partner_user(request, s, user)
    doc = await server_of(request).policy_store.callfilter(uuid)
    if doc is None:
        raise ApiError('empty-filter', 'the user does not have a call filter')
    return ok(callfilter=doc)


@router.delete('/callfilter/{user}')
async def delete_callfilter(user: str, request: Request,
                            s: Session = Depends(require_partner)) -> dict:
    uuid = await partner_user(request, s, user)
    await server_of(request).policy_store.set_callfilter(uuid, None)
    return ok()


class Emergency(Body):
    uui_header: Annotated[str, StringConstraints(pattern=UUI_RE)] | None = None
    emergency_police: Annotated[str, StringConstraints(pattern=CENTRE_RE)] | None = None
    emergency_rescue: Annotated[str, StringConstraints(pattern=CENTRE_RE)] | None = None


@router.get('/emergency/{user}')
async def get_emergency(user: str, request: Request,
                        s: Session = Depends(require_partner)) -> dict:
    uuid = await partner_user(request, s, user)
    return ok(**await server_of(request).policy_store.emergency(uuid))


@router.post('/emergency/{user}')
async def set_emergency(user: str, body: Emergency, request: Request,
                        s: Session = Depends(require_partner)) -> dict:
    """Changes the fields given; "an empty value for any of the parameters will delete them"."""
    uuid = await partner_user(request, s, user)
    store = server_of(request).policy_store
    info = await store.emergency(uuid)
    for name, value in body.model_dump(include=body.model_fields_set).items():
        if value:
            info[name] = value
        else:
            info.pop(name, None)
    await store.set_emergency(uuid, {k: info[k] for k in EMERGENCY_FIELDS if k in info})
    return ok()
