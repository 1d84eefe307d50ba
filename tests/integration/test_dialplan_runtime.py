"""Q-loud dial plans at run time on the real server: v2 time filters read the dial plan
clock (moved by TELEPHONY_DIALPLAN_CLOCK_OFFSET to a fixed instant), v2 reject and record,
v1 busy and timeout fallbacks, and a plan's ringtone heard as early media (RTP before the
final answer) while the targets ring. Callers are a raw UDP peer (exact statuses, RTP
socket) and SIPp playing speech into the voice mail."""
from __future__ import annotations

import json
import re
import socket
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from telephony.media.codecs import alaw_decode, ulaw_decode
from tests.api.test_call_api import Events
from tests.integration import rawsip
from tests.integration.conftest import ROOT, assert_sipp_ok
from tests.integration.test_hunting import (ANSWER, BUSY, NUMBER, RING, caller, finished, phone, plan,
                                            start_api, world)
from tests.integration.test_ivr_menu import upload
from tests.integration.media import RATE, band_energy_ratio, rms
from tests.integration.test_voicemail import greeting_ms, leave, message, speech_check
from tests.integration.uac_steps import CALLER, play, pause

__all__ = ['start_api']
# Wednesday 2 December 2026, 01:00 UTC: after midnight, inside a window opened on Tuesday
INSTANT = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)


def call(api, rtp: socket.socket | None = None, timeout: float = 30.0):
    """INVITE the number from a raw UDP peer; the final response and the provisional ones.
    A non-2xx final is ACKed (the server stops retransmitting it)."""
    sip = rawsip.UdpPeer(api.server.sip_port)
    try:
        cid = rawsip.new_call_id()
        port = rtp.getsockname()[1] if rtp else 40000
        ruri = f'sip:{NUMBER}@127.0.0.1'
        sip.send(rawsip.request('INVITE', ruri, port=sip.port, call_id=cid, from_user='+4922100077',
                                body=rawsip.sdp_offer(port), content_type='application/sdp'))
        final, seen = sip.final(cid, timeout)
        assert final is not None, f'no final answer; saw {[r.status for r in seen]}'
        if final.status >= 300:
            sip.send(rawsip.request('ACK', ruri, port=sip.port, call_id=cid,
                                    to=final.header('To'), from_user='+4922100077'))
        return final, seen
    finally:
        sip.close()


def test_time_filters_read_the_dial_plan_clock(start_api):
    assert INSTANT.weekday() == 2      # a Wednesday
    offset = int(INSTANT.timestamp() - time.time())
    api, c, _ = world(start_api, 0, TELEPHONY_DIALPLAN_CLOCK_OFFSET=str(offset))
    office = {'weekdays': ['MON', 'TUE', 'WED', 'THU', 'FRI'], 'time_start': '08:00',
              'time_end': '17:00'}
    cases = [
        (office, 480),                                                     # outside office hours
        ({'time_start': '00:30', 'time_end': '01:30'}, 603),               # inside
        ({'weekdays': ['TUE'], 'time_start': '22:00', 'time_end': '02:00'}, 603),  # across midnight
        ({'weekdays': ['WED'], 'time_start': '22:00', 'time_end': '02:00'}, 480),  # opens tonight
        ({'date': '02.12.2026'}, 603),
        ({'date_start': '24.12.2026', 'date_end': '26.12.2026'}, 480),
    ]
    for when, status in cases:
        plan(c, {'filter': {'time': when}, 'reject': {}})
        final, _ = call(api)
        assert final.status == status, (when, final.status, final.reason)


def test_a_caller_filter_and_reject_and_no_match(start_api):
    api, c, _ = world(start_api, 0)
    plan(c, {'filter': {'caller': r'\+49221.*'}, 'reject': {}})
    final, _ = call(api)
    assert (final.status, final.reason) == (603, 'Decline')
    plan(c, {'filter': {'caller': r'\+4930.*'}, 'reject': {}})
    final, _ = call(api)
    assert (final.status, final.reason) == (480, 'Temporarily Unavailable')
    assert api.server.wait_event('call-refused', status='480')


def test_v2_record_takes_the_callers_speech(start_api, sipp, tmp_path):
    api, c, _ = world(start_api, 0, TELEPHONY_VOICEMAIL_SILENCE='2')
    plan(c, {'record': {}})
    events = Events(c)
    mark = events.mark()
    leave(api, sipp, tmp_path, 'speech', [pause(greeting_ms()), play('g711a.pcap')], NUMBER)
    rec, _, audio = message(api, c, events, mark)
    assert (rec['from'], rec['to'], rec['status']) == (CALLER, NUMBER, 'ok'), rec
    speech_check(audio)


def v1(c, **fields) -> None:
    body = c.post('/api/dialplan', json=fields).json()
    assert body == {'status': 'ok'}, body
    assert c.post('/api/phone', json={'update': {NUMBER: {'dialplan_enable': True}}}).json() == {
        'status': 'ok'}


def test_v1_busy_and_timeout_fallbacks(start_api, sipp):
    api, c, (a, b) = world(start_api, 2)
    # busy: the account answers 486, the plan's busy fallback rejects (603, not 486)
    v1(c, action='sip', sip=a, busy={'action': 'reject'})
    busy = phone(api, sipp, a, BUSY)
    final, _ = call(api)
    assert final.status == 603, final
    finished(sipp, busy, 'the busy phone')
    # no answer within timeout.timeout: the ringing phone is cancelled, the fallback rejects
    v1(c, action='sip', sip=b, timeout={'timeout': 2, 'action': 'reject'}, busy=None)
    ringer = phone(api, sipp, b, RING)
    final, seen = call(api)
    assert final.status == 603 and 180 in [r.status for r in seen], (final, seen)
    assert 'CANCEL' in finished(sipp, ringer, 'the phone that rang out').messages


def early_audio(packets: list[bytes]) -> np.ndarray:
    """The PCM of RTP packets (PCMU or PCMA, as the server chose from our offer)."""
    decode = {0: ulaw_decode, 8: alaw_decode}
    frames = [decode[p[1] & 0x7F](p[12:]) for p in packets if p[1] & 0x7F in decode]
    return np.concatenate(frames).astype(np.float64) / 32768 if frames else np.zeros(0)


@pytest.mark.parametrize('mix', [False, True])
def test_ringtone_is_early_media_while_targets_ring(start_api, sipp, mix):
    api, c, (a,) = world(start_api, 1)
    tune = upload(c, 'hello')
    uuid = plan(c, {'parallel': {'timeout': 4, 'targets': [a]}})
    assert c.post(f'/api/dialplan/v2/{uuid}', json={'dialplan': {
        'ringtone': {'announcement': tune, 'mix': mix}}}).json()['status'] == 'ok'
    ringer = phone(api, sipp, a, RING)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(('127.0.0.1', 0))
    try:
        final, seen = call(api, rtp)
        rtp.setblocking(False)
        packets = []
        while True:
            try:
                packets.append(rtp.recv(2000))
            except BlockingIOError:
                break
    finally:
        rtp.close()
    # the targets rang out: 480 No Answer, after a 183 with SDP and audio sent before it
    assert (final.status, final.reason) == (480, 'No Answer'), final
    assert any(r.status == 183 and r.body for r in seen), [r.status for r in seen]
    assert len(packets) > 25, len(packets)        # more than half a second of early media
    audio = early_audio(packets)
    assert rms(audio) > 0.001                     # the announcement, not silence
    # the first second: the ring tone's 425 Hz burst is there only when mixed in
    ring = band_energy_ratio(audio[:RATE], 425)
    assert (ring > 0.3) is mix, ring
    assert 'CANCEL' in finished(sipp, ringer, 'the ringing phone').messages


def test_quick_dialling_from_a_sip_account_reaches_our_number(start_api):
    api, c, (a,) = world(start_api, 1)
    plan(c, {'reject': {}})
    assert c.post('/api/dialplan', json={'dial_prefix': '+4930555'}).json() == {'status': 'ok'}
    sip = rawsip.UdpPeer(api.server.sip_port)
    try:
        ruri = 'sip:200@localhost'
        invite = dict(port=sip.port, from_user=a, body=rawsip.sdp_offer(40000),
                      content_type='application/sdp')
        cid = rawsip.new_call_id()
        sip.send(rawsip.request('INVITE', ruri, call_id=cid, **invite))
        challenge, _ = sip.final(cid)
        assert challenge.status in (401, 407), challenge
        sip.send(rawsip.request('ACK', ruri, port=sip.port, call_id=cid, from_user=a,
                                to=challenge.header('To')))
        header = 'WWW-Authenticate' if challenge.status == 401 else 'Proxy-Authenticate'
        auth = rawsip.digest_authorization(rawsip.challenges(challenge, header)['MD5'], 'INVITE',
                                           ruri, a, 's3cret-pw')
        name = 'Authorization' if challenge.status == 401 else 'Proxy-Authorization'
        sip.send(rawsip.request('INVITE', ruri, call_id=cid, cseq=2, extra=[f'{name}: {auth}'],
                                **invite))
        final, _ = sip.final(cid)
    finally:
        sip.close()
    # 200 + the prefix is +4930555200, whose plan rejects: 603, not "no such account"
    assert (final.status, final.reason) == (603, 'Decline'), final


def readme_plan() -> dict:
    """The v2 plan of the README's "Dial plans over HTTP" section, as it is written there."""
    text = (ROOT / 'README.md').read_text()
    return json.loads(re.search(r"/api/dialplan/v2 -d '(\{\"dialplan\".*?\}\]\}\})'", text,
                                re.S).group(1))['dialplan']


@pytest.mark.parametrize('when, rings', [(datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc), True),
                                         (datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc), False)])
def test_the_readme_plan_rings_joe_01_in_office_hours(start_api, sipp, tmp_path, when, rings):
    offset = int(when.timestamp() - time.time())       # Wednesday / Saturday 10:00 UTC
    api, c, (a,) = world(start_api, 1, TELEPHONY_DIALPLAN_CLOCK_OFFSET=str(offset),
                         TELEPHONY_VOICEMAIL_SILENCE='2')
    assert a == 'joe_01'
    plan(c, *readme_plan()['profiles'])
    if rings:
        answerer = phone(api, sipp, a, ANSWER)
        assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
        finished(sipp, answerer, 'joe_01')
        assert [e['target'] for e in api.server.events('hunt-ring')] == ['joe_01']
    else:
        events = Events(c)
        mark = events.mark()
        leave(api, sipp, tmp_path, 'speech', [pause(greeting_ms()), play('g711a.pcap')], NUMBER)
        rec, _, _ = message(api, c, events, mark)
        assert rec['to'] == NUMBER and not api.server.events('hunt-ring')
