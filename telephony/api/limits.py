"""Request body limits, enforced while the body arrives: a 100 MB body is refused after the
first `limit` bytes, never buffered whole.

Every request gets the JSON limit; an endpoint that streams a larger body itself (an
upload) raises its own with `set_body_limit` before reading. The limit lives in the ASGI
scope, which Starlette's routing hands on unchanged, so the endpoint's value is the one
the receive wrapper sees.
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
