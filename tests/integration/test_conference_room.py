"""Conference rooms on the real server (Q-loud §3.17, §7.11): two SIPp callers key the PIN
and join one room; the owner's API session follows it with GET .../event and sees start,
both joins, the speaker's `talk` (the first caller plays speech into the room), a mute it
set through POST .../member, the kicks (each caller gets the server's BYE), both leaves and
the stop; then the conference is offline again.
"""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.test_call_api import Events
from tests.integration.conftest import assert_sipp_ok
from tests.integration.test_conference_pin import DIAL_IN, conference, keyed
from tests.integration.uac_steps import CALLER, NO_SHEDDING, pause, play, write

start_api = api_fixtures.start_api


def is_(name: str, conf: str):
    return lambda e: e['event'] == name and e.get('conference') == conf


def test_two_callers_meet_in_a_room_followed_by_the_api(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    joe = api.add_user('joe')
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    c = api.login('joe')
    conf = conference(c, '2468')
    assert c.get(f'/api/conference/{conf}/event').json() == {'status': 'ok', 'busy': False}
    events = Events(c)
    target = f'127.0.0.1:{api.server.sip_port}'

    # the speaker keys the PIN, then talks (SIPp's speech capture); both wait for our BYE
    speaker = sipp.start(target, scenario=write(tmp_path / 'speaker.xml', [
        pause(5000), *keyed('2468'), pause(1000), play('g711a.pcap')]), service=DIAL_IN,
        global_timeout=110)
    start = events.wait(is_('conference_start', conf), what='conference_start')
    assert (start['owner'], start['description']) == (joe, 'team')
    first = events.wait(is_('conference_join', conf), what='the first join')
    [(talker, fields)] = first['member'].items()
    assert fields == {'phone': CALLER, 'mute': False, 'deaf': False, 'talk': False,
                      'floor': False, 'volume_in': 0, 'volume_out': 0}
    listener = sipp.start(target, scenario=write(tmp_path / 'listener.xml', [
        pause(5000), *keyed('2468')]), service=DIAL_IN, global_timeout=110)
    second = events.wait(lambda e: is_('conference_join', conf)(e) and talker not in e['member'],
                         what='the second join')
    [other] = second['member']
    assert api.server.events('conference-join')[-1]['members'] == '2'

    # the speech makes the first caller `talk`; only changed fields come (§7.11.4)
    talk = events.wait(lambda e: is_('conference_update', conf)(e)
                       and e['member'].get(talker, {}).get('talk') is True, what='talk')
    assert set(talk['member'][talker]) <= {'talk', 'floor'}

    # the API mutes the speaker: an update with just that
    mark = events.mark()
    assert c.post(f'/api/conference/{conf}/member',
                  json={'update': {talker: {'mute': True, 'volume_out': 2}}}).json() == \
        {'status': 'ok'}
    muted = events.wait(lambda e: is_('conference_update', conf)(e) and talker in e['member']
                        and 'mute' in e['member'][talker], since=mark, what='the mute')
    assert muted['member'][talker]['mute'] is True and muted['member'][talker]['volume_out'] == 2

    # kicks: each caller gets our BYE; the last one out stops the conference
    for who, sipp_run in ((talker, speaker), (other, listener)):
        assert c.post(f'/api/conference/{conf}/member', json={'delete': [who]}).json() == \
            {'status': 'ok'}
        events.wait(lambda e: is_('conference_leave', conf)(e) and e['member'] == [who],
                    what=f'{who} leaving')
        assert_sipp_ok(sipp.wait(*sipp_run, timeout=60), calls=1, server=api.server)
    events.wait(is_('conference_stop', conf), what='conference_stop')
    assert c.post(f'/api/conference/{conf}/member', json={'delete': [other]}).json()['status'] \
        == 'conference-offline'
    assert c.get(f'/api/conference/{conf}/event').json()['busy'] is False
    api.server.wait_no_calls()
