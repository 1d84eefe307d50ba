"""/api/partner/cdr (Q-loud §9.1.4): a partner reads the CDRs of its users' numbers, page
by page, and subscribes to `cdr` events (§9.2.1).

A partner manages the users whose `partner_of` is the partner (`telephony user add
--partner-of`); a number is the partner's while one of those users owns it.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from ...store.cdrs import shown
from ..events import Session
from .common import MAX_TIME_MS, PHONE_RE, UUID_RE, ApiError, ok, require_partner, server_of

router = APIRouter(prefix='/api/partner/cdr', tags=['partner'])

EVENT_TIMEOUT = 3600        # "Default: 1 hour (3600 seconds)"
EVENT_TIMEOUT_MAX = 36000   # "valid range 1..36000 seconds (10 hours)"


@router.get('/event')
async def subscribe(request: Request, s: Session = Depends(require_partner),
                    timeout: Annotated[int, Query(ge=1, le=EVENT_TIMEOUT_MAX)] = EVENT_TIMEOUT
                    ) -> dict:
    """CDR events flow to this session for `timeout` seconds (call again to renew)."""
    server_of(request).sessions.subscribe_stream(s, 'cdr', timeout)
    return ok()


@router.delete('/event')
async def unsubscribe(request: Request, s: Session = Depends(require_partner)) -> dict:
    server_of(request).sessions.subscribe_stream(s, 'cdr', None)
    return ok()


@router.get('/{phone}')
async def list_cdrs(phone: str, request: Request, s: Session = Depends(require_partner),
                    from_: Annotated[int | None, Query(alias='from', ge=0, le=MAX_TIME_MS)] = None,
                    to: Annotated[int | None, Query(ge=0, le=MAX_TIME_MS)] = None,
                    start: Annotated[str | None, Query(pattern=UUID_RE)] = None,
                    order: Literal['asc', 'desc'] = 'asc',
                    count: Annotated[int, Query(ge=1, le=5000)] = 10) -> dict:
    """The CDRs of `phone`, oldest first (or newest with order=desc)."""
    if not re.match(PHONE_RE, phone):
        raise ApiError('wrong-syntax', f'phone: must match {PHONE_RE}')
    if from_ is not None and to is not None and from_ > to:
        raise ApiError('wrong-syntax', 'from must not be after to')
    server = server_of(request)
    number = await server.phones.get(phone)
    owner = await server.db.user_by(uuid_=number.owner) if number is not None else None
    if owner is None or owner.partner_of != s.user:
        raise ApiError('wrong-phone', 'the phone number was not assigned by the partner or '
                       'does not exist')
    rows = await server.cdrs.find(
        s.user, phone, since_ms=None if from_ is None else from_ * 1000,
        until_ms=None if to is None else to * 1000 + 999, start=start, order=order, count=count)
    return ok(cdr=[shown(r) for r in rows])
