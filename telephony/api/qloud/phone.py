"""/api/phone (§3.9): the user's numbers, their switches, and new numbers from the pool."""
from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import Field, StringConstraints

from ...store.phones import FLAGS, Phone, parse_pool
from ..events import Session
from .common import PHONE_RE, UUID_RE, ApiError, Body, get_user_session, ok, server_of

router = APIRouter(prefix='/api/phone', tags=['phone'])

Number = Annotated[str, StringConstraints(pattern=PHONE_RE)]
Uuid = Annotated[str, StringConstraints(pattern=UUID_RE)]
_creating: dict[str, asyncio.Lock] = {}


class PhoneSettings(Body):
    announcement: Uuid | None = None
    dialplan_enable: bool | None = None
    call_enable: bool | None = None
    fax_enable: bool | None = None
    recording_enable: bool | None = None
    play_announcement_only: bool | None = None
    conference_enable: bool | None = None
    notification_email: bool | None = None
    notification_attachment: bool | None = None
    ivr: Uuid | None = None
    dialplan: Uuid | None = None
    on_hold_music: Uuid | None = None


class PhoneChange(Body):
    create: bool = False
    update: dict[Number, PhoneSettings] = Field(default_factory=dict)
    delete: list[Number] = Field(default_factory=list)


def describe(phone: Phone, announcements: dict[str, dict]) -> dict:
    out: dict = {f: getattr(phone, f) for f in FLAGS}
    if phone.announcement:
        out['announcement'] = announcements.get(phone.announcement, {'uuid': phone.announcement})
    for ref in ('ivr', 'dialplan', 'unlock_code'):
        if getattr(phone, ref):
            out[ref] = getattr(phone, ref)
    out['on_hold_music'] = phone.on_hold_music
    return out


async def _announcement_info(server, owner: str, uuid: str) -> dict | None:
    """§3.9's `announcement` of a phone: uuid and description of a playable announcement."""
    objects = server.objects
    if await objects.playable(owner, uuid) is None:
        return None
    return {'uuid': uuid, 'description': (await objects.get(owner, uuid)).description}


@router.get('')
async def list_phones(request: Request, s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    phones = await server.phones.of_owner(s.user)
    notes = {}
    for p in phones:
        if p.announcement and p.announcement not in notes:
            notes[p.announcement] = await _announcement_info(server, s.user, p.announcement) or {
                'uuid': p.announcement, 'description': ''}
    return ok(phone={p.number: describe(p, notes) for p in phones})


@router.post('')
async def change_phones(body: PhoneChange, request: Request,
                        s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    mine = {p.number: p for p in await server.phones.of_owner(s.user)}
    for number in [*body.update, *body.delete]:
        if number not in mine:
            raise ApiError('wrong-phone', f'{number} is not one of your numbers')
    # check every reference before changing anything, so a bad request changes nothing
    for number, change in body.update.items():
        for ref in ('announcement', 'on_hold_music'):
            uuid = getattr(change, ref)
            if uuid and await _announcement_info(server, s.user, uuid) is None:
                raise ApiError('wrong-announcement', f'{ref} {uuid} is not one of your announcements')
        if change.ivr:
            menu = await server.ivrs.get(change.ivr)
            if menu is None or menu['owner'] != s.user:
                raise ApiError('wrong-ivr', f'ivr {change.ivr} is not one of your IVRs')
        if change.dialplan and await server.dialplans.get(s.user, change.dialplan) is None:
            raise ApiError('wrong-dialplan', f'dialplan {change.dialplan} is not one of yours')
    created = {}
    if body.create:
        created = await _create(server, s.user)
    for number, change in body.update.items():
        phone = mine[number]
        given = change.model_dump(exclude_unset=True)
        for f in FLAGS:
            if f in given and given[f] is not None:
                setattr(phone, f, given[f])
        phone.announcement = given.get('announcement')  # §3.9: absent means unbind
        for ref in ('ivr', 'dialplan', 'on_hold_music'):
            if ref in given:
                setattr(phone, ref, given[ref])
        if phone.ivr:
            phone.ivr = phone.ivr.lower()   # as /api/ivr names it
        await server.phones.save(phone)
    for number in body.delete:
        await server.phones.remove(number)
    if created or body.update or body.delete:
        server.sessions.publish(s.user, 'phone_modify', {})
    return ok(**created)


async def _create(server, owner: str) -> dict:
    lock = _creating.setdefault(owner, asyncio.Lock())
    if lock.locked():
        raise ApiError('concurrent-access', 'another number is being created for you')
    async with lock:
        # counted under the lock: a count from before it misses a create that just finished
        have = len(await server.phones.of_owner(owner))
        if have >= server.settings.phone_limit:
            raise ApiError('phone-limit', f'at most {server.settings.phone_limit} numbers')
        phone = await server.phones.take_from_pool(owner, parse_pool(server.settings.phone_pool))
        if phone is None:
            raise ApiError('pool-depleted', 'no free number left in the pool')
    return {phone.number: {'unlock_code': phone.unlock_code}}

