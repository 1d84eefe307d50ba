"""/api/sip (§3.21) and the SIP events (§7.15) through a real HTTP client, with real
REGISTERs and a real NOTIFY on UDP sockets."""
from __future__ import annotations

import socket
import time

import pytest

from tests.api.test_event import events_until
from tests.integration import rawsip
from tests.integration.conftest import parse_kv, wait_for

PASSWORD = 'sEcReT53a'


def create(c, **body) -> dict:
    return c.post('/api/sip', json={'password': PASSWORD, **body}).json()


def accounts(c) -> dict:
    body = c.get('/api/sip').json()
    assert body['status'] == 'ok', body
    return body['sip']


# --- CRUD -------------------------------------------------------------------------------------

def test_create_list_modify_delete(api):
    api.add_user('joe')
    c = api.login('joe')
    assert accounts(c) == {}
    first = create(c, description='office phone')
    assert first == {'status': 'ok', 'user': 'joe_01', 'domain': 'localhost'}
    second = create(c, domain='localhost')
    assert second == {'status': 'ok', 'user': 'joe_02', 'domain': 'localhost'}
    listed = accounts(c)
    assert listed == {'joe_01': {'domain': 'localhost', 'description': 'office phone'},
                      'joe_02': {'domain': 'localhost'}}       # never the password

    assert c.post('/api/sip/joe_01', json={'description': 'PC softphone', 'password': 'new-pw-1',
                                           'domain': 'localhost'}).json() == {'status': 'ok'}
    assert accounts(c)['joe_01']['description'] == 'PC softphone'
    assert c.post('/api/sip/joe_02', json={}).json() == {'status': 'ok'}
    assert c.delete('/api/sip/joe_02').json() == {'status': 'ok'}
    assert list(accounts(c)) == ['joe_01']
    # the lowest free number is handed out again
    assert create(c)['user'] == 'joe_02'

    evs = events_until(c, 0, 6)
    assert [(e['event'], e['user']) for e in evs] == [
        ('sip_new', 'joe_01'), ('sip_new', 'joe_02'), ('sip_modify', 'joe_01'),
        ('sip_modify', 'joe_02'), ('sip_delete', 'joe_02'), ('sip_new', 'joe_02')]
    assert all(e['domain'] == 'localhost' for e in evs)
    assert evs[0]['description'] == 'office phone' and 'description' not in evs[1]
    assert evs[2]['description'] == 'PC softphone'
    assert 'description' not in evs[3]                  # unchanged description: not shown
    assert set(evs[4]) == {'id', 'event', 'time', 'user', 'domain'}


def test_statuses_of_create(api):
    api.add_user('joe')
    c = api.login('joe')
    assert create(c, domain='sip.cospace.de')['status'] == 'wrong-domain'
    assert create(c, domain='sip.solucon.com')['status'] == 'wrong-domain'
    for body in ({'password': 'abcd'}, {'password': 'x' * 51}, {'password': 12345},
                 {'password': PASSWORD, 'description': 'd' * 101},
                 {'password': 'line\nbreak'}):
        assert c.post('/api/sip', json=body).json()['status'] == 'wrong-syntax', body
    assert c.post('/api/sip', json={'description': 'no password'}).json()[
        'status'] == 'missing-element'
    assert accounts(c) == {}                  # nothing was made by a refused call


def test_quota_exceeded(api):
    api.add_user('joe')
    c = api.login('joe')
    made = [create(c)['user'] for _ in range(10)]
    assert made == [f'joe_{n:02d}' for n in range(1, 11)]
    assert create(c)['status'] == 'quota-exceeded'
    assert c.delete('/api/sip/joe_04').json()['status'] == 'ok'
    assert create(c)['user'] == 'joe_04'


def test_statuses_of_modify_delete_and_notify(api):
    api.add_user('joe')
    api.add_user('ann')
    joe, ann = api.login('joe'), api.login('ann')
    assert create(joe)['user'] == 'joe_01'
    notify = {'event-string': 'check-sync', 'content-type': ''}
    # unknown accounts, and another user's account, are the same `wrong-sip`
    for who, name in ((joe, 'joe_99'), (ann, 'joe_01')):
        assert who.post(f'/api/sip/{name}', json={'description': 'x'}).json()[
            'status'] == 'wrong-sip'
        assert who.delete(f'/api/sip/{name}').json()['status'] == 'wrong-sip'
        assert who.post(f'/api/sip/{name}/notify', json=notify).json()['status'] == 'wrong-sip'
    assert accounts(ann) == {}
    assert list(accounts(joe)) == ['joe_01']
    assert joe.post('/api/sip/joe_01', json={'domain': 'sip.cospace.de'}).json()[
        'status'] == 'wrong-domain'
    for body in ({'password': 'abc'}, {'description': 'd' * 101}, {'description': 5}):
        assert joe.post('/api/sip/joe_01', json=body).json()['status'] == 'wrong-syntax', body
    assert joe.post('/api/sip/joe_01/notify', json=notify).json()['status'] == 'not-registered'
    for body in ({'content-type': 'text/plain'}, {'event-string': 'check-sync'}):
        assert joe.post('/api/sip/joe_01/notify', json=body).json()[
            'status'] == 'missing-element', body
    for body in ({**notify, 'event-string': 'x' * 201}, {**notify, 'event-string': 'a\r\nb'},
                 {**notify, 'content-type': 'a\nb'}, {**notify, 'content': 'c' * 2501}):
        assert joe.post('/api/sip/joe_01/notify', json=body).json()[
            'status'] == 'wrong-syntax', body
    # nothing above touched joe's only event after sip_new
    assert [e['event'] for e in events_until(joe, 0, 1)] == ['sip_new']
    assert joe.get('/api/event', params={'next': 1, 'timeout': 0}).json()['event'] == []
    assert ann.get('/api/event', params={'timeout': 0}).json()['event'] == []


def test_needs_an_authenticated_session(api):
    anon = api.client(api.client().get('/api/session').json()['sid'])
    for client, status in ((api.client(), 'no-session'), (anon, 'no-auth')):
        assert client.get('/api/sip').json()['status'] == status
        assert client.post('/api/sip', json={'password': PASSWORD}).json()['status'] == status
        assert client.post('/api/sip/x_01', json={}).json()['status'] == status
        assert client.delete('/api/sip/x_01').json()['status'] == status
        assert client.post('/api/sip/x_01/notify', json={}).json()['status'] == status


def test_cli_accounts_belong_to_the_user_named_by_dash_dash_user(api):
    api.add_user('joe')
    api.cli('sip', 'add', 'deskphone', '--password', 'desk-secret', '--user', 'joe',
            '--description', 'desk')
    api.server.add_account('operator', 'op-secret')          # no owner: nobody sees it
    c = api.login('joe')
    assert accounts(c) == {'deskphone': {'domain': 'localhost', 'description': 'desk'}}
    assert c.delete('/api/sip/operator').json()['status'] == 'wrong-sip'
    assert c.delete('/api/sip/deskphone').json()['status'] == 'ok'
    assert 'operator' in api.cli('sip', 'list')


# --- registrations and NOTIFY -------------------------------------------------------------

class Phone:
    """A UDP 'phone': registers with digest auth and answers requests sent to it."""

    def __init__(self, server_port: int):
        self.peer = rawsip.UdpPeer(server_port)
        self.call_id = rawsip.new_call_id()
        self.cseq = 1

    @property
    def port(self) -> int:
        return self.peer.port

    def register(self, user: str, password: str, expires: int = 300) -> rawsip.Response:
        uri = 'sip:localhost'

        def req(extra=()):
            self.cseq += 1
            return rawsip.request('REGISTER', uri, port=self.port, call_id=self.call_id,
                                  cseq=self.cseq, from_user=user, to=f'<sip:{user}@localhost>',
                                  extra=[f'Expires: {expires}', *extra])
        self.peer.send(req())
        first, _ = self.peer.final(self.call_id)
        assert first is not None and first.status == 401, first
        chal = rawsip.challenges(first, 'WWW-Authenticate')['MD5']
        auth = rawsip.digest_authorization(chal, 'REGISTER', uri, user, password)
        self.peer.send(req([f'Authorization: {auth}']))
        final, _ = self.peer.final(self.call_id)
        assert final is not None and final.status == 200, final
        return final

    def receive_request(self, method: str, timeout: float = 20.0) -> tuple[str, dict, bytes, bytes]:
        """The next request of `method`: (request line, headers (lower-case names), body, raw).
        It is answered 200 OK."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f'no {method} arrived'
            self.peer.sock.settimeout(left)
            try:
                data, addr = self.peer.sock.recvfrom(70000)
            except (socket.timeout, TimeoutError):
                continue
            if not data.startswith(method.encode() + b' '):
                continue
            head, _, body = data.partition(b'\r\n\r\n')
            lines = head.decode().split('\r\n')
            headers: dict[str, list[str]] = {}
            for line in lines[1:]:
                name, _, value = line.partition(':')
                name = rawsip.COMPACT.get(name.strip().lower(), name.strip().lower())
                headers.setdefault(name, []).append(value.strip())
            ok = ['SIP/2.0 200 OK'] + [f'{n}: {v}' for n in ('via', 'from', 'to', 'call-id', 'cseq')
                                       for v in headers.get(n, [])] + ['Content-Length: 0']
            self.peer.sock.sendto(('\r\n'.join(ok) + '\r\n\r\n').encode(), addr)
            return lines[0], headers, body, data

    def close(self):
        self.peer.close()


@pytest.fixture
def phones(api):
    made: list[Phone] = []

    def make() -> Phone:
        p = Phone(api.server.sip_port)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def test_register_and_unregister_events_and_the_listing(api, phones):
    api.add_user('joe')
    c = api.login('joe')
    user = create(c, description='desk')['user']
    phone = phones()
    before = int(time.time())
    phone.register(user, PASSWORD, expires=300)
    new, reg = events_until(c, 0, 2)
    assert new['event'] == 'sip_new'
    assert reg['event'] == 'sip_register' and reg['user'] == user and reg['domain'] == 'localhost'
    assert reg['contact'] == f'127.0.0.1:{phone.port}'
    assert isinstance(reg['expire'], int) and before + 290 <= reg['expire'] <= int(time.time()) + 301
    listed = accounts(c)[user]
    assert listed['contact'] == f'127.0.0.1:{phone.port}'
    assert abs(listed['expire'] - reg['expire']) <= 2
    assert listed['description'] == 'desk'

    phone.register(user, PASSWORD, expires=0)
    [unreg] = events_until(c, 2, 1)
    assert unreg['event'] == 'sip_unregister'
    assert unreg == {'id': 2, 'event': 'sip_unregister', 'time': unreg['time'], 'user': user,
                     'domain': 'localhost', 'contact': f'127.0.0.1:{phone.port}'}
    assert 'contact' not in accounts(c)[user] and 'expire' not in accounts(c)[user]


def test_register_events_go_to_the_owner_only(api, phones):
    api.add_user('joe')
    api.add_user('ann')
    joe, ann = api.login('joe'), api.login('ann')
    user = create(joe)['user']
    api.server.add_account('operator', 'op-secret')
    phones().register('operator', 'op-secret')     # an account without owner: no event
    phones().register(user, PASSWORD)
    evs = events_until(joe, 0, 2)
    assert [e['event'] for e in evs] == ['sip_new', 'sip_register'] and evs[1]['user'] == user
    assert ann.get('/api/event', params={'timeout': 0}).json()['event'] == []
    assert joe.get('/api/event', params={'next': 2, 'timeout': 0}).json()['event'] == []


def test_notify_reaches_the_registered_phone(api, phones):
    api.add_user('joe')
    c = api.login('joe')
    user = create(c)['user']
    phone = phones()
    phone.register(user, PASSWORD)
    body = 'Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n'
    r = c.post(f'/api/sip/{user}/notify', json={
        'event-string': 'check-sync;reboot=true', 'content-type': 'application/simple-message-summary',
        'content': body}).json()
    assert r == {'status': 'ok'}
    line, headers, got, _ = phone.receive_request('NOTIFY')
    assert line == f'NOTIFY sip:{user}@127.0.0.1:{phone.port};transport=udp SIP/2.0'
    assert headers['event'] == ['check-sync;reboot=true']
    assert headers['content-type'] == ['application/simple-message-summary']
    assert headers['to'][0] == f'<sip:{user}@localhost>'
    assert 'tag=' in headers['from'][0] and headers['subscription-state']
    assert headers['cseq'] == ['1 NOTIFY']
    assert got == body.encode()
    api.server.wait_event('notify-response', account=user, status=200)

    # without a body: no body, and a Content-Type only when one was given
    assert c.post(f'/api/sip/{user}/notify', json={'event-string': 'check-sync',
                                                  'content-type': ''}).json() == {'status': 'ok'}
    _, headers, got, _ = phone.receive_request('NOTIFY')
    assert headers['event'] == ['check-sync'] and 'content-type' not in headers and got == b''

    phone.register(user, PASSWORD, expires=0)
    assert c.post(f'/api/sip/{user}/notify', json={'event-string': 'check-sync',
                                                  'content-type': ''}).json()[
        'status'] == 'not-registered'


def test_notify_goes_to_every_registered_contact(api, phones):
    api.add_user('joe')
    c = api.login('joe')
    user = create(c)['user']
    desk, mobile = phones(), phones()
    desk.register(user, PASSWORD)
    mobile.register(user, PASSWORD)
    assert c.post(f'/api/sip/{user}/notify', json={'event-string': 'check-sync',
                                                  'content-type': ''}).json()['status'] == 'ok'
    for p in (desk, mobile):
        line, _, _, _ = p.receive_request('NOTIFY')
        assert line.startswith(f'NOTIFY sip:{user}@127.0.0.1:{p.port}')
    # the client's event string is one quoted field of the log line: it forges no other
    assert c.post(f'/api/sip/{user}/notify', json={'event-string': 'x" forged=yes',
                                                  'content-type': ''}).json()['status'] == 'ok'
    sent = wait_for(lambda: [parse_kv(line.split('event=notify-sent', 1)[1])
                             for line in api.server.log_lines()
                             if 'event=notify-sent' in line and 'forged' in line], 20,
                    'the notify-sent lines')
    assert all('forged' not in e and e['event'] == 'x\\" forged=yes' for e in sent), sent


def test_deleting_a_registered_account_ends_its_registration(api, phones):
    api.add_user('joe')
    c = api.login('joe')
    user = create(c)['user']
    phone = phones()
    phone.register(user, PASSWORD)
    assert c.delete(f'/api/sip/{user}').json()['status'] == 'ok'
    evs = events_until(c, 0, 4)
    assert [e['event'] for e in evs] == ['sip_new', 'sip_register', 'sip_unregister', 'sip_delete']
    assert evs[2]['contact'] == f'127.0.0.1:{phone.port}'
    assert api.server.health()['registrations'] == 0
    # the deleted account can no longer register
    with pytest.raises(AssertionError, match='403'):
        phone.register(user, PASSWORD)


def test_a_changed_password_takes_effect_for_registration(api, phones):
    api.add_user('joe')
    c = api.login('joe')
    user = create(c)['user']
    assert c.post(f'/api/sip/{user}', json={'password': 'changed-pw'}).json()['status'] == 'ok'
    phones().register(user, 'changed-pw')
    assert events_until(c, 0, 3)[2]['event'] == 'sip_register'
