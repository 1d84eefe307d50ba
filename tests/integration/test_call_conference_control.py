"""The Q-loud `conference` control (our extension of §3.24) on the real server: a call the
owner dialled through /api/call/dial (out through an outbound rule to a SIPp trunk that
answers) joins the owner's conference as a member; a SIPp caller keys the PIN of the same
conference and plays a tone, which the API leg hears (its tap). `split` takes the leg out
of the room while the call goes on; the hangup ends it. An inbound call_enable call joins
too, once it has media. Bad input gets the document's status strings."""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create
from tests.api.test_call_api import Events, control
from tests.integration.conftest import assert_sipp_ok, free_port
from tests.integration.media import tone, tone_level, write_rtp_pcap
from tests.integration.test_conference_audio import HEARD, SETTLE, WINDOW, Taps
from tests.integration.test_conference_pin import DIAL_IN, conference, keyed
from tests.integration.test_conference_room import is_
from tests.integration.uac_steps import NO_SHEDDING, pause, play, write

start_api = api_fixtures.start_api
NUMBER = '+4930555001'
HZ = 1790.0
UNKNOWN = '00000000-0000-0000-0000-000000000000'


def test_an_api_call_joins_a_conference_and_leaves_it(start_api, sipp, tmp_path):
    taps_dir = tmp_path / 'taps'
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_TAP_DIR=str(taps_dir))
    admin = add_admin(api)
    api.add_user('joe')
    api.add_user('ann')
    api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    c = api.login('joe')
    c.get('/api/call/event')
    conf = conference(c, '2468')
    c.get(f'/api/conference/{conf}/event')
    events = Events(c)
    others = conference(api.login('ann'), '1357')
    trunk_port = free_port()
    trunk = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, global_timeout=110)
    create(admin, 'outboundDialPlanRules', domain='carrier.test',
           sipProxy=f'127.0.0.1:{trunk_port}', priority='10')

    # a SIPp caller in the conference, playing its tone
    pcap = tmp_path / 'tone.pcap'
    write_rtp_pcap(pcap, tone(HZ, 100))
    caller = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=write(
        tmp_path / 'caller.xml', [pause(2000), *keyed('2468'), pause(200), play(pcap)]),
        service=DIAL_IN, global_timeout=110)
    first = events.wait(is_('conference_join', conf), 60, 'the caller joining')
    [caller_member] = first['member']

    # the API dials out; answered, it is driven into the conference
    create(admin, 'dialTransforms', type='raw', match='($1/^[+]4922/)',
           transform='$1{/^[+]/00/}@carrier.test', priority='10')
    r = c.post('/api/call/dial', json={'to': '+4922100099', 'from': NUMBER}).json()
    assert r['status'] == 'ok', r
    uuid = r['uuid']
    events.call_update(uuid, status='answered')

    # bad input first: the document's status strings, nothing joins
    bad = [({'control': 'conference', 'conference': 'nope'}, 'wrong-syntax'),
           ({'control': 'conference', 'conference': UNKNOWN}, 'wrong-conference'),
           ({'control': 'conference', 'conference': others}, 'wrong-conference'),
           ({'control': 'conference', 'conference': conf, 'mute': 'yes'}, 'wrong-syntax'),
           ({'control': 'conference'}, 'missing-element')]
    for ctl, status in bad:
        assert control(c, uuid, ctl)['status'] == status, ctl

    mark = events.mark()
    assert control(c, uuid, {'control': 'conference', 'conference': conf})['status'] == 'ok'
    joined = events.wait(lambda e: is_('conference_join', conf)(e)
                         and caller_member not in e['member'], since=mark, what='the API leg')
    [member] = joined['member']
    taps = Taps(api, taps_dir / conf)
    taps.started(member)
    taps.wait_past(member, taps.start[member] + SETTLE + WINDOW)

    # split: out of the room, the call goes on; split again is illegal-state
    mark = events.mark()
    assert control(c, uuid, {'control': 'split'})['status'] == 'ok'
    left = events.wait(is_('conference_leave', conf), since=mark, what='the API leg leaving')
    assert left['member'] == [member]
    assert control(c, uuid, {'control': 'split'})['status'] == 'illegal-state'
    assert c.get('/api/call', params={'uuid': uuid}).json()['call'][uuid]['status'] == 'answered'
    heard = taps.final(member)
    start = SETTLE * 160
    assert tone_level(heard[start:start + WINDOW * 160], HZ) > HEARD

    # in again (muted this time), then the hangup takes it out
    mark = events.mark()
    assert control(c, uuid, {'control': 'conference', 'conference': conf, 'mute': True})[
        'status'] == 'ok'
    again = events.wait(lambda e: is_('conference_join', conf)(e)
                        and caller_member not in e['member'], since=mark, what='joining again')
    [second] = again['member']
    assert again['member'][second]['mute'] is True
    assert control(c, uuid, {'control': 'hangup'})['status'] == 'ok'
    events.wait(lambda e: is_('conference_leave', conf)(e) and e['member'] == [second],
                since=mark, what='the hangup leaving')
    assert_sipp_ok(sipp.wait(*trunk, timeout=60), calls=1, server=api.server)

    # an inbound call_enable call: not before it has media; ringing and answered in the
    # same request, it joins
    mark = events.mark()
    inbound = sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=write(
        tmp_path / 'inbound.xml', []), service=NUMBER, global_timeout=110)
    ev = events.wait(lambda e: e['event'] == 'call_update' and any(
        v.get('status') == 'calling' for v in e['call'].values()), since=mark, what='a call')
    [incoming] = ev['call']
    join = {'control': 'conference', 'conference': conf}
    assert control(c, incoming, join)['status'] == 'illegal-state'
    mark = events.mark()
    assert control(c, incoming, {'control': 'ring'}, {'control': 'answer'}, join)['status'] == 'ok'
    events.wait(lambda e: is_('conference_join', conf)(e) and caller_member not in e['member'],
                since=mark, what='the inbound call joining')

    # a `conference` queued behind a sleep is checked again when it runs: the conference
    # deactivated meanwhile is not joined, and the control ends with wrong-conference
    mark = events.mark()
    assert control(c, incoming, {'control': 'split'}, {'control': 'sleep', 'duration': 8000,
                                                       'id': 'nap'},
                   {**join, 'id': 'late'})['status'] == 'ok'
    events.call_update(incoming, since=mark, current_control_id='nap')
    assert c.post(f'/api/conference/{conf}', json={'active': False}).json()['status'] == 'ok'
    events.call_update(incoming, since=mark, last_control_id='late',
                       last_control_error='wrong-conference')
    assert not [e for e in events.seen[mark:] if is_('conference_join', conf)(e)]
    view = c.get('/api/call', params={'uuid': incoming}).json()['call'][incoming]
    assert view['last_control_error'] == 'wrong-conference'
    assert control(c, incoming, {'control': 'split'})['status'] == 'illegal-state'   # in none
    assert control(c, incoming, {'control': 'hangup'})['status'] == 'ok'
    assert_sipp_ok(sipp.wait(*inbound, timeout=60), calls=1, server=api.server)
    c.post(f'/api/conference/{conf}/member', json={'delete': [caller_member]})
    assert_sipp_ok(sipp.wait(*caller, timeout=60), calls=1, server=api.server)
