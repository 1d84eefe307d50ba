"""Attacks on the HTTP side of the real server from the security review of issue 8.

  - slowloris: a connection that never finishes a request head, sending nothing or a byte
    now and then, used to be kept for ever (uvicorn arms no timer before a request), and
    there was no cap on connections: every one holds a file descriptor the SIP and RTP
    sockets of calls need too;
  - a flood of logins with random names (no limit applies: every name is a new account) queued
    one scrypt each, without bound, on the default executor, where calls load their prompts;
  - a user logging in again and again piled up sessions, each a copy of every event;
  - an anonymous session expired only when unused, so whoever filled the anonymous cap kept
    it full by touching its sessions, and GET /api/session answered resource-throttle for ever;
  - WebSocket frames from the client mean nothing, yet each could be 16 MiB (uvicorn's
    default), buffered whole before being thrown away.
"""
from __future__ import annotations

import secrets
import socket
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.integration.conftest import wait_for
from tests.integration.rawsip import closed_by_server

HOST = '127.0.0.1'



def test_slow_and_silent_http_connections_are_closed(start_api):
    api = start_api(TELEPHONY_HTTP_HEAD_TIMEOUT='1')
    port = api.server.http_port
    silent = socket.create_connection((HOST, port))
    slow = socket.create_connection((HOST, port))
    try:
        assert closed_by_server(silent, 30), 'a connection that sent nothing stayed open'
        assert closed_by_server(slow, 60, b'GET /health HTTP/1.1\r\nHost: x\r\nX-a: ' + b'a' * 200), \
            'a connection trickling its request head stayed open'
        api.server.wait_event('http-head-timeout', count=2)
        # ordinary clients are not affected
        assert httpx.get(f'{api.base}/health', timeout=30).status_code == 200
    finally:
        silent.close()
        slow.close()


def test_http_connections_are_capped(start_api):
    api = start_api(TELEPHONY_HTTP_MAX_CONNECTIONS='3', TELEPHONY_HTTP_HEAD_TIMEOUT='0')
    port = api.server.http_port
    held = [socket.create_connection((HOST, port)) for _ in range(3)]
    try:
        extra = socket.create_connection((HOST, port))
        assert closed_by_server(extra, 30), 'a connection over the cap stayed open'
        extra.close()
        api.server.wait_event('http-refused', cap='3')
    finally:
        for s in held:
            s.close()

    def healthy():   # once the held ones are gone, clients get in again
        try:
            return httpx.get(f'{api.base}/health', timeout=10).status_code == 200
        except httpx.HTTPError:
            return False
    assert wait_for(healthy, 30, 'GET /health once the held connections closed')


def test_a_login_flood_waits_in_a_short_line(start_api):
    api = start_api()
    api.add_user('victim', 'victim-pass-1')
    clients = [httpx.Client(base_url=api.base, timeout=120) for _ in range(120)]

    def guess(c: httpx.Client) -> str:
        r = c.post('/api/session', json={'username': 'u' + secrets.token_hex(8),
                                          'password': 'guess-12345'})
        return r.json()['status']
    try:
        for c in clients:   # connections first, so the guesses arrive together
            assert c.get('/health').status_code == 200
        with ThreadPoolExecutor(len(clients)) as pool:
            statuses = list(pool.map(guess, clients))
    finally:
        for c in clients:
            c.close()
    assert set(statuses) <= {'wrong-credentials', 'resource-throttle'}, set(statuses)
    assert 'resource-throttle' in statuses, 'every guess waited for its scrypt'

    def victim_logs_in():
        r = httpx.post(f'{api.base}/api/session', timeout=30,
                       json={'username': 'victim', 'password': 'victim-pass-1'})
        return r.json()['status'] == 'ok'
    assert wait_for(victim_logs_in, 60, 'the real user logging in after the flood')


def test_a_user_holds_a_bounded_number_of_sessions(start_api):
    api = start_api(TELEPHONY_API_MAX_USER_SESSIONS='3')
    api.add_user('alice')
    clients = [api.login('alice') for _ in range(5)]
    assert api.server.health()['api_sessions'] == 3
    statuses = [c.get('/api/sip').json()['status'] for c in clients]
    # the two used least recently went; the newest three still work
    assert statuses == ['no-session', 'no-session', 'ok', 'ok', 'ok'], statuses


def test_a_big_websocket_frame_closes_the_socket(api):
    api.add_user('joe')
    c = api.login('joe')
    with ws_connect(f'ws://{HOST}:{api.server.http_port}/api/event/ws?sid={c.sid}',
                    max_size=None) as ws:
        ws.send('x' * 1_000_000)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(30)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009   # message too big
    assert c.get('/api/sip').json()['status'] == 'ok'   # the session itself goes on


def test_touching_an_anonymous_session_does_not_keep_it(start_api):
    api = start_api(TELEPHONY_API_SESSION_IDLE='2')
    c = api.client()
    sid = c.get('/api/session').json()['sid']

    def gone():   # each try uses the session, which used to keep it alive
        return c.get('/api/session', params={'sid': sid}).json()['status'] == 'wrong-session'
    assert wait_for(gone, 30, 'the anonymous session to expire while in use')


def test_a_polynomial_regex_filter_is_refused(api):
    # `.*a.*a.*a.*x` does not nest repeats, so it passed the ReDoS check, yet matching it on
    # 200 'a's (a caller's From, an account description) held the event loop for seconds,
    # and every call with it
    api.add_user('joe')
    c = api.login('joe')
    bad = {'op': 'rematch', 'key': 'description', 'value': '.*a.*a.*a.*a.*x'}
    body = c.post('/api/event/filter', json={'op': 'filter', 'key': 'sip', 'arg': bad}).json()
    assert body['status'] == 'wrong-syntax', body
    many = {'op': 'or', 'args': [{'op': 'rematch', 'key': 'user', 'value': f'.*{i}.*x'}
                                 for i in range(11)]}
    assert c.post('/api/event/filter', json=many).json()['status'] == 'too-large'
    # two unbounded repeats are still fine, and the filter works
    good = {'op': 'rematch', 'key': 'event', 'value': 'sip_.*e.*'}
    assert c.post('/api/event/filter', json=good).json() == {'status': 'ok'}
    assert c.post('/api/sip', json={'password': 'secret-pass-1', 'description': 'a' * 100}
                  ).json()['status'] == 'ok'
    events = c.get('/api/event', params={'next': 0, 'timeout': 20}).json()
    assert [e['event'] for e in events['event']] == ['sip_new'], events
