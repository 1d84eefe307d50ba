"""/api/user (§3.5), as far as this server keeps it: who the user is, the fax page quota
(`feature.quota.fax`, `feature.used.fax` for the current month) and the fax defaults
`fax_ident` and `fax_header`.

POST /api/user changes only the fax defaults so far; a request that asks for another
change (password, e-mail, address, ...) is refused with `fail` rather than answered
`ok` with nothing done.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from ..events import Session
from .common import ApiError, Body, get_user_session, ok, server_of
from .fax import FAX_HEADER_RE, FAX_IDENT_RE

router = APIRouter(prefix='/api/user', tags=['user'])
# §3.5's other fields: not kept by this server yet
NOT_KEPT = ('firstname', 'lastname', 'display_name', 'birthday', 'zip_code', 'town', 'street',
            'house_number', 'country', 'country_code', 'password', 'old_password', 'pin',
            'language', 'email', 'newsletter', 'code')


class UserChange(Body):
    fax_ident: str | None = Field(None, pattern=FAX_IDENT_RE)
    fax_header: str | None = Field(None, pattern=FAX_HEADER_RE)


@router.get('')
async def get_user(request: Request, s: Session = Depends(get_user_session)) -> dict:
    server = server_of(request)
    user = await server.db.user_by(uuid_=s.user)
    if user is None:
        raise ApiError('no-auth', 'the user no longer exists')
    faxes = server.faxes
    out: dict = {'uuid': user.uuid, 'username': user.username}
    if user.email:
        out['email'] = user.email
    out['feature'] = {'pack': [], 'quota': {'fax': faxes.pages_per_month},
                      'used': {'fax': await faxes.used_pages(user.uuid)}, 'feature': {}}
    out.update(await faxes.user_defaults(user.uuid))   # only when set (§3.5)
    return ok(user=out)


@router.post('')
async def change_user(request: Request, body: UserChange | None = None,
                      s: Session = Depends(get_user_session)) -> dict:
    raw = await request.json() if body is not None else {}
    asked = sorted(k for k in raw if k in NOT_KEPT) if isinstance(raw, dict) else []
    if asked:
        raise ApiError('fail', f'this server cannot change {", ".join(asked)} yet')
    if body is not None:
        await server_of(request).faxes.set_user_defaults(
            s.user, fax_ident=body.fax_ident, fax_header=body.fax_header)
    return ok()
