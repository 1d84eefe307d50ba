"""Attacks on the HTTP side of the real server from the security review of issue 8.

  - slowloris: a connection that never finishes a request head, sending nothing or a byte
    now and then, used to be kept for ever (uvicorn arms no timer before a request), and
    there was no cap on connections: every one holds a file descriptor the SIP and RTP
    sockets of calls need too.
"""
from __future__ import annotations

import socket
import time

import httpx

from tests.integration.conftest import wait_for

HOST = '127.0.0.1'


def closed_by_server(sock: socket.socket, timeout: float, trickle: bytes = b'') -> bool:
    """True when the server closes `sock` within `timeout`; sends `trickle` a byte at a time
    meanwhile (a slowloris keeps the connection busy but never ends its request head)."""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sent < len(trickle):
                sock.sendall(trickle[sent:sent + 1])
                sent += 1
            if sock.recv(4096) == b'':
                return True
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def test_slow_and_silent_http_connections_are_closed_and_capped(start_api):
    api = start_api(TELEPHONY_HTTP_HEAD_TIMEOUT='1', TELEPHONY_HTTP_MAX_CONNECTIONS='3')
    port = api.server.http_port
    silent = socket.create_connection((HOST, port))
    slow = socket.create_connection((HOST, port))
    try:
        assert closed_by_server(silent, 30), 'a connection that sent nothing stayed open'
        assert closed_by_server(slow, 60, b'GET /health HTTP/1.1\r\nHost: x\r\nX-a: ' + b'a' * 200), \
            'a connection trickling its request head stayed open'
        held = [socket.create_connection((HOST, port)) for _ in range(3)]
        try:
            extra = socket.create_connection((HOST, port))
            extra.close()
            # the held ones time out too: the log says which limit closed a connection
            api.server.wait_event('http-refused', cap='3')
        finally:
            for s in held:
                s.close()
        # the limits leave ordinary clients alone
        def healthy():
            try:
                return httpx.get(f'{api.base}/health', timeout=10).status_code == 200
            except httpx.HTTPError:
                return False
        assert wait_for(healthy, 30, 'GET /health once the held connections closed')
    finally:
        silent.close()
        slow.close()
