"""/api/recording (§3.14) on recordings made by a real call: SIPp calls a call_enable
number, the client records it with record_start/record_stop through the call API, and then
reads, describes, downloads, trashes and purges the recordings over public endpoints only."""
from __future__ import annotations

import io

import soundfile as sf

from telephony.media.vad import has_speech
from tests.api.test_announcement import UUID_UNKNOWN, Events, dkey, rms
from tests.integration.conftest import Sipp, assert_sipp_ok

NUMBER = '+4930555077'
CALLER = '+4922100077'      # the From user of sipp-scenarios/uac_api.xml


def control(client, uuid: str, *controls: dict) -> dict:
    return client.post(f'/api/call/{uuid}/control',
                       json={'queue': 'append', 'controls': list(controls)}).json()


def call_update(ev: Events, call: str, field: str, timeout: float = 30.0) -> dict:
    """The next call_update of `call` that carries `field`."""
    while True:
        e = ev.wait('call_update', timeout=timeout)
        fields = e['call'].get(call, {})
        if field in fields:
            return fields


def record_a_call(api, tmp_path, c) -> tuple[str, str, str]:
    """One SIPp call: a recording made before the caller sends anything (silence), and one
    of the caller's g711a.pcap audio.  Returns (call uuid, empty recording, recording)."""
    assert c.get('/api/call/event').json()['status'] == 'ok'
    ev = Events(c)
    sipp = Sipp(tmp_path)
    proc, cmd, workdir = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                                    service=NUMBER, calls=1, global_timeout=120)
    try:
        while True:
            e = ev.wait('call_update')
            call, fields = next(iter(e['call'].items()))
            if fields.get('status') == 'calling':
                break
        # SIPp sends no RTP until 1.5 s after the answer: the first recording hears nothing
        assert control(c, call, {'control': 'ring'}, {'control': 'answer'},
                       {'control': 'dtmf_collect', 'enable': True},
                       {'control': 'record_start', 'limit': 60},
                       {'control': 'silence', 'duration': 800},
                       {'control': 'record_stop'})['status'] == 'ok'
        quiet = call_update(ev, call, 'recording')['recording']
        # after its digits 1 3 5 the caller plays g711a.pcap: record that
        ev.wait('call_dtmf', call=call, digit='5')
        assert control(c, call, {'control': 'record_start', 'limit': 60},
                       {'control': 'silence', 'duration': 3000},
                       {'control': 'record_stop'})['status'] == 'ok'
        loud = call_update(ev, call, 'recording')['recording']
        assert control(c, call, {'control': 'hangup', 'hangup_cause': 16})['status'] == 'ok'
        assert_sipp_ok(sipp.wait(proc, cmd, workdir, timeout=60), calls=1)
    finally:
        sipp.stop_all()
    return call, quiet, loud


def test_recordings_of_a_call(api, tmp_path):
    api.add_user('joe')
    api.add_user('eve')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    call, quiet, loud = record_a_call(api, tmp_path, c)
    ev = Events(c)

    # GET: from/to of the call, status ok for speech and empty for silence
    body = c.get(f'/api/recording/{loud}').json()
    assert body['status'] == 'ok', body
    rec = body['recording']
    assert (rec['from'], rec['to'], rec['status']) == (CALLER, NUMBER, 'ok')
    assert rec['description'] == '' and rec['tag'] == [] and isinstance(rec['time'], int)
    assert 2.5 <= rec['duration'] <= 3.6
    assert c.get(f'/api/recording/{quiet}').json()['recording']['status'] == 'empty'
    assert set(c.get('/api/recording').json()['recording']) == {quiet, loud}

    # WAV and Ogg downloads: 8 kHz mono with the caller's audio; empty ones have none
    r = c.get(f'/api/recording/{loud}/call.wav')
    assert r.status_code == 200 and r.headers['content-disposition'].startswith('attachment')
    pcm, rate = sf.read(io.BytesIO(r.content), dtype='int16')
    assert rate == 8000 and pcm.ndim == 1 and 2.5 <= len(pcm) / rate <= 3.6
    assert rms(pcm) > 300 and has_speech(pcm)
    r = c.get(f'/api/recording/{loud}/call.ogg', params={'inline': ''})
    assert r.status_code == 200 and r.headers['content-disposition'].startswith('inline')
    pcm, rate = sf.read(io.BytesIO(r.content), dtype='int16')
    assert rate == 8000 and 2.5 <= len(pcm) / rate <= 3.6 and rms(pcm) > 300
    for fmt in ('wav', 'ogg'):
        r = c.get(f'/api/recording/{quiet}/x.{fmt}')
        assert r.status_code == 404 and r.content == b''
    # did + dkey instead of the session id
    anon = api.client()
    r = anon.get(f'/api/recording/{loud}/x.wav', params={'did': c.did, 'dkey': dkey(loud, c.sid)})
    assert r.status_code == 200 and sf.info(io.BytesIO(r.content)).samplerate == 8000
    r = anon.get(f'/api/recording/{loud}/x.wav', params={'did': c.did, 'dkey': dkey(quiet, c.sid)})
    assert r.status_code == 404 and r.content == b''

    # POST: description (required here), object_modify
    assert c.post(f'/api/recording/{loud}', json={'description': 'Anruf Herr Mueller'}).json() \
        == {'status': 'ok'}
    mod = ev.wait('object_modify', object=loud, description='Anruf Herr Mueller')
    assert mod['type'] == 'recording' and mod['description'] == 'Anruf Herr Mueller'
    assert c.get(f'/api/recording/{loud}').json()['recording']['description'] == \
        'Anruf Herr Mueller'
    assert c.post(f'/api/recording/{loud}', json={}).json()['status'] == 'missing-element'
    assert c.post(f'/api/recording/{loud}', json={'description': 'x' * 201}).json()[
        'status'] == 'wrong-syntax'
    assert c.get('/api/recording/no-uuid').json()['status'] == 'wrong-syntax'

    # another user sees nothing
    eve = api.login('eve')
    for r in (eve.get(f'/api/recording/{loud}'),
              eve.post(f'/api/recording/{loud}', json={'description': 'x'}),
              eve.delete(f'/api/recording/{loud}', params={'purge': ''}),
              c.get(f'/api/recording/{UUID_UNKNOWN}'),
              c.delete(f'/api/recording/{UUID_UNKNOWN}')):
        assert r.json()['status'] == 'wrong-recording'
    assert eve.get('/api/recording').json()['recording'] == {}
    r = eve.get(f'/api/recording/{loud}/x.wav')
    assert r.status_code == 404 and r.content == b''
    # an announcement uuid is not a recording, nor the other way round
    ann = c.post('/api/announcement', json={}).json()['uuid']
    assert c.get(f'/api/recording/{ann}').json()['status'] == 'wrong-recording'
    assert c.get(f'/api/announcement/{loud}').json()['status'] == 'wrong-announcement'
    # no session, no authentication
    assert api.client().get(f'/api/recording/{loud}').json()['status'] == 'no-session'
    anon_sid = api.client().get('/api/session').json()['sid']
    assert api.client(anon_sid).get('/api/recording').json()['status'] == 'no-auth'

    # DELETE: to the trash (still downloadable, not modifiable), then purge
    assert c.delete(f'/api/recording/{loud}').json() == {'status': 'ok'}
    assert 'purge' not in ev.wait('object_delete', object=loud)
    assert c.get(f'/api/recording/{loud}').json()['recording']['trash'] is True
    assert c.get(f'/api/recording/{loud}/x.wav').status_code == 200
    assert c.post(f'/api/recording/{loud}', json={'description': 'y'}).json()['status'] == \
        'access-denied'
    assert c.delete(f'/api/recording/{quiet}', params={'purge': '1'}).json() == {'status': 'ok'}
    assert ev.wait('object_delete', object=quiet)['purge'] is True
    assert c.delete('/api/trash').json() == {'status': 'ok'}
    assert ev.wait('object_delete', object=loud)['purge'] is True
    ev.wait('trash_purge')
    assert c.get('/api/recording').json()['recording'] == {}
    r = c.get(f'/api/recording/{loud}/x.wav')
    assert r.status_code == 404 and r.content == b''


def test_recording_plays_back_into_a_call(api, tmp_path):
    """A recording is playable like an announcement (the interface the call layer uses):
    recorded in one call, it is the object of a `play` control in the same call."""
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    assert c.get('/api/call/event').json()['status'] == 'ok'
    ev = Events(c)
    sipp = Sipp(tmp_path)
    proc, cmd, workdir = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                                    service=NUMBER, calls=1, global_timeout=120)
    try:
        while True:
            call, fields = next(iter(ev.wait('call_update')['call'].items()))
            if fields.get('status') == 'calling':
                break
        assert control(c, call, {'control': 'ring'}, {'control': 'answer'},
                       {'control': 'dtmf_collect', 'enable': True})['status'] == 'ok'
        ev.wait('call_dtmf', call=call, digit='5')
        control(c, call, {'control': 'record_start', 'limit': 60},
                {'control': 'silence', 'duration': 1500}, {'control': 'record_stop'})
        rec = call_update(ev, call, 'recording')['recording']
        assert c.get(f'/api/recording/{rec}').json()['recording']['status'] == 'ok'
        assert control(c, call, {'control': 'play', 'object': rec, 'id': 'replay'})[
            'status'] == 'ok'
        while call_update(ev, call, 'current_control_id')['current_control_id'] != 'replay':
            pass
        # a trashed recording is no longer playable
        assert c.delete(f'/api/recording/{rec}').json()['status'] == 'ok'
        assert control(c, call, {'control': 'play', 'object': rec})['status'] == 'wrong-object'
        assert control(c, call, {'control': 'hangup', 'hangup_cause': 16})['status'] == 'ok'
        assert_sipp_ok(sipp.wait(proc, cmd, workdir, timeout=60), calls=1)
    finally:
        sipp.stop_all()
