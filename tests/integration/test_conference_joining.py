"""Both ways into one coSpace's room with real peers (issue 10, "Joining"): an inbound rule,
one coSpace with a call ID and a passcode, and a Cisco IVR (§8.9, resolveToIvrs) made over
/api/v1. Two SIPp callers dial the coSpace's URI and key the passcode and `#`; a third SIPp
caller and baresip dial the IVR and key the call ID and `#`, then the passcode and `#`
(RFC 4733: SIPp plays the sip-tester captures, baresip sends `sndcode` digit by digit, each
after the server heard the one before). All four are legs of one /api/v1 call.

Each plays its own tone. What each is sent is measured on the server's taps
(`conference_tap_dir`) on the media clock, with test_conference_audio.py's helpers, and on
baresip's own recording (sndfile): every member hears the other three and never itself."""
from __future__ import annotations

import numpy as np

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create, is_xml, parsed
from tests.integration.baresip import Baresip
from tests.integration.conftest import assert_sipp_ok
from tests.integration.media import read_wav, tone, write_rtp_pcap, write_tone
from tests.integration.test_conference_audio import HZ, SETTLE, WINDOW, Taps, tones_in
from tests.integration.test_conference_keys import keyed_in_order
from tests.integration.uac_steps import NO_SHEDDING, pause, play, write

start_api = api_fixtures.start_api
DOMAIN = 'meet.example.com'
URI, IVR_URI = 'team.room', 'meet'
CALL_ID, PASSCODE = '1379', '24680135'


def _ivr_keys(folder) -> list[str]:
    """The call ID and `#`, a pause for the passcode prompt, the passcode and `#` (keys in
    rising RTP sequence across both)."""
    steps = keyed_in_order(f'{CALL_ID}#{PASSCODE}#', folder)
    steps[2 * len(CALL_ID) + 1] = pause(3000)     # the pause after the call ID's `#`
    return steps


def test_four_callers_by_uri_and_by_ivr_hear_each_other(start_api, sipp, peer_tools, tmp_path):
    taps_dir = tmp_path / 'taps'
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_TAP_DIR=str(taps_dir))
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    space = create(admin, 'coSpaces', name='Team', uri=URI, callId=CALL_ID, passcode=PASSCODE)
    create(admin, 'ivrs', uri=IVR_URI)
    taps = Taps(api, taps_dir / space)
    target = f'127.0.0.1:{api.server.sip_port}'
    member: dict[str, str] = {}          # a b c d -> member uuid
    runs = {}

    def joined(who: str) -> None:
        seen = set(member.values())
        e = [e for e in api.server.wait_event('conference-join', conference=space,
                                               count=len(seen) + 1, timeout=60)
             if e['member'] not in seen]
        member[who] = e[0]['member']
        taps.started(member[who])

    # SIPp: a and b by the URI (the passcode), c by the IVR (call ID, then the passcode)
    for who, uri in (('a', URI), ('b', URI), ('c', IVR_URI)):
        pcap = tmp_path / f'tone-{who}.pcap'
        write_rtp_pcap(pcap, tone(HZ[who], 100))   # outlasts the test
        keys = keyed_in_order(f'{PASSCODE}#', tmp_path) if uri == URI else _ivr_keys(tmp_path)
        runs[who] = sipp.start(target, scenario=write(tmp_path / f'{who}.xml', [
            pause(1000), *keys, pause(200), play(pcap)], domain=DOMAIN), service=uri,
            global_timeout=110)
        joined(who)
    assert {e['call'] for e in api.server.events('ivr-call-id')} == \
        {e['call'] for e in api.server.events('ivr-call') if e['uri'] == IVR_URI}

    # baresip by the IVR: its microphone is its tone; through the server as outbound proxy,
    # so the Request-URI names the rule's domain
    wav = tmp_path / 'tone-d.wav'
    write_tone(wav, HZ['d'], 120, level=0.2)
    d = Baresip('d', tmp_path / 'baresip', wav)
    try:
        d.start([f'<sip:+4922100088@{DOMAIN};transport=udp>;'
                 f'outbound="sip:{target};transport=udp";regint=0'])
        before = len(api.server.events('ivr-call'))
        assert d.command('dial', f'sip:{IVR_URI}@{DOMAIN};transport=udp')['ok']
        d.wait_event('CALL_ESTABLISHED', fail_on=('CALL_CLOSED',))
        call = api.server.wait_event('ivr-call', count=before + 1)[before]['call']
        n = 0
        for prompt, code in (('ivr-call-id-enter', CALL_ID), ('cospace-passcode-enter', PASSCODE)):
            api.server.wait_event('conference-pin-prompt', call=call, prompt=prompt)
            for digit in code + '#':
                assert d.command('sndcode', digit)['ok']
                n += 1
                api.server.wait_event('dtmf', call=call, n=n)
        assert api.server.wait_event('ivr-call-id', call=call)[0]['cospace'] == space
        joined('d')
        assert api.server.wait_event('conference-join', member=member['d'])[0]['call'] == call

        # one call with four legs
        [call_el] = list(parsed(admin.get('/calls')))
        call_id = call_el.get('id')
        assert parsed(admin.get(f'/calls/{call_id}')).findtext('numCallLegs') == '4'
        assert {e.get('id') for e in parsed(admin.get(f'/calls/{call_id}/callLegs'))} == \
            set(member.values())

        everyone = int(api.server.events('conference-join')[-1]['tick'])
        for m in member.values():
            taps.wait_past(m, everyone + SETTLE + WINDOW)
        mark = len(d.event_list())
        assert is_xml(admin.delete(f'/calls/{call_id}')).status_code == 200
        for who in 'abc':                     # each got our BYE
            assert_sipp_ok(sipp.wait(*runs[who], timeout=60), calls=1, server=api.server)
        d.wait_event('CALL_CLOSED', after=mark)
    finally:
        d.stop()
    api.server.wait_no_calls()

    # the taps: each hears the other three, never itself
    audio = {m: taps.final(m) for m in member.values()}
    heard = {who: tones_in(taps.window(audio, m, everyone)) for who, m in member.items()}
    assert heard == {who: set('abcd') - {who} for who in 'abcd'}

    # baresip's own recording: seconds with the other three, none with its own tone
    received, rate = read_wav(d.recording('dec'))
    assert rate == 8000
    seconds = [received[i:i + 8000] for i in range(0, len(received) - 7999, 8000)]
    got = [None if np.sqrt(np.mean(s ** 2)) < 0.002 else tones_in(s, strict=False)
           for s in seconds]
    assert {'a', 'b', 'c'} in got, got
    assert not any(h and 'd' in h for h in got), got
