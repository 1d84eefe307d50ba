"""A recording in progress survives a crash of the server as a playable recording, and the
call that was up appears in the call history, ended."""
from __future__ import annotations

import io
import os
import signal

import soundfile as sf

from tests.api.conftest import Api
from tests.api.test_call_api import NUMBER, Events, control, new_call
from tests.integration.conftest import ServerProcess, Sipp, wait_for


def test_recording_survives_a_server_crash(tmp_path):
    data = tmp_path / 'data'
    first = Api(ServerProcess(data).start())
    sipp = Sipp(tmp_path)
    try:
        first.add_user('joe')
        first.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
        c = first.login('joe')
        c.get('/api/call/event')
        events = Events(c)
        sipp.start(f'127.0.0.1:{first.server.sip_port}', scenario='uac_api.xml', service=NUMBER,
                   calls=1, global_timeout=120)
        uuid = new_call(events)
        control(c, uuid, {'control': 'ring'}, {'control': 'answer'},
                {'control': 'record_start', 'limit': 120})
        ev = events.wait(lambda e: e['event'] == 'object_new' and e.get('type') == 'recording',
                         what='the recording object')
        rec = ev['object']
        assert c.get(f'/api/recording/{rec}').json()['recording']['status'] == 'record'
        # a live call is not in the history of ended calls
        assert uuid not in c.get('/api/call', params={'state': 'hangup'}).json()['call']
        # the caller speaks from about 3 s after answer: let 3 s of speech reach the file,
        # then kill -9 the server
        part = next((data / 'recordings').glob('*.part'))
        wait_for(lambda: part.stat().st_size >= 6 * 16000, 30, 'the recording to grow')
        os.kill(first.server.proc.pid, signal.SIGKILL)
        first.server.proc.wait(10)
    finally:
        first.close()
        first.server.stop()
        sipp.stop_all()

    second = Api(ServerProcess(data).start())
    try:
        c = second.login('joe')
        info = c.get(f'/api/recording/{rec}').json()['recording']
        assert info['status'] == 'ok' and info['duration'] >= 5.0, info
        wav = c.get(f'/api/recording/{rec}/crash.wav')
        assert wav.status_code == 200
        pcm, rate = sf.read(io.BytesIO(wav.content), dtype='int16')
        assert rate == 8000 and len(pcm) / rate >= 5.0
        # the call cut off by the crash is in the history, ended
        ended = c.get('/api/call', params={'state': 'hangup'}).json()['call']
        assert ended[uuid]['status'] == 'hangup' and ended[uuid]['hangup_cause'] == 41, ended
        assert ended[uuid]['answer_time'] > 0   # what was known at the crash is kept
        assert c.get('/api/call').json()['call'] == {}
    finally:
        second.close()
        second.server.stop()
