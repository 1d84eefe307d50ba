"""/api/phone (§3.9) and what an inbound call to a number does, through public endpoints."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.api.test_call_api import Events
from tests.integration.conftest import Sipp, assert_sipp_ok, wait_for
from tests.integration.rawsip import UdpPeer, new_call_id, request, sdp_offer

UUID0 = '00000000-0000-1000-8000-000000000000'


def test_new_number_from_the_pool_is_unlocked_by_calling_it(start_api, tmp_path):
    api = start_api(TELEPHONY_PHONE_POOL='+4930555000-+4930555001', TELEPHONY_PHONE_LIMIT='5')
    api.add_user('joe')
    c = api.login('joe')
    events = Events(c)
    assert c.get('/api/phone').json() == {'status': 'ok', 'phone': {}}
    created = c.post('/api/phone', json={'create': True}).json()
    assert created['status'] == 'ok'
    number, = [k for k in created if k != 'status']
    code = created[number]['unlock_code']
    assert number == '+4930555000' and len(code) == 4 and code.isdigit()
    events.wait(lambda e: e['event'] == 'phone_modify', what='phone_modify')
    listed = c.get('/api/phone').json()['phone'][number]
    assert listed['unlock_code'] == code and listed['call_enable'] is False
    assert listed['recording_enable'] is True and listed['on_hold_music'] is None
    # a locked number cannot place calls
    assert c.post('/api/call/dial', json={'to': '+4922100078', 'from': number}).json()[
        'status'] == 'locked-phone'

    mark = events.mark()
    sipp = Sipp(tmp_path)
    keys = {f'd{i + 1}': d for i, d in enumerate(code)}
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario='uac_info_digits.xml',
                      service=number, keys=keys, timeout=90, global_timeout=80)
    assert_sipp_ok(result, calls=1, server=api.server)
    events.wait(lambda e: e['event'] == 'phone_modify', since=mark, what='phone_modify on unlock')
    assert 'unlock_code' not in c.get('/api/phone').json()['phone'][number]

    # the pool has one number left, then none
    assert c.post('/api/phone', json={'create': True}).json()['status'] == 'ok'
    assert c.post('/api/phone', json={'create': True}).json()['status'] == 'pool-depleted'


def test_phone_limit_and_concurrent_creates_never_oversubscribe(start_api):
    api = start_api(TELEPHONY_PHONE_LIMIT='2')
    api.add_user('joe')
    c = api.login('joe')
    barrier = threading.Barrier(8)   # eight creates arrive together

    def create(_):
        barrier.wait()
        return c.post('/api/phone', json={'create': True}).json()['status']
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(8)))
    assert set(answers) <= {'ok', 'concurrent-access', 'phone-limit'}
    assert 'concurrent-access' in answers
    numbers = c.get('/api/phone').json()['phone']
    assert len(numbers) == answers.count('ok') <= 2
    while len(c.get('/api/phone').json()['phone']) < 2:
        assert c.post('/api/phone', json={'create': True}).json()['status'] == 'ok'
    assert c.post('/api/phone', json={'create': True}).json()['status'] == 'phone-limit'


def test_update_and_delete_with_documented_errors(api):
    api.add_user('joe')
    api.add_user('eve')
    api.cli('phone', 'add', '+4930555111', '--user', 'joe', '--recording-enable')
    api.cli('phone', 'add', '+4930555222', '--user', 'eve', '--call-enable')
    c = api.login('joe')
    ann = c.post('/api/announcement', json={}).json()['uuid']
    menu = c.post('/api/ivr', json={'description': 'm', 'announcement': ann,
                                    '1': '+4930555111'}).json()['uuid']
    change = {'update': {'+4930555111': {'call_enable': True, 'recording_enable': False,
                                         'ivr': menu, 'notification_email': True}}}
    assert c.post('/api/phone', json=change).json() == {'status': 'ok'}
    mine = c.get('/api/phone').json()['phone']
    assert list(mine) == ['+4930555111']
    p = mine['+4930555111']
    assert p['call_enable'] and not p['recording_enable'] and p['ivr'] == menu
    assert p['notification_email'] and 'announcement' not in p

    def status(body):
        return c.post('/api/phone', json=body).json()['status']
    assert status({'update': {'+4930555222': {'call_enable': True}}}) == 'wrong-phone'
    assert status({'delete': ['+4930555222']}) == 'wrong-phone'
    assert status({'update': {'+4930555111': {'announcement': UUID0}}}) == 'wrong-announcement'
    assert status({'update': {'+4930555111': {'on_hold_music': UUID0}}}) == 'wrong-announcement'
    assert status({'update': {'+4930555111': {'dialplan': UUID0}}}) == 'wrong-dialplan'
    assert status({'update': {'4930555111': {}}}) == 'wrong-syntax'
    assert status({'update': {'+4930555111': {'call_enable': 'maybe'}}}) == 'wrong-syntax'
    assert status({'update': {'+4930555111': {'ivr': 'not-a-uuid'}}}) == 'wrong-syntax'
    assert status({'update': {'+4930555111': {'ivr': UUID0}}}) == 'wrong-ivr'
    assert status({'delete': ['+4930555111']}) == 'ok'
    assert c.get('/api/phone').json()['phone'] == {}
    assert api.client().get('/api/phone').json()['status'] == 'no-session'


def test_voicemail_on_a_recording_number(api, tmp_path):
    api.add_user('joe')
    api.cli('phone', 'add', '+4930555333', '--user', 'joe', '--recording-enable')
    c = api.login('joe')
    sipp = Sipp(tmp_path)
    # the greeting and beep take about 6 s; then the caller's 7 s of speech is the message
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario='uac_pcap.xml',
                      service='+4930555333', extra=['-d', '6500'], timeout=90)
    assert_sipp_ok(result, calls=1, server=api.server)
    # the message exists (status `record`) from its first frame; `ok` once the call has ended
    recs = wait_for(lambda: {u: r for u, r in c.get('/api/recording').json()
                             .get('recording', {}).items() if r['status'] != 'record'}, 30,
                    'a finished voice message')
    uuid, rec = next(iter(recs.items()))
    assert rec['to'] == '+4930555333' and rec['from'] == 'sipp'
    assert rec['status'] == 'ok'


def test_a_call_api_number_without_a_client_gets_a_clear_sip_answer(api):
    api.add_user('joe')
    api.cli('phone', 'add', '+4930555555', '--user', 'joe', '--call-enable')
    peer = UdpPeer(api.server.sip_port)
    try:
        for number, reason in (('+4930555555', 'No Call API Client'),):
            cid = new_call_id()
            peer.send(request('INVITE', f'sip:{number}@127.0.0.1', port=peer.port, call_id=cid,
                              body=sdp_offer(40000), content_type='application/sdp'))
            final, _ = peer.final(cid)
            assert final is not None and final.status == 480 and reason in final.reason, final
    finally:
        peer.close()
