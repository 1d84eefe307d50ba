"""/api/conference (§3.17): the user's conference objects, their detail event channel
(`/event`) and the members of a running conference (`/member`).

The objects live in store/conferences.py; what runs is behind `ConferenceRuntime`
(conference/registry.py): `/event` answers `busy` from it and `/member` needs a running
room (`conference-offline`). Callers reach a conference through one of the owner's numbers
whose switches lead to it (§3.9), keying its PIN (ivr/pin.py).
"""
from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field, StrictBool, StrictInt, StringConstraints

from ...conference.registry import VOLUME_RANGE
from ...dialplan.numbers import CONFERENCE, precedence
from ...store.conferences import Conference, DuplicatePin, InTrash
from ..events import MAX_TOPICS, Session
from .common import UUID_RE, ApiError, Body, get_user_session, ok, server_of

router = APIRouter(prefix='/api/conference', tags=['conference'])

PIN_RE = r'^[0-9]{4}$'
DESCRIPTION_RE = r'^.{0,200}$'    # the create section's `^{0,200}$` lost its dot
MAX_MEMBERS = 100                 # members one POST .../member may name in update and delete
Uuid = Annotated[str, StringConstraints(pattern=UUID_RE)]
Volume = Annotated[StrictInt, Field(ge=VOLUME_RANGE[0], le=VOLUME_RANGE[1])]


class ConferenceCreate(Body):
    description: str = Field('', pattern=DESCRIPTION_RE)
    pin: str = Field(pattern=PIN_RE)
    active: StrictBool
    mute_default: StrictBool = False


class ConferenceModify(Body):
    """"All fields in the request are optional."""
    description: str | None = Field(None, pattern=DESCRIPTION_RE)
    pin: str | None = Field(None, pattern=PIN_RE)
    active: StrictBool | None = None
    mute_default: StrictBool | None = None


class MemberChange(Body):
    user: Uuid | None = None
    mute: StrictBool | None = None
    deaf: StrictBool | None = None
    volume_in: Volume | None = None
    volume_out: Volume | None = None


class MemberBody(Body):
    update: dict[Uuid, MemberChange] = Field(default_factory=dict)
    delete: list[Uuid] = Field(default_factory=list)


def _uuid() -> str:
    return Path(pattern=UUID_RE, description='the conference uuid')


async def _own(request: Request, s: Session, uuid: str) -> Conference:
    c = await server_of(request).conferences.get(s.user, uuid)
    if c is None:
        raise ApiError('wrong-conference', f'{uuid} is not a conference of yours')
    return c


def _writable(c: Conference) -> None:
    if c.trashed is not None:
        raise ApiError('access-denied', 'the conference is in the trash')


def _duplicate(pin: str) -> ApiError:
    return ApiError('duplicate-pin', f'PIN {pin} is already used by another of your conferences')


@router.post('')
async def create_conference(body: ConferenceCreate, request: Request,
                            s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    cap = server.settings.conference_max_per_user
    if await server.conferences.count(s.user) >= cap:
        raise ApiError('too-large', f'at most {cap} conferences per user')
    try:
        c = await server.conferences.create(s.user, body.description, body.pin, body.active,
                                            body.mute_default)
    except DuplicatePin:
        raise _duplicate(body.pin) from None
    return ok(uuid=c.uuid)


@router.get('/{uuid}')
async def get_conference(request: Request, uuid: str = _uuid(),
                         s: Session = Depends(get_user_session)) -> dict:
    """`phone`: the owner's numbers a call to which runs this user's PIN entry (§3.9's
    precedence decides it is the conference, not dial plans, voice mail or fax)."""
    c = await _own(request, s, uuid)
    numbers = [p.number for p in await server_of(request).phones.of_owner(s.user)
               if precedence(p) == CONFERENCE]
    return ok(conference={'owner': c.owner, 'time': int(c.time), 'description': c.description,
                          'pin': c.pin, 'active': c.active, 'mute_default': c.mute_default,
                          'phone': numbers, 'tag': [], 'trash': c.trashed is not None})


@router.post('/{uuid}')
async def modify_conference(body: ConferenceModify, request: Request, uuid: str = _uuid(),
                            s: Session = Depends(get_user_session)) -> dict:
    c = await _own(request, s, uuid)
    _writable(c)
    changes = body.model_dump(exclude_none=True)
    try:
        await server_of(request).conferences.modify(s.user, c.uuid, changes, user=s.user)
    except (KeyError, InTrash):   # deleted meanwhile
        raise ApiError('wrong-conference', f'{uuid} is not a conference of yours') from None
    except DuplicatePin:
        raise _duplicate(changes['pin']) from None
    return ok()


@router.delete('/{uuid}')
async def delete_conference(request: Request, uuid: str = _uuid(),
                            purge: str | None = Query(None, description='present: delete for good'),
                            s: Session = Depends(get_user_session)) -> dict:
    """To the trash (or for good with `purge`); whoever is in it is hung up, since a
    conference in the trash cannot be joined."""
    server = server_of(request)
    c = await _own(request, s, uuid)
    try:
        await server.conferences.delete(s.user, c.uuid, purge=purge is not None, user=s.user)
    except KeyError:
        raise ApiError('wrong-conference', f'{uuid} is not a conference of yours') from None
    room = server.conference_runtime.running(c.uuid)
    if room is not None:
        for member in list(room.members):
            room.kick(member)
    if purge is not None or c.trashed is not None:
        server.sessions.drop_topic(s.user, c.uuid)
    return ok()


@router.get('/{uuid}/event')
async def subscribe(request: Request, uuid: str = _uuid(),
                    s: Session = Depends(get_user_session)) -> dict:
    """Detail events of this conference reach this session from now on; when it runs, a
    `conference_status` with every member comes first, so the client can catch up."""
    server = server_of(request)
    c = await _own(request, s, uuid)
    if c.uuid not in s.topics and len(s.topics) >= MAX_TOPICS:
        raise ApiError('too-large', f'a session follows at most {MAX_TOPICS} conferences')
    s.topics.add(c.uuid)
    room = server.conference_runtime.running(c.uuid)
    # a copy: the event waits in the queue while the room's members change
    members = {m: dict(f) for m, f in room.members.items()} if room is not None else {}
    if members:
        s.push({'event': 'conference_status', 'time': int(time.time()), 'conference': c.uuid,
                'member': members})
    return ok(busy=bool(members))


@router.delete('/{uuid}/event')
async def unsubscribe(request: Request, uuid: str = _uuid(),
                      s: Session = Depends(get_user_session)) -> dict:
    c = await _own(request, s, uuid)
    s.topics.discard(c.uuid)
    return ok()


@router.post('/{uuid}/member')
async def change_members(body: MemberBody, request: Request, uuid: str = _uuid(),
                         s: Session = Depends(get_user_session)) -> dict:
    """Members that already left are passed over: a kick racing a hangup is no error."""
    if len(body.update) + len(body.delete) > MAX_MEMBERS:
        raise ApiError('too-large', f'at most {MAX_MEMBERS} members in update and delete')
    c = await _own(request, s, uuid)
    _writable(c)
    room = server_of(request).conference_runtime.running(c.uuid)
    if room is None:
        raise ApiError('conference-offline', 'the conference has no participants now')
    for member, change in body.update.items():
        fields = change.model_dump(exclude_none=True)
        if fields:
            room.update(member.lower(), fields)
    for member in body.delete:
        room.kick(member.lower())
    return ok()
