"""What every Q-loud JSON call shares (§2): status answers, session lookup, field syntax.

API calls answer HTTP 200 with `status` in the body. A field that breaks the
document's regex is `wrong-syntax`, a missing one `missing-element`; both come
from the Pydantic models through `validation_answer`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from ..events import Session

if TYPE_CHECKING:
    from ..services import ApiServices

UUID_RE = r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
# the largest time (ms since the epoch) a list filter takes: what the database can hold
MAX_TIME_MS = 2 ** 53
PHONE_RE = r'^\+[0-9]{3,20}$'


class ApiError(Exception):
    """Answered as HTTP 200 {"status": status, "message": message}."""

    def __init__(self, status: str, message: str = ''):
        super().__init__(message or status)
        self.status = status
        self.message = message


class Body(BaseModel):
    """Request bodies: unknown fields are ignored, as a tolerant server does."""
    model_config = ConfigDict(extra='ignore')


def ok(**fields: Any) -> dict:
    return {'status': 'ok', **fields}


def answer(status: str, message: str = '') -> JSONResponse:
    body = {'status': status}
    if message:
        body['message'] = message
    return JSONResponse(body, status_code=200)


def validation_answer(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    missing = [e for e in errors if e.get('type') in ('missing', 'union_tag_not_found')]
    first = (missing or errors or [{}])[0]
    where = '.'.join(str(p) for p in first.get('loc', ()) if p not in ('body', 'query'))
    if missing:
        msg = first.get('msg', '')   # a validator's own "missing" error says what is missing
        return answer('missing-element', f'{where}: {msg}' if first.get('type') == 'missing'
                      and msg != 'Field required' else f'{where} is required')
    return answer('wrong-syntax', f'{where}: {first.get("msg", "invalid")}'.strip(': '))


def server_of(request: Request) -> 'ApiServices':
    return request.app.state.server


def session_id(request: Request) -> str | None:
    auth = request.headers.get('authorization', '')
    if auth[:7].lower() == 'bearer ':
        return auth[7:].strip()
    return request.query_params.get('sid') or request.cookies.get('sid')


def find_session(request: Request) -> Session | None:
    """The session the request names, or None; `wrong-origin` if its Origin is not the
    session's (§2)."""
    s = server_of(request).sessions.get(session_id(request))
    if s is not None and not s.origin_ok(request.headers.get('origin')):
        raise ApiError('wrong-origin', 'the session was created from another origin')
    return s


def get_session(request: Request) -> Session:
    """Dependency: a valid session, authenticated or not."""
    s = find_session(request)
    if s is None:
        raise ApiError('no-session', 'no valid session id in the request')
    return s


def get_authenticated_session(request: Request) -> Session:
    """Dependency: a session authenticated with a user or a partner (the event stream)."""
    s = get_session(request)
    if s.user is None:
        raise ApiError('no-auth', 'the session is not authenticated')
    return s


def get_user_session(request: Request) -> Session:
    """Dependency: a session authenticated with a user. A partner session is not one: a
    partner acts for a user through partner proxy authentication (§3.1)."""
    s = get_authenticated_session(request)
    if s.partner:
        raise ApiError('no-auth', 'a partner session cannot use the user API; log in for the '
                       'user with partner proxy authentication')
    return s


def require_partner(request: Request) -> Session:
    """Dependency of /api/partner/*: "a session that is authenticated with a partner" (§9);
    anything else is `no-auth` (§2.1: not authenticated with a valid user or partner)."""
    s = get_authenticated_session(request)
    if not s.partner:
        raise ApiError('no-auth', 'the session is not authenticated with a partner')
    return s


def dkey(object_uuid: str, sid: str) -> str:
    """§2.3: base64url(MD5(lowercase object uuid + sid))."""
    digest = hashlib.md5((object_uuid.lower() + sid).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def download_session(request: Request, object_uuid: str) -> Session | None:
    """A session by sid, or by did + dkey for this one object (file downloads only). A did
    is meant for another process (§2.3), so it is not bound to the session's Origin."""
    server = server_of(request)
    try:
        s = find_session(request)
    except ApiError:
        return None
    if s is None:
        did, key = request.query_params.get('did'), request.query_params.get('dkey')
        cand = server.sessions.by_download_id(did)
        if cand is not None and key and hmac.compare_digest(
                key.rstrip('=').encode(), dkey(object_uuid, cand.sid).rstrip('=').encode()):
            s = cand
    return s if s is not None and s.user is not None else None
