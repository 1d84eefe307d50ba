"""Voice mail (issue 9 §7) with SIPp playing real speech (sip-tester's g711a.pcap, 7.08 s):
the message ends on silence, `#` or the limit; the stored recording's audio is checked
against what SIPp sent; a silent caller leaves an `empty` one; play_announcement_only
records nothing."""
from __future__ import annotations

import io

import soundfile

from tests.api import conftest as api_fixtures
from tests.api.test_call_api import Events
from tests.integration.conftest import ROOT, SCENARIOS, assert_sipp_ok, wait_for
from tests.integration.media import RATE, active_span, envelope_correlation, pcap_audio, rms
from tests.integration.uac_steps import NO_SHEDDING, CALLER, key, pause, play, write

start_api = api_fixtures.start_api    # the API tests' fixture: a server and HTTP clients
BOX, GREETING_ONLY = '+4930555300', '+4930555301'
SPEECH = pcap_audio(SCENARIOS / 'pcap' / 'g711a.pcap')
SPEECH_S = len(SPEECH) / RATE
THRESHOLD = 0.005


def greeting_ms() -> int:
    """The default greeting, the 250 ms beep, and a margin before the caller speaks."""
    return int(soundfile.info(str(ROOT / 'prompts' / 'voicemail-greeting.wav')).duration
               * 1000) + 250 + 1200


def leave(api, sipp, tmp_path, name: str, steps: list[str], number: str = BOX) -> None:
    scenario = write(tmp_path / f'{name}.xml', steps)   # the server hangs up at the end
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=number,
                      timeout=120, global_timeout=110)
    assert_sipp_ok(result, calls=1, server=api.server)


def message(api, c, events: Events, since: int) -> tuple[dict, str, object]:
    """The next voice message, its object_new event and its audio (None when empty)."""
    new = events.wait(lambda e: e['event'] == 'object_new' and e.get('type') == 'recording',
                      since=since, what='object_new of a recording')
    uuid = new['object']
    rec = wait_for(lambda: (r := c.get(f'/api/recording/{uuid}').json()['recording'])
                   ['status'] != 'record' and r, 30, 'the message stored')
    wav = c.get(f'/api/recording/{uuid}/message.wav')
    audio = soundfile.read(io.BytesIO(wav.content), dtype='float64')[0] \
        if wav.status_code == 200 else None
    return {**rec, 'uuid': uuid}, new, audio


def speech_check(audio) -> str:
    corr, shift = envelope_correlation(audio, SPEECH)
    report = (f'{len(audio) / RATE:.2f} s, active {active_span(audio, THRESHOLD):.2f} s, '
              f'rms {rms(audio):.4f}, envelope correlation {corr:.2f} at {shift * 20} ms')
    assert rms(audio) > 10 / 32768, report               # clearly not silence
    assert corr >= 0.8, report                           # and it is the caller's speech
    return report


def test_message_ends_on_silence_or_pound_and_silence_is_empty(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_VOICEMAIL_SILENCE='2')
    api.add_user('joe')
    api.cli('phone', 'add', BOX, '--user', 'joe', '--recording-enable')
    api.cli('phone', 'add', GREETING_ONLY, '--user', 'joe', '--recording-enable',
            '--play-announcement-only')
    c = api.login('joe')
    events = Events(c)

    # speech, then nothing: two seconds of silence end the message
    mark = events.mark()
    leave(api, sipp, tmp_path, 'speech', [pause(greeting_ms()), play('g711a.pcap')])
    rec, new, audio = message(api, c, events, mark)
    assert (rec['from'], rec['to'], rec['status']) == (CALLER, BOX, 'ok'), rec
    ended = api.server.wait_event('voicemail-end')[-1]
    assert ended['reason'] == 'silence'
    report = speech_check(audio)
    # the whole of the speech, and not much more than the silence that ended it
    assert abs(active_span(audio, THRESHOLD) - active_span(SPEECH, THRESHOLD)) <= 1.0, report
    assert SPEECH_S - 1.0 <= rec['duration'] <= SPEECH_S + 2 + 2.5, (rec, report)

    # speech, then # at once: ended by the key, before any silence could
    mark = events.mark()
    leave(api, sipp, tmp_path, 'pound', [pause(greeting_ms()), play('g711a.pcap'),
                                         pause(int(SPEECH_S * 1000) + 100), key('#')])
    rec, _, audio = message(api, c, events, mark)
    assert api.server.wait_event('voicemail-end', count=2)[-1]['reason'] == 'pound'
    assert rec['status'] == 'ok'
    speech_check(audio)

    # a caller who says nothing: ended by silence, stored as `empty`
    mark = events.mark()
    leave(api, sipp, tmp_path, 'silent', [])
    rec, _, audio = message(api, c, events, mark)
    assert api.server.wait_event('voicemail-end', count=3)[-1]['reason'] == 'silence'
    assert (rec['to'], rec['status']) == (BOX, 'empty'), rec

    # play_announcement_only: the greeting, then the server hangs up; no recording
    before = set(c.get('/api/recording').json()['recording'])
    leave(api, sipp, tmp_path, 'greeting', [], number=GREETING_ONLY)
    api.server.wait_event('voicemail-announcement-only')
    api.server.wait_no_calls()
    assert set(c.get('/api/recording').json()['recording']) == before
    assert len(api.server.events('voicemail-end')) == 3


def test_message_ends_at_the_limit(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_VOICEMAIL_LIMIT='3', TELEPHONY_VOICEMAIL_SILENCE='30')
    api.add_user('joe')
    api.cli('phone', 'add', BOX, '--user', 'joe', '--recording-enable')
    c = api.login('joe')
    events = Events(c)
    leave(api, sipp, tmp_path, 'long', [pause(greeting_ms() - 1000), play('g711a.pcap')])
    rec, _, audio = message(api, c, events, 0)
    assert api.server.wait_event('voicemail-end')[-1]['reason'] == 'limit'
    assert rec['status'] == 'ok' and 2.5 <= rec['duration'] <= 3.6, rec
    assert rms(audio) > 10 / 32768 and active_span(audio, THRESHOLD) >= 1.5
