"""The HTTP application: the Q-loud JSON dialect under /api, plus /health."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .qloud import announcement, call, event, phone, recording, session, sip
from .qloud.common import ApiError, answer, validation_answer

if TYPE_CHECKING:
    from ..server import Server

log = logging.getLogger('telephony.api')


def create_app(server: 'Server') -> FastAPI:
    app = FastAPI(title='telephony', version='0.1', openapi_url='/api/openapi.json',
                  docs_url='/api/docs', redoc_url=None)
    app.state.server = server

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return answer(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def bad_fields(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_answer(exc)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception('event=api-error path=%s', request.url.path)
        return answer('fail', 'internal error')

    @app.get('/health', tags=['health'])
    async def health() -> dict:
        return {'status': 'ok', **server.status()}

    for module in (session, phone, call, event, sip, announcement, recording):
        app.include_router(module.router)
    return app
