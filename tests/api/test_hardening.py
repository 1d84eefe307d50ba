"""Issue 8 against the real server: sessions (fixation, Origin, expiry, the anonymous cap),
login guessing, the cost of one request (filters, bodies, control queues), and the
document's details (cookies, announcement descriptions, v1 UUIDs, offline /api/docs)."""
from __future__ import annotations

import re
import select
import socket
import uuid as uuidlib

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.api.test_call_api import Events, control, new_call, upload_announcement
from tests.api.test_event import ws_url
from tests.integration.conftest import Sipp, wait_for

NUMBER = '+4930555001'
PASSWORD = 'secret12345'


def login(client: httpx.Client, name: str = 'joe', password: str = PASSWORD, **headers) -> dict:
    return client.post('/api/session', json={'username': name, 'password': password},
                       headers=headers).json()


def from_address(api, address: str) -> httpx.Client:
    """A client the server sees at `address`: uvicorn trusts X-Forwarded-For from
    127.0.0.1, as it would from a reverse proxy in front of it."""
    c = api.client()
    c.headers['X-Forwarded-For'] = address
    return c


def assert_v1_random_node(value: str) -> None:
    u = uuidlib.UUID(value)
    assert u.version == 1, value
    assert u.node != uuidlib.getnode(), 'the node is the MAC address'
    assert u.node & (1 << 40), 'a random node has the multicast bit set (RFC 4122 §4.5)'


# --- sessions ---------------------------------------------------------------------------------

def test_a_session_fixed_by_someone_else_gives_them_nothing_after_the_login(api):
    api.add_user('joe')
    attacker_sid = api.client().get('/api/session').json()['sid']
    # the victim is made to log in on the attacker's session
    victim = login(api.client(attacker_sid))
    assert victim['status'] == 'ok' and victim['auth'] is True
    assert victim['sid'] != attacker_sid
    attacker = api.client(attacker_sid)
    assert attacker.get('/api/recording').json()['status'] == 'no-session'
    assert attacker.get('/api/session').json()['status'] == 'wrong-session'
    assert api.client(victim['sid']).get('/api/recording').json()['status'] == 'ok'


def test_the_documents_login_flows_work_for_a_client_that_follows_them(api):
    api.add_user('joe')
    # GET then POST, the session in cookies (a browser): the login's cookies carry on
    browser = api.client()
    assert browser.get('/api/session').json()['auth'] is False
    assert login(browser)['status'] == 'ok'
    assert browser.get('/api/recording').json()['status'] == 'ok'
    assert browser.get('/api/session').json()['auth'] is True
    # GET then POST with a Bearer header: the sid in the login's answer is the session
    anon = api.client().get('/api/session').json()['sid']
    body = login(api.client(anon))
    assert api.client(body['sid']).get('/api/recording').json()['status'] == 'ok'
    # POST without a session
    body = login(api.client())
    assert body['auth'] is True and body['did']
    assert api.client(body['sid']).get('/api/recording').json()['status'] == 'ok'


def test_a_session_answers_only_to_the_origin_that_created_it(api):
    api.add_user('joe')
    home, other = 'https://app.example', 'https://evil.example'
    anon = api.client()
    sid = anon.get('/api/session', headers={'Origin': home}).json()['sid']
    me = api.client(sid)
    assert me.get('/api/session', headers={'Origin': other}).json()['status'] == 'wrong-origin'
    assert login(me, Origin=other)['status'] == 'wrong-origin'
    body = login(me, Origin=home)
    assert body['status'] == 'ok'
    me = api.client(body['sid'])
    assert me.get('/api/recording', headers={'Origin': home}).json()['status'] == 'ok'
    assert me.get('/api/recording', headers={'Origin': other}).json()['status'] == 'wrong-origin'
    assert me.get('/api/recording').json()['status'] == 'ok'    # curl, servers: no Origin
    with ws_connect(ws_url(api, sid=body['sid']), origin=other) as ws:
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(20)
    assert info.value.rcvd.code == 4403
    # a session made without an Origin (curl) is bound by the first Origin that uses it
    plain = api.client(login(api.client())['sid'])
    assert plain.get('/api/recording', headers={'Origin': home}).json()['status'] == 'ok'
    assert plain.get('/api/recording', headers={'Origin': other}).json()['status'] == \
        'wrong-origin'


def test_idle_sessions_expire_and_are_swept(start_api):
    api = start_api(TELEPHONY_API_SESSION_IDLE='2')
    api.add_user('joe')
    for _ in range(3):
        assert api.client().get('/api/session').json()['status'] == 'ok'
    sid = login(api.client())['sid']
    health = api.client()
    wait_for(lambda: health.get('/health').json()['api_sessions'] == 0, 60,
             'the sweep to remove idle sessions')
    assert api.client(sid).get('/api/recording').json()['status'] == 'no-session'


def test_sessions_without_a_login_are_capped(start_api):
    api = start_api(TELEPHONY_API_MAX_ANONYMOUS_SESSIONS='3')
    api.add_user('joe')
    first = api.client().get('/api/session').json()['sid']
    for _ in range(2):
        assert api.client().get('/api/session').json()['status'] == 'ok'
    assert api.client().get('/api/session').json()['status'] == 'resource-throttle'
    assert login(api.client())['status'] == 'ok'         # a login needs no anonymous session
    assert api.client(first).get('/api/session').json()['status'] == 'ok'   # existing ones live
    assert api.client(first).delete('/api/session').json()['status'] == 'ok'
    assert api.client().get('/api/session').json()['status'] == 'ok'


# --- login guessing ---------------------------------------------------------------------------

def test_guesses_at_one_account_from_many_addresses_are_limited(api):
    api.add_user('joe')
    assert login(from_address(api, '198.51.100.7'))['status'] == 'ok'   # joe's usual address
    statuses = [login(from_address(api, f'10.1.0.{i}'), password=f'guess{i:04}')['status']
                for i in range(15)]
    assert statuses.count('wrong-credentials') == 10, statuses
    assert statuses[10:] == ['resource-throttle'] * 5
    # the right password from a new address waits; from where joe logged in before it works
    assert login(from_address(api, '10.1.1.1'))['status'] == 'resource-throttle'
    assert login(from_address(api, '198.51.100.7'))['status'] == 'ok'


def test_failures_behind_one_address_do_not_lock_out_its_other_users(api):
    api.add_user('ann')
    api.add_user('bob')
    nat = from_address(api, '203.0.113.5')
    statuses = [login(nat, 'ann', f'guess{i:04}')['status'] for i in range(7)]
    assert statuses[:5] == ['wrong-credentials'] * 5 and statuses[5:] == ['resource-throttle'] * 2
    assert login(nat, 'bob')['status'] == 'ok'


# --- the cost of one request ------------------------------------------------------------------

def test_oversized_filters_are_too_large(api):
    api.add_user('joe')
    c = api.login('joe')
    huge = {'op': 'or', 'args': [{'op': 'rematch', 'key': 'user', 'value': f'joe_{i}'}
                                 for i in range(10000)]}
    assert c.post('/api/event/filter', json=huge).json()['status'] == 'too-large'
    wide = {'op': 'and', 'args': [{'op': 'equal', 'key': 'a', 'value': i} for i in range(250)]}
    assert c.post('/api/event/filter', json=wide).json()['status'] == 'too-large'
    wide['args'].pop()
    assert c.post('/api/event/filter', json=wide).json()['status'] == 'ok'


def raw_post(api, path: str, headers: str, body_chunks, limit_sent: int) -> tuple[str, int]:
    """POST over a raw socket, sending body chunks until the server answers (or all of
    them are sent); returns the answer's text and how many body bytes went out."""
    sock = socket.create_connection(('127.0.0.1', api.server.http_port), timeout=60)
    try:
        sock.sendall(f'POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n'.encode())
        sent = 0
        for chunk in body_chunks:
            if select.select([sock], [], [], 0)[0] or sent >= limit_sent:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        sock.settimeout(60)
        answer = b''
        while b'\r\n\r\n' not in answer or not answer.rstrip().endswith((b'}', b'0')):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer.decode('latin-1'), sent
    finally:
        sock.close()


def test_json_bodies_are_limited_while_they_arrive(api):
    api.add_user('joe')
    c = api.login('joe')
    auth = f'Authorization: Bearer {c.sid}\r\nContent-Type: application/json\r\n'
    # a declared 100 MB body is refused before it is read
    text, sent = raw_post(api, '/api/event/filter', auth + 'Content-Length: 100000000\r\n',
                          [b' ' * 1024], limit_sent=1024)
    assert '"too-large"' in text, text
    # a chunked one of 100 MB is refused once past the limit (1 MB), not buffered whole
    mb = b' ' * 1_000_000
    chunk = f'{len(mb):x}\r\n'.encode() + mb + b'\r\n'
    text, sent = raw_post(api, '/api/event/filter', auth + 'Transfer-Encoding: chunked\r\n',
                          (chunk for _ in range(100)), limit_sent=100_000_000)
    assert '"too-large"' in text, text
    assert sent < 50_000_000, f'the server read {sent} bytes before answering'
    # a body under the limit is read as before, and uploads keep their own larger limit
    assert c.post('/api/event/filter', content=b'{"op":"equal","key":"a","value":1}' +
                  b' ' * 900_000).json()['status'] == 'ok'
    assert c.delete('/api/event/filter').json()['status'] == 'ok'
    prompt = upload_announcement(c)                 # well under 1 MB; the limit is per route
    assert c.post(f'/api/announcement/{prompt}/x.wav', content=b'RIFF' + b'\0' * 1_500_000,
                  headers={'content-type': 'audio/wav'}).json()['status'] == 'malformed-file'
    assert api.client().get('/health').json()['status'] == 'ok'


def test_the_control_queue_of_a_call_is_capped_and_call_ids_are_v1(api, tmp_path):
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    c.get('/api/call/event')
    events = Events(c)
    sipp = Sipp(tmp_path)
    proc, cmd, workdir = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                                    service=NUMBER, calls=1, global_timeout=120)
    try:
        uuid = new_call(events)
        assert_v1_random_node(uuid)
        hundred = [{'control': 'sleep', 'duration': 60000}] * 100
        for _ in range(10):
            assert control(c, uuid, *hundred)['status'] == 'ok'
        # 1000 queued (the first of them running): a hundred more do not fit
        assert control(c, uuid, *hundred)['status'] == 'too-large'
        assert control(c, uuid, *hundred, queue='clear')['status'] == 'ok'
        assert control(c, uuid, {'control': 'hangup'}, queue='break')['status'] == 'ok'
        events.call_update(uuid, status='hangup')
    finally:
        sipp.stop_all()


# --- the document's details -------------------------------------------------------------------

def test_server_cookie_equals_the_json_field_and_wrong_session_deletes_cookies(api):
    r = api.client().get('/api/session')
    cookies = r.headers.get_list('set-cookie')
    server = next(h for h in cookies if h.startswith('server='))
    assert server.split(';')[0] == f'server={r.json()["server"]}', server
    bad = api.client('no-such-session').get('/api/session')
    assert bad.json()['status'] == 'wrong-session'
    deleted = {h.split('=')[0]: h for h in bad.headers.get_list('set-cookie')}
    assert set(deleted) == {'sid', 'server'}, deleted
    assert all('Max-Age=0' in h or '1970' in h for h in deleted.values()), deleted


def test_phone_shows_its_announcements_description_and_object_ids_are_v1(api):
    user = api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe')
    c = api.login('joe')
    prompt = upload_announcement(c)                  # described as "test prompt"
    assert_v1_random_node(prompt)
    assert_v1_random_node(re.search(r'[0-9a-f-]{36}', user).group(0))
    assert c.post('/api/phone', json={'update': {NUMBER: {'announcement': prompt}}}).json()[
        'status'] == 'ok'
    phone = c.get('/api/phone').json()['phone'][NUMBER]
    assert phone['announcement'] == {'uuid': prompt, 'description': 'test prompt'}


def test_api_docs_need_nothing_from_outside(api):
    c = api.client()
    page = c.get('/api/docs')
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(
        r"url: '([^']+)'", page.text)
    assert urls and all(u.startswith('/') and not u.startswith('//') for u in urls), urls
    assert 'http://' not in page.text and 'https://' not in page.text
    for u in urls:
        got = c.get(u)
        assert got.status_code == 200 and len(got.content) > 100, u
    assert 'SwaggerUIBundle' in c.get(next(u for u in urls if u.endswith('.js'))).text
