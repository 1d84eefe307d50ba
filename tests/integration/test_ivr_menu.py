"""IVR menus at run time (Q-loud §5.1.1): SIPp calls a number with an IVR and keys its way
through a tree with RFC 4733 captures; the server's log and the API show where it went.

Menus and numbers are made over the public API; announcements are uploaded WAVs.
"""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.conftest import Api
from tests.integration.conftest import ROOT, assert_sipp_ok, free_port, wait_for
from tests.integration.uac_steps import NO_SHEDDING, key, pause, write

start_api = api_fixtures.start_api    # the API tests' fixture: a server and HTTP clients
IVR_NUMBER, MAILBOX, GONE, IVR2 = '+4930555100', '+4930555101', '+4930555102', '+4930555103'


def upload(c, prompt: str) -> str:
    """An announcement with a system prompt's audio, once converted."""
    uuid = c.post('/api/announcement', json={'description': prompt}).json()['uuid']
    data = (ROOT / 'prompts' / f'{prompt}.wav').read_bytes()
    assert c.post(f'/api/announcement/{uuid}/{prompt}.wav', content=data,
                  headers={'content-type': 'audio/wav'}).json() == {'status': 'ok'}
    wait_for(lambda: c.get(f'/api/announcement/{uuid}').json()['announcement']['status'] == 'ok',
             30, f'announcement {prompt} converted')
    return uuid


def menu(c, **fields) -> str:
    body = {k.replace('d_', '').replace('star', '*').replace('pound', '#'): v
            for k, v in fields.items()}
    answer = c.post('/api/ivr', json={'description': 'menu', **body}).json()
    assert answer['status'] == 'ok', answer
    return answer['uuid']


def use_ivr(c, number: str, uuid: str) -> None:
    assert c.post('/api/phone', json={'update': {number: {'ivr': uuid}}}).json() == {
        'status': 'ok'}


def call(api: Api, sipp, tmp_path, name: str, steps: list[str], number: str = IVR_NUMBER):
    scenario = write(tmp_path / f'{name}.xml', steps)
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=number,
                      timeout=120, global_timeout=110)
    assert_sipp_ok(result, calls=1, server=api.server)
    return result


def test_a_tree_keyed_by_sipp_ends_in_a_mailbox_of_ours(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_VOICEMAIL_SILENCE='1')
    api.add_user('joe')
    api.cli('phone', 'add', IVR_NUMBER, '--user', 'joe')            # no switch: only the IVR
    api.cli('phone', 'add', MAILBOX, '--user', 'joe', '--recording-enable',
            '--play-announcement-only')
    c = api.login('joe')
    welcome, choose = upload(c, 'hello'), upload(c, 'dtmf')
    sub = menu(c, announcement=choose, d_3=MAILBOX, other='repeat')
    root = menu(c, announcement=welcome, d_1=sub, d_2=MAILBOX,
                timeout={'seconds': 20, 'action': 'repeat'})
    use_ivr(c, IVR_NUMBER, root)

    # 1 while the welcome plays (it breaks it), 2 is not in sub (other: repeat), then 3
    call(api, sipp, tmp_path, 'tree', [pause(1200), key('1'), pause(1200), key('2'),
                                       pause(1200), key('3')])
    menus = api.server.wait_event('ivr-menu', count=2)
    assert [m['ivr'] for m in menus] == [root, sub]
    redirect = api.server.wait_event('ivr-redirect')[-1]
    assert (redirect['ivr'], redirect['number']) == (sub, MAILBOX)
    assert redirect['call'] == menus[0]['call']
    # the mailbox number ran its own application on the same call
    api.server.wait_event('voicemail-announcement-only', call=redirect['call'])
    keyed = [(e['ivr'], e['digit']) for e in api.server.events('ivr-digit')
             if e['call'] == redirect['call']]
    assert keyed == [(root, '1'), (sub, '2'), (sub, '3')]
    # the first key broke the welcome while it played (it lasts 4 s; the key came at 1.2 s)
    assert api.server.events('ivr-digit')[0]['state'] == 'playing'
    api.server.wait_no_calls()
    assert not api.server.events('ivr-goodbye')


def test_a_caller_is_never_trapped(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_IVR_MAX_REPEATS='2', TELEPHONY_IVR_MAX_HOPS='4')
    api.add_user('joe')
    api.cli('phone', 'add', IVR_NUMBER, '--user', 'joe')
    api.cli('phone', 'add', GONE, '--user', 'joe', '--recording-enable')
    c = api.login('joe')
    short = upload(c, 'goodbye')

    # nobody keys anything: the menu plays three times (two repeats), then goodbye
    quiet = menu(c, announcement=short, d_1=GONE, timeout={'seconds': 1, 'action': 'repeat'})
    use_ivr(c, IVR_NUMBER, quiet)
    call(api, sipp, tmp_path, 'quiet', [])
    bye = api.server.wait_event('ivr-goodbye')[-1]
    assert (bye['ivr'], bye['reason']) == (quiet, 'timeout-repeats')

    # two menus that lead to each other: the fifth hop ends the call
    a = menu(c, announcement=short, d_1=GONE)
    b = menu(c, announcement=short, d_3=a, d_7=a)
    assert c.post(f'/api/ivr/{a}', json={'description': 'a', 'announcement': short, '1': b,
                                         '5': b, '9': b}).json()['status'] == 'ok'
    use_ivr(c, IVR_NUMBER, a)
    call(api, sipp, tmp_path, 'loop', [s for d in '13579' for s in (pause(700), key(d))])
    bye = api.server.wait_event('ivr-goodbye', count=2)[-1]
    assert bye['reason'] == 'hops', bye
    call_id = bye['call']
    assert [m['ivr'] for m in api.server.events('ivr-menu') if m['call'] == call_id] == \
        [a, b, a, b, a]

    # a timeout that plays its own announcement, then hangs up
    closing = menu(c, announcement=short, d_1=GONE,
                   timeout={'seconds': 1, 'action': 'play', 'announcement': short})
    use_ivr(c, IVR_NUMBER, closing)
    call(api, sipp, tmp_path, 'closing', [])
    hang = api.server.wait_event('ivr-hangup')[-1]
    assert (hang['ivr'], hang['reason']) == (closing, 'timeout-play')

    # two IVR numbers whose menus send the caller to each other: redirects count as hops
    api.cli('phone', 'add', IVR2, '--user', 'joe')
    there = menu(c, announcement=short, d_1=GONE,
                 timeout={'seconds': 1, 'action': 'call', 'phone': IVR2})
    back = menu(c, announcement=short, d_1=GONE,
                timeout={'seconds': 1, 'action': 'call', 'phone': IVR_NUMBER})
    use_ivr(c, IVR_NUMBER, there)
    use_ivr(c, IVR2, back)
    call(api, sipp, tmp_path, 'ping-pong', [])
    bye = api.server.wait_event('ivr-goodbye', count=3)[-1]
    assert bye['reason'] == 'hops', bye
    assert [(r['ivr'], r['number']) for r in api.server.events('ivr-redirect')
            if r['call'] == bye['call']] == [(there, IVR2), (back, IVR_NUMBER)] * 2

    # a redirect to a number that is no longer ours ends the call (cause 3), never a trunk
    leave = menu(c, announcement=short, d_4=GONE)
    use_ivr(c, IVR_NUMBER, leave)
    assert c.post('/api/phone', json={'delete': [GONE]}).json()['status'] == 'ok'
    # (2 after the announcement: not in the menu, no `other`, so the menu waits on)
    call(api, sipp, tmp_path, 'gone', [pause(3000), key('2'), pause(1000), key('4')])
    refused = api.server.wait_event('ivr-redirect-refused')[-1]
    assert refused['number'] == GONE
    keyed = [(e['digit'], e['state']) for e in api.server.events('ivr-digit')
             if e['call'] == refused['call']]
    assert keyed[-1] == ('4', 'waiting') and ('2', 'waiting') in keyed, keyed
    api.server.wait_event('leg-state', leg=refused['call'], state='hangup', cause=3)
    api.server.wait_no_calls()


def test_a_redirect_to_an_outside_number_goes_out_through_the_trunk(start_api, sipp, tmp_path):
    """A menu's redirect to a number that is not ours is an outgoing call with the menu
    owner's rights (policy, transforms, outbound rules; here the settings trunk), bridged to
    the caller: the SIPp trunk gets the INVITE for that number and the caller's BYE ends it."""
    outside = '+4922100055'
    trunk_port = free_port()
    trunk, _, trunk_dir = sipp.start('', scenario='uas_trunk.xml', port=trunk_port, calls=1,
                                     global_timeout=120)
    api = start_api(**NO_SHEDDING, TELEPHONY_TRUNK=f'127.0.0.1:{trunk_port}')
    api.add_user('joe')
    api.cli('phone', 'add', IVR_NUMBER, '--user', 'joe')
    c = api.login('joe')
    root = menu(c, announcement=upload(c, 'hello'), d_1=outside)
    use_ivr(c, IVR_NUMBER, root)
    scenario = write(tmp_path / 'out.xml', [pause(1500), key('1'), pause(4000)], wait_bye=False)
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=IVR_NUMBER,
                      timeout=120, global_timeout=110)
    assert_sipp_ok(result, calls=1, server=api.server)
    out = api.server.wait_event('ivr-redirect-out', number=outside)[-1]
    assert trunk.wait(timeout=60) == 0, (trunk_dir / 'errors.log').read_text(errors='replace')
    invites = [line for line in (trunk_dir / 'messages.log').read_text().splitlines()
               if line.startswith('INVITE ')]
    assert len(invites) == 1 and invites[0].startswith(f'INVITE sip:{outside}@'), invites
    # the caller's hangup ended the outgoing leg too (bridge, hang up both)
    api.server.wait_event('leg-state', leg=out['leg'], state='hangup')
    api.server.wait_no_calls()
