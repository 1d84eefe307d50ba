"""/api/session (§3.1): create, log in, close.

A login always starts a fresh session (new sid and did, in the answer and the cookies)
and ends the one the request named: a session someone created beforehand and handed
to the victim (session fixation) gives its creator nothing after the victim logs in.
"""
from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field

from ..credentials import TooManyChecks, account_key, password_matches
from ..events import Session, TooManySessions
from .common import (UUID_RE, ApiError, Body, answer, find_session, get_session, ok, server_of,
                     session_id)

router = APIRouter(prefix='/api/session', tags=['session'])


class Login(Body):
    username: str | None = Field(None, pattern=r'^[a-zA-Z0-9]{2,20}$')
    email: str | None = Field(None, pattern=r'^[^@\s]{1,64}@[^@\s]{1,255}$')
    password: str | None = Field(None, pattern=r'^.{5,50}$')
    # partner authentication (§3.1 examples 2 and 3): the partner's name and key, and for
    # partner proxy authentication the uuid of one of the partner's users
    partner: str | None = Field(None, pattern=r'^[a-zA-Z0-9]{2,20}$')
    key: str | None = Field(None, pattern=r'^.{5,50}$')
    user: str | None = Field(None, pattern=UUID_RE)


async def _describe(request: Request, s: Session) -> dict:
    server = server_of(request)
    out = {'sid': s.sid, 'did': s.did, 'server': server.base_url, 'auth': s.user is not None,
           'next_event': s.next_id}
    # "only present if the authenticated user belongs to a partner" (§3.1)
    user = await server.db.user_by(uuid_=s.user) if s.user and not s.partner else None
    if user is not None and user.partner_of:
        partner = await server.db.user_by(uuid_=user.partner_of)
        if partner is not None:
            out['partner'] = partner.username
    return out


def _set_cookies(response: Response, request: Request, s: Session) -> None:
    response.set_cookie('sid', s.sid, httponly=True, samesite='strict')
    # Starlette quotes a value with '/' or ':' in it (http.cookies does); §3.1 wants the
    # cookie to equal the JSON field, and RFC 6265 allows both characters unquoted
    response.headers.append('set-cookie', f'server={server_of(request).base_url}; Path=/; '
                                          'SameSite=strict')


def _origin(request: Request) -> str | None:
    return request.headers.get('origin')


@router.get('')
async def new_session(request: Request, response: Response, language: str | None = None) -> dict:
    """A new session, or the caller's existing one if it sent a valid sid."""
    server = server_of(request)
    if session_id(request):
        s = find_session(request)
        if s is None:
            # built here, not raised: the error handler's fresh answer would drop the cookies
            refused = answer('wrong-session', 'unknown session id')
            refused.delete_cookie('sid')
            refused.delete_cookie('server')
            return refused
    else:
        try:
            s = server.sessions.create(_origin(request))
        except TooManySessions:
            raise ApiError('resource-throttle', 'too many sessions without a login; '
                           'try again later, or log in with POST /api/session') from None
    _set_cookies(response, request, s)
    return ok(**await _describe(request, s))


@router.post('')
async def login(body: Login, request: Request, response: Response) -> dict:
    """Log in: the answer (and its cookies) carry the new session's sid and did."""
    server = server_of(request)
    partner_auth = body.partner is not None
    if partner_auth:
        if body.key is None:
            raise ApiError('missing-element', 'key is required')
        name, secret = body.partner, body.key
    else:
        if body.username is None and body.email is None:
            raise ApiError('missing-element', 'username or email is required')
        if body.password is None:
            raise ApiError('missing-element', 'password is required')
        name, secret = body.username or body.email, body.password
    old = find_session(request)
    if session_id(request) and old is None:
        raise ApiError('no-session', 'unknown session id')
    if old is not None and old.user is not None:
        raise ApiError('already-auth', 'the session is already authenticated')
    login_name = body.partner if partner_auth else body.username
    user = await (server.db.user_by(username=login_name) if login_name
                  else server.db.user_by(email=body.email))
    if partner_auth and user is not None and not user.partner:
        user = None    # a user who is not a partner has no partner key: wrong credentials
    await _check_secret(request, user, name, secret)
    if partner_auth and body.user is not None:
        # partner proxy authentication: an ordinary session of one of the partner's users
        target = await server.db.user_by(uuid_=body.user)
        if target is None or target.partner_of != user.uuid:
            raise ApiError('wrong-user', 'the user does not exist or does not belong to the partner')
        s = server.sessions.login(old, target.uuid, _origin(request))
    else:
        s = server.sessions.login(old, user.uuid, _origin(request))
        s.partner = partner_auth
    _set_cookies(response, request, s)
    return ok(**await _describe(request, s))


async def _check_secret(request: Request, user, name: str, secret: str) -> None:
    """The password (or partner key) against the user's hash, slowly and off the loop, with
    the login guard's limits; `wrong-credentials` when it fails or there is no user."""
    guard = request.app.state.login_guard
    account = account_key(user, name)
    ip = request.client.host if request.client else '-'
    now = time.monotonic()
    if not guard.allowed(account, ip, now):
        raise ApiError('resource-throttle', 'too many failed logins, try again later')
    try:
        good = await password_matches(guard, user, secret)
    except TooManyChecks:
        raise ApiError('resource-throttle', 'too many logins at once, try again later') from None
    if user is None or not good:
        guard.failure(account, ip, now)
        raise ApiError('wrong-credentials', 'username and/or password is wrong')
    guard.success(account, ip)


@router.delete('')
async def close(request: Request, response: Response, s: Session = Depends(get_session)) -> dict:
    server_of(request).sessions.delete(s)
    response.delete_cookie('sid')
    return ok()
