"""/api/event (§3.27, §6): the session's event stream, its filter, and a WebSocket feed.

`GET /api/event` is a long poll: it answers as soon as an event with id >= `next`
is queued, or after `timeout` seconds with no events and status `timeout` (§3.27
lists `timeout` as the status for "the specified (or default) timeout has
occurred before an event was triggered"; the answer still carries `event: []`
and `next`, so a client that only reads those loops on unharmed).

`/api/event/ws` streams the same events, one JSON text frame each, in id order.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from fastapi import APIRouter, Body as BodyParam, Depends, Query, Request, WebSocket
from fastapi.websockets import WebSocketDisconnect

from .. import filters
from ..events import Session
from .common import ApiError, get_authenticated_session, ok, server_of

router = APIRouter(prefix='/api/event', tags=['event'])

DEFAULT_TIMEOUT = 55.0
MAX_TIMEOUT = 300.0
SLICE = 1.0          # a waiting request looks up every second: client gone? server stopping?
WS_UNAUTHORIZED = 4401
WS_WRONG_ORIGIN = 4403


def _stopping(server) -> bool:
    return server.stopping


def _alive(server, s: Session) -> bool:
    """The session still exists (not deleted by DELETE /api/session or expiry)."""
    return server.sessions.by_sid.get(s.sid) is s


async def _wait(server, s: Session, next_id: int, timeout: float,
                gone: Callable[[], Any] | None = None) -> list[dict]:
    """Session.wait in short slices, so that a stopping server or a vanished client or
    session ends the wait early instead of holding shutdown for up to 300 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        server.sessions.touch(s)    # a waiting client is using its session
        remaining = deadline - loop.time()
        found = await s.wait(next_id, max(0.0, min(SLICE, remaining)))
        if found or remaining <= SLICE or _stopping(server) or not _alive(server, s):
            return found
        if gone is not None and await gone():
            return []


@router.get('')
async def get_events(request: Request,
                     next: int = Query(0, ge=0, description='first event id wanted'),
                     timeout: float = Query(DEFAULT_TIMEOUT, ge=0, le=MAX_TIMEOUT,
                                            description='seconds to wait for an event'),
                     s: Session = Depends(get_authenticated_session)) -> dict:
    """Events with id >= next, waiting up to `timeout` seconds for the first one."""
    events = await _wait(server_of(request), s, next, timeout, request.is_disconnected)
    if not events:
        return {'status': 'timeout', 'event': [], 'next': next}
    return ok(event=events, next=events[-1]['id'] + 1)


# --- the filter ---------------------------------------------------------------------------

def _missing(f: Any, where: str = 'filter') -> str | None:
    """Path of the first element a filter tree lacks (missing-element), else None.
    Wrong types and values are left to filters.compile (wrong-syntax)."""
    if not isinstance(f, dict):
        return None
    op = f.get('op')
    if 'op' not in f:
        return f'{where}.op'
    if op in ('and', 'or'):
        if 'args' not in f:
            return f'{where}.args'
        args = f['args']
        if isinstance(args, list):
            for i, a in enumerate(args):
                found = _missing(a, f'{where}.args[{i}]')
                if found:
                    return found
        return None
    if op == 'not':
        return f'{where}.arg' if 'arg' not in f else _missing(f['arg'], f'{where}.arg')
    if op not in filters.OPS:
        return None
    if 'key' not in f:
        return f'{where}.key'
    if op == 'filter':
        # §3.27's text names the nested filter `value`, its example `arg`: both are taken
        if 'arg' not in f and 'value' not in f:
            return f'{where}.arg'
        return _missing(f.get('arg', f.get('value')), f'{where}.arg')
    return f'{where}.value' if 'value' not in f else None


@router.post('/filter')
async def set_filter(request: Request, tree: dict[str, Any] = BodyParam(
                         ..., description='a filter tree (op, key, value, arg, args)'),
                     s: Session = Depends(get_authenticated_session)) -> dict:
    """Attach a filter to this session's event stream (replaces any previous one)."""
    try:
        filters.check_size(tree)     # first: the walks below cost what the tree costs
    except filters.FilterTooLarge as exc:
        raise ApiError('too-large', str(exc)) from None
    missing = _missing(tree)
    if missing:
        raise ApiError('missing-element', f'{missing} is required')
    try:
        s.filter = filters.compile(tree)
    except filters.FilterError as exc:
        raise ApiError('wrong-syntax', str(exc)) from None
    return ok()


@router.delete('/filter')
async def delete_filter(s: Session = Depends(get_authenticated_session)) -> dict:
    """Remove the session's filter: every event passes again."""
    s.filter = None
    return ok()


# --- WebSocket ------------------------------------------------------------------------------

def _ws_session_id(ws: WebSocket) -> str | None:
    auth = ws.headers.get('authorization', '')
    if auth[:7].lower() == 'bearer ':
        return auth[7:].strip()
    return ws.query_params.get('sid') or ws.cookies.get('sid')


@router.websocket('/ws')
async def stream(ws: WebSocket) -> None:
    """The session's events as JSON text frames, from `next` (default 0) on, in id order.

    Authenticates by `sid` parameter, Bearer header or `sid` cookie; an unknown or
    unauthenticated session is closed with code 4401. Frames from the client are ignored.
    """
    server = ws.app.state.server
    s = server.sessions.get(_ws_session_id(ws))
    await ws.accept()
    if s is None or s.user is None:
        await ws.close(code=WS_UNAUTHORIZED, reason='no-session' if s is None else 'no-auth')
        return
    if not s.origin_ok(ws.headers.get('origin')):
        await ws.close(code=WS_WRONG_ORIGIN, reason='wrong-origin')
        return
    try:
        next_id = int(ws.query_params.get('next', '0'))
        if next_id < 0:
            raise ValueError
    except ValueError:
        await ws.close(code=1008, reason='wrong-syntax: next')
        return

    closed = asyncio.Event()

    async def drain() -> None:   # notice the client's close; its messages mean nothing
        try:
            while True:
                msg = await ws.receive()
                if msg['type'] == 'websocket.disconnect':
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            closed.set()

    async def is_closed() -> bool:
        return closed.is_set()

    reader = asyncio.create_task(drain())
    try:
        while not closed.is_set():
            if _stopping(server):
                await ws.close(code=1012, reason='server stopping')
                return
            if not _alive(server, s):
                await ws.close(code=WS_UNAUTHORIZED, reason='no-session')
                return
            for event in await _wait(server, s, next_id, 30.0, is_closed):
                await ws.send_text(json.dumps(event, separators=(',', ':')))
                next_id = event['id'] + 1
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass   # the client went away mid-send
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
