"""The HTTP application: the Q-loud JSON dialect under /api, the Cisco XML dialect under
/api/v1, plus /health."""
from __future__ import annotations

import importlib.resources
import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from .cisco.app import PREFIX as CISCO_PREFIX, CiscoApi
from .limits import BodyLimit, BodyTooLarge
from .login_guard import LoginGuard
from .qloud import (announcement, call, conference, dialplan, dialplan_calls, dialplan_v2, event, fax,
                    ivr, partner_cdr, partner_enterprise, partner_policy, partner_usergroup, phone,
                    recording, session, sip, user)
from .qloud.common import ApiError, answer, validation_answer

if TYPE_CHECKING:
    from .services import ApiServices

log = logging.getLogger('telephony.api')


JSON_ALIASES = (b'', b'application/x-www-form-urlencoded', b'text/plain')


class JsonByDefault:
    """Q-loud clients (and `curl -d`) often send JSON without saying so: under /api
    (not the Cisco /api/v1 dialect, which really is form-encoded) a body labelled
    form-encoded, text or nothing is read as JSON."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope['type'] == 'http' and scope['path'].startswith('/api/') \
                and not scope['path'].startswith('/api/v1/'):
            headers = [(k, v) for k, v in scope['headers'] if k != b'content-type']
            ctype = next((v for k, v in scope['headers'] if k == b'content-type'), b'')
            if ctype.split(b';')[0].strip().lower() in JSON_ALIASES:
                scope = dict(scope, headers=headers + [(b'content-type', b'application/json')])
        await self.app(scope, receive, send)


STATUS_SCHEMA = {'type': 'string',
                 'description': '"ok", or why not (Q-loud §2.1: wrong-syntax, no-session, ...)'}


def describe_status_answers(app: FastAPI) -> None:
    """Say in the schema what every JSON answer carries: a `status` string (Q-loud §2.1).
    The routes return plain dicts, which FastAPI documents as "any object"; with this the
    schema (and schemathesis' response check) holds each 200 answer to having a status."""
    default = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = default()
            for ops in spec.get('paths', {}).values():
                for op in ops.values():
                    content = op.get('responses', {}).get('200', {}).get('content', {})
                    schema = content.get('application/json', {}).get('schema')
                    if schema is not None and schema.get('type') == 'object' \
                            and 'properties' not in schema:
                        schema['properties'] = {'status': dict(STATUS_SCHEMA)}
                        schema['required'] = ['status']
        return app.openapi_schema
    app.openapi = openapi


DOCS_ASSETS = '/api/docs/static'


def serve_docs(app: FastAPI) -> None:
    """Swagger UI at /api/docs from files shipped in a Python package (fastapi-offline),
    not a CDN: the page works offline and on an isolated network."""
    app.mount(DOCS_ASSETS, StaticFiles(
        directory=str(importlib.resources.files('fastapi_offline') / 'static')), name='docs-assets')

    @app.get('/api/docs', include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f'{app.title} API',
            swagger_js_url=f'{DOCS_ASSETS}/swagger-ui-bundle.js',
            swagger_css_url=f'{DOCS_ASSETS}/swagger-ui.css',
            swagger_favicon_url=f'{DOCS_ASSETS}/favicon.png',
            swagger_ui_parameters={'validatorUrl': None})   # no badge from the validator site


def create_app(server: 'ApiServices') -> FastAPI:
    app = FastAPI(title='telephony', version='0.1', openapi_url='/api/openapi.json',
                  docs_url=None, redoc_url=None)
    app.state.server = server
    app.state.login_guard = LoginGuard()

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return answer(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def bad_fields(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_answer(exc)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return answer('too-large', str(exc))

    @app.exception_handler(HTTPException)
    async def unreadable_body(request: Request, exc: HTTPException):
        # FastAPI answers a body it cannot decode (not UTF-8, say) with HTTP 400
        # {"detail": ...}; a Q-loud call answers 200 with a status instead (found by
        # schemathesis: POST /api/session with the bytes 'OV\xef$\xc3').
        if isinstance(exc.__cause__, BodyTooLarge):   # FastAPI wraps what reading raised
            return answer('too-large', str(exc.__cause__))
        path = request.url.path
        if exc.status_code == 400 and path.startswith('/api/') and not path.startswith('/api/v1/'):
            return answer('wrong-syntax', 'the request body is not valid JSON')
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception('event=api-error path=%s', request.url.path)
        return answer('fail', 'internal error')

    @app.get('/health', tags=['health'])
    async def health() -> dict:
        return {'status': 'ok', **server.status(), 'api_sessions': len(server.sessions.by_sid)}

    describe_status_answers(app)
    serve_docs(app)
    app.add_middleware(JsonByDefault)
    app.add_middleware(BodyLimit, limit=server.settings.api_max_body_bytes)
    for module in (session, phone, call, event, sip, announcement, recording, dialplan_v2,
                   dialplan, dialplan_calls, ivr, partner_cdr, partner_policy, partner_usergroup,
                   partner_enterprise, conference, fax, user):
        app.include_router(module.router)
    # its own ASGI app: XML answers and errors, HTTP Basic, not in the Q-loud OpenAPI schema;
    # guesses there and at POST /api/session share one budget
    cisco = CiscoApi(server, app.state.login_guard)
    app.mount(CISCO_PREFIX, cisco)
    app.router.add_route(CISCO_PREFIX, cisco, include_in_schema=False)   # the bare prefix too
    return app
