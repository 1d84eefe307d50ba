"""/api/announcement (§3.15) and /api/trash (§3.11).

An announcement is created empty (`POST /api/announcement`, modelled on
`POST /api/fax`: the document lists no create call for announcements), then
gets contents by an upload of WAV or Ogg Vorbis (any libsndfile format, rate and
channel count) or by text2speech.  Both answer as soon as the request is taken;
the object is `convert` until the conversion ends with `announcement_convert`
(§7.10) and status `ok`, `empty` (only silence) or `fail`.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from ...store.objects import InTrash, Malformed, NotFound, TooLarge
from ..events import Session
from ..limits import set_body_limit
from .common import ApiError, Body, get_user_session, ok, server_of
from .recording import (DESCRIPTION_RE, MEDIA_TYPES, download, get_all, get_one, modify,
                        not_found, object_uuid, remove)

router = APIRouter(tags=['announcement'])
TYPE = 'announcement'


class AnnouncementNew(Body):
    description: str = Field('', pattern=DESCRIPTION_RE)


class AnnouncementChange(Body):
    description: str | None = Field(None, pattern=DESCRIPTION_RE)


class Text2Speech(Body):
    text: str = Field(pattern=r'^.{1,5000}$')
    locale: str = Field('de-DE', pattern=r'^(de-DE|en-GB|en-US|es-ES|fr-FR|it-IT)$')


@router.post('/api/announcement')
async def create_announcement(request: Request, body: AnnouncementNew | None = None,
                              s: Session = Depends(get_user_session)) -> dict:
    """A new announcement without contents (status `empty`); returns its uuid."""
    obj = await server_of(request).objects.create(
        s.user, TYPE, body.description if body else '', 'empty')
    return ok(uuid=obj.uuid)


@router.get('/api/announcement')
async def list_announcements(request: Request, s: Session = Depends(get_user_session)) -> dict:
    """All of the user's announcements, keyed by uuid (an extension: the document lists
    objects through tags, which do not exist yet)."""
    return await get_all(request, s, TYPE)


@router.get('/api/announcement/{uuid}')
async def get_announcement(request: Request, uuid: str = object_uuid(),
                           s: Session = Depends(get_user_session)) -> dict:
    return await get_one(request, s, uuid, TYPE)


@router.post('/api/announcement/{uuid}')
async def modify_announcement(request: Request, body: AnnouncementChange | None = None,
                              uuid: str = object_uuid(),
                              s: Session = Depends(get_user_session)) -> dict:
    return await modify(request, s, uuid, TYPE, body.description if body else None)


@router.delete('/api/announcement/{uuid}')
async def delete_announcement(request: Request, uuid: str = object_uuid(),
                              purge: str | None = Query(None,
                                                        description='present: delete for good'),
                              s: Session = Depends(get_user_session)) -> dict:
    return await remove(request, s, uuid, TYPE, purge is not None)


@router.post('/api/announcement/{uuid}/text2speech')
async def text2speech(body: Text2Speech, request: Request, uuid: str = object_uuid(),
                      s: Session = Depends(get_user_session)) -> dict:
    try:
        await server_of(request).objects.text2speech(s.user, uuid, body.text, body.locale)
    except NotFound:
        raise not_found(TYPE) from None
    except InTrash:
        raise ApiError('access-denied', 'the announcement is in the trash') from None
    return ok()


@router.get('/api/announcement/{uuid}/{name}', response_class=Response,
            responses={200: {'content': {t: {} for t in MEDIA_TYPES.values()}}, 404: {}})
async def download_announcement(request: Request, uuid: str, name: str,
                                inline: str | None = Query(None)) -> Response:
    return await download(request, uuid, name, TYPE)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (`too-large`) as soon as it passes `limit` bytes."""
    set_body_limit(request, limit)   # uploads may be larger than JSON bodies
    return await request.body()


@router.post('/api/announcement/{uuid}/{name}',
             openapi_extra={'requestBody': {'content': {t: {'schema': {
                 'type': 'string', 'format': 'binary'}} for t in MEDIA_TYPES.values()}}})
async def upload_announcement(request: Request, name: str, uuid: str = object_uuid(),
                              s: Session = Depends(get_user_session)) -> dict:
    """(xxx).wav or (xxx).ogg: new contents, converted to 8 kHz mono in the background."""
    store = server_of(request).objects
    try:
        await store.get(s.user, uuid, TYPE)     # before reading a body we would throw away
    except NotFound:
        raise not_found(TYPE) from None
    data = await _read_body(request, store.max_upload_bytes)
    try:
        await store.upload(s.user, uuid, data)
    except NotFound:
        raise not_found(TYPE) from None
    except InTrash:
        raise ApiError('access-denied', 'the announcement is in the trash') from None
    except TooLarge as exc:
        raise ApiError('too-large', str(exc)) from None
    except Malformed as exc:
        raise ApiError('malformed-file', f'not a readable WAV or Ogg Vorbis file: {exc}') from None
    return ok()


# --- /api/trash (§3.11) ----------------------------------------------------------------------

@router.delete('/api/trash', tags=['trash'])
async def purge_trash(request: Request, s: Session = Depends(get_user_session)) -> dict:
    """Delete every object in the user's trash for good (object_delete with purge, then
    trash_purge); the conferences in the trash too."""
    server = server_of(request)
    for uuid in await server.conferences.purge_trash(s.user, user=s.user):
        server.sessions.drop_topic(s.user, uuid)
    await server.objects.purge_trash(s.user, user=s.user)
    return ok()
