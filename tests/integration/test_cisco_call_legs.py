"""Cisco /api/v1 calls and callLegs (CMS §8.1, §8.3) over a running conference room on the
real server: two SIPp callers key the PIN of one Q-loud conference; the room is one call, its
members are the call's legs with SIPp's own Call-ID, the figures of the audio the speaker
plays, a call quality; a PUT of rxAudioMute/txAudioMute is the owner's conference_update
mute/deaf event, a DELETE is SIPp's BYE; system/status counts the legs.
"""
from __future__ import annotations

from telephony.media.quality import QUALITY as QUALITIES, alarms, call_quality

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create, failure, fields, is_xml, parsed
from tests.api.test_call_api import Events
from tests.integration.conftest import assert_sipp_ok, wait_for
from tests.integration.test_conference_pin import DIAL_IN, conference, keyed
from tests.integration.uac_steps import NO_SHEDDING, pause, play, write

start_api = api_fixtures.start_api


def named(name: str) -> list[str]:
    """SIPp's Call-ID for its first call: `<name>-1@sipp` (the test must know it)."""
    return ['-cid_str', f'{name}-%u@sipp']


def legs(cisco, path: str = '/callLegs') -> dict[str, dict]:
    root = parsed(cisco.get(path))
    assert root.tag == 'callLegs' and int(root.get('total')) == len(root), root
    return {leg.get('id'): fields(leg) for leg in root}


def leg(cisco, leg_id: str):
    r = cisco.get(f'/callLegs/{leg_id}')
    assert r.status_code == 200, r.text
    root = parsed(r)
    assert root.tag == 'callLeg' and root.get('id') == leg_id
    return root


def audio(root, name: str) -> dict[str, str]:
    return fields(root.find(f'status/{name}'))


def numbers(figures: dict[str, str]) -> dict:
    return {k: v if k == 'codec' else float(v) for k, v in figures.items()}


def status(cisco) -> dict[str, str]:
    return fields(parsed(cisco.get('/system/status')))


def test_call_legs_of_a_running_room(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    api.add_user('joe')
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    c = api.login('joe')
    cisco = add_admin(api)
    conf = conference(c, '2468')
    c.get(f'/api/conference/{conf}/event')
    events = Events(c)
    target = f'127.0.0.1:{api.server.sip_port}'
    assert legs(cisco) == {} and parsed(cisco.get('/calls')).get('total') == '0'
    before = status(cisco)

    speaker = sipp.start(target, scenario=write(tmp_path / 'speaker.xml', [
        pause(3000), *keyed('2468'), pause(500), play('g711a.pcap')]), service=DIAL_IN,
        global_timeout=110, extra=named('speaker'))
    listener = sipp.start(target, scenario=write(tmp_path / 'listener.xml', [
        pause(3000), *keyed('2468')]), service=DIAL_IN, global_timeout=110,
        extra=named('listener'))
    wait_for(lambda: len(legs(cisco)) == 2, 60, 'two call legs')

    # one call: the room, with both legs; its callLegs are the same two
    calls = parsed(cisco.get('/calls'))
    assert calls.get('total') == '1'
    [call] = calls
    call_id = call.get('id')
    assert fields(call) == {'name': 'team', 'callCorrelator': call_id}   # no coSpace: Q-loud
    one = fields(parsed(cisco.get(f'/calls/{call_id}')))
    assert (one['callType'], one['numCallLegs'], one['maxCallLegs']) == ('adHoc', '2', '2')
    assert int(one['durationSeconds']) >= 0
    all_legs = legs(cisco)
    assert legs(cisco, f'/calls/{call_id}/callLegs') == all_legs
    assert {f['call'] for f in all_legs.values()} == {call_id}
    assert all(f['call_quality'] in QUALITIES for f in all_legs.values())
    assert status(cisco)['callLegsActive'] == '2'

    # each leg carries SIPp's Call-ID; the speaker's audio is counted as it arrives
    by_sip = {leg(cisco, i).findtext('status/sipCallId'): i for i in all_legs}
    assert set(by_sip) == {'speaker-1@sipp', 'listener-1@sipp'}
    talker, other = by_sip['speaker-1@sipp'], by_sip['listener-1@sipp']
    # its speech makes it `talk` (SIPp plays it, past its keys and pause, waiting for a BYE)
    events.wait(lambda e: e['event'] == 'conference_update'
                and e['member'].get(talker, {}).get('talk') is True, what='talk')
    got = leg(cisco, talker)
    rx, tx = audio(got, 'rxAudio'), audio(got, 'txAudio')
    assert rx['codec'] == tx['codec'] == 'g711a'
    assert int(rx['bitRate']) > 0 and int(rx['jitter']) >= 0
    # the quality is the bucket of the worse direction's loss (SIPp's captures jump in
    # sequence numbers between files, so the figure itself is SIPp's, not the network's)
    losses = [float(d['packetLossPercentage']) for d in (rx, tx) if 'packetLossPercentage' in d]
    assert got.findtext('status/call_quality') == call_quality(max(losses))
    assert int(tx['bitRate']) > 0                         # the room's mix goes to it
    assert got.findtext('status/state') == 'connected'
    assert fields(got.find('configuration')) == {'rxAudioMute': 'false', 'txAudioMute': 'false'}
    # alarms (§8.3.1) are those of the figures shown; the `alarms` filter finds their legs
    shown = {'rxAudio': numbers(rx), 'txAudio': numbers(tx)}
    assert [a.tag for a in got.find('alarms') or []] == alarms(shown)
    listed = parsed(cisco.get('/callLegs'))
    alarmed = {e.get('id') for e in listed if e.find('alarms') is not None}
    assert {e.get('id') for e in parsed(cisco.get('/callLegs', params={'alarms': 'all'}))} \
        == alarmed
    assert failure(cisco.get('/callLegs', params={'alarms': 'packetLoss|lowVolume'}))[1] == \
        {'alarms': 'invalidValue'}

    # Q-loud's snapshot of the room (conference_status) carries the same buckets
    late = api.login('joe')
    assert late.get(f'/api/conference/{conf}/event').json()['busy'] is True
    snapshot = Events(late).wait(lambda e: e['event'] == 'conference_status', what='status')
    assert set(snapshot['member']) == {talker, other}
    assert all(m['call_quality'] in QUALITIES for m in snapshot['member'].values())

    # PUT rxAudioMute: the others no longer hear it, the owner's events say `mute`
    mark = events.mark()
    r = is_xml(cisco.put(f'/callLegs/{talker}', data={'rxAudioMute': 'true'}))
    assert r.status_code == 200, r.text
    muted = events.wait(lambda e: e['event'] == 'conference_update' and talker in e['member']
                        and 'mute' in e['member'][talker], since=mark, what='the mute')
    assert muted['member'][talker] == {'mute': True}
    mark = events.mark()
    assert cisco.put(f'/callLegs/{other}', data={'txAudioMute': 'true'}).status_code == 200
    deaf = events.wait(lambda e: e['event'] == 'conference_update' and other in e['member']
                       and 'deaf' in e['member'][other], since=mark, what='the deaf')
    assert deaf['member'][other] == {'deaf': True}
    assert fields(leg(cisco, other).find('configuration')) == \
        {'rxAudioMute': 'false', 'txAudioMute': 'true'}
    assert failure(cisco.put(f'/callLegs/{other}', data={'rxAudioMute': 'yes'})) == \
        ([], {'rxAudioMute': 'invalidValue'})

    # DELETE disconnects: each SIPp caller gets our BYE; the call is gone with the last
    for who, run in ((talker, speaker), (other, listener)):
        assert is_xml(cisco.delete(f'/callLegs/{who}')).status_code == 200
        assert_sipp_ok(sipp.wait(*run, timeout=60), calls=1, server=api.server)
    wait_for(lambda: legs(cisco) == {}, 30, 'no call legs')
    assert failure(cisco.get(f'/calls/{call_id}')) == (['callDoesNotExist'], {})
    assert failure(cisco.get(f'/callLegs/{talker}')) == (['callLegDoesNotExist'], {})
    api.server.wait_no_calls()
    after = status(cisco)
    assert after['callLegsActive'] == '0'
    assert int(after['callLegsCompleted']) == int(before['callLegsCompleted']) + 2


def test_a_cospace_call_and_the_refusals(start_api, sipp, tmp_path):
    """A coSpace's room is a `coSpace` call (§8.1.3 callType) linked to it, found by
    coSpaceFilter, ended by DELETE; unknown ids, other methods and bad paging get the
    dialect's answers."""
    from tests.integration.test_cospace_dial_in import DOMAIN
    api = start_api(**NO_SHEDDING)
    cisco = add_admin(api)
    create(cisco, 'inboundDialPlanRules', domain=DOMAIN)
    space = create(cisco, 'coSpaces', name='Open', uri='open.room')
    caller = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=write(
        tmp_path / 'open.xml', [], domain=DOMAIN), service='open.room',   # waits for our BYE
        global_timeout=110)
    wait_for(lambda: len(legs(cisco)) == 1, 60, 'the call leg')
    [call] = parsed(cisco.get('/calls'))
    assert fields(call) == {'name': 'Open', 'coSpace': space,
                            'callCorrelator': call.get('id')}
    one = fields(parsed(cisco.get(f'/calls/{call.get("id")}')))
    assert (one['callType'], one['coSpace'], one['numCallLegs']) == ('coSpace', space, '1')
    assert parsed(cisco.get('/calls', params={'coSpaceFilter': space})).get('total') == '1'
    assert parsed(cisco.get('/calls', params={'coSpaceFilter': call.get('id')})) \
        .get('total') == '0'

    # paging and filters as the other collections: the total stays, the page is cut
    page = parsed(cisco.get('/callLegs', params={'limit': '0'}))
    assert (page.get('total'), len(page)) == ('1', 0)
    assert len(parsed(cisco.get('/callLegs', params={'offset': '1'}))) == 0
    assert parsed(cisco.get('/callLegs', params={'filter': '+49221'})).get('total') == '1'
    assert parsed(cisco.get('/callLegs', params={'filter': 'nobody'})).get('total') == '0'
    assert failure(cisco.get('/callLegs', params={'offset': '-1'}))[1] == \
        {'offset': 'invalidValue'}
    assert failure(cisco.get('/calls', params={'filter': 'x' * 256}))[1] == \
        {'filter': 'valueTooLong'}

    # refusals: unknown ids, methods we do not provide, paths below a leg
    unknown = '00000000-0000-0000-0000-000000000000'
    assert failure(cisco.get(f'/calls/{unknown}')) == (['callDoesNotExist'], {})
    assert failure(cisco.get(f'/calls/{unknown}/callLegs')) == (['callDoesNotExist'], {})
    for method in ('put', 'delete'):
        r = getattr(cisco, method)(f'/callLegs/{unknown}')
        assert (r.status_code, failure(r)) == (404, (['callLegDoesNotExist'], {}))
    assert failure(cisco.get('/callLegs/' + 'x' * 300)) == (['callLegDoesNotExist'], {})
    # POST /calls for a coSpace that has a call gives that call (dial-ins and dial-outs meet)
    assert create(cisco, 'calls', coSpace=space) == call.get('id')
    assert cisco.post('/callLegs', data={}).status_code == 405
    assert failure(cisco.get(f'/callLegs/{unknown}/snapshot')) == (['unrecognisedObject'], {})
    assert failure(cisco.get(f'/calls/{unknown}/snapshot')) == (['unrecognisedObject'], {})
    assert failure(cisco.get(f'/calls/{unknown}/participants')) == (['callDoesNotExist'], {})

    r = cisco.put(f'/calls/{call.get("id")}', data={'locked': 'true'})
    assert (r.status_code, r.headers['allow']) == (405, 'GET, DELETE')
    # DELETE of the call ends it: its leg gets our BYE
    assert is_xml(cisco.delete(f'/calls/{call.get("id")}')).status_code == 200
    assert_sipp_ok(sipp.wait(*caller, timeout=60), calls=1, server=api.server)
    wait_for(lambda: parsed(cisco.get('/calls')).get('total') == '0', 30, 'no call')
