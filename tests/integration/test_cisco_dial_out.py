"""Dial-out into a call made by /api/v1 (CMS §8.1.2, §8.1.6, §8.1.7, §8.3.2, §8.11) on the
real server: POST /calls holds a coSpace's call open with nobody in it; a SIPp caller dials
the coSpace and plays a tone; POST /calls/<id>/participants dials a SIPp UAS through an
outbound rule to that SIPp trunk, which answers and joins the room under the participant's
id: its tap (what the mixer sends it) carries the caller's tone. A remoteParty no rule
allows is refused and the trunk never sees a second INVITE; the bulk PUT with filterIds
mutes everyone but the one named; DELETE /calls hangs up both."""
from __future__ import annotations

import re

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create, failure, fields, is_xml, parsed
from tests.integration.conftest import assert_sipp_ok, free_port, wait_for
from tests.integration.media import tone, write_rtp_pcap
from tests.integration.test_conference_audio import ABSENT, HEARD, SETTLE, WINDOW, Taps
from tests.integration.test_cospace_dial_in import DOMAIN
from tests.integration.uac_steps import NO_SHEDDING, pause, play, write
from tests.integration.media import tone_level

start_api = api_fixtures.start_api
HZ = 1070.0


def location(r, kind: str) -> str:
    assert is_xml(r).status_code == 200, r.text
    m = re.fullmatch(rf'/api/v1/{kind}/([0-9a-f-]{{36}})', r.headers['location'])
    assert m, r.headers['location']
    return m.group(1)


def state(cisco, path: str) -> str:
    return parsed(cisco.get(path)).findtext('status/state')


def test_dial_out_joins_the_room_and_hears_it(start_api, sipp, tmp_path):
    taps_dir = tmp_path / 'taps'
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_TAP_DIR=str(taps_dir))
    cisco = add_admin(api)
    create(cisco, 'inboundDialPlanRules', domain=DOMAIN)
    space = create(cisco, 'coSpaces', name='Open', uri='open.room')
    trunk_port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, global_timeout=110)
    create(cisco, 'outboundDialPlanRules', domain='carrier.test',
           sipProxy=f'127.0.0.1:{trunk_port}', priority='10')

    # the call, held open with nobody in it; the caller dials the coSpace and joins it
    call = location(cisco.post('/calls', data={'coSpace': space}), 'calls')
    pcap = tmp_path / 'tone.pcap'
    write_rtp_pcap(pcap, tone(HZ, 100))      # outlasts the test
    caller = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=write(
        tmp_path / 'caller.xml', [pause(500), play(pcap)], domain=DOMAIN), service='open.room',
        global_timeout=110)
    first = api.server.wait_event('conference-join', conference=space)[0]['member']
    assert parsed(cisco.get(f'/calls/{call}')).findtext('numCallLegs') == '1'

    # a remoteParty no outbound rule reaches: refused, nothing dialled
    r = cisco.post(f'/calls/{call}/participants', data={'remoteParty': 'sip:eve@elsewhere.test'})
    assert (r.status_code, failure(r)) == (400, ([], {'remoteParty': 'invalidValue'}))

    # dial out: the participant exists at once, then answers and joins under its id
    dialled = location(cisco.post(f'/calls/{call}/participants',
                                  data={'remoteParty': 'sip:bob@carrier.test'}), 'participants')
    assert state(cisco, f'/participants/{dialled}') in ('initial', 'ringing', 'connected')
    joined = api.server.wait_event('conference-join', member=dialled)[0]
    assert joined['conference'] == space
    wait_for(lambda: state(cisco, f'/participants/{dialled}') == 'connected', 30, 'connected')
    one = parsed(cisco.get(f'/participants/{dialled}'))
    assert (one.findtext('call'), one.findtext('uri'), one.findtext('numCallLegs')) == \
        (call, 'bob', '1')
    leg = parsed(cisco.get(f'/callLegs/{dialled}'))
    assert (leg.findtext('direction'), leg.findtext('status/state'), leg.findtext('call')) == \
        ('outgoing', 'connected', call)
    legs = parsed(cisco.get(f'/participants/{dialled}/callLegs'))
    assert [e.get('id') for e in legs] == [dialled]
    listed = parsed(cisco.get(f'/calls/{call}/participants'))
    assert {e.get('id') for e in listed} == {first, dialled}
    assert parsed(cisco.get('/participants')).get('total') == '2'

    # what the dialled leg hears: the caller's tone
    taps = Taps(api, taps_dir / space)
    taps.started(dialled)
    taps.wait_past(dialled, taps.start[dialled] + SETTLE + WINDOW)

    # bulk: mute everyone but the caller (mode exclude, the default)
    r = cisco.put(f'/calls/{call}/participants/*',
                  data={'rxAudioMute': 'true', 'filterIds': first})
    assert is_xml(r).status_code == 200
    config = {i: fields(parsed(cisco.get(f'/callLegs/{i}')).find('configuration'))
              for i in (first, dialled)}
    assert config == {first: {'rxAudioMute': 'false', 'txAudioMute': 'false'},
                      dialled: {'rxAudioMute': 'true', 'txAudioMute': 'false'}}
    # selected: only the one named
    cisco.put(f'/calls/{call}/participants/*', data={'txAudioMute': 'true', 'filterIds': first,
                                                     'mode': 'selected'})
    assert fields(parsed(cisco.get(f'/participants/{first}')).find('configuration')) == \
        {'rxAudioMute': 'false', 'txAudioMute': 'true'}

    # DELETE the call: both get our BYE; the trunk saw exactly one INVITE
    assert is_xml(cisco.delete(f'/calls/{call}')).status_code == 200
    assert_sipp_ok(sipp.wait(*caller, timeout=60), calls=1, server=api.server)
    result = sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(result, calls=1, server=api.server)
    assert result.messages.count('INVITE sip:') == 1, result.messages
    wait_for(lambda: parsed(cisco.get('/calls')).get('total') == '0', 30, 'no call')
    heard = taps.final(dialled)
    start = SETTLE * 160
    assert tone_level(heard[start:start + WINDOW * 160], HZ) > HEARD


def ringing_trunk(start_api, sipp, calls: int, **env):
    """A server whose rule for carrier.test leads to a SIPp phone that rings until cancelled."""
    api = start_api(**NO_SHEDDING, **env)
    cisco = add_admin(api)
    port = free_port()
    phone = sipp.start('', scenario='uas_ring_cancel.xml', port=port, calls=calls,
                       global_timeout=110)
    create(cisco, 'outboundDialPlanRules', domain='carrier.test', sipProxy=f'127.0.0.1:{port}',
           priority='10')
    return api, cisco, phone


def test_a_ringing_dial_out_shows_its_state_and_is_cancelled(start_api, sipp, tmp_path):
    """A callLeg dialled into an ad hoc call rings (`ringing`, no media figures yet) and takes
    a PUT that applies when it joins; DELETE cancels it; DELETE of the call cancels one."""
    api, cisco, phone = ringing_trunk(start_api, sipp, calls=2)
    call = location(cisco.post('/calls', data={'name': 'ring'}), 'calls')

    leg = location(cisco.post(f'/calls/{call}/callLegs', data={
        'remoteParty': 'sip:carol@carrier.test', 'txAudioMute': 'true'}), 'callLegs')
    wait_for(lambda: state(cisco, f'/callLegs/{leg}') == 'ringing', 30, 'ringing')
    shown = parsed(cisco.get(f'/callLegs/{leg}'))
    assert (shown.findtext('remoteParty'), shown.findtext('direction'), shown.find('status/rxAudio')) \
        == ('sip:carol@carrier.test', 'outgoing', None)
    assert cisco.put(f'/callLegs/{leg}', data={'rxAudioMute': 'true'}).status_code == 200
    assert fields(shown.find('configuration')) == {'rxAudioMute': 'false', 'txAudioMute': 'true'}
    assert fields(parsed(cisco.get(f'/participants/{leg}')).find('configuration')) == \
        {'rxAudioMute': 'true', 'txAudioMute': 'true'}
    assert [e.get('id') for e in parsed(cisco.get(f'/calls/{call}/callLegs'))] == [leg]
    assert state(cisco, f'/participants/{leg}') == 'ringing'
    assert is_xml(cisco.delete(f'/callLegs/{leg}')).status_code == 200
    wait_for(lambda: cisco.get(f'/callLegs/{leg}').status_code == 404, 30, 'cancelled')

    # DELETE of the call cancels what still rings
    last = location(cisco.post(f'/calls/{call}/participants',
                               data={'remoteParty': 'sip:erin@carrier.test'}), 'participants')
    wait_for(lambda: state(cisco, f'/participants/{last}') == 'ringing', 30, 'ringing')
    assert is_xml(cisco.delete(f'/calls/{call}')).status_code == 200
    assert_sipp_ok(sipp.wait(*phone, timeout=60), calls=2, server=api.server)
    assert failure(cisco.get(f'/participants/{last}')) == (['participantDoesNotExist'], {})


def test_a_dial_out_ringing_too_long_is_given_up(start_api, sipp):
    api, cisco, phone = ringing_trunk(start_api, sipp, calls=1,
                                      TELEPHONY_CISCO_DIALOUT_RING_SECONDS='2')
    call = location(cisco.post('/calls', data={'name': 'ring'}), 'calls')
    late = location(cisco.post(f'/calls/{call}/participants',
                               data={'remoteParty': 'sip:dave@carrier.test'}), 'participants')
    api.server.wait_event('conference-dial-out-timeout', leg=late)
    assert_sipp_ok(sipp.wait(*phone, timeout=60), calls=1, server=api.server)   # its CANCEL
    wait_for(lambda: cisco.get(f'/participants/{late}').status_code == 404, 30, 'given up')
    assert parsed(cisco.get(f'/calls/{call}')).findtext('numCallLegs') == '0'   # still held
    cisco.delete(f'/calls/{call}')


def test_a_dial_outs_call_leg_profile_sets_how_it_enters(start_api, sipp, tmp_path):
    """§8.1.6 callLegProfile: the dialled leg joins with the coSpace's profiles and this one
    below them. rxAudioMute=true there: it enters muted, which the caller's tap proves -
    the trunk echoes what it hears (SIPp -rtp_echo), so the caller's own tone comes back
    to it only once the leg is unmuted. An unknown profile is refused before any dial."""
    taps_dir = tmp_path / 'taps'
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_TAP_DIR=str(taps_dir))
    cisco = add_admin(api)
    create(cisco, 'inboundDialPlanRules', domain=DOMAIN)
    space = create(cisco, 'coSpaces', name='Echo', uri='echo.room')
    trunk_port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, global_timeout=110,
                       extra=['-rtp_echo'])
    create(cisco, 'outboundDialPlanRules', domain='carrier.test',
           sipProxy=f'127.0.0.1:{trunk_port}', priority='10')
    muted = create(cisco, 'callLegProfiles', rxAudioMute='true')

    call = location(cisco.post('/calls', data={'coSpace': space}), 'calls')
    pcap = tmp_path / 'tone.pcap'
    write_rtp_pcap(pcap, tone(HZ, 100))
    caller = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=write(
        tmp_path / 'caller.xml', [pause(500), play(pcap)], domain=DOMAIN), service='echo.room',
        global_timeout=110)
    first = api.server.wait_event('conference-join', conference=space)[0]['member']
    taps = Taps(api, taps_dir / space)
    taps.started(first)

    r = cisco.post(f'/calls/{call}/participants', data={
        'remoteParty': 'sip:bob@carrier.test', 'callLegProfile': '0' * 8 + '-0000-0000-0000-' + '0' * 12})
    assert (r.status_code, failure(r)) == (400, (['callLegProfileDoesNotExist'], {}))

    dialled = location(cisco.post(f'/calls/{call}/participants', data={
        'remoteParty': 'sip:bob@carrier.test', 'callLegProfile': muted}), 'participants')
    joined = int(api.server.wait_event('conference-join', member=dialled)[0]['tick'])
    assert fields(parsed(cisco.get(f'/callLegs/{dialled}')).find('configuration')) == \
        {'rxAudioMute': 'true', 'txAudioMute': 'false'}
    trace = parsed(cisco.get(f'/callLegs/{dialled}/callLegProfileTrace'))
    assert [(e.get('scope'), e.get('id'), fields(e)) for e in trace] == \
        [('callLeg', muted, {'rxAudioMute': 'true'})]

    # muted: the caller does not get its tone back; unmuted by the API: it does
    taps.wait_past(first, joined + SETTLE + WINDOW)
    assert is_xml(cisco.put(f'/callLegs/{dialled}', data={'rxAudioMute': 'false'})).status_code == 200
    unmuted = int(api.server.wait_event('conference-member-update', member=dialled)[0]['tick'])
    taps.wait_past(first, unmuted + SETTLE + WINDOW)
    assert is_xml(cisco.delete(f'/calls/{call}')).status_code == 200
    assert_sipp_ok(sipp.wait(*caller, timeout=60), calls=1, server=api.server)
    assert_sipp_ok(sipp.wait(*trunk, timeout=60), calls=1, server=api.server)
    heard = {first: taps.final(first)}
    assert tone_level(taps.window(heard, first, joined), HZ) < ABSENT
    assert tone_level(taps.window(heard, first, unmuted), HZ) > HEARD
