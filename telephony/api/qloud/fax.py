"""/api/fax (§3.13): fax objects, PDF uploads, downloads, sending and reports.

A fax is created empty, gets contents from a PDF (`POST /api/fax/(uuid)/(xxx).pdf`,
rastered to TIFF-F in the background, `fax_convert` when done) or from a reception,
and is sent with `POST .../send`, which checks the request and hands it to the fax
engine (store/faxes.py `FaxSender`).  Downloads (`(page)/(xxx).png`, `(xxx).pdf`,
`(xxx).tif`, the report's `report/(report)/(xxx).pdf`) take the session or the
download id `did` with `dkey` (§2.3) and answer the file or an empty 404.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from ...calls.fax_send import route_refusal
from ...calls.policy import PolicyDenied
from ...store.faxes import NoContent, NoEngine, QuotaExceeded, WrongState
from ...store.objects import InTrash, Malformed, NotFound, TooLarge
from ..events import Session
from .announcement import _read_body
from .call import DENIED
from .common import (PHONE_RE, UUID_RE, ApiError, Body, download_session, get_user_session, ok,
                     server_of)
from .recording import DESCRIPTION_RE, attachment, not_found, object_uuid

router = APIRouter(prefix='/api/fax', tags=['fax'])
FAX_IDENT_RE = r'^[\+ 0-9]{0,20}$'     # as POST /api/user (§3.2); see decisions.md
FAX_HEADER_RE = r'^.{0,40}$'
FORMATS = {'pdf': 'application/pdf', 'tif': 'image/tiff', 'tiff': 'image/tiff',
           'png': 'image/png'}
IN_TRASH = 'the fax is in the trash'


class FaxNew(Body):
    description: str = Field('', pattern=DESCRIPTION_RE)


class FaxChange(Body):
    description: str = Field(pattern=DESCRIPTION_RE)


class FaxSend(Body):
    from_: str = Field(alias='from', pattern=PHONE_RE)
    to: str = Field(pattern=PHONE_RE)
    fax_ident: str | None = Field(None, pattern=FAX_IDENT_RE)
    fax_header: str | None = Field(None, pattern=FAX_HEADER_RE)


def _faxes(request: Request):
    return server_of(request).faxes


@router.post('')
async def create_fax(request: Request, body: FaxNew | None = None,
                     s: Session = Depends(get_user_session)) -> dict:
    """A new fax without contents (status `empty`); returns its uuid."""
    obj = await _faxes(request).create(s.user, body.description if body else '')
    return ok(uuid=obj.uuid)


@router.get('/{uuid}')
async def get_fax(request: Request, uuid: str = object_uuid(),
                  s: Session = Depends(get_user_session)) -> dict:
    try:
        return ok(fax=await _faxes(request).describe(s.user, uuid))
    except NotFound:
        raise not_found('fax') from None


@router.post('/{uuid}')
async def modify_fax(body: FaxChange, request: Request, uuid: str = object_uuid(),
                     s: Session = Depends(get_user_session)) -> dict:
    try:
        await server_of(request).objects.modify(s.user, uuid, 'fax', body.description,
                                                user=s.user)
    except NotFound:
        raise not_found('fax') from None
    except InTrash:
        raise ApiError('access-denied', IN_TRASH) from None
    return ok()


@router.delete('/{uuid}')
async def delete_fax(request: Request, uuid: str = object_uuid(),
                     purge: str | None = Query(None, description='present: delete for good'),
                     s: Session = Depends(get_user_session)) -> dict:
    try:
        await server_of(request).objects.delete(s.user, uuid, 'fax', purge=purge is not None,
                                                user=s.user)
    except NotFound:
        raise not_found('fax') from None
    return ok()


@router.post('/{uuid}/send')
async def send_fax(body: FaxSend, request: Request, uuid: str = object_uuid(),
                   s: Session = Depends(get_user_session)) -> dict:
    """Queue the fax for `to` from the user's own unlocked number `from`; returns the uuid of
    the outgoing report (status `dial`)."""
    server = server_of(request)
    faxes = server.faxes
    try:
        obj = await faxes.get(s.user, uuid)
    except NotFound:
        raise not_found('fax') from None
    if obj.trashed is not None:
        raise ApiError('access-denied', IN_TRASH)
    phone = await server.phones.get(body.from_)
    if phone is None or phone.owner != s.user:
        raise ApiError('wrong-phone', 'from is not one of your numbers')
    if phone.unlock_code:
        raise ApiError('locked-phone', 'the number in from has not been unlocked yet')
    if obj.status != 'ok':
        raise ApiError('no-content', f'the fax has no contents to send (status {obj.status})')
    try:
        permit = await server.calls.outgoing.permitted(s.user, body.to, 'fax')
    except PolicyDenied as exc:
        raise ApiError(*DENIED.get(exc.verdict.reason, ('forbidden-to', exc.verdict.reason))) \
            from None
    if permit.verdict is not None and permit.verdict.emergency:
        raise ApiError('forbidden-to', 'a fax cannot go to an emergency number')
    refusal = await route_refusal(server.calls.outgoing, permit.number)
    if refusal is not None:      # nothing would carry it: say so now, not in a report later
        raise ApiError('forbidden-to', refusal)
    defaults = await faxes.user_defaults(s.user)
    ident = body.fax_ident if body.fax_ident is not None else defaults.get('fax_ident',
                                                                           body.from_)
    header = body.fax_header if body.fax_header is not None else defaults.get('fax_header', '')
    try:
        report = await faxes.send(s.user, obj.uuid, body.from_, body.to, ident, header)
    except NotFound:
        raise not_found('fax') from None
    except InTrash:
        raise ApiError('access-denied', IN_TRASH) from None
    except NoContent:
        raise ApiError('no-content', 'the fax has no contents to send') from None
    except WrongState as exc:     # an upload is replacing its pages right now
        raise ApiError('wrong-state', str(exc)) from None
    except QuotaExceeded as exc:
        raise ApiError('quota-exceeded', str(exc)) from None
    except NoEngine as exc:       # §2's generic failure: the server cannot do it now
        raise ApiError('fail', f'the fax cannot be sent: {exc}') from None
    return ok(uuid=report)


@router.post('/{uuid}/report/{report}/cancel')
async def cancel_fax(request: Request, uuid: str = object_uuid(),
                     report: str = Path(pattern=UUID_RE, description='the fax report uuid'),
                     s: Session = Depends(get_user_session)) -> dict:
    """Cancel an outgoing transmission still in `dial`, `transmit` or `busy` (its report ends
    `cancel`); an extension: the document names the status, not the call."""
    try:
        await _faxes(request).cancel(s.user, uuid, report)
    except NotFound:
        raise not_found('fax') from None
    except WrongState as exc:
        raise ApiError('wrong-state', str(exc)) from None
    return ok()


@router.post('/{uuid}/{name}',
             openapi_extra={'requestBody': {'content': {'application/pdf': {'schema': {
                 'type': 'string', 'format': 'binary'}}}}})
async def upload_fax(request: Request, name: str, uuid: str = object_uuid(),
                     orientation: str | None = Query(None, max_length=20,
                                                     description='landscape: turn 90 degrees'),
                     mode: str | None = Query(None, max_length=20,
                                              description='photo: dither, not threshold'),
                     s: Session = Depends(get_user_session)) -> dict:
    """(xxx).pdf: new contents, rastered to TIFF-F in the background (`fax_convert`)."""
    faxes = _faxes(request)
    try:
        await faxes.check_upload(s.user, uuid)      # before reading a body we would refuse
        data = await _read_body(request, faxes.max_upload_bytes)
        await faxes.upload(s.user, uuid, data, landscape=orientation == 'landscape',
                           photo=mode == 'photo')
    except NotFound:
        raise not_found('fax') from None
    except InTrash:
        raise ApiError('access-denied', IN_TRASH) from None
    except WrongState as exc:
        raise ApiError('wrong-state', str(exc)) from None
    except TooLarge as exc:
        raise ApiError('too-large', str(exc)) from None
    except Malformed as exc:
        raise ApiError('malformed-file', f'not a readable PDF file: {exc}') from None
    return ok()


def _format(name: str) -> str:
    return name.rsplit('.', 1)[-1].lower() if '.' in name else ''


@router.get('/{uuid}/{name}', response_class=Response,
            responses={200: {'content': {FORMATS['pdf']: {}, FORMATS['tif']: {}}}, 404: {}})
async def download_fax(request: Request, uuid: str, name: str,
                       inline: str | None = Query(None)) -> Response:
    """(xxx).pdf or (xxx).tif: the whole fax."""
    fmt = _format(name)
    s = download_session(request, uuid)
    if fmt not in ('pdf', 'tif', 'tiff') or s is None:
        return Response(status_code=404)
    data = await _faxes(request).download(s.user, uuid, 'pdf' if fmt == 'pdf' else 'tif')
    return _file(request, data, name, fmt)


@router.get('/{uuid}/{page}/{name}', response_class=Response,
            responses={200: {'content': {FORMATS['png']: {}}}, 404: {}})
async def download_page(request: Request, uuid: str, page: str, name: str,
                        inline: str | None = Query(None)) -> Response:
    """(page)/(xxx).png: one page (the first is 1) as PNG."""
    s = download_session(request, uuid)
    if _format(name) != 'png' or not page.isdigit() or len(page) > 6 or s is None:
        return Response(status_code=404)
    data = await _faxes(request).download(s.user, uuid, 'png', int(page))
    return _file(request, data, name, 'png')


@router.get('/{uuid}/report/{report}/{name}', response_class=Response,
            responses={200: {'content': {FORMATS['pdf']: {}}}, 404: {}})
async def download_report(request: Request, uuid: str, report: str, name: str,
                          inline: str | None = Query(None)) -> Response:
    """report/(report)/(xxx).pdf: the one-page transmission report.  A download id's key is
    for the report's uuid (§3.13)."""
    s = download_session(request, report)
    if _format(name) != 'pdf' or s is None:
        return Response(status_code=404)
    data = await _faxes(request).report_pdf(s.user, uuid, report)
    return _file(request, data, name, 'pdf')


def _file(request: Request, data: bytes | None, name: str, fmt: str) -> Response:
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type=FORMATS[fmt],
                    headers={'Content-Disposition': attachment(request, name, f'fax.{fmt}')})
