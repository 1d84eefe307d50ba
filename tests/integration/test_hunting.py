"""Hunting at run time (Q-loud §4.1 parallel|linear|cyclic): a number's v2 plan rings SIP
accounts registered from real SIPp phones; one answers, the others see a CANCEL, cyclic
rotates across calls and across a server restart.

Phones: baresip (one case), `uas_trunk.xml` answers, `uas_ring_cancel.xml` rings until cancelled,
`uas_busy.xml` is busy. Each registers its account with `register.xml`.
"""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.integration.baresip import Baresip, account_line
from tests.integration.conftest import SCENARIOS, assert_sipp_ok, free_port
from tests.integration.media import write_tone
from tests.integration.uac_steps import NO_SHEDDING

start_api = api_fixtures.start_api
NUMBER = '+4930555200'
ANSWER, RING, BUSY = 'uas_trunk.xml', 'uas_ring_cancel.xml', 'uas_busy.xml'


def world(start_api, n: int, **env):
    """joe with a number and `n` SIP accounts joe_01..; the API client."""
    api = start_api(**NO_SHEDDING, **env)
    api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe')
    c = api.login('joe')
    accounts = [c.post('/api/sip', json={'password': 's3cret-pw'}).json()['user'] for _ in range(n)]
    return api, c, accounts


def plan(c, *profiles) -> str:
    body = c.post('/api/dialplan/v2', json={'dialplan': {'description': 'test',
                                                          'profiles': list(profiles)}}).json()
    assert body['status'] == 'ok', body
    assert c.post('/api/phone', json={'update': {NUMBER: {'dialplan': body['uuid']}}}).json() == {
        'status': 'ok'}
    return body['uuid']


def phone(api, sipp, account: str, scenario: str, calls: int = 1):
    """A SIPp phone on its own port, registered as `account`."""
    port = free_port()
    proc = sipp.start('', scenario=scenario, port=port, calls=calls, global_timeout=120)
    register(api, sipp, account, port)
    return proc


def register(api, sipp, account: str, port: int) -> None:
    """register.xml with a Path to the phone's port: requests for the account go to the
    REGISTER's flow (that SIPp exits) unless a Path on the same host names another port."""
    scenario = sipp.tmp_path / 'register_path.xml'
    if not scenario.exists():
        text = (SCENARIOS / 'register.xml').read_text()
        scenario.write_text(text.replace('Expires: 300\n', 'Expires: 300\n      '
                                         'Path: <sip:[local_ip]:[contact_port];lr>\n'))
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=account,
                      auth=(account, 's3cret-pw'), keys={'domain': 'localhost', 'contact_port': port},
                      timeout=30)
    assert_sipp_ok(result, calls=1, server=api.server)


def caller(api, sipp, calls: int = 1):
    """The caller: SIPp's own uac, which hangs up after its pause."""
    return sipp.run(f'127.0.0.1:{api.server.sip_port}', builtin='uac', service=NUMBER, calls=calls,
                    extra=['-d', '500'], timeout=90)


def finished(sipp, proc, what: str):
    """A phone's scenario ran to its end: it saw what its script waits for."""
    _, cmd, workdir = proc
    result = sipp.wait(_, cmd, workdir, timeout=60)
    assert result.returncode == 0, f'{what}: {result.explain()}'
    return result


def test_parallel_one_answers_the_others_see_cancel(start_api, sipp):
    api, c, (a, b, d) = world(start_api, 3)
    plan(c, {'parallel': {'timeout': 30, 'targets': [a, b, d]}})
    ringers = [phone(api, sipp, b, RING), phone(api, sipp, d, RING)]
    answerer = phone(api, sipp, a, ANSWER)
    assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
    finished(sipp, answerer, 'the answering phone')
    for p in ringers:
        assert 'CANCEL' in finished(sipp, p, 'a ringing phone').messages
    assert api.server.wait_event('hunt-answered')


def test_linear_passes_a_busy_and_a_ringing_out_target_then_one_answers(start_api, sipp):
    api, c, (a, b, d) = world(start_api, 3)
    plan(c, {'linear': {'targets': [{'target': a}, {'target': b, 'timeout': 2}, {'target': d}]}})
    busy, ringer, answerer = phone(api, sipp, a, BUSY), phone(api, sipp, b, RING), \
        phone(api, sipp, d, ANSWER)
    assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
    finished(sipp, busy, 'the busy phone')
    assert 'CANCEL' in finished(sipp, ringer, 'the phone that rang out').messages
    finished(sipp, answerer, 'the answering phone')
    rung = [e['target'] for e in api.server.events('hunt-ring')]
    assert rung == [a, b, d]


def test_cyclic_rotates_across_calls_and_a_restart(start_api, sipp):
    api, c, accounts = world(start_api, 3)
    plan(c, {'cyclic': {'targets': [{'target': x} for x in accounts]}})
    phones = [phone(api, sipp, x, ANSWER) for x in accounts]
    assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
    assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
    assert [e['target'] for e in api.server.events('hunt-ring')] == accounts[:2]
    api.server.stop()
    api.server.start()
    for x, p in zip(accounts, phones):
        register(api, sipp, x, int(p[1][p[1].index('-p') + 1]))
    assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
    # the third call starts at the third account: the rotation was stored before ringing
    assert [e['target'] for e in api.server.events('hunt-ring')] == accounts[2:]
    for p in phones:
        finished(sipp, p, 'an answering phone')


def test_our_own_number_is_rung_internally_and_the_called_number_is_skipped(start_api, sipp):
    api, c, _ = world(start_api, 0)
    mailbox = '+4930555201'
    api.cli('phone', 'add', mailbox, '--user', 'joe', '--recording-enable')
    plan(c, {'parallel': {'targets': [NUMBER, mailbox]}})
    # the mailbox's voice mail answers the loopback leg; the caller is bridged to it
    assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
    assert [e['target'] for e in api.server.events('hunt-ring')] == [mailbox]
    assert api.server.wait_event('hunt-answered')


def test_parallel_with_baresip_answering_and_an_outgoing_number(start_api, sipp, tmp_path):
    """baresip answers joe_01; the other target is an external number, an outgoing call of
    joe's through the trunk (a SIPp that rings until cancelled)."""
    trunk_port = free_port()
    trunk = sipp.start('', scenario=RING, port=trunk_port, calls=1, global_timeout=120)
    api, c, (a,) = world(start_api, 1, TELEPHONY_TRUNK=f'127.0.0.1:{trunk_port}')
    plan(c, {'parallel': {'targets': [a, '+491771234567']}})
    wav = tmp_path / 'joe.wav'
    write_tone(wav, 1900, 60)
    joe = Baresip('joe', tmp_path / 'joe', wav)
    try:
        joe.start([account_line(a, 's3cret-pw', 'localhost', api.server.sip_port,
                                answer_auto=True)])
        joe.wait_event('REGISTER_OK', fail_on=('REGISTER_FAIL',))
        assert_sipp_ok(caller(api, sipp), calls=1, server=api.server)
        joe.wait_event('CALL_ESTABLISHED')
        assert 'CANCEL' in finished(sipp, trunk, 'the trunk').messages
    finally:
        joe.stop()
    assert sorted(e['target'] for e in api.server.events('hunt-ring')) == sorted([a, '+491771234567'])
