"""/api/ivr (§5.1.1): the user's IVR menus. The runtime is ivr/menu.py.

Every reference is checked before anything is stored: the announcements must be the
user's (`wrong-announcement`) and nested menus the user's (`wrong-ivr`). A redirect may
name any number: one of ours runs that number's routing, any other goes out at call time
with the menu owner's rights (call filter, limits, transforms and outbound rules), so a
menu never lets a caller reach a destination its owner could not dial.
"""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StrictInt

from ...store.objects import NotFound
from ..events import Session
from .common import MAX_TIME_MS, PHONE_RE, UUID_RE, ApiError, Body, get_user_session, ok, server_of
from .recording import object_uuid

router = APIRouter(prefix='/api/ivr', tags=['ivr'])

DIGITS = '0123456789*#'
TARGET_RE = f'(?:{UUID_RE})|(?:{PHONE_RE})'
OTHER_RE = r'^(?:repeat|\+[0-9]{3,20})$'
MAX_TIMEOUT = 3600      # s; "integer > 0" in the document, bounded here
MAX_LIST = 500


class IvrTimeout(Body):
    seconds: StrictInt = Field(gt=0, le=MAX_TIMEOUT)
    action: Literal['repeat', 'call', 'play']
    phone: str | None = Field(None, pattern=PHONE_RE)
    announcement: str | None = Field(None, pattern=UUID_RE)


def _digit_field(d: str):
    return Field(None, alias=d, pattern=TARGET_RE)


class IvrBody(Body):
    description: str = Field(pattern=r'^.{1,200}$')
    announcement: str = Field(pattern=UUID_RE)
    d0: str | None = _digit_field('0')
    d1: str | None = _digit_field('1')
    d2: str | None = _digit_field('2')
    d3: str | None = _digit_field('3')
    d4: str | None = _digit_field('4')
    d5: str | None = _digit_field('5')
    d6: str | None = _digit_field('6')
    d7: str | None = _digit_field('7')
    d8: str | None = _digit_field('8')
    d9: str | None = _digit_field('9')
    star: str | None = _digit_field('*')
    pound: str | None = _digit_field('#')
    other: str | None = Field(None, pattern=OTHER_RE)
    timeout: IvrTimeout | None = None

    def document(self) -> dict:
        """The menu in the document's field names, as stored and as GET shows it."""
        return self.model_dump(by_alias=True, exclude_none=True)


async def _check(request: Request, user: str, body: IvrBody) -> dict:
    """The menu to store, or the first reason it cannot be (nothing is stored then)."""
    server = server_of(request)
    doc = body.document()
    targets = {d: doc[d] for d in DIGITS if d in doc}
    if not targets:
        raise ApiError('missing-element', 'at least one of the digits 0-9, *, # is required')
    t = body.timeout
    if t is not None and t.action == 'call' and not t.phone:
        raise ApiError('missing-element', 'timeout.phone is required for action call')
    if t is not None and t.action == 'play' and not t.announcement:
        raise ApiError('missing-element', 'timeout.announcement is required for action play')
    announcements = [('announcement', body.announcement)]
    if t is not None and t.action == 'play':
        announcements.append(('timeout.announcement', t.announcement))
    for where, uuid in announcements:
        try:
            await server.objects.get(user, uuid, 'announcement')
        except NotFound:   # not the user's, or no such object
            raise ApiError('wrong-announcement',
                           f'{where} {uuid} is not one of your announcements') from None
    for d, uuid in targets.items():
        if uuid.startswith('+'):
            continue
        menu = await server.ivrs.get(uuid)
        if menu is None or menu['owner'] != user:
            raise ApiError('wrong-ivr', f'{d}: IVR {uuid} does not exist or is not yours')
        doc[d] = uuid.lower()
    if t is None:
        doc.pop('timeout', None)
    else:   # only the field its action uses
        doc['timeout'] = {k: v for k, v in doc['timeout'].items()
                          if k in ('seconds', 'action')
                          or (k, t.action) in (('phone', 'call'), ('announcement', 'play'))}
    return doc


async def _mine(request: Request, user: str, uuid: str) -> dict:
    menu = await server_of(request).ivrs.get(uuid)
    if menu is None or menu['owner'] != user:
        raise ApiError('wrong-ivr', f'IVR {uuid} does not exist or does not belong to you')
    return menu


@router.post('')
async def create_ivr(body: IvrBody, request: Request,
                     s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    doc = await _check(request, s.user, body)
    cap = server.settings.ivr_max_per_user
    if len(await server.ivrs.of_owner(s.user, limit=cap)) >= cap:
        raise ApiError('too-large', f'at most {cap} IVRs per user')
    return ok(uuid=await server.ivrs.create(s.user, doc))


@router.post('/{uuid}')
async def update_ivr(body: IvrBody, request: Request, uuid: str = object_uuid(),
                     s: Session = Depends(get_user_session)) -> dict:
    await _mine(request, s.user, uuid)
    doc = await _check(request, s.user, body)
    await server_of(request).ivrs.replace(uuid, doc)
    return ok()


@router.get('')
async def list_ivrs(request: Request, s: Session = Depends(get_user_session),
                    from_: int | None = Query(None, alias='from', ge=0, le=MAX_TIME_MS),
                    to: int | None = Query(None, ge=0, le=MAX_TIME_MS),
                    start: str | None = Query(None, pattern=UUID_RE),
                    order: Literal['asc', 'desc'] = 'asc',
                    count: int = Query(30, ge=1, le=MAX_LIST)) -> dict:
    if from_ is not None and to is not None and from_ > to:
        raise ApiError('wrong-syntax', 'from must not be after to')
    menus = await server_of(request).ivrs.of_owner(
        s.user, since=from_, until=to, after=start, descending=order == 'desc', limit=count)
    return ok(ivr=[{'description': m['description'], 'uuid': m['uuid']} for m in menus])


@router.get('/{uuid}')
async def get_ivr(request: Request, uuid: str = object_uuid(),
                  s: Session = Depends(get_user_session)) -> dict:
    menu = await _mine(request, s.user, uuid)
    return ok(ivr={k: v for k, v in menu.items() if k not in ('uuid', 'owner', 'created')})


@router.delete('/{uuid}')
async def delete_ivr(request: Request, uuid: str = object_uuid(),
                     s: Session = Depends(get_user_session)) -> dict:
    """Refused while one of the user's numbers or menus still leads to it."""
    server = server_of(request)
    menu = await _mine(request, s.user, uuid)
    users = [p.number for p in await server.phones.of_owner(s.user) if (p.ivr or '').lower() == menu['uuid']]
    users += await server.ivrs.referring_to(s.user, menu['uuid'])
    if users:
        raise ApiError('illegal-state', f'IVR {uuid} is still used by {", ".join(users)}')
    await server.ivrs.remove(uuid)
    return ok()
