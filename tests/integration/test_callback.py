"""§4.2's callback, callthrough and callreverse on the real server: SIPp is the settings
trunk (sipp-scenarios/uas_callback.xml), the test reads the audio that reaches a leg."""
from __future__ import annotations

import audioop
import json
import os
import re
import socket
import sqlite3
import subprocess
import threading

import numpy as np
import pytest

from tests.api.conftest import start_api  # noqa: F401 -- the server with TELEPHONY_* settings
from tests.api.test_call_api import Events
from tests.integration import rawsip
from tests.integration.conftest import ROOT, SCENARIOS, Sipp, assert_sipp_ok, free_port, wait_for
from tests.integration.media import envelope_correlation, pcap_audio

NUMBER = '+4930555001'        # joe's number, with dialplan_enable
OTHER = '+4930555002'         # joe's number without it
VIA = '+4922100077'           # the trunk answers these two with the test's RTP sink
VIA2 = '+4922100088'
DEST = '+4922100099'          # the trunk plays g711a.pcap on calls to other numbers
SIPP_CALLER = '+4922100077'   # uac_api.xml's From


class RtpSink:
    """A UDP socket that keeps the G.711 audio sent to it, in arrival order."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', free_port('udp')))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.frames: list[np.ndarray] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(2048)
            except OSError:
                continue
            pt, body = data[1] & 0x7F, data[12 + 4 * (data[0] & 15):]
            if pt in (0, 8):
                lin = audioop.alaw2lin(body, 2) if pt == 8 else audioop.ulaw2lin(body, 2)
                self.frames.append(np.frombuffer(lin, dtype='<i2') / 32768.0)

    def audio(self) -> np.ndarray:
        return np.concatenate(self.frames) if self.frames else np.zeros(0)

    def loud_seconds(self) -> float:
        return sum(1 for f in list(self.frames) if np.sqrt(np.mean(f ** 2)) > 0.01) * 0.02

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def rig(start_api, tmp_path):  # noqa: F811 -- the imported fixture
    """joe with NUMBER (dialplan_enable) and OTHER, cti_via VIA, a SIPp trunk for `calls`."""
    sipp, sink, peers = Sipp(tmp_path), RtpSink(), []

    def make(calls: int):
        port = free_port()
        trunk = sipp.start('', scenario='uas_callback.xml', port=port, calls=calls,
                           keys={'sink': sink.port}, global_timeout=120)
        api = start_api(TELEPHONY_TRUNK=f'127.0.0.1:{port}', TELEPHONY_TRUNK_DOMAIN='trunk.test')
        api.add_user('joe')
        api.add_user('eve')
        api.cli('phone', 'add', NUMBER, '--user', 'joe', '--dialplan-enable')
        api.cli('phone', 'add', OTHER, '--user', 'joe', '--call-enable')
        c = api.login('joe')
        assert c.post('/api/dialplan', json={'cti_via': VIA}).json() == {'status': 'ok'}
        c.get('/api/call/event')
        return api, c, Events(c), trunk
    make.sipp, make.sink, make.peers = sipp, sink, peers
    yield make
    for p in peers:
        p.close()
    sipp.stop_all()
    sink.close()


def invites(messages: str) -> list[str]:
    """The INVITEs the trunk received, head only, in order."""
    out = []
    for m in re.finditer(r'^INVITE sip:.*?(?=\n\n|\Z)', messages, re.S | re.M):
        out.append(m.group(0))
    return out


def assert_heard_pcap(sink: RtpSink) -> None:
    source = pcap_audio(SCENARIOS / 'pcap' / 'g711a.pcap')
    wait_for(lambda: sink.loud_seconds() >= 4.0, 60, 'the pcap audio on the other leg')
    corr, shift = envelope_correlation(sink.audio(), source)
    assert corr >= 0.7, f'envelope correlation {corr:.2f} at {shift * 20} ms'


def live_call(c, to: str) -> str:
    """The uuid of joe's live call to `to`."""
    found = {}

    def look():
        calls = c.get('/api/call').json()['call']
        found.update({u: i for u, i in calls.items() if i['to'] == to})
        return bool(found)
    wait_for(look, 30, f'a call to {to}')
    return next(iter(found))


def test_callback_rings_via_then_to_and_bridges(rig):
    api, c, events, trunk = rig(calls=2)
    r = c.post('/api/dialplan/callback', json={'from': NUMBER, 'to': DEST}).json()
    assert r['status'] == 'ok', r
    first = r['uuid']
    events.call_update(first, status='answered')
    ev = events.wait(lambda e: e['event'] == 'call_update' and any(
        v.get('to') == DEST for v in e['call'].values()), what='the second leg')
    second = next(iter(ev['call']))
    events.call_update(first, bridge=second)
    assert_heard_pcap(rig.sink)        # what the destination plays reaches cti_via
    info = c.get('/api/call', params={'uuid': first}).json()['call'][first]
    assert info['to'] == VIA and info['from'] == NUMBER
    assert c.post(f'/api/call/{second}/control', json={'controls': [
        {'control': 'hangup'}]}).json()['status'] == 'ok'
    events.call_update(first, status='hangup')
    result = rig.sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(result, calls=2)
    legs = invites(result.messages)
    assert [leg.split()[1] for leg in legs] == [f'sip:{VIA}@trunk.test', f'sip:{DEST}@trunk.test']
    for leg in legs:      # `from` is the caller on both legs
        assert f'From: <sip:{NUMBER}@trunk.test>' in leg, leg
        assert f'P-Asserted-Identity: <sip:{NUMBER}@trunk.test>' in leg, leg
    # the CDRs link the second leg to the first (read from the server's database)
    api.server.stop()
    with sqlite3.connect(api.server.data_dir / 'telephony.db') as db:
        rows = dict(((i, (s, p)) for i, s, p in db.execute(
            'SELECT id, service, parent FROM cdrs WHERE id IN (?, ?)', (first, second))))
    assert rows == {first: ('callback', None), second: ('callback', first)}, rows


def test_callback_errors(rig):
    api, c, events, trunk = rig(calls=1)
    post = lambda body: c.post('/api/dialplan/callback', json=body).json()['status']  # noqa: E731
    assert post({'to': DEST}) == 'missing-element'
    assert post({'from': NUMBER}) == 'missing-element'
    assert post({'from': '4930555001', 'to': DEST}) == 'wrong-syntax'
    assert post({'from': NUMBER, 'to': 'a b'}) == 'wrong-syntax'
    assert post({'from': NUMBER, 'to': '+49' + '1' * 21}) == 'wrong-syntax'
    assert post({'from': OTHER, 'to': DEST}) == 'wrong-phone'        # no dialplan_enable
    assert post({'from': '+4930555999', 'to': DEST}) == 'wrong-phone'   # not joe's
    eve = api.login('eve')
    assert eve.post('/api/dialplan/callback', json={'from': NUMBER, 'to': DEST}).json()[
        'status'] == 'wrong-phone'
    assert c.post('/api/dialplan', json={'cti_via': ''}).json()['status'] == 'ok'
    assert post({'from': NUMBER, 'to': DEST}) == 'no-via'
    # nothing of that reached the trunk
    rig.sipp.stop_all()
    assert 'INVITE sip:' not in rig.sipp.wait(*trunk, timeout=10).messages


def test_callthrough_connects_the_filtered_caller(rig):
    api, c, events, trunk = rig(calls=1)
    body = lambda **kw: c.post('/api/dialplan/callthrough', json=kw).json()['status']  # noqa: E731
    assert body(phone='a b') == 'wrong-syntax'
    assert body(phone=VIA2, filter='0221') == 'wrong-syntax'
    # a caller other than the filter's is not connected: the plan rings nothing, 480
    assert body(phone=VIA2, filter='+4922100066') == 'ok'
    peer = rawsip.UdpPeer(api.server.sip_port)
    rig.peers.append(peer)
    cid = rawsip.new_call_id()
    peer.send(rawsip.request('INVITE', f'sip:{NUMBER}@127.0.0.1', port=peer.port, call_id=cid,
                             from_user=SIPP_CALLER, body=rawsip.sdp_offer(free_port('udp')),
                             content_type='application/sdp'))
    final, _ = peer.final(cid)
    assert final is not None and final.status == 480, final
    # the filter's number is: answered, VIA2 rung through the trunk, the audio bridged
    assert body(phone=VIA2, filter=SIPP_CALLER) == 'ok'
    caller = rig.sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                            service=NUMBER, calls=1, global_timeout=120)
    onward = live_call(c, VIA2)
    events.call_update(onward, status='answered')
    assert_heard_pcap(rig.sink)        # the caller's g711a.pcap reaches VIA2
    c.post(f'/api/call/{onward}/control', json={'controls': [{'control': 'hangup'}]})
    assert_sipp_ok(rig.sipp.wait(*caller, timeout=60), calls=1)
    result = rig.sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(result, calls=1)
    (leg,) = invites(result.messages)
    assert leg.startswith(f'INVITE sip:{VIA2}@trunk.test')
    assert f'From: <sip:{SIPP_CALLER}@trunk.test>' in leg     # the caller is shown onwards
    # used up: the next call from the filter's number is the plan's again (480)
    cid = rawsip.new_call_id()
    peer.send(rawsip.request('INVITE', f'sip:{NUMBER}@127.0.0.1', port=peer.port, call_id=cid,
                             from_user=SIPP_CALLER, body=rawsip.sdp_offer(free_port('udp')),
                             content_type='application/sdp'))
    final, _ = peer.final(cid)
    assert final is not None and final.status == 480, final


def test_callreverse_connects_the_users_call_and_tells_them(rig):
    api, c, events, trunk = rig(calls=1)
    rig.sipp.stop_all()                # no trunk leg here
    reverse = lambda **kw: c.post('/api/dialplan/callreverse', json=kw).json()['status']  # noqa: E731
    assert reverse() == 'missing-element'
    assert reverse(filter='0221') == 'wrong-syntax'
    assert reverse(filter=SIPP_CALLER) == 'no-callreverse'
    assert c.post('/api/dialplan', json={'callreverse_enable': True}).json()['status'] == 'ok'
    # someone calls joe's dial plan: it rings, and joe is told
    rtp = RtpSink()
    peer = rawsip.UdpPeer(api.server.sip_port)
    rig.peers.extend([peer, rtp])
    cid = rawsip.new_call_id()
    peer.send(rawsip.request('INVITE', f'sip:{NUMBER}@127.0.0.1', port=peer.port, call_id=cid,
                             from_user='+4989123248278', body=rawsip.sdp_offer(rtp.port),
                             content_type='application/sdp'))
    start = events.wait(lambda e: e['event'] == 'dialplan_callreverse_start', what='start')
    assert {k: start[k] for k in ('phone_from', 'phone_to')} == {
        'phone_from': '+4989123248278', 'phone_to': NUMBER}
    # joe says where he calls from, and calls: the two calls are connected
    assert reverse(filter=SIPP_CALLER) == 'ok'
    caller = rig.sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_api.xml',
                            service=NUMBER, calls=1, global_timeout=120)
    final, _ = peer.final(cid, timeout=30)
    assert final is not None and final.status == 200, final
    to = final.header('To')
    peer.send(rawsip.request('ACK', f'sip:{NUMBER}@127.0.0.1', port=peer.port, call_id=cid, to=to,
                             from_user='+4989123248278'))
    stop = events.wait(lambda e: e['event'] == 'dialplan_callreverse_stop', what='stop')
    assert {k: stop[k] for k in ('phone_from', 'phone_to')} == {
        'phone_from': '+4989123248278', 'phone_to': NUMBER}
    assert_heard_pcap(rtp)             # joe's audio reaches the waiting caller
    peer.send(rawsip.request('BYE', f'sip:{NUMBER}@127.0.0.1', port=peer.port, call_id=cid,
                             to=to, cseq=2, from_user='+4989123248278'))
    assert_sipp_ok(rig.sipp.wait(*caller, timeout=60), calls=1)
    assert reverse(filter=SIPP_CALLER) == 'no-callreverse'     # it is over


def test_star98_from_the_users_sip_account_takes_the_callthrough(rig):
    api, c, events, trunk = rig(calls=1)
    api.cli('sip', 'add', 'joe_01', '--password', 'desk-secret-1', '--user', 'joe')
    # the filter is for outside callers: *98 from joe's own account ignores it
    assert c.post('/api/dialplan/callthrough', json={
        'phone': VIA2, 'filter': '+4922100066'}).json()['status'] == 'ok'
    caller = rig.sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario='uac_auth.xml',
                            service='*98', auth=('joe_01', 'desk-secret-1'),
                            keys={'caller': 'joe_01', 'domain': 'localhost'},
                            extra=['-d', '3000'], global_timeout=120)
    onward = live_call(c, VIA2)
    events.call_update(onward, status='answered')
    assert_sipp_ok(rig.sipp.wait(*caller, timeout=60), calls=1)
    result = rig.sipp.wait(*trunk, timeout=60)     # the account's BYE ended the onward leg
    assert_sipp_ok(result, calls=1)
    (leg,) = invites(result.messages)
    assert leg.startswith(f'INVITE sip:{VIA2}@trunk.test')
    assert f'From: <sip:{NUMBER}@trunk.test>' in leg     # as the dial plan number *98 stands for


def test_readme_callback_example_runs_as_written(rig):
    api, c, events, trunk = rig(calls=2)
    text = (ROOT / 'README.md').read_text()
    start = text.index('## Callback, callthrough and callreverse')
    block, = re.findall(r'^```sh\n(.*?)^```', text[start:text.index('\n## ', start + 3)],
                        re.M | re.S)
    run = subprocess.run(['bash', '--noprofile', '--norc', '-eo', 'pipefail', '-c',
                          block.replace('localhost:8080', f'127.0.0.1:{api.server.http_port}')],
                         env={**os.environ, 'AUTH': f'Authorization: Bearer {c.sid}'},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answers = [json.loads(a) for a in re.findall(r'\{.*?\}', run.stdout)]
    assert [a['status'] for a in answers] == ['ok', 'ok'], answers
    events.call_update(answers[1]['uuid'], bridge=live_call(c, '+4922166980'))
    c.post(f'/api/call/{answers[1]["uuid"]}/control', json={'controls': [{'control': 'hangup'}]})
    result = rig.sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(result, calls=2)
    assert [leg.split()[1] for leg in invites(result.messages)] == [
        'sip:+491771234567@trunk.test', 'sip:+4922166980@trunk.test']
