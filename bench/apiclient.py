"""The call API as the bench's clients use it: log in, subscribe to call events, read them by
long poll or WebSocket, post controls, upload announcements."""
from __future__ import annotations

import asyncio
import io
import json
import math
import struct
import time
import wave
from pathlib import Path
from typing import Callable

import httpx

from .targets import BENCH_PASSWORD, BENCH_USER


class ApiError(RuntimeError):
    pass


async def login(base: str, user: str = BENCH_USER, password: str = BENCH_PASSWORD,
                limits: httpx.Limits | None = None) -> httpx.AsyncClient:
    """An AsyncClient whose session is logged in and receives call events."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as anon:
        body = (await anon.post('/api/session', json={'username': user, 'password': password})).json()
    if body.get('status') != 'ok':
        raise ApiError(f'login failed: {body}')
    c = httpx.AsyncClient(base_url=base, timeout=60, headers={'Authorization': f'Bearer {body["sid"]}'},
                          limits=limits or httpx.Limits(max_connections=50, max_keepalive_connections=50))
    c.sid = body['sid']
    r = (await c.get('/api/call/event')).json()
    if r.get('status') != 'ok':
        raise ApiError(f'GET /api/call/event: {r}')
    return c


async def control(c: httpx.AsyncClient, uuid: str, *controls: dict, queue: str = 'append') -> dict:
    r = await c.post(f'/api/call/{uuid}/control', json={'queue': queue, 'controls': list(controls)})
    return r.json()


def wav_bytes(pcm: list[int], rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f'<{len(pcm)}h', *pcm))
    return buf.getvalue()


def tone_wav(freq: float = 800.0, seconds: float = 1.0, amplitude: int = 8000) -> bytes:
    """A WAV that is loud from its first sample (for the control-to-audio figure)."""
    n = int(8000 * seconds)
    return wav_bytes([int(amplitude * math.sin(2 * math.pi * freq * (i + 2) / 8000)) for i in range(n)])


async def upload_announcement(c: httpx.AsyncClient, data: bytes, name: str = 'prompt.wav',
                              timeout: float = 60.0) -> str:
    created = (await c.post('/api/announcement', json={'description': 'bench'})).json()
    if created.get('status') != 'ok':
        raise ApiError(f'create announcement: {created}')
    uuid = created['uuid']
    r = (await c.post(f'/api/announcement/{uuid}/{name}', content=data,
                      headers={'content-type': 'audio/wav'})).json()
    if r.get('status') != 'ok':
        raise ApiError(f'upload announcement: {r}')
    deadline = time.monotonic() + timeout
    while True:
        info = (await c.get(f'/api/announcement/{uuid}')).json()
        status = info.get('announcement', {}).get('status')
        if status == 'ok':
            return uuid
        if status == 'fail' or time.monotonic() > deadline:
            raise ApiError(f'announcement never converted: {info}')
        await asyncio.sleep(0.1)    # polling interval


class LongPoll:
    """Reads the session's events with GET /api/event long polls in a task; calls
    on_event(event, arrival_time) for each."""

    def __init__(self, c: httpx.AsyncClient, on_event: Callable[[dict, float], None],
                 timeout: float = 20.0):
        self.c = c
        self.on_event = on_event
        self.timeout = timeout
        self.next = 0
        self.errors = 0
        self.task: asyncio.Task | None = None

    def start(self) -> 'LongPoll':
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            try:
                r = await self.c.get('/api/event', params={'next': self.next, 'timeout': self.timeout},
                                     timeout=self.timeout + 30)
                t = time.time()
                body = r.json()
            except (httpx.HTTPError, ValueError):
                self.errors += 1
                await asyncio.sleep(0.2)
                continue
            for ev in body.get('event', []):
                self.next = max(self.next, ev['id'] + 1)
                try:
                    self.on_event(ev, t)
                except Exception:   # a bench bug must not end the reader silently
                    self.errors += 1
                    raise

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass


class WebSocketEvents:
    """Reads the session's events from /api/event/ws; on_event(event, arrival_time)."""

    def __init__(self, base: str, sid: str, on_event: Callable[[dict, float], None]):
        self.url = base.replace('http://', 'ws://') + f'/api/event/ws?sid={sid}'
        self.on_event = on_event
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.errors = 0

    def start(self) -> 'WebSocketEvents':
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        import websockets
        async with websockets.connect(self.url, max_size=None, open_timeout=20) as ws:
            self.ready.set()
            async for frame in ws:
                t = time.time()
                try:
                    ev = json.loads(frame)
                except ValueError:
                    self.errors += 1
                    continue
                self.on_event(ev, t)

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass


def new_call_uuid(ev: dict) -> str | None:
    """The call uuid if `ev` announces a new incoming call (status calling)."""
    if ev.get('event') != 'call_update':
        return None
    for uuid, fields in ev.get('call', {}).items():
        if fields.get('status') == 'calling':
            return uuid
    return None


def prompt_wav(name: str = 'hello') -> bytes:
    return (Path(__file__).resolve().parents[1] / 'prompts' / f'{name}.wav').read_bytes()
