"""The call API (§3.24) driving real SIPp legs, seen only through public endpoints."""
from __future__ import annotations

import io
import time

import numpy as np
import soundfile as sf

from tests.integration.conftest import Sipp, assert_sipp_ok, free_port

NUMBER = '+4930555001'


class Events:
    """Reads a session's event stream with long polls, remembering everything seen."""

    def __init__(self, client):
        self.client = client
        self.next = 0
        self.seen: list[dict] = []

    def mark(self) -> int:
        """A position in the stream: waits given `since=mark` look only at later events."""
        return len(self.seen)

    def wait(self, predicate, timeout: float = 30.0, what: str = 'an event', since: int = 0) -> dict:
        deadline = time.monotonic() + timeout
        for ev in self.seen[since:]:
            if predicate(ev):
                return ev
        while time.monotonic() < deadline:
            body = self.client.get('/api/event', params={'next': self.next, 'timeout': 2}).json()
            for ev in body.get('event', []):
                self.seen.append(ev)
                self.next = ev['id'] + 1
                if predicate(ev):
                    return ev
        raise AssertionError(f'no {what} within {timeout} s; saw {self.seen[-10:]}')

    def call_update(self, uuid: str, since: int = 0, **fields) -> dict:
        def match(ev):
            if ev['event'] != 'call_update' or uuid not in ev['call']:
                return False
            got = ev['call'][uuid]
            return all(got.get(k) == v for k, v in fields.items())
        return self.wait(match, what=f'call_update {fields}', since=since)


def control(client, uuid: str, *controls: dict, queue: str = 'append') -> dict:
    return client.post(f'/api/call/{uuid}/control',
                       json={'queue': queue, 'controls': list(controls)}).json()


def new_call(events: Events) -> str:
    ev = events.wait(lambda e: e['event'] == 'call_update'
                     and any(v.get('status') == 'calling' for v in e['call'].values()),
                     what='a new call')
    return next(iter(ev['call']))


def make_ogg(seconds: float = 1.5, rate: int = 44100) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.4 * np.sin(2 * np.pi * 600 * t)
    buf = io.BytesIO()
    sf.write(buf, np.stack([tone, tone], axis=1), rate, format='OGG', subtype='VORBIS')
    return buf.getvalue()


def upload_announcement(c) -> str:
    created = c.post('/api/announcement', json={'description': 'test prompt'}).json()
    assert created['status'] == 'ok', created
    uuid = created['uuid']
    events = Events(c)
    r = c.post(f'/api/announcement/{uuid}/prompt.ogg', content=make_ogg(),
               headers={'content-type': 'audio/ogg'}).json()
    assert r['status'] == 'ok', r
    events.wait(lambda e: e['event'] == 'announcement_convert' and e.get('announcement') == uuid,
                what='announcement_convert')
    assert c.get(f'/api/announcement/{uuid}').json()['announcement']['status'] == 'ok'
    return uuid


def test_inbound_call_worked_through_the_api(api, tmp_path):
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    assert c.get('/api/call/event').json()['status'] == 'ok'
    events = Events(c)
    prompt = upload_announcement(c)

    sipp = Sipp(tmp_path)
    proc, cmd, workdir = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                                    service=NUMBER, calls=1, global_timeout=120)
    try:
        uuid = new_call(events)
        info = c.get('/api/call').json()['call'][uuid]
        assert info['incoming'] is True and info['to'] == NUMBER and info['from'] == '+4922100077'

        # 1. ring, answer, play the uploaded Ogg, collect digits
        assert control(c, uuid, {'control': 'ring', 'id': 'r'}) == {'status': 'ok'}
        events.call_update(uuid, status='ringing')
        assert control(c, uuid, {'control': 'answer', 'id': 'a'},
                       {'control': 'play', 'object': prompt, 'id': 'greeting'},
                       {'control': 'dtmf_collect', 'enable': True, 'id': 'collect'})['status'] == 'ok'
        events.call_update(uuid, status='answered')
        events.call_update(uuid, current_control_id='greeting')

        # 2. the RFC 4733 digits arrive in order
        digits = []
        for _ in range(3):
            ev = events.wait(lambda e: e['event'] == 'call_dtmf' and e not in digits,
                             what='call_dtmf')
            digits.append(ev)
        assert [d['digit'] for d in digits] == ['1', '3', '5']
        assert all(d['call'] == uuid and d['duration'] > 0 for d in digits)

        # 3. record while SIPp sends its pcap; the recording downloads as WAV and Ogg
        control(c, uuid, {'control': 'record_start', 'limit': 60, 'id': 'rec'},
                {'control': 'silence', 'duration': 3000, 'id': 'listen'},
                {'control': 'record_stop', 'id': 'stop'})
        ev = events.wait(lambda e: e['event'] == 'call_update'
                         and e['call'].get(uuid, {}).get('recording'), what='a recording')
        rec = ev['call'][uuid]['recording']
        wav = c.get(f'/api/recording/{rec}/x.wav')
        assert wav.status_code == 200
        pcm, rate = sf.read(io.BytesIO(wav.content), dtype='int16')
        assert rate == 8000 and 2.5 <= len(pcm) / rate <= 3.6, api.server.log_tail(80)
        assert np.sqrt(np.mean(pcm.astype(float) ** 2)) > 300, 'recording is silent'
        ogg = c.get(f'/api/recording/{rec}/x.ogg')
        assert ogg.status_code == 200
        assert sf.info(io.BytesIO(ogg.content)).duration > 2.5

        # 5. break interrupts an endless tone at once; the next control starts
        control(c, uuid, {'control': 'tone', 'frequency': 440, 'duration': 1000, 'loop': 0,
                          'id': 'endless'})
        events.call_update(uuid, current_control_id='endless')
        mark = events.mark()
        control(c, uuid, {'control': 'silence', 'duration': 200, 'id': 'after'}, queue='break')
        first = events.wait(lambda e: e['event'] == 'call_update'
                            and 'current_control_id' in e['call'].get(uuid, {}),
                            since=mark, what='the control change')
        # the endless tone finished (by the break) and the next control runs right after it
        assert first['call'][uuid] == {'current_control_id': '', 'last_control_id': 'endless'}
        events.call_update(uuid, since=mark, current_control_id='after')

        # 4. hangup with cause 16 reaches SIPp as a BYE with a Q.850 Reason
        control(c, uuid, {'control': 'hangup', 'hangup_cause': 16, 'id': 'bye'})
        events.call_update(uuid, status='hangup', hangup_cause=16)
        result = sipp.wait(proc, cmd, workdir, timeout=60)
        assert_sipp_ok(result, calls=1)
        gone = c.get('/api/call', params={'state': 'hangup'}).json()['call']
        assert gone[uuid]['hangup_cause'] == 16 and gone[uuid]['last_control_id'] == 'bye'
        assert uuid not in c.get('/api/call').json()['call']
    finally:
        sipp.stop_all()


def test_control_errors_have_documented_statuses(api, tmp_path):
    api.add_user('joe')
    api.add_user('eve')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    c.get('/api/call/event')
    events = Events(c)
    missing = '00000000-0000-1000-8000-000000000000'
    assert control(c, missing, {'control': 'answer'})['status'] == 'wrong-call'
    sipp = Sipp(tmp_path)
    proc, cmd, workdir = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                                    service=NUMBER, calls=1, global_timeout=120)
    try:
        uuid = new_call(events)
        eve = api.login('eve')
        assert control(eve, uuid, {'control': 'ring'})['status'] == 'wrong-call'
        assert control(c, uuid, {'control': 'sleep', 'duration': 10},
                       {'control': 'tone'})['status'] == 'illegal-state'
        assert control(c, uuid, {'control': 'split'})['status'] == 'illegal-state'
        assert control(c, uuid, {'control': 'record_stop'})['status'] == 'illegal-state'
        assert control(c, uuid, {'control': 'ring'})['status'] == 'ok'
        events.call_update(uuid, status='ringing')
        assert control(c, uuid, {'control': 'ring'})['status'] == 'illegal-state'
        assert control(c, uuid, {'control': 'answer'}, {'control': 'play', 'object': missing}
                       )['status'] == 'wrong-object'
        assert control(c, uuid, {'control': 'bridge', 'call': missing})['status'] == 'wrong-call'
        assert control(c, uuid, {'control': 'tone', 'frequency': 50000})['status'] == 'wrong-syntax'
        assert control(c, uuid, {'control': 'sleep'})['status'] == 'missing-element'
        assert control(c, uuid, {'control': 'warp'})['status'] == 'wrong-syntax'
        assert control(c, uuid, {'duration': 5})['status'] == 'missing-element'
        assert control(c, uuid, {'control': 'ring'}, queue='sideways')['status'] == 'wrong-syntax'
        assert c.post(f'/api/call/{uuid}/control', json={'queue': 'append'}).json()[
            'status'] == 'missing-element'
        assert c.post('/api/call/dial', json={'to': '+4922100078', 'from': '+4930999999'}).json()[
            'status'] == 'wrong-phone'
        assert c.post('/api/call/dial', json={'to': '12', 'from': NUMBER}).json()[
            'status'] == 'wrong-syntax'
        assert api.client().get('/api/call').json()['status'] == 'no-session'
        assert api.client(api.client().get('/api/session').json()['sid']).get(
            '/api/call').json()['status'] == 'no-auth'
        control(c, uuid, {'control': 'answer'}, {'control': 'hangup'})
        events.call_update(uuid, status='hangup')
        assert control(c, uuid, {'control': 'hangup'})['status'] == 'wrong-call'
    finally:
        sipp.stop_all()


def test_dial_out_through_the_trunk_and_bridge(start_api, tmp_path):
    sipp = Sipp(tmp_path)
    trunk_port = free_port()
    trunk, tcmd, twork = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, calls=2,
                                    extra=['-rtp_echo'], global_timeout=120)
    api = start_api(TELEPHONY_TRUNK=f'127.0.0.1:{trunk_port}')
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    c.get('/api/call/event')
    events = Events(c)
    caller, ccmd, cwork = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                                     service=NUMBER, calls=1, global_timeout=120)
    try:
        a = new_call(events)
        control(c, a, {'control': 'ring'}, {'control': 'answer'},
                {'control': 'dtmf_collect', 'enable': True})
        events.call_update(a, status='answered')

        def dial() -> str:
            r = c.post('/api/call/dial', json={'to': '+4922100099', 'from': NUMBER}).json()
            assert r['status'] == 'ok', r
            events.call_update(r['uuid'], status='answered')
            return r['uuid']

        b = dial()
        info = c.get('/api/call', params={'uuid': b}).json()['call'][b]
        assert info['incoming'] is False and info['to'] == '+4922100099'
        assert control(c, a, {'control': 'bridge', 'call': b, 'hangup_both': False}) == {'status': 'ok'}
        events.call_update(a, bridge=b)
        events.call_update(b, bridge=a)
        # The caller's audio starts after its third digit: record what the trunk echoes back.
        events.wait(lambda e: e['event'] == 'call_dtmf' and e['digit'] == '5', what='digit 5')
        control(c, b, {'control': 'record_start', 'limit': 60}, {'control': 'sleep', 'duration': 3000},
                {'control': 'record_stop'})
        ev = events.wait(lambda e: e['event'] == 'call_update'
                         and e['call'].get(b, {}).get('recording'), what='the recording')
        wav = c.get(f'/api/recording/{ev["call"][b]["recording"]}/b.wav')
        pcm, _ = sf.read(io.BytesIO(wav.content), dtype='int16')
        assert np.sqrt(np.mean(pcm.astype(float) ** 2)) > 300, 'no audio crossed the bridge'

        assert control(c, a, {'control': 'split'}) == {'status': 'ok'}
        events.call_update(a, bridge='')
        events.call_update(b, bridge='')
        # hangup_both false: the other call lives on
        mark = events.mark()
        control(c, a, {'control': 'bridge', 'call': b, 'hangup_both': False})
        events.call_update(a, since=mark, bridge=b)
        mark = events.mark()
        control(c, b, {'control': 'hangup'})
        events.call_update(b, status='hangup')
        events.call_update(a, since=mark, bridge='')
        assert c.get('/api/call', params={'uuid': a}).json()['call'][a]['status'] == 'answered'
        # hangup_both true: hanging up the trunk call ends the caller's too
        b2 = dial()
        control(c, a, {'control': 'bridge', 'call': b2, 'hangup_both': True})
        events.call_update(b2, bridge=a)
        control(c, b2, {'control': 'hangup', 'hangup_cause': 16})
        events.call_update(a, status='hangup')
        assert_sipp_ok(sipp.wait(caller, ccmd, cwork, timeout=60), calls=1)
        assert_sipp_ok(sipp.wait(trunk, tcmd, twork, timeout=60), calls=2)
    finally:
        sipp.stop_all()


def test_hangup_cause_maps_to_sip_and_clir_hides_the_caller(start_api, tmp_path):
    from tests.integration.rawsip import UdpPeer, new_call_id, request, sdp_offer
    sipp = Sipp(tmp_path)
    trunk_port = free_port()
    trunk, tcmd, twork = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, calls=1,
                                    global_timeout=60)
    api = start_api(TELEPHONY_TRUNK=f'127.0.0.1:{trunk_port}', TELEPHONY_TRUNK_DOMAIN='trunk.test')
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    c = api.login('joe')
    c.get('/api/call/event')
    events = Events(c)
    peer = UdpPeer(api.server.sip_port)
    try:
        # cause 17 (user busy) on an unanswered inbound call is a 486 with a Q.850 Reason
        cid = new_call_id()
        peer.send(request('INVITE', f'sip:{NUMBER}@127.0.0.1', port=peer.port, call_id=cid,
                          body=sdp_offer(40002), content_type='application/sdp'))
        uuid = new_call(events)
        control(c, uuid, {'control': 'hangup', 'hangup_cause': 17})
        final, _ = peer.final(cid)
        assert final.status == 486 and 'Q.850;cause=17' in final.header('Reason')
        events.call_update(uuid, status='hangup', hangup_cause=17)

        # CLIR: the trunk sees an anonymous From, the real number only in P-Asserted-Identity
        r = c.post('/api/call/dial', json={'to': '+4922100099', 'from': NUMBER,
                                           'clip': '+4930999000', 'clir': True}).json()
        events.call_update(r['uuid'], status='answered')
        info = c.get('/api/call', params={'uuid': r['uuid']}).json()['call'][r['uuid']]
        assert info['clip'] == '+4930999000' and info['clir'] is True
        control(c, r['uuid'], {'control': 'hangup'})
        result = sipp.wait(trunk, tcmd, twork, timeout=60)
        assert_sipp_ok(result, calls=1)
        invite = result.messages[result.messages.index('INVITE sip:+4922100099@trunk.test'):]
        invite = invite[:invite.index('\n\n')] if '\n\n' in invite else invite
        assert 'From: "Anonymous" <sip:anonymous@anonymous.invalid>' in invite
        assert f'P-Asserted-Identity: <sip:{NUMBER}@trunk.test>' in invite
        assert 'Privacy: id' in invite and '+4930999000' not in invite
    finally:
        peer.close()
        sipp.stop_all()
