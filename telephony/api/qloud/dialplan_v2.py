"""/api/dialplan/v2 (§4.1): a user's dial plan objects, referenced by a number's `dialplan`.

A plan is `profiles` evaluated first to last: an optional `filter` (`caller` regex, `time`
with `date`, `date_start`/`date_end`, `weekdays`, `time_start`/`time_end` in UTC) and exactly
one action (`reject`, `record`, `parallel`, `linear`, `cyclic`). It is stored as the client
wrote it (unknown fields dropped), in the document's field names, for dialplan/qloud.py.
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import (AfterValidator, Field, StrictBool, StrictInt, StringConstraints,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from ...dialplan.qloud import DialplanV2
from ..events import Session
from .common import UUID_RE, ApiError, Body, get_user_session, ok, server_of
from .dialplan_refs import Refs, check, runnable

router = APIRouter(prefix='/api/dialplan/v2', tags=['dialplan'])

TARGET_RE = r'^\+[0-9]{3,20}$|^[a-z0-9]{2,20}_[0-9]{2}$'   # §4.1 `target`
ACTIONS = ('reject', 'record', 'parallel', 'linear', 'cyclic')
MAX_PLANS = 100      # v2 objects per user (`quota-exceeded`)
MAX_PROFILES = 50    # profiles per plan (`too-large`)
MAX_TARGETS = 20     # targets per action: a parallel hunt places one call each (`too-large`)
MAX_SECONDS = 86400  # |timeout|; the document gives no range, below 1 means "no limit"
_create_locks: dict[str, asyncio.Lock] = {}


def _day(value: str) -> str:
    try:
        datetime.strptime(value, '%d.%m.%Y')
    except ValueError:
        raise ValueError(f'{value} is not a date dd.MM.yyyy') from None
    return value


def missing(message: str) -> PydanticCustomError:
    """Raised in a validator: answered `missing-element` like an absent field."""
    return PydanticCustomError('missing', message)


Uuid = Annotated[str, StringConstraints(pattern=UUID_RE)]
Day = Annotated[str, StringConstraints(pattern=r'^[0-9]{2}\.[0-9]{2}\.[0-9]{4}$'),
                AfterValidator(_day)]
Clock = Annotated[str, StringConstraints(pattern=r'^([01][0-9]|2[0-3]):[0-5][0-9]$')]
Weekday = Literal['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN']
Target = Annotated[str, StringConstraints(pattern=TARGET_RE)]
Seconds = Annotated[StrictInt, Field(ge=-MAX_SECONDS, le=MAX_SECONDS)]


class TimeFilter(Body):
    date: Day | None = None
    date_start: Day | None = None
    date_end: Day | None = None
    weekdays: list[Weekday] | None = Field(None, min_length=1, max_length=7)
    time_start: Clock | None = None
    time_end: Clock | None = None

    @model_validator(mode='after')
    def consistent(self) -> 'TimeFilter':
        if self.date and (self.weekdays or self.date_start or self.date_end):
            raise ValueError('with date, weekdays, date_start and date_end must not be given')
        if self.date_start and self.date_end and \
                _ordinal(self.date_end) < _ordinal(self.date_start):
            raise ValueError('date_end precedes date_start')
        if self.weekdays and len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError('weekdays lists a day twice')
        if (self.time_start is None) != (self.time_end is None):
            raise missing('time_start and time_end go together')
        return self


def _ordinal(day: str) -> int:
    return datetime.strptime(day, '%d.%m.%Y').toordinal()


class ProfileFilter(Body):
    caller: str | None = None   # a regex: dialplan/regexes.py's rules, checked by the core
    time: TimeFilter | None = None


class Ringtone(Body):
    announcement: Uuid | None = None
    mix: StrictBool | None = None


class Record(Body):
    announcement: Uuid | None = None


class Reject(Body):
    pass


class Parallel(Body):
    timeout: Seconds | None = None
    targets: list[Target]   # "mandatory: must be present with at least one target"

    @field_validator('targets')
    @classmethod
    def present(cls, value):
        if not value:
            raise missing('targets must list at least one target')
        return value


class Step(Body):
    target: Target
    timeout: Seconds | None = None


class Sequence(Parallel):
    """linear and cyclic: targets are objects with `target` and `timeout`."""
    targets: list[Step]


class Profile(Body):
    filter: ProfileFilter | None = None
    reject: Reject | None = None
    record: Record | None = None
    parallel: Parallel | None = None
    linear: Sequence | None = None
    cyclic: Sequence | None = None

    @model_validator(mode='after')
    def one_action(self) -> 'Profile':
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if not given:
            raise missing(f'a profile needs one action: {"|".join(ACTIONS)}')
        if len(given) > 1:
            raise ValueError(f'a profile has one action, not {" and ".join(given)}')
        return self


class Dialplan(Body):
    description: str | None = Field(None, pattern=r'^.{0,200}$')
    ringtone: Ringtone | None = None
    profiles: list[Profile] | None = None

    def given(self) -> dict:
        """The fields the client sent, as stored: an explicit null is None (unset it)."""
        return {f: None if getattr(self, f) is None
                else self.model_dump(include={f}, exclude_none=True)[f]
                for f in self.model_fields_set}


class DialplanBody(Body):
    dialplan: Dialplan


async def _check(request: Request, owner: str, plan: dict) -> None:
    """Caps, the router's own reading and references of a whole plan, before it is stored."""
    profiles = plan.get('profiles', [])
    if len(profiles) > MAX_PROFILES:
        raise ApiError('too-large', f'at most {MAX_PROFILES} profiles')
    for i, profile in enumerate(profiles):
        action, = (a for a in ACTIONS if a in profile)
        if len(profile[action].get('targets', [])) > MAX_TARGETS:
            raise ApiError('too-large', f'profiles.{i}.{action}: at most {MAX_TARGETS} targets')
    runnable(DialplanV2.from_json, plan, 'dialplan.')
    refs = Refs()
    if 'announcement' in plan.get('ringtone', {}):
        refs.announcements[plan['ringtone']['announcement']] = 'ringtone.announcement'
    for i, profile in enumerate(profiles):
        action, = (a for a in ACTIONS if a in profile)
        where = f'profiles.{i}.{action}'
        if 'announcement' in profile[action]:
            refs.announcements.setdefault(profile[action]['announcement'], where)
        for t in profile[action].get('targets', []):
            refs.target(t if isinstance(t, str) else t['target'], f'{where}.targets')
    await check(server_of(request), owner, refs)


def _uuid() -> str:
    return Path(pattern=UUID_RE, description='the dial plan uuid')


async def _own(request: Request, s: Session, uuid: str) -> dict:
    plan = await server_of(request).dialplans.get(s.user, uuid)
    if plan is None:
        raise ApiError('wrong-dialplan', f'{uuid} is not one of your dial plans')
    return plan


def _changed(request: Request, s: Session, uuid: str) -> None:
    # §7.14.1 says {}; the uuid tells a client holding several plans which one to re-read
    server_of(request).sessions.publish(s.user, 'dialplan_modify', {'uuid': uuid})


@router.get('')
async def list_plans(request: Request, s: Session = Depends(get_user_session)) -> dict:
    plans = await server_of(request).dialplans.list(s.user)
    return ok(dialplan=[{'uuid': u, 'description': d} for u, d in plans])


@router.post('')
async def create_plan(body: DialplanBody, request: Request,
                      s: Session = Depends(get_user_session)) -> dict:
    plan = {k: v for k, v in body.dialplan.given().items() if v is not None}
    await _check(request, s.user, plan)
    store = server_of(request).dialplans
    async with _create_locks.setdefault(s.user, asyncio.Lock()):
        if await store.count(s.user) >= MAX_PLANS:
            raise ApiError('quota-exceeded', f'at most {MAX_PLANS} dial plans per user')
        uuid = await store.create(s.user, plan)
    _changed(request, s, uuid)
    return ok(uuid=uuid)


@router.get('/{uuid}')
async def get_plan(request: Request, uuid: str = _uuid(),
                   s: Session = Depends(get_user_session)) -> dict:
    return ok(dialplan=await _own(request, s, uuid))


@router.post('/{uuid}')
async def modify_plan(body: DialplanBody, request: Request, uuid: str = _uuid(),
                      s: Session = Depends(get_user_session)) -> dict:
    """The fields given replace the stored ones; a field given as null is removed."""
    plan = await _own(request, s, uuid)
    for f, value in body.dialplan.given().items():
        if value is None:
            plan.pop(f, None)
        else:
            plan[f] = value
    await _check(request, s.user, plan)
    if not await server_of(request).dialplans.replace(s.user, uuid, plan):
        raise ApiError('wrong-dialplan', f'{uuid} is not one of your dial plans')
    _changed(request, s, uuid.lower())
    return ok()


@router.delete('/{uuid}')
async def delete_plan(request: Request, uuid: str = _uuid(),
                      s: Session = Depends(get_user_session)) -> dict:
    """§4.1: numbers that used the plan lose their `dialplan` field."""
    server = server_of(request)
    unbound = await server.dialplans.delete(s.user, uuid)
    if unbound is None:
        raise ApiError('wrong-dialplan', f'{uuid} is not one of your dial plans')
    _changed(request, s, uuid.lower())
    if unbound:
        server.sessions.publish(s.user, 'phone_modify', {})
    return ok()
