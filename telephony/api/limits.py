"""Request body limits, enforced while the body arrives: a 100 MB body is refused after the
first `limit` bytes, never buffered whole.

Every request gets the JSON limit; an endpoint that streams a larger body itself (an
upload) raises its own with `set_body_limit` before reading. The limit lives in the ASGI
scope, which Starlette's routing hands on unchanged, so the endpoint's value is the one
the receive wrapper sees.
"""
from __future__ import annotations

import asyncio
import logging

import h11
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger('telephony.api')

SCOPE_KEY = 'telephony.body_limit'


class BodyTooLarge(Exception):
    """The body is longer than the limit (`too-large`)."""

    def __init__(self, limit: int):
        super().__init__(f'the request body may have at most {limit} bytes')


def set_body_limit(request: Request, limit: int) -> None:
    request.scope[SCOPE_KEY] = limit


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)
        scope[SCOPE_KEY] = self.limit
        declared = next((v for k, v in scope['headers'] if k == b'content-length'), b'')
        received = 0

        async def limited() -> Message:
            nonlocal received
            limit = scope[SCOPE_KEY]
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message['type'] == 'http.request':
                received += len(message.get('body', b''))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message
        await self.app(scope, limited, send)


def guarded_http(max_connections: int, head_timeout: float):
    """uvicorn's h11 protocol with the two limits it lacks: connections at once (each holds a
    file descriptor, which SIP and RTP need too), and the time a client may take to send a
    request head. uvicorn arms no timer before the first request nor while the next one
    trickles in, so a connection that sends nothing, or a byte now and then (slowloris),
    lived for ever."""
    class GuardedH11(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                log.warning('event=http-refused peer=%s:%s reason=connection-cap cap=%d',
                            *self.client, max_connections)
                transport.abort()
                return
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:   # still waiting for a whole request head
                self._arm_head_timer()
            elif self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def connection_lost(self, exc) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            if self._head_timer is None and head_timeout > 0:
                self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                log.info('event=http-head-timeout peer=%s:%s timeout=%s', *self.client,
                         head_timeout)
                self.transport.close()

    return GuardedH11
