"""The HTTP application. Issue 2 serves only /health; the call API comes next."""
from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from ..server import Server


def create_app(server: 'Server') -> FastAPI:
    app = FastAPI(title='telephony', openapi_url='/api/openapi.json')

    @app.get('/health')
    async def health() -> dict:
        return {'status': 'ok', **server.status()}

    return app
