"""/api/recording (§3.14), and what announcements share with it: object answers, downloads.

Recordings are made by calls (record_start/record_stop, voice messages) through
`server.objects.add_recording`; the API reads, describes, deletes and downloads them.
Downloads take the session id or the session's download id `did` with `dkey`
(§2.3) and answer the file, or 404 with an empty body.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from ...store.objects import InTrash, MediaObject, NotFound
from ..events import Session
from .common import UUID_RE, ApiError, Body, download_session, get_user_session, ok, server_of

router = APIRouter(tags=['recording'])

DESCRIPTION_RE = r'^.{0,200}$'
MEDIA_TYPES = {'wav': 'audio/wav', 'ogg': 'audio/ogg'}


def object_uuid() -> str:
    return Path(pattern=UUID_RE, description='the object uuid')


def describe(obj: MediaObject) -> dict:
    """An object as GET /api/announcement|recording/(uuid) shows it."""
    out: dict = {'owner': obj.owner, 'time': int(obj.time), 'description': obj.description}
    if obj.type == 'recording':
        out['from'] = obj.from_ or ''
        out['to'] = obj.to or ''
    out['status'] = obj.status
    out['tag'] = []                       # tags (§3.10) are not implemented yet
    out['trash'] = obj.trashed is not None
    if obj.duration is not None and obj.status == 'ok':
        out['duration'] = round(obj.duration, 3)
    return out


def not_found(type_: str) -> ApiError:
    return ApiError(f'wrong-{type_}', f'no such {type_} accessible by the current user')


async def get_one(request: Request, s: Session, uuid: str, type_: str) -> dict:
    try:
        obj = await server_of(request).objects.get(s.user, uuid, type_)
    except NotFound:
        raise not_found(type_) from None
    return ok(**{type_: describe(obj)})


async def get_all(request: Request, s: Session, type_: str) -> dict:
    found = await server_of(request).objects.list(s.user, type_)
    return ok(**{type_: {o.uuid: describe(o) for o in found}})


async def modify(request: Request, s: Session, uuid: str, type_: str,
                 description: str | None) -> dict:
    try:
        await server_of(request).objects.modify(s.user, uuid, type_, description, user=s.user)
    except NotFound:
        raise not_found(type_) from None
    except InTrash:
        raise ApiError('access-denied', f'the {type_} is in the trash') from None
    return ok()


async def remove(request: Request, s: Session, uuid: str, type_: str, purge: bool) -> dict:
    try:
        await server_of(request).objects.delete(s.user, uuid, type_, purge=purge, user=s.user)
    except NotFound:
        raise not_found(type_) from None
    return ok()


async def download(request: Request, uuid: str, name: str, type_: str) -> Response:
    """GET .../(uuid)/(xxx).wav|ogg: the file, or 404 with an empty body on any failure."""
    fmt = name.rsplit('.', 1)[-1].lower() if '.' in name else ''
    s = download_session(request, uuid)
    if fmt not in MEDIA_TYPES or s is None:
        return Response(status_code=404)
    data = await server_of(request).objects.download(s.user, uuid, type_, fmt)
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type=MEDIA_TYPES[fmt],
                    headers={'Content-Disposition': attachment(request, name, f'{type_}.{fmt}')})


def attachment(request: Request, name: str, default: str) -> str:
    """Content-Disposition of a download: `inline` when asked for (RFC 2183), the name the
    user agent chose, kept to safe characters."""
    disposition = 'inline' if 'inline' in request.query_params else 'attachment'
    safe = ''.join(c for c in name if c.isalnum() or c in '._-') or default
    return f'{disposition}; filename="{safe}"'


# --- /api/recording ------------------------------------------------------------------------

class RecordingChange(Body):
    description: str = Field(pattern=DESCRIPTION_RE)


@router.get('/api/recording')
async def list_recordings(request: Request, s: Session = Depends(get_user_session)) -> dict:
    """All of the user's recordings, keyed by uuid (an extension: the document lists
    objects through tags, which do not exist yet)."""
    return await get_all(request, s, 'recording')


@router.get('/api/recording/{uuid}')
async def get_recording(request: Request, uuid: str = object_uuid(),
                        s: Session = Depends(get_user_session)) -> dict:
    return await get_one(request, s, uuid, 'recording')


@router.post('/api/recording/{uuid}')
async def modify_recording(body: RecordingChange, request: Request, uuid: str = object_uuid(),
                           s: Session = Depends(get_user_session)) -> dict:
    return await modify(request, s, uuid, 'recording', body.description)


@router.delete('/api/recording/{uuid}')
async def delete_recording(request: Request, uuid: str = object_uuid(),
                           purge: str | None = Query(None, description='present: delete for good'),
                           s: Session = Depends(get_user_session)) -> dict:
    return await remove(request, s, uuid, 'recording', purge is not None)


@router.get('/api/recording/{uuid}/{name}', response_class=Response,
            responses={200: {'content': {t: {} for t in MEDIA_TYPES.values()}}, 404: {}})
async def download_recording(request: Request, uuid: str, name: str,
                             inline: str | None = Query(None)) -> Response:
    return await download(request, uuid, name, 'recording')
