"""/api/session (§3.1): create, log in, close."""
from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from ...store.passwords import DUMMY_HASH, verify_password
from ..events import Session
from .common import ApiError, Body, get_session, ok, server_of, session_id

router = APIRouter(prefix='/api/session', tags=['session'])

LOGIN_FAILURES = 5       # per source address and window, then `resource-throttle`
LOGIN_WINDOW = 60.0


class Login(Body):
    username: str | None = Field(None, pattern=r'^[a-zA-Z0-9]{2,20}$')
    email: str | None = Field(None, pattern=r'^[^@\s]{1,64}@[^@\s]{1,255}$')
    password: str = Field(pattern=r'^.{5,50}$')


def _describe(request: Request, s: Session) -> dict:
    server = server_of(request)
    return {'sid': s.sid, 'did': s.did, 'server': server.base_url, 'auth': s.user is not None,
            'next_event': s.next_id}


def _set_cookies(response: Response, request: Request, s: Session) -> None:
    response.set_cookie('sid', s.sid, httponly=True, samesite='strict')
    response.set_cookie('server', server_of(request).base_url, samesite='strict')


@router.get('')
async def new_session(request: Request, response: Response, language: str | None = None) -> dict:
    """A new session, or the caller's existing one if it sent a valid sid."""
    server = server_of(request)
    sid = session_id(request)
    if sid:
        s = server.sessions.get(sid)
        if s is None:
            response.delete_cookie('sid')
            response.delete_cookie('server')
            raise ApiError('wrong-session', 'unknown session id')
    else:
        s = server.sessions.create()
    _set_cookies(response, request, s)
    return ok(**_describe(request, s))


@router.post('')
async def login(body: Login, request: Request, response: Response) -> dict:
    server = server_of(request)
    ip = request.client.host if request.client else '-'
    now = time.monotonic()
    if server.login_limiter.blocked(ip, now):
        raise ApiError('resource-throttle', 'too many failed logins, try again later')
    if body.username is None and body.email is None:
        raise ApiError('missing-element', 'username or email is required')
    sid = session_id(request)
    s = server.sessions.get(sid) if sid else None
    if sid and s is None:
        raise ApiError('no-session', 'unknown session id')
    if s is not None and s.user is not None:
        raise ApiError('already-auth', 'the session is already authenticated')
    user = await (server.db.user_by(username=body.username) if body.username
                  else server.db.user_by(email=body.email))
    # scrypt is slow on purpose: keep it off the event loop, and run it for unknown users too
    good = await asyncio.to_thread(verify_password, body.password,
                                   user.password_hash if user else DUMMY_HASH)
    if user is None or not good:
        server.login_limiter.failure(ip, now)
        raise ApiError('wrong-credentials', 'username and/or password is wrong')
    server.login_limiter.success(ip)
    created = s is None
    if created:
        s = server.sessions.create()
    server.sessions.authenticate(s, user.uuid)
    if created:
        _set_cookies(response, request, s)
        return ok(**_describe(request, s))
    return ok()


@router.delete('')
async def close(request: Request, response: Response, s: Session = Depends(get_session)) -> dict:
    server_of(request).sessions.delete(s)
    response.delete_cookie('sid')
    return ok()
