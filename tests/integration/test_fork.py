"""A call placed to one of our SIP accounts (POST /api/call/dial) rings every registered
contact at once under one Call (calls/fork.py): SIPp phones registered for the same account
on their own ports; the first to answer wins and the others see CANCEL, all refusing ends
the call with the best failure, an API hangup while they ring cancels them all."""
from __future__ import annotations

# ruff: noqa: F811 -- start_api is the API tests' fixture, imported to be used as one

from tests.api.cisco import add_admin, create
from tests.api.conftest import start_api  # noqa: F401 -- the fixture
from tests.api.test_call_api import Events, control
from tests.integration.test_hunting import ANSWER, BUSY, RING, finished, phone
from tests.integration.test_outbound_rules import refusing

NUMBER = '+4930555001'
ACCOUNT_NUMBER = '+4930555099'   # a dial transform makes it the SIP account's address


def world(start_api):
    """joe (number NUMBER, call API, events) with one SIP account that ACCOUNT_NUMBER
    reaches."""
    api = start_api()
    admin = add_admin(api)
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    account = c.post('/api/sip', json={'password': 's3cret-pw'}).json()['user']
    create(admin, 'dialTransforms', type='raw', match=f'($1/^[+]{ACCOUNT_NUMBER[1:]}$/)',
           transform=f'{account}@localhost', priority='10')
    c.get('/api/call/event')
    return api, c, account, Events(c)


def dial(c) -> str:
    r = c.post('/api/call/dial', json={'to': ACCOUNT_NUMBER, 'from': NUMBER}).json()
    assert r['status'] == 'ok', r
    return r['uuid']


def calls_of(events: Events) -> set[str]:
    return {uuid for ev in events.seen if ev['event'] == 'call_update' for uuid in ev['call']}


def test_the_first_contact_to_answer_wins_the_others_see_cancel(start_api, sipp):
    api, c, account, events = world(start_api)
    ringers = [phone(api, sipp, account, RING), phone(api, sipp, account, RING)]
    answerer = phone(api, sipp, account, ANSWER)
    uuid = dial(c)
    events.call_update(uuid, status='ringing')
    events.call_update(uuid, status='answered')
    assert control(c, uuid, {'control': 'hangup'})['status'] == 'ok'
    ended = events.call_update(uuid, status='hangup')
    assert ended['call'][uuid]['hangup_cause'] == 16
    for p in ringers:
        assert 'CANCEL sip:' in finished(sipp, p, 'a phone that only rang').messages
    assert 'BYE sip:' in finished(sipp, answerer, 'the answering phone').messages
    assert calls_of(events) == {uuid}           # one call, whatever the contacts did
    assert api.server.wait_event('fork-answered')[0]['legs'] == '3'


def test_all_refusing_ends_with_the_best_failure_busy_before_unavailable(start_api, sipp,
                                                                         tmp_path):
    api, c, account, events = world(start_api)
    phones = [phone(api, sipp, account, refusing(tmp_path, 480)),
              phone(api, sipp, account, BUSY),
              phone(api, sipp, account, refusing(tmp_path, 503))]
    uuid = dial(c)
    ended = events.call_update(uuid, status='hangup')
    assert ended['call'][uuid]['hangup_cause'] == 17   # busy, not 18/20 (no answer) nor 41
    for p in phones:
        finished(sipp, p, 'a refusing phone')
    assert calls_of(events) == {uuid}
    failed = api.server.wait_event('fork-failed')[0]
    assert failed['status'] == '486' and failed['legs'] == '3'


def test_an_api_hangup_while_they_ring_cancels_them_all(start_api, sipp):
    api, c, account, events = world(start_api)
    ringers = [phone(api, sipp, account, RING), phone(api, sipp, account, RING)]
    uuid = dial(c)
    events.call_update(uuid, status='ringing')
    assert control(c, uuid, {'control': 'hangup', 'hangup_cause': 16})['status'] == 'ok'
    events.call_update(uuid, status='hangup')
    for p in ringers:
        assert 'CANCEL sip:' in finished(sipp, p, 'a ringing phone').messages
    assert calls_of(events) == {uuid}
