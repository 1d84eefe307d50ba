"""POST /api/dialplan/callthrough, /callback and /callreverse (§4.2): calls the user starts.

The document's `phone`/`to` regex `^([a-zA-Z0-9]{2,20})|(\\+[0-9]{3,20})$` is read as meant:
the whole value is either a short target (2 to 20 letters or digits) or a phone number.
The calls themselves are calls/callback.py's.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StringConstraints

from ...calls.outgoing import DialFailed, PolicyDenied
from ...dialplan.qloud import DialplanV1, callback
from ..events import Session
from .common import PHONE_RE, ApiError, Body, get_user_session, ok, server_of

router = APIRouter(prefix='/api/dialplan', tags=['dialplan'])

Number = Annotated[str, StringConstraints(pattern=PHONE_RE)]
Target = Annotated[str, StringConstraints(pattern=r'^(?:[a-zA-Z0-9]{2,20}|\+[0-9]{3,20})$')]


class CallthroughRequest(Body):
    phone: Target | None = None
    filter: Number | None = None


class CallbackRequest(Body):
    from_: Number = Field(alias='from')
    to: Target


class CallreverseRequest(Body):
    filter: Number


@router.post('/callthrough')
async def callthrough(body: CallthroughRequest, request: Request,
                      s: Session = Depends(get_user_session)) -> dict:
    server_of(request).dialplan_calls.set_callthrough(s.user, body.phone, body.filter)
    return ok()


@router.post('/callback')
async def start_callback(body: CallbackRequest, request: Request,
                         s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    phone = await server.phones.get(body.from_)
    if phone is None or phone.owner != s.user or not phone.dialplan_enable:
        raise ApiError('wrong-phone', 'from is not one of your numbers with dialplan_enable')
    if phone.unlock_code:
        raise ApiError('wrong-phone', 'the number in from has not been unlocked yet')
    try:
        plan = DialplanV1.from_json(await server.dialplans.v1_of(s.user))
        legs = callback(plan, body.from_, body.to)
    except ValueError as exc:
        status, _, message = str(exc).partition(': ')
        raise ApiError(status if status == 'no-via' else 'fail', message) from None
    try:
        call = await server.dialplan_calls.callback(s.user, legs)
    except PolicyDenied as exc:   # the user's call filter does not allow the callback
        raise ApiError('access-denied', exc.reason) from None
    except DialFailed as exc:     # no route, every attempt unavailable
        raise ApiError('fail', exc.reason) from None
    return ok(uuid=call.id)


@router.post('/callreverse')
async def callreverse(body: CallreverseRequest, request: Request,
                      s: Session = Depends(get_user_session)) -> dict:
    if not server_of(request).dialplan_calls.set_callreverse_filter(s.user, body.filter):
        raise ApiError('no-callreverse', 'there is no active call-reverse process')
    return ok()
