"""Cisco /api/v1 control changes what a conference's members hear (issue 10): three SIPp
callers key the PIN of one conference, each playing its own tone, and the server's taps
(`conference_tap_dir`) show what each member is sent, window by window on the media clock,
as test_conference_audio.py measures them. `PUT /callLegs/<id> rxAudioMute=true` takes that
member's tone out of the others' audio, `txAudioMute=true` makes the member hear nothing
(digital silence), `DELETE` ends its call (SIPp gets our BYE) and its tone leaves the rest.

The owner's session follows the conference meanwhile, and with a 1 s
`conference_status_interval` it is sent the room's status again and again (§7.11.3), which
shows the Cisco mute as `mute`.
"""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, is_xml
from tests.api.test_call_api import Events
from tests.integration.conftest import assert_sipp_ok
from tests.integration.media import tone, write_rtp_pcap
from tests.integration.test_conference_audio import HZ, SETTLE, WINDOW, Taps, tones_in
from tests.integration.test_conference_pin import DIAL_IN, conference, keyed
from tests.integration.test_conference_room import is_
from tests.integration.uac_steps import NO_SHEDDING, pause, play, write

start_api = api_fixtures.start_api
PIN = '1357'


def test_cisco_mute_deaf_and_delete_change_the_audio(start_api, sipp, tmp_path):
    taps_dir = tmp_path / 'taps'
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_TAP_DIR=str(taps_dir),
                    TELEPHONY_CONFERENCE_STATUS_INTERVAL='1')
    api.add_user('joe')
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    c = api.login('joe')
    cisco = add_admin(api)
    conf = conference(c, PIN)
    assert c.get(f'/api/conference/{conf}/event').json() == {'status': 'ok', 'busy': False}
    events = Events(c)
    taps = Taps(api, taps_dir / conf)
    target = f'127.0.0.1:{api.server.sip_port}'
    member: dict[str, str] = {}
    runs = {}
    for who in 'abc':
        pcap = tmp_path / f'tone-{who}.pcap'
        write_rtp_pcap(pcap, tone(HZ[who], 100))
        runs[who] = sipp.start(target, scenario=write(tmp_path / f'{who}.xml', [
            pause(2000), *keyed(PIN), pause(200), play(pcap)]), service=DIAL_IN,
            global_timeout=110)
        seen = set(member.values())
        e = events.wait(lambda e: is_('conference_join', conf)(e) and set(e['member']) - seen,
                        what=f'{who} joining')
        [member[who]] = e['member']
        taps.started(member[who])
    a, b, cc = (member[k] for k in 'abc')

    def put(leg: str, **form) -> int:
        """PUT /callLegs/<leg>; the tick it took effect at (from the server's log)."""
        before = len(api.server.events('conference-member-update'))
        r = is_xml(cisco.put(f'/callLegs/{leg}', data=form))
        assert r.status_code == 200, r.text
        e = api.server.wait_event('conference-member-update', count=before + 1)[before]
        assert e['member'] == leg
        return int(e['tick'])

    everyone = int(api.server.events('conference-join')[-1]['tick'])
    taps.wait_past(a, everyone + SETTLE + WINDOW)

    # rxAudioMute on a: the others stop hearing it; the periodic status says it is muted
    mark = events.mark()
    muted = put(a, rxAudioMute='true')
    status = events.wait(lambda e: is_('conference_status', conf)(e)
                         and e['member'].get(a, {}).get('mute') is True, since=mark,
                         what='a conference_status after the mute')
    assert set(status['member']) == {a, b, cc}
    assert status['member'][b]['mute'] is False and 'call_quality' in status['member'][b]
    again = events.mark()
    events.wait(is_('conference_status', conf), since=again, what='the next status')
    taps.wait_past(a, muted + SETTLE + WINDOW)

    # txAudioMute on b: its tap is digital silence; the others still hear it
    deafened = put(b, txAudioMute='true')
    taps.wait_past(a, deafened + SETTLE + WINDOW)

    # DELETE c: SIPp gets our BYE, c leaves, and the others stop hearing it
    assert is_xml(cisco.delete(f'/callLegs/{cc}')).status_code == 200
    assert_sipp_ok(sipp.wait(*runs['c'], timeout=60), calls=1, server=api.server)
    kicked = int(api.server.wait_event('conference-leave', member=cc)[0]['tick'])
    taps.wait_past(a, kicked + SETTLE + WINDOW)

    for who in (a, b):
        assert is_xml(cisco.delete(f'/callLegs/{who}')).status_code == 200
    for who in 'ab':
        assert_sipp_ok(sipp.wait(*runs[who], timeout=60), calls=1, server=api.server)
    events.wait(is_('conference_stop', conf), what='conference_stop')
    api.server.wait_no_calls()

    audio = {m: taps.final(m) for m in (a, b, cc)}

    def heard(m: str, tick: int) -> set[str]:
        return tones_in(taps.window(audio, m, tick))
    assert {m: heard(m, everyone) for m in (a, b, cc)} == {
        a: {'b', 'c'}, b: {'a', 'c'}, cc: {'a', 'b'}}
    assert {m: heard(m, muted) for m in (a, b, cc)} == {a: {'b', 'c'}, b: {'c'}, cc: {'b'}}
    assert not taps.window(audio, b, deafened).any(), 'txAudioMute: digital silence'
    assert {m: heard(m, deafened) for m in (a, cc)} == {a: {'b', 'c'}, cc: {'b'}}
    assert heard(a, kicked) == {'b'}
    assert len(audio[cc]) // 160 <= kicked - taps.start[cc] + 1, "c's tap ends when it leaves"
