"""/api/dialplan (§4.2): the user's (v1) dial plan, used by their numbers with dialplan_enable.

One plan per user. `POST` changes only what it names: an empty string deletes
`announcement`, `phone`, `dial_prefix`, `clip_number`, `cti_via` and `sip`; `phone_pool`
and `sip_pool` take `add`/`delete`; `timeout`, `unavailable` and `busy` are replaced whole
(null removes one). The callthrough/callback/callreverse calls start calls and belong to
the call runtime; they are not here.
"""
from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import ConfigDict, Field, StrictBool, StringConstraints, model_validator

from ...dialplan import qloud
from ..events import Session
from .common import PHONE_RE, UUID_RE, ApiError, Body, get_user_session, ok, server_of
from .dialplan_refs import SIP_RE, Refs, check, runnable
from .dialplan_v2 import Seconds, missing

router = APIRouter(prefix='/api/dialplan', tags=['dialplan'])

MAX_POOL = 20   # entries of phone_pool and of sip_pool: each is a call placed at once
Number = Annotated[str, StringConstraints(pattern=PHONE_RE)]
Sip = Annotated[str, StringConstraints(pattern=SIP_RE)]
# '' deletes the field (§4.2)
NumberOrEmpty = Annotated[str, StringConstraints(pattern=f'^$|{PHONE_RE}')]
SipOrEmpty = Annotated[str, StringConstraints(pattern=f'^$|{SIP_RE}')]
UuidOrEmpty = Annotated[str, StringConstraints(pattern=f'^$|{UUID_RE}')]
Action = Literal['none', 'redirect', 'reject', 'sip', 'record']
Fallback = Literal['redirect', 'reject', 'sip', 'record']   # "the action none is not possible"
TEXT_FIELDS = ('announcement', 'phone', 'sip', 'dial_prefix', 'clip_number', 'cti_via')
_locks: dict[str, asyncio.Lock] = {}


def _needs_target(d: dict) -> None:
    """redirect needs a `phone`, sip a `sip` (§4.2: "the phone number target for action
    redirect", "the SIP account target for action sip")."""
    for act, key in (('redirect', 'phone'), ('sip', 'sip')):
        if d.get('action') == act and not d.get(key):
            raise missing(f'action {act} needs {key}')


class Busy(Body):
    action: Action
    phone: Number | None = None
    sip: Sip | None = None

    @model_validator(mode='after')
    def target(self):
        _needs_target(self.model_dump())
        return self


class Unavailable(Busy):
    action: Fallback


class OnTimeout(Unavailable):
    timeout: Seconds


class PhonePool(Body):
    # a number here is the GET form sent back by mistake: refused, not silently ignored
    model_config = ConfigDict(extra='forbid')
    add: dict[Number, StrictBool] = Field(default_factory=dict)
    delete: list[Number] = Field(default_factory=list)


class SipPool(Body):
    model_config = ConfigDict(extra='forbid')
    add: list[Sip] = Field(default_factory=list)
    delete: list[Sip] = Field(default_factory=list)


class DialplanV1(Body):
    announcement: UuidOrEmpty | None = None
    mix_ringtone: StrictBool | None = None
    clip_number: NumberOrEmpty | None = None
    dial_prefix: NumberOrEmpty | None = None
    clir_enable: StrictBool | None = None
    cti_via: NumberOrEmpty | None = None
    action: Action | None = None
    phone: NumberOrEmpty | None = None
    sip: SipOrEmpty | None = None
    phone_pool: PhonePool | None = None
    sip_pool: SipPool | None = None
    callreverse_enable: StrictBool | None = None
    timeout: OnTimeout | None = None
    unavailable: Unavailable | None = None
    busy: Busy | None = None


def _merge(plan: dict, body: DialplanV1) -> dict:
    """The stored plan with the request applied (add before delete, in the document's
    order); '' or null removes a field, which then has its default."""
    for f in body.model_fields_set - {'phone_pool', 'sip_pool'}:
        value = getattr(body, f)
        if value is None or value == '':
            plan.pop(f, None)
        else:
            plan[f] = value.model_dump(exclude_none=True) if isinstance(value, Body) else value
    if body.phone_pool is not None:
        pool = plan.setdefault('phone_pool', {})
        pool.update(body.phone_pool.add)
        for n in body.phone_pool.delete:
            pool.pop(n, None)
    if body.sip_pool is not None:
        pool = plan.setdefault('sip_pool', [])
        pool.extend(a for a in dict.fromkeys(body.sip_pool.add) if a not in pool)
        plan['sip_pool'] = [a for a in pool if a not in body.sip_pool.delete]
    return plan


def _refs(body: DialplanV1) -> Refs:
    """What the request newly points at (stored references were checked when given)."""
    refs = Refs()
    if body.announcement:
        refs.announcements[body.announcement] = 'announcement'
    if body.clip_number:      # showing someone else's number is spoofing
        refs.own_numbers[body.clip_number] = 'clip_number'
    if body.cti_via:          # where the user takes callback calls: their mobile, say
        refs.numbers[body.cti_via] = 'cti_via'
    if body.phone:
        refs.numbers[body.phone] = 'phone'
    if body.sip:
        refs.sips[body.sip] = 'sip'
    for n in (body.phone_pool.add if body.phone_pool else ()):
        refs.numbers.setdefault(n, 'phone_pool')
    for a in (body.sip_pool.add if body.sip_pool else ()):
        refs.sips.setdefault(a, 'sip_pool')
    for f in ('timeout', 'unavailable', 'busy'):
        fallback = getattr(body, f)
        if fallback is not None and fallback.phone:
            refs.numbers.setdefault(fallback.phone, f'{f}.phone')
        if fallback is not None and fallback.sip:
            refs.sips.setdefault(fallback.sip, f'{f}.sip')
    return refs


@router.get('')
async def get_plan(request: Request, s: Session = Depends(get_user_session)) -> dict:
    return ok(**await server_of(request).dialplans.v1_of(s.user))


@router.post('')
async def change_plan(body: DialplanV1, request: Request,
                      s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    await check(server, s.user, _refs(body))
    async with _locks.setdefault(s.user, asyncio.Lock()):   # read, change, write: one at a time
        plan = _merge(await server.dialplans.v1_of(s.user), body)
        for pool in ('phone_pool', 'sip_pool'):
            if len(plan[pool]) > MAX_POOL:
                raise ApiError('too-large', f'{pool}: at most {MAX_POOL} entries')
        try:
            _needs_target(plan)
        except ValueError as exc:
            raise ApiError('missing-element', str(exc)) from None
        runnable(qloud.DialplanV1.from_json, plan)
        await server.dialplans.set_v1(s.user, plan)
    if body.model_fields_set:
        server.sessions.publish(s.user, 'dialplan_modify', {})
    return ok()

