"""/api/event (§3.27, §6) through a real HTTP client and a real WebSocket client.

The events come from the SIP account API (sip_new, sip_modify, sip_delete), so every
event here was made by the running server, not injected.
"""
from __future__ import annotations

import json
import threading

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.integration.conftest import wait_for

PASSWORD = 'sEcReT53a'


def events_until(c, next_id: int, count: int, timeout: float = 20.0) -> list[dict]:
    """Long-poll until `count` events from `next_id` on have arrived (deadline: `timeout`)."""
    got: list[dict] = []

    def more():
        nonlocal next_id
        body = c.get('/api/event', params={'next': next_id, 'timeout': 2}).json()
        assert body['status'] in ('ok', 'timeout'), body
        got.extend(body['event'])
        next_id = body['next']
        return len(got) >= count
    wait_for(more, timeout, f'{count} events')
    return got


def new_account(c, **extra) -> str:
    body = c.post('/api/sip', json={'password': PASSWORD, **extra}).json()
    assert body['status'] == 'ok', body
    return body['user']


def test_long_poll_answers_at_once_when_events_wait_and_empty_after_timeout(api):
    api.add_user('joe')
    c = api.login('joe')
    user = new_account(c, description='office phone')
    body = c.get('/api/event', params={'next': 0, 'timeout': 300}).json()
    assert body['status'] == 'ok', body
    assert body['next'] == 1
    [ev] = body['event']
    assert ev['id'] == 0 and ev['event'] == 'sip_new' and isinstance(ev['time'], int)
    assert ev['user'] == user and ev['domain'] == 'localhost'
    assert ev['description'] == 'office phone'

    # nothing newer: the answer after the timeout is empty, with the documented status
    for timeout in (0, 1):
        empty = c.get('/api/event', params={'next': 1, 'timeout': timeout}).json()
        assert empty == {'status': 'timeout', 'event': [], 'next': 1}
    # the default `next` is 0: the queued event is delivered again
    again = c.get('/api/event', params={'timeout': 0}).json()
    assert [e['id'] for e in again['event']] == [0]


def test_a_waiting_long_poll_is_woken_by_a_new_event(api):
    api.add_user('joe')
    c = api.login('joe')
    other = api.login('joe')            # a second session of the same user makes the event
    result: dict = {}

    def poll():
        result['body'] = c.get('/api/event', params={'next': 0, 'timeout': 60}).json()
    t = threading.Thread(target=poll)
    t.start()
    user = new_account(other)
    t.join(60)
    assert not t.is_alive()
    body = result['body']
    assert body['status'] == 'ok' and body['event'][0]['event'] == 'sip_new'
    assert body['event'][0]['user'] == user and body['next'] == len(body['event'])


def test_ids_are_contiguous_and_next_continues_the_stream(api):
    api.add_user('joe')
    c = api.login('joe')
    user = new_account(c)
    assert c.post(f'/api/sip/{user}', json={'description': 'desk'}).json()['status'] == 'ok'
    assert c.delete(f'/api/sip/{user}').json()['status'] == 'ok'
    evs = events_until(c, 0, 3)
    assert [e['id'] for e in evs] == [0, 1, 2]
    assert [e['event'] for e in evs] == ['sip_new', 'sip_modify', 'sip_delete']
    tail = c.get('/api/event', params={'next': 2, 'timeout': 0}).json()
    assert [e['id'] for e in tail['event']] == [2] and tail['next'] == 3


def test_event_parameters_and_authentication(api):
    api.add_user('joe')
    c = api.login('joe')
    for params in ({'timeout': 301}, {'timeout': -1}, {'timeout': 'soon'}, {'next': -1},
                   {'next': 'x'}):
        assert c.get('/api/event', params=params).json()['status'] == 'wrong-syntax', params
    assert api.client().get('/api/event', params={'timeout': 0}).json()['status'] == 'no-session'
    assert api.client('not-a-session').get('/api/event').json()['status'] == 'no-session'
    anon = api.client().get('/api/session').json()['sid']
    assert api.client(anon).get('/api/event', params={'timeout': 0}).json()['status'] == 'no-auth'
    for call in (lambda x: x.post('/api/event/filter', json={'op': 'equal', 'key': 'a',
                                                              'value': 1}),
                 lambda x: x.delete('/api/event/filter')):
        assert call(api.client()).json()['status'] == 'no-session'
        assert call(api.client(anon)).json()['status'] == 'no-auth'


# --- filters ---------------------------------------------------------------------------------

def test_filter_passes_only_matching_events_until_removed(api):
    api.add_user('joe')
    c = api.login('joe')
    maker = api.login('joe')
    only_modify = {'op': 'and', 'args': [
        {'op': 'equal', 'key': 'event', 'value': 'sip_modify'},
        {'op': 'rematch', 'key': 'user', 'value': 'joe_0[0-9]'},
        {'op': 'not', 'arg': {'op': 'equal', 'key': 'description', 'value': 'hidden'}},
        {'op': 'greater', 'key': 'time', 'value': 0},
    ]}
    assert c.post('/api/event/filter', json=only_modify).json() == {'status': 'ok'}
    user = new_account(maker, description='first')                 # sip_new: filtered out
    for text in ('hidden', 'shown'):
        assert maker.post(f'/api/sip/{user}', json={'description': text}).json()['status'] == 'ok'
    [ev] = events_until(c, 0, 1)
    assert ev['event'] == 'sip_modify' and ev['description'] == 'shown' and ev['id'] == 0
    # the other session of the same user has no filter: it saw all three
    assert [e['event'] for e in events_until(maker, 0, 3)] == ['sip_new', 'sip_modify',
                                                               'sip_modify']

    assert c.delete('/api/event/filter').json() == {'status': 'ok'}
    assert maker.delete(f'/api/sip/{user}').json()['status'] == 'ok'
    [ev] = events_until(c, 1, 1)
    assert ev['event'] == 'sip_delete' and ev['id'] == 1


def test_or_filter_lesser_and_a_filter_that_rejects_everything(api):
    api.add_user('joe')
    c = api.login('joe')
    f = {'op': 'or', 'args': [
        {'op': 'equal', 'key': 'event', 'value': 'sip_delete'},
        {'op': 'lesser', 'key': 'time', 'value': 0},               # never true
        {'op': 'contain', 'key': 'tag', 'value': 'x'},             # no such field
        {'op': 'filter', 'key': 'object', 'arg': {'op': 'equal', 'key': 'a', 'value': 1}},
    ]}
    assert c.post('/api/event/filter', json=f).json()['status'] == 'ok'
    user = new_account(c)
    assert c.delete(f'/api/sip/{user}').json()['status'] == 'ok'
    [ev] = events_until(c, 0, 1)
    assert ev['event'] == 'sip_delete' and 'filter_error' not in ev


def test_equal_is_type_sensitive_on_real_events(api):
    api.add_user('joe')
    c = api.login('joe')
    # the event's `user` is the string "joe_01": a number or a list never equals it
    f = {'op': 'or', 'args': [{'op': 'equal', 'key': 'user', 'value': ['joe_01']},
                              {'op': 'equal', 'key': 'domain', 'value': 'localhost'}]}
    assert c.post('/api/event/filter', json=f).json()['status'] == 'ok'
    new_account(c)
    [ev] = events_until(c, 0, 1)
    assert ev['event'] == 'sip_new'
    assert c.post('/api/event/filter', json={'op': 'equal', 'key': 'user', 'value': 1}).json()[
        'status'] == 'ok'
    new_account(c)
    assert c.get('/api/event', params={'next': 1, 'timeout': 0}).json()['event'] == []


@pytest.mark.parametrize('tree,status', [
    ({'op': 'bogus', 'key': 'a', 'value': 1}, 'wrong-syntax'),
    ({'op': 'rematch', 'key': 'user', 'value': '(unclosed'}, 'wrong-syntax'),
    ({'op': 'rematch', 'key': 'user', 'value': 5}, 'wrong-syntax'),
    ({'op': 'greater', 'key': 'time', 'value': '5'}, 'wrong-syntax'),
    ({'op': 'lesser', 'key': 'time', 'value': True}, 'wrong-syntax'),
    ({'op': 'and', 'args': []}, 'wrong-syntax'),
    ({'op': 'or', 'args': {'op': 'equal'}}, 'wrong-syntax'),
    ({'op': 'not', 'arg': 'equal'}, 'wrong-syntax'),
    ({'op': 'equal', 'key': 7, 'value': 1}, 'wrong-syntax'),
    ({'key': 'event', 'value': 'sip_new'}, 'missing-element'),
    ({'op': 'equal', 'key': 'event'}, 'missing-element'),
    ({'op': 'equal', 'value': 'sip_new'}, 'missing-element'),
    ({'op': 'and'}, 'missing-element'),
    ({'op': 'not'}, 'missing-element'),
    ({'op': 'filter', 'key': 'object'}, 'missing-element'),
    ({'op': 'or', 'args': [{'op': 'equal', 'key': 'a', 'value': 1}, {'op': 'rematch'}]},
     'missing-element'),
])
def test_broken_filters_are_refused(api, tree, status):
    api.add_user('joe')
    c = api.login('joe')
    body = c.post('/api/event/filter', json=tree).json()
    assert body['status'] == status, body


def test_filter_body_must_be_a_json_object(api):
    api.add_user('joe')
    c = api.login('joe')
    assert c.post('/api/event/filter', json=[1]).json()['status'] == 'wrong-syntax'
    assert c.post('/api/event/filter', content=b'{nope', headers={
        'content-type': 'application/json'}).json()['status'] == 'wrong-syntax'
    assert c.post('/api/event/filter').json()['status'] == 'missing-element'
    # a refused filter leaves the stream unfiltered
    new_account(c)
    assert events_until(c, 0, 1)[0]['event'] == 'sip_new'


# --- WebSocket ------------------------------------------------------------------------------

def ws_url(api, **params) -> str:
    query = '&'.join(f'{k}={v}' for k, v in params.items())
    return f'ws://127.0.0.1:{api.server.http_port}/api/event/ws' + (f'?{query}' if query else '')


def ws_events(ws, count: int, timeout: float = 20.0) -> list[dict]:
    return [json.loads(ws.recv(timeout)) for _ in range(count)]


def test_websocket_streams_the_same_events_in_order(api):
    api.add_user('joe')
    c = api.login('joe')
    user = new_account(c, description='one')       # queued before the socket opens
    with ws_connect(ws_url(api, sid=c.sid)) as ws:
        assert c.post(f'/api/sip/{user}', json={'description': 'two'}).json()['status'] == 'ok'
        assert c.delete(f'/api/sip/{user}').json()['status'] == 'ok'
        pushed = ws_events(ws, 3)
    polled = events_until(c, 0, 3)
    assert pushed == polled
    assert [e['id'] for e in pushed] == [0, 1, 2]
    assert [e['event'] for e in pushed] == ['sip_new', 'sip_modify', 'sip_delete']


def test_websocket_next_parameter_bearer_header_and_filter(api):
    api.add_user('joe')
    c = api.login('joe')
    first = new_account(c)
    second = new_account(c)
    with ws_connect(ws_url(api, next=1),
                    additional_headers={'Authorization': f'Bearer {c.sid}'}) as ws:
        [ev] = ws_events(ws, 1)
        assert ev['id'] == 1 and ev['user'] == second
        assert c.post('/api/event/filter', json={'op': 'equal', 'key': 'event',
                                                 'value': 'sip_delete'}).json()['status'] == 'ok'
        assert c.post(f'/api/sip/{first}', json={'description': 'x'}).json()['status'] == 'ok'
        assert c.delete(f'/api/sip/{first}').json()['status'] == 'ok'
        [ev] = ws_events(ws, 1)
        assert ev['id'] == 2 and ev['event'] == 'sip_delete' and ev['user'] == first


def test_websocket_by_cookie(api):
    api.add_user('joe')
    c = api.login('joe')
    new_account(c)
    with ws_connect(ws_url(api), additional_headers={'Cookie': f'sid={c.sid}'}) as ws:
        assert ws_events(ws, 1)[0]['event'] == 'sip_new'


def test_websocket_without_an_authenticated_session_is_closed_with_4401(api):
    anon = api.client().get('/api/session').json()['sid']
    for url in (ws_url(api), ws_url(api, sid='nope'), ws_url(api, sid=anon)):
        with ws_connect(url) as ws:
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(20)
        assert info.value.rcvd is not None and info.value.rcvd.code == 4401, url


def test_websocket_closes_when_its_session_is_deleted(api):
    api.add_user('joe')
    c = api.login('joe')
    with ws_connect(ws_url(api, sid=c.sid)) as ws:
        assert c.delete('/api/session').json()['status'] == 'ok'
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(20)
    assert info.value.rcvd.code == 4401
