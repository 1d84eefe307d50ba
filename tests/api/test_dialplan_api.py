"""/api/dialplan/v2 (§4.1), /api/dialplan (§4.2) and /api/phone's `dialplan` (§3.9) against
the real server: the document's own request examples, every field's error, ownership (no
plan may point at another user's SIP account or number), list/read/update/delete, events,
and the stored JSON the call runtime reads (store/dialplans.py on the server's SQLite file).
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from types import SimpleNamespace

import pytest

from telephony.store.db import Database
from telephony.store.dialplans import DialplanStore
from tests.api.conftest import Api
from tests.api.test_announcement import wait_status
from tests.api.test_call_api import Events
from tests.integration.conftest import ROOT, ServerProcess

UNKNOWN = '00000000-0000-1000-8000-000000000000'
DOC_RINGTONE = '91e85f5c-b9eb-11e1-8b7e-0024e8f90cc0'   # announcement uuids in the examples
DOC_RECORD = 'b6774686-2bc5-4af0-9dbf-33f4427adbd9'
JOE_NUMBERS = ('+492216698777', '+492216698888', '+4930555111')
EVE_NUMBER = '+4930555222'

# §4.1's POST example, its page breaks closed up (the text drops a `}` after each filter and
# action and the `]` of profiles lands in a block of its own).
V2_EXAMPLE = r'''
{
  "dialplan" : {
    "description": "A description text",
    "ringtone": {
      "announcement": "91e85f5c-b9eb-11e1-8b7e-0024e8f90cc0",
      "mix": true
    },
    "profiles": [
      {
        "filter": {
          "caller": "\\+49221.*|\\+4830123456|anonymous",
          "time": {
            "weekdays": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"],
            "time_start": "07:30",
            "time_end": "13:00"
          }
        },
        "linear": {
          "timeout": 7,
          "targets": [
            {"target": "joe_05", "timeout": 5},
            {"target": "+491771234567", "timeout": 4}
          ]
        }
      },
      {
        "filter": {
          "time": {"date": "11.06.2015", "time_start": "07:30", "time_end": "13:00"}
        },
        "parallel": {
          "timeout": 10,
          "targets": ["joe_04", "+491771234567"]
        }
      },
      {
        "cyclic": {
          "timeout": 7,
          "targets": [
            {"target": "joe_08", "timeout": 4},
            {"target": "+491771234567", "timeout": 5}
          ]
        }
      },
      {
        "record": {"announcement": "b6774686-2bc5-4af0-9dbf-33f4427adbd9"}
      }
    ]
  }
}'''
# §4.1's POST /api/dialplan/v2/(uuid) example
V2_MODIFY_EXAMPLE = '''
{
  "dialplan" : {
    "description": "Holidays",
    "profiles": [
      {"record": {"announcement" : "b6774686-2bc5-4af0-9dbf-33f4427adbd9"}}
    ]
  }
}'''
# §4.2's POST example, its page break closed up
V1_EXAMPLE = '''
{
  "announcement": "91e85f5c-b9eb-11e1-8b7e-0024e8f90cc0",
  "mix_ringtone": true,
  "clip_number": "+492216698888",
  "dial_prefix": "+492216698",
  "clir_enable": false,
  "cti_via": "+492216698777",
  "action": "none",
  "phone": "+492216698001",
  "sip": "joe_01",
  "phone_pool": {
    "add": {"+492216698990": false, "+492216698995": true},
    "delete": ["+492216698992"]
  },
  "sip_pool": {"add": ["joe_01", "joe_03"], "delete": ["joe_02"]},
  "callreverse_enable": false,
  "timeout": {"timeout": 20, "action": "record"},
  "unavailable": {"action": "redirect", "phone": "+492216698993"},
  "busy": {"action": "sip", "sip": "joe_01"}
}'''


def announcement(c) -> str:
    uuid = c.post('/api/announcement', json={}).json()['uuid']
    assert c.post(f'/api/announcement/{uuid}/text2speech', json={'text': 'hallo'}).json()[
        'status'] == 'ok'
    assert wait_status(c, uuid) == 'ok'
    return uuid


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    """One server for the module: joe with SIP accounts joe_01..joe_08, three numbers and
    two announcements; eve with eve_01, a number and an announcement."""
    api = Api(ServerProcess(tmp_path_factory.mktemp('dialplan')).start())
    try:
        api.add_user('joe')
        api.add_user('eve')
        for number in JOE_NUMBERS:
            api.cli('phone', 'add', number, '--user', 'joe')
        api.cli('phone', 'add', EVE_NUMBER, '--user', 'eve')
        joe, eve = api.login('joe'), api.login('eve')
        for _ in range(8):
            assert joe.post('/api/sip', json={'password': 'secret1'}).json()['status'] == 'ok'
        assert eve.post('/api/sip', json={'password': 'secret1'}).json()['user'] == 'eve_01'
        w = SimpleNamespace(api=api, joe=joe, eve=eve, joe_events=Events(joe),
                            ringtone=announcement(joe), record=announcement(joe),
                            eve_announcement=announcement(eve))
        yield w
    finally:
        api.close()
        api.server.stop()


def example(w, text: str) -> dict:
    return json.loads(text.replace(DOC_RINGTONE, w.ringtone).replace(DOC_RECORD, w.record))


def status(c, path: str, body) -> str:
    return c.post(path, json=body).json()['status']


# --- v2 ---------------------------------------------------------------------------------------

def test_v2_examples_as_written_list_read_modify_delete_and_events(world):
    w, joe = world, world.joe
    mark = w.joe_events.mark()
    body = example(w, V2_EXAMPLE)
    created = joe.post('/api/dialplan/v2', json=body).json()
    assert created['status'] == 'ok', created
    uuid = created['uuid']
    w.joe_events.wait(lambda e: e['event'] == 'dialplan_modify' and e.get('uuid') == uuid,
                      since=mark, what='dialplan_modify on create')
    assert {'uuid': uuid, 'description': 'A description text'} in \
        joe.get('/api/dialplan/v2').json()['dialplan']
    assert joe.get(f'/api/dialplan/v2/{uuid}').json() == {'status': 'ok', **body}
    assert joe.get(f'/api/dialplan/v2/{uuid.upper()}').json()['dialplan'] == body['dialplan']

    # the modify example replaces description and profiles; the ringtone stays
    mark = w.joe_events.mark()
    assert joe.post(f'/api/dialplan/v2/{uuid}', json=example(w, V2_MODIFY_EXAMPLE)).json() == \
        {'status': 'ok'}
    w.joe_events.wait(lambda e: e['event'] == 'dialplan_modify' and e.get('uuid') == uuid,
                      since=mark, what='dialplan_modify on modify')
    got = joe.get(f'/api/dialplan/v2/{uuid}').json()['dialplan']
    assert got == {'description': 'Holidays', 'ringtone': body['dialplan']['ringtone'],
                   'profiles': [{'record': {'announcement': w.record}}]}
    # null removes a field; the GET example's plan ("reject": {}) reads back as written
    assert status(joe, f'/api/dialplan/v2/{uuid}', {'dialplan': {
        'ringtone': None, 'description': 'Busy season', 'profiles': [{'reject': {}}]}}) == 'ok'
    assert joe.get(f'/api/dialplan/v2/{uuid}').json() == {
        'status': 'ok', 'dialplan': {'description': 'Busy season', 'profiles': [{'reject': {}}]}}

    mark = w.joe_events.mark()
    assert joe.delete(f'/api/dialplan/v2/{uuid}').json() == {'status': 'ok'}
    w.joe_events.wait(lambda e: e['event'] == 'dialplan_modify' and e.get('uuid') == uuid,
                      since=mark, what='dialplan_modify on delete')
    assert uuid not in [p['uuid'] for p in joe.get('/api/dialplan/v2').json()['dialplan']]
    for answer in (joe.get(f'/api/dialplan/v2/{uuid}'), joe.delete(f'/api/dialplan/v2/{uuid}'),
                   joe.post(f'/api/dialplan/v2/{uuid}', json={'dialplan': {}})):
        assert answer.json()['status'] == 'wrong-dialplan'


def test_v2_plans_are_their_owners(world):
    w, joe, eve = world, world.joe, world.eve
    uuid = joe.post('/api/dialplan/v2', json={'dialplan': {'description': 'mine'}}).json()['uuid']
    assert uuid not in [p['uuid'] for p in eve.get('/api/dialplan/v2').json()['dialplan']]
    for answer in (eve.get(f'/api/dialplan/v2/{uuid}'),
                   eve.post(f'/api/dialplan/v2/{uuid}', json={'dialplan': {'description': 'x'}}),
                   eve.delete(f'/api/dialplan/v2/{uuid}')):
        assert answer.json()['status'] == 'wrong-dialplan'
    assert joe.get(f'/api/dialplan/v2/{uuid}').json()['dialplan'] == {'description': 'mine'}
    for path in ('/api/dialplan/v2/not-a-uuid', f'/api/dialplan/v2/{uuid}x'):
        assert joe.get(path).json()['status'] == 'wrong-syntax'
    assert w.api.client().get('/api/dialplan/v2').json()['status'] == 'no-session'
    assert joe.delete(f'/api/dialplan/v2/{uuid}').json()['status'] == 'ok'


def _good_plan(w) -> dict:
    return {'dialplan': {
        'description': 'base', 'ringtone': {'announcement': w.ringtone, 'mix': False},
        'profiles': [
            {'filter': {'caller': r'\+4930.*', 'time': {
                'weekdays': ['MON'], 'date_start': '01.01.2026', 'date_end': '31.12.2026',
                'time_start': '22:00', 'time_end': '06:00'}},
             'parallel': {'timeout': 0, 'targets': ['joe_01', JOE_NUMBERS[2]]}},
            {'linear': {'targets': [{'target': 'joe_02'}]}},
            {'cyclic': {'timeout': -1, 'targets': [{'target': '+491771234567', 'timeout': 3}]}},
            {'record': {}},
            {'reject': {}}]}}


def _set(body: dict, path: str, value) -> dict:
    """A copy of body with the dotted path set (`-` deletes it)."""
    body = copy.deepcopy(body)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split('.')]
    node = body
    for p in parents:
        node = node[p]
    if value == '-':
        del node[last]
    else:
        node[last] = value
    return body


P0, TIME = 'dialplan.profiles.0', 'dialplan.profiles.0.filter.time'
V2_ERRORS = [
    ('dialplan', '-', 'missing-element'),
    ('dialplan', [], 'wrong-syntax'),
    ('dialplan.description', 'x' * 201, 'wrong-syntax'),
    ('dialplan.description', 'two\nlines', 'wrong-syntax'),
    ('dialplan.description', 5, 'wrong-syntax'),
    ('dialplan.ringtone', 'loud', 'wrong-syntax'),
    ('dialplan.ringtone.announcement', 'not-a-uuid', 'wrong-syntax'),
    ('dialplan.ringtone.announcement', UNKNOWN, 'wrong-announcement'),
    ('dialplan.ringtone.mix', 'yes', 'wrong-syntax'),
    ('dialplan.ringtone.mix', 1, 'wrong-syntax'),
    ('dialplan.profiles', {'reject': {}}, 'wrong-syntax'),
    ('dialplan.profiles', [{'reject': {}}] * 51, 'too-large'),
    ('dialplan.profiles.4', {'filter': {}}, 'missing-element'),
    ('dialplan.profiles.4', {'rejects': {}}, 'missing-element'),
    ('dialplan.profiles.4', {'reject': {}, 'record': {}}, 'wrong-syntax'),
    ('dialplan.profiles.4.reject', 'now', 'wrong-syntax'),
    (f'{P0}.filter', 'all', 'wrong-syntax'),
    (f'{P0}.filter.caller', '(', 'wrong-syntax'),
    (f'{P0}.filter.caller', 'a' * 501, 'wrong-syntax'),
    (f'{P0}.filter.caller', '(a+)+$', 'wrong-syntax'),      # backtracks for ever
    (f'{P0}.filter.caller', '.*1.*2.*3', 'wrong-syntax'),   # len**3 steps
    (f'{P0}.filter.caller', 4930, 'wrong-syntax'),
    (f'{TIME}', 'always', 'wrong-syntax'),
    (f'{TIME}.date', '11.06.2015', 'wrong-syntax'),          # with weekdays and a range
    (f'{TIME}.date_start', '31.02.2026', 'wrong-syntax'),
    (f'{TIME}.date_start', '2026-01-01', 'wrong-syntax'),
    (f'{TIME}.date_end', '1.1.2026', 'wrong-syntax'),
    (f'{TIME}.date_end', '31.12.2025', 'wrong-syntax'),      # precedes date_start
    (f'{TIME}.weekdays', [], 'wrong-syntax'),
    (f'{TIME}.weekdays', 'MON', 'wrong-syntax'),
    (f'{TIME}.weekdays', ['MON', 'mon'], 'wrong-syntax'),
    (f'{TIME}.weekdays', ['MON', 'MON'], 'wrong-syntax'),
    (f'{TIME}.weekdays', ['MON'] * 8, 'wrong-syntax'),
    (f'{TIME}.time_start', '24:00', 'wrong-syntax'),
    (f'{TIME}.time_start', '7:30', 'wrong-syntax'),
    (f'{TIME}.time_end', '06:60', 'wrong-syntax'),
    (f'{TIME}.time_end', '-', 'missing-element'),
    (f'{P0}.parallel', [], 'wrong-syntax'),
    (f'{P0}.parallel.targets', '-', 'missing-element'),
    (f'{P0}.parallel.targets', [], 'missing-element'),
    (f'{P0}.parallel.targets', ['Joe_01'], 'wrong-syntax'),
    (f'{P0}.parallel.targets', ['+12'], 'wrong-syntax'),
    (f'{P0}.parallel.targets', [{'target': 'joe_01'}], 'wrong-syntax'),
    (f'{P0}.parallel.targets', [f'+49177000{i:04d}' for i in range(21)], 'too-large'),
    (f'{P0}.parallel.timeout', '7', 'wrong-syntax'),
    (f'{P0}.parallel.timeout', 7.5, 'wrong-syntax'),
    (f'{P0}.parallel.timeout', 86401, 'wrong-syntax'),
    (f'{P0}.parallel.targets', ['eve_01'], 'wrong-sip'),
    (f'{P0}.parallel.targets', ['joe_09'], 'wrong-sip'),     # nobody's
    (f'{P0}.parallel.targets', [EVE_NUMBER], 'wrong-phone'),
    ('dialplan.profiles.1.linear.targets', ['joe_02'], 'wrong-syntax'),
    ('dialplan.profiles.1.linear.targets', [{'timeout': 5}], 'missing-element'),
    ('dialplan.profiles.1.linear.targets', [{'target': 'eve_01'}], 'wrong-sip'),
    ('dialplan.profiles.1.linear.targets.0.timeout', True, 'wrong-syntax'),
    ('dialplan.profiles.1.linear.timeout', -86401, 'wrong-syntax'),
    ('dialplan.profiles.2.cyclic.targets', '-', 'missing-element'),
    ('dialplan.profiles.2.cyclic.targets', [{'target': EVE_NUMBER}], 'wrong-phone'),
    ('dialplan.profiles.2.cyclic.targets', [{'target': '0221123'}], 'wrong-syntax'),
    ('dialplan.profiles.3.record.announcement', 'x', 'wrong-syntax'),
    ('dialplan.profiles.3.record.announcement', UNKNOWN, 'wrong-announcement'),
]


def test_v2_every_field_error_and_a_refused_plan_changes_nothing(world):
    w, joe = world, world.joe
    good = _good_plan(w)
    created = joe.post('/api/dialplan/v2', json=good).json()
    assert created['status'] == 'ok', created
    uuid = created['uuid']
    before = joe.get('/api/dialplan/v2').json()['dialplan']
    wrong = []
    for path, value, expected in V2_ERRORS:
        body = _set(good, path, value)
        for url in ('/api/dialplan/v2', f'/api/dialplan/v2/{uuid}'):
            answer = joe.post(url, json=body).json()
            if answer['status'] != expected or not answer.get('message'):
                wrong.append((url, path, value, expected, answer))
    assert not wrong, wrong
    # another user's announcement is not one of joe's
    for path in ('dialplan.ringtone.announcement', 'dialplan.profiles.3.record.announcement'):
        assert status(joe, '/api/dialplan/v2', _set(good, path, w.eve_announcement)) == \
            'wrong-announcement'
    assert joe.post('/api/dialplan/v2', content=b'{').json()['status'] == 'wrong-syntax'
    assert joe.get('/api/dialplan/v2').json()['dialplan'] == before
    assert joe.get(f'/api/dialplan/v2/{uuid}').json()['dialplan'] == good['dialplan']
    # the core names the field it refuses
    answer = joe.post('/api/dialplan/v2', json=_set(good, f'{P0}.filter.caller', '(a+)+$')).json()
    assert answer['message'].startswith('dialplan.profiles[0].filter.caller: '), answer
    assert joe.delete(f'/api/dialplan/v2/{uuid}').json()['status'] == 'ok'


def test_v2_the_documents_caller_examples_are_accepted_as_the_router_reads_them(world):
    """§4.1: "+49.*" matches calls for Germany, "+4922112345" is an exact match: a leading
    + is a literal plus (dialplan/regexes.py), stored as written."""
    joe = world.joe
    for caller in ('+49.*', '+4922112345', 'anonymous', '+49221.*|+4830123456|anonymous'):
        plan = {'dialplan': {'profiles': [{'filter': {'caller': caller}, 'reject': {}}]}}
        created = joe.post('/api/dialplan/v2', json=plan).json()
        assert created['status'] == 'ok', (caller, created)
        got = joe.get(f'/api/dialplan/v2/{created["uuid"]}').json()['dialplan']
        assert got['profiles'][0]['filter']['caller'] == caller
        assert joe.delete(f'/api/dialplan/v2/{created["uuid"]}').json()['status'] == 'ok'


def test_v2_filters_the_document_allows(world):
    joe = world.joe
    for time in ({}, {'date': '29.02.2028'}, {'date_start': '01.01.2026'},
                 {'date_end': '01.01.2026'}, {'time_start': '13:00', 'time_end': '13:00'},
                 {'date': '11.06.2015', 'time_start': '23:00', 'time_end': '01:00'}):
        plan = {'dialplan': {'profiles': [{'filter': {'time': time, 'caller': 'anonymous'},
                                           'reject': {}}, {'record': {}}]}}
        created = joe.post('/api/dialplan/v2', json=plan).json()
        assert created['status'] == 'ok', (time, created)
        assert joe.get(f'/api/dialplan/v2/{created["uuid"]}').json()['dialplan'] == \
            plan['dialplan']
        assert joe.delete(f'/api/dialplan/v2/{created["uuid"]}').json()['status'] == 'ok'


def test_v2_largest_plan_is_checked_to_its_last_target(world):
    joe = world.joe
    profiles = [{'parallel': {'targets': [f'+4917700{p:02d}{t:03d}' for t in range(20)]}}
                for p in range(50)]
    plan = {'dialplan': {'profiles': profiles}}
    created = joe.post('/api/dialplan/v2', json=plan).json()
    assert created['status'] == 'ok', created
    assert joe.delete(f'/api/dialplan/v2/{created["uuid"]}').json()['status'] == 'ok'
    profiles[-1]['parallel']['targets'][-1] = EVE_NUMBER   # the 1000th of 1000 numbers
    assert status(joe, '/api/dialplan/v2', plan) == 'wrong-phone'


def test_phone_dialplan_is_an_own_v2_plan_and_deleting_the_plan_unsets_it(world):
    w, joe, eve = world, world.joe, world.eve
    number = JOE_NUMBERS[2]
    mine = joe.post('/api/dialplan/v2', json={'dialplan': {}}).json()['uuid']
    evens = eve.post('/api/dialplan/v2', json={'dialplan': {}}).json()['uuid']
    for bad in (evens, UNKNOWN):
        assert status(joe, '/api/phone', {'update': {number: {'dialplan': bad}}}) == \
            'wrong-dialplan'
    assert 'dialplan' not in joe.get('/api/phone').json()['phone'][number]
    assert status(joe, '/api/phone', {'update': {number: {'dialplan': mine}}}) == 'ok'
    assert joe.get('/api/phone').json()['phone'][number]['dialplan'] == mine
    # eve cannot delete joe's plan out from under his number
    assert eve.delete(f'/api/dialplan/v2/{mine}').json()['status'] == 'wrong-dialplan'
    assert joe.get('/api/phone').json()['phone'][number]['dialplan'] == mine

    mark = w.joe_events.mark()
    assert joe.delete(f'/api/dialplan/v2/{mine}').json() == {'status': 'ok'}
    w.joe_events.wait(lambda e: e['event'] == 'phone_modify', since=mark,
                      what='phone_modify: the number lost its plan')
    assert 'dialplan' not in joe.get('/api/phone').json()['phone'][number]
    assert status(joe, '/api/phone', {'update': {number: {'dialplan': mine}}}) == 'wrong-dialplan'
    assert eve.delete(f'/api/dialplan/v2/{evens}').json()['status'] == 'ok'


def test_v2_plans_per_user_are_capped(start_api):
    api = start_api()
    api.add_user('joe')
    joe = api.login('joe')
    made = [joe.post('/api/dialplan/v2', json={'dialplan': {'description': str(i)}}).json()
            for i in range(100)]
    assert {m['status'] for m in made} == {'ok'}
    assert status(joe, '/api/dialplan/v2', {'dialplan': {}}) == 'quota-exceeded'
    assert len(joe.get('/api/dialplan/v2').json()['dialplan']) == 100
    assert joe.delete(f'/api/dialplan/v2/{made[0]["uuid"]}').json()['status'] == 'ok'
    assert status(joe, '/api/dialplan/v2', {'dialplan': {}}) == 'ok'


# --- v1 ---------------------------------------------------------------------------------------

V1_DEFAULTS = {'action': 'none', 'mix_ringtone': False, 'clir_enable': False,
               'callreverse_enable': False, 'phone_pool': {}, 'sip_pool': []}


def test_v1_defaults_example_as_written_partial_changes_and_events(world):
    w, joe, eve = world, world.joe, world.eve
    assert eve.get('/api/dialplan').json() == {'status': 'ok', **V1_DEFAULTS}
    mark = w.joe_events.mark()
    assert joe.post('/api/dialplan', json=example(w, V1_EXAMPLE)).json() == {'status': 'ok'}
    w.joe_events.wait(lambda e: e['event'] == 'dialplan_modify' and 'uuid' not in e,
                      since=mark, what='dialplan_modify for the v1 plan')
    expected = {
        'announcement': w.ringtone, 'mix_ringtone': True, 'clip_number': '+492216698888',
        'dial_prefix': '+492216698', 'clir_enable': False, 'cti_via': '+492216698777',
        'action': 'none', 'phone': '+492216698001', 'sip': 'joe_01',
        'phone_pool': {'+492216698990': False, '+492216698995': True},
        'sip_pool': ['joe_01', 'joe_03'], 'callreverse_enable': False,
        'timeout': {'timeout': 20, 'action': 'record'},
        'unavailable': {'action': 'redirect', 'phone': '+492216698993'},
        'busy': {'action': 'sip', 'sip': 'joe_01'}}
    assert joe.get('/api/dialplan').json() == {'status': 'ok', **expected}
    assert eve.get('/api/dialplan').json() == {'status': 'ok', **V1_DEFAULTS}

    # only what is named changes; '' deletes the text fields; pools add and delete
    change = {'announcement': '', 'phone': '', 'dial_prefix': '', 'clip_number': '',
              'cti_via': '', 'action': 'sip', 'sip': 'joe_02',
              'phone_pool': {'add': {'+492216698990': True}, 'delete': ['+492216698995']},
              'sip_pool': {'add': ['joe_04', 'joe_01'], 'delete': ['joe_03']},
              'busy': None}
    assert joe.post('/api/dialplan', json=change).json() == {'status': 'ok'}
    for f in ('announcement', 'phone', 'dial_prefix', 'clip_number', 'cti_via', 'busy'):
        expected.pop(f)
    expected.update(action='sip', sip='joe_02', phone_pool={'+492216698990': True},
                    sip_pool=['joe_01', 'joe_04'])
    assert joe.get('/api/dialplan').json() == {'status': 'ok', **expected}
    assert joe.post('/api/dialplan', json={}).json() == {'status': 'ok'}
    assert joe.get('/api/dialplan').json() == {'status': 'ok', **expected}


V1_ERRORS = [
    ('announcement', 'x', 'wrong-syntax'),
    ('announcement', UNKNOWN, 'wrong-announcement'),
    ('mix_ringtone', 'true', 'wrong-syntax'),
    ('clip_number', '0221', 'wrong-syntax'),
    ('clip_number', '+491771234567', 'wrong-phone'),     # not joe's: no spoofed caller id
    ('clip_number', EVE_NUMBER, 'wrong-phone'),
    ('dial_prefix', '+49 221', 'wrong-syntax'),
    ('clir_enable', 0, 'wrong-syntax'),
    ('cti_via', EVE_NUMBER, 'wrong-phone'),
    ('cti_via', 'joe_01', 'wrong-syntax'),
    ('action', 'forward', 'wrong-syntax'),
    ('action', 'redirect', 'missing-element'),          # and no phone is set
    ('phone', '+4922166989981234567890', 'wrong-syntax'),
    ('phone', EVE_NUMBER, 'wrong-phone'),
    ('sip', 'joe-01', 'wrong-syntax'),
    ('sip', 'eve_01', 'wrong-sip'),
    ('sip', 'joe_09', 'wrong-sip'),
    ('phone_pool', {'+492216698990': True}, 'wrong-syntax'),   # the GET form is not a change
    ('phone_pool', {'add': {'+4922166989': 'yes'}}, 'wrong-syntax'),
    ('phone_pool', {'add': {'4922166989': True}}, 'wrong-syntax'),
    ('phone_pool', {'add': {EVE_NUMBER: True}}, 'wrong-phone'),
    ('phone_pool', {'add': {f'+49177000{i:04d}': True for i in range(21)}}, 'too-large'),
    ('phone_pool', {'delete': '+492216698990'}, 'wrong-syntax'),
    ('sip_pool', ['joe_01'], 'wrong-syntax'),
    ('sip_pool', {'add': ['eve_01']}, 'wrong-sip'),
    ('sip_pool', {'add': ['JOE_01']}, 'wrong-syntax'),
    ('callreverse_enable', 'no', 'wrong-syntax'),
    ('timeout', {'action': 'record'}, 'missing-element'),
    ('timeout', {'timeout': 20}, 'missing-element'),
    ('timeout', {'timeout': 20, 'action': 'none'}, 'wrong-syntax'),
    ('timeout', {'timeout': '20', 'action': 'record'}, 'wrong-syntax'),
    ('timeout', {'timeout': 20, 'action': 'redirect'}, 'missing-element'),
    ('timeout', {'timeout': 20, 'action': 'sip', 'sip': 'eve_01'}, 'wrong-sip'),
    ('unavailable', {'action': 'none'}, 'wrong-syntax'),
    ('unavailable', {'action': 'redirect', 'phone': EVE_NUMBER}, 'wrong-phone'),
    ('unavailable', {'action': 'sip', 'phone': '+492216698993'}, 'missing-element'),
    ('busy', {'action': 'busy'}, 'wrong-syntax'),
    ('busy', {'phone': '+492216698993'}, 'missing-element'),
    ('busy', {'action': 'sip', 'sip': 'eve_01'}, 'wrong-sip'),
    ('busy', 'record', 'wrong-syntax'),
]


def test_v1_every_field_error_and_a_refused_change_changes_nothing(world):
    w, joe = world, world.joe
    assert status(joe, '/api/dialplan', {'action': 'none', 'phone': '', 'sip': ''}) == 'ok'
    before = joe.get('/api/dialplan').json()
    wrong = []
    for field, value, expected in V1_ERRORS:
        answer = joe.post('/api/dialplan', json={field: value}).json()
        if answer['status'] != expected or not answer.get('message'):
            wrong.append((field, value, expected, answer))
    assert not wrong, wrong
    assert status(joe, '/api/dialplan', {'announcement': w.eve_announcement}) == \
        'wrong-announcement'
    # a good field next to a bad one is not stored either
    assert status(joe, '/api/dialplan', {'mix_ringtone': True, 'sip': 'eve_01'}) == 'wrong-sip'
    assert joe.get('/api/dialplan').json() == before
    # a sip_pool over the cap, built up over several requests
    for i in range(1, 9):
        assert status(joe, '/api/dialplan', {'sip_pool': {'add': [f'joe_0{i}']}}) == 'ok'
    pool = {f'+49177000{i:04d}': True for i in range(20)}
    have = list(joe.get('/api/dialplan').json()['phone_pool'])
    assert status(joe, '/api/dialplan', {'phone_pool': {'add': pool, 'delete': have}}) == 'ok'
    assert status(joe, '/api/dialplan', {'phone_pool': {'add': {'+491770009999': True}}}) == \
        'too-large'
    assert len(joe.get('/api/dialplan').json()['phone_pool']) == 20


# --- what the runtime reads -------------------------------------------------------------------

async def test_stored_plans_are_the_documents_json_and_rotation_survives_a_restart(start_api):
    api = start_api()
    api.add_user('joe')
    api.cli('phone', 'add', '+4930555111', '--user', 'joe', '--dialplan-enable')
    joe = api.login('joe')
    assert joe.post('/api/sip', json={'password': 'secret1'}).json()['user'] == 'joe_01'
    plan = {'description': 'office', 'profiles': [
        {'filter': {'caller': 'anonymous'}, 'reject': {}},
        {'cyclic': {'timeout': 20, 'targets': [{'target': 'joe_01', 'timeout': 10},
                                               {'target': '+491771234567'}]}}]}
    uuid = joe.post('/api/dialplan/v2', json={'dialplan': plan}).json()['uuid']
    assert status(joe, '/api/dialplan', {'action': 'sip', 'sip': 'joe_01',
                                         'sip_pool': {'add': ['joe_01']}}) == 'ok'
    api.server.stop()

    db = Database.for_data_dir(api.server.data_dir)
    await db.open()
    try:
        store = DialplanStore(db)
        assert await store.v2(uuid) == plan
        assert await store.v2(uuid.upper()) == plan
        assert await store.v2('00000000-0000-1000-8000-000000000000') is None
        assert await store.v1('+4930555111') == {**V1_DEFAULTS, 'action': 'sip', 'sip': 'joe_01',
                                                 'sip_pool': ['joe_01']}
        assert await store.v1('+4930555999') is None
        assert await store.rotation((uuid, 1)) == 0
        await store.set_rotation((uuid, 1), 1)
        await store.set_rotation((uuid, 1), 2)
    finally:
        await db.close()
    db = Database.for_data_dir(api.server.data_dir)   # a restart: a new engine on the file
    await db.open()
    try:
        store = DialplanStore(db)
        assert await store.rotation((uuid, 1)) == 2
        assert await store.rotation((uuid, 0)) == 0
        # a changed plan starts its rotation again (its profiles may have moved)
        assert await store.replace(await _owner(db), uuid, plan)
        assert await store.rotation((uuid, 1)) == 0
        await store.set_rotation((uuid, 1), 1)
    finally:
        await db.close()

    # a deleted user's plans go with the user
    api.cli('phone', 'delete', '+4930555111')
    api.cli('sip', 'delete', 'joe_01')
    api.cli('user', 'delete', 'joe')
    db = Database.for_data_dir(api.server.data_dir)
    await db.open()
    try:
        store = DialplanStore(db)
        assert await store.v2(uuid) is None
        assert await store.rotation((uuid, 1)) == 0
    finally:
        await db.close()


async def _owner(db: Database) -> str:
    return (await db.user_by(username='joe')).uuid


# --- the README's example -----------------------------------------------------------------------

def readme_block() -> str:
    text = (ROOT / 'README.md').read_text()
    start = text.index('## Dial plans over HTTP')
    block, = re.findall(r'^```sh\n(.*?)^```', text[start:text.index('\n## ', start + 3)],
                        re.M | re.S)
    return block


def test_readme_dial_plan_example_runs_as_written(api):
    api.add_user('joe')
    api.cli('phone', 'add', '+4930555001', '--user', 'joe', '--call-enable')
    joe = api.login('joe')
    script = readme_block().replace('localhost:8080', f'127.0.0.1:{api.server.http_port}')
    run = subprocess.run(['bash', '--noprofile', '--norc', '-eo', 'pipefail', '-c', script],
                         env={**os.environ, 'AUTH': f'Authorization: Bearer {joe.sid}'},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answers, out, decoder = [], run.stdout.strip(), json.JSONDecoder()
    while out:   # curl prints each answer without a newline
        answer, end = decoder.raw_decode(out)
        answers.append(answer)
        out = out[end:].strip()
    assert [a['status'] for a in answers] == ['ok', 'ok', 'ok'], answers
    plan = joe.get('/api/phone').json()['phone']['+4930555001']['dialplan']
    assert answers[-1]['dialplan']['description'] == 'office hours'
    assert joe.get(f'/api/dialplan/v2/{plan}').json()['dialplan']['profiles'][1] == {'record': {}}
