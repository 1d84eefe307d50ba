"""Fixtures for API tests: the real server in a subprocess and a real HTTP client (httpx)."""
from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.integration.conftest import ROOT, ServerProcess, Sipp, peer_tools  # noqa: F401


class Api:
    """The server under test, its users, and logged-in HTTP clients."""

    def __init__(self, server: ServerProcess):
        self.server = server
        self.base = f'http://127.0.0.1:{server.http_port}'
        self.clients: list[httpx.Client] = []

    def cli(self, *args: str) -> str:
        r = subprocess.run(self.server._cli(*args), cwd=ROOT, env=self.server.env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f'{args} failed: {r.stderr}'
        return r.stdout.strip()

    def add_user(self, name: str, password: str = 'secret12345', *extra: str) -> str:
        return self.cli('user', 'add', name, '--password', password, *extra)

    def client(self, sid: str | None = None) -> httpx.Client:
        c = httpx.Client(base_url=self.base, timeout=30.0,
                         headers={'Authorization': f'Bearer {sid}'} if sid else {})
        self.clients.append(c)
        return c

    def login(self, name: str, password: str = 'secret12345') -> httpx.Client:
        """A client whose session is authenticated as `name`."""
        r = self.client().post('/api/session', json={'username': name, 'password': password})
        body = r.json()
        assert body['status'] == 'ok', body
        c = self.client(body['sid'])
        c.sid, c.did = body['sid'], body['did']
        return c

    def close(self):
        for c in self.clients:
            c.close()


@pytest.fixture
def start_api(tmp_path):
    """Factory: a server with extra TELEPHONY_* settings in its environment."""
    started: list[Api] = []

    def start(**env: str) -> Api:
        a = Api(ServerProcess(tmp_path / f'data{len(started)}', env=env).start())
        started.append(a)
        return a
    yield start
    for a in started:
        a.close()
        a.server.stop()


@pytest.fixture
def api(start_api):
    return start_api()
