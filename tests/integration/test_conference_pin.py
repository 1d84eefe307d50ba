"""Conference dial-in (Q-loud §3.17 `pin`, ivr/pin.py): SIPp calls a number with
`conference_enable` and keys PINs with RFC 4733 captures; conferences are made over the
public API. Three wrong PINs get goodbye and the server's BYE, an inactive conference its
prompt and BYE, the right PIN joins the room (until the caller hangs up), and a caller who keys nothing is prompted again, a bounded number of times.
"""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.integration.conftest import assert_sipp_ok
from tests.integration.uac_steps import NO_SHEDDING, key, key_again, pause, write

start_api = api_fixtures.start_api    # the API tests' fixture: a server and HTTP clients
DIAL_IN = '+4930555400'
GAP = 300      # ms between the keys of one PIN (each capture lasts 140 ms)


def keyed(pin: str, round_: int = 0, folder=None) -> list[str]:
    """The PIN's keys, GAP apart (none after the last: the server may hang up at once)."""
    steps = []
    for d in pin:
        steps += [pause(GAP)] if steps else []
        steps.append(key(d) if round_ == 0 else key_again(d, round_, folder))
    return steps


def conference(c, pin: str, active: bool = True) -> str:
    answer = c.post('/api/conference', json={'description': 'team', 'pin': pin,
                                             'active': active}).json()
    assert answer['status'] == 'ok', answer
    return answer['uuid']


def dial_in(api, sipp, tmp_path, name: str, steps: list[str], wait_bye: bool = True) -> str:
    """One call that waits for the server's BYE (or sends its own after the steps); the
    call id the server logged for it."""
    before = len(api.server.events('conference-pin'))
    scenario = write(tmp_path / f'{name}.xml', steps, wait_bye)
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=DIAL_IN,
                      timeout=120, global_timeout=110)
    assert_sipp_ok(result, calls=1, server=api.server)
    return api.server.wait_event('conference-pin', count=before + 1)[before]['call']


def prompts(api, call: str) -> list[str]:
    return [e['prompt'] for e in api.server.events('conference-pin-prompt') if e['call'] == call]


def test_pin_entry_end_to_end(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_PIN_TIMEOUT='2',
                    TELEPHONY_CONFERENCE_PIN_PROMPTS='1')
    api.add_user('joe')
    api.add_user('eve')
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    c = api.login('joe')
    room = conference(c, '2468')
    closed = conference(c, '1357', active=False)
    conference(api.login('eve'), '1234')          # another owner's PIN opens nothing here
    assert c.get(f'/api/conference/{room}').json()['conference']['phone'] == [DIAL_IN]

    # three wrong PINs (the first during the prompt, the second during the wrong-PIN prompt)
    call = dial_in(api, sipp, tmp_path, 'wrong', [
        pause(1000), *keyed('1234'), pause(1000), *keyed('5678'), pause(4500),
        *keyed('1234', 1, tmp_path)])
    wrong = [e for e in api.server.events('conference-pin-wrong') if e['call'] == call]
    assert [e['try'] for e in wrong] == ['1', '2', '3']
    end = api.server.wait_event('conference-pin-end', call=call)[0]
    assert (end['reason'], end['prompt']) == ('wrong-pin', 'goodbye')
    assert prompts(api, call) == ['conference-pin-enter', 'conference-pin-wrong',
                                  'conference-pin-wrong', 'conference-pin-enter']
    assert not api.server.events('conference-pin-ok')

    # an inactive conference: its prompt, then BYE
    call = dial_in(api, sipp, tmp_path, 'inactive', [pause(1000), *keyed('1357')])
    end = api.server.wait_event('conference-pin-end', call=call)[0]
    assert (end['reason'], end['prompt']) == ('inactive', 'conference-inactive')
    assert not api.server.events('conference-join')

    # the right PIN, keyed after the prompt: the caller is in the room until it hangs up
    call = dial_in(api, sipp, tmp_path, 'right', [pause(5000), *keyed('2468'), pause(2000)],
                   wait_bye=False)
    ok = api.server.wait_event('conference-pin-ok', call=call)[0]
    assert ok['conference'] == room
    joined = api.server.wait_event('conference-join', call=call)[0]
    assert (joined['conference'], joined['members']) == (room, '1')
    api.server.wait_event('conference-leave', call=call)
    assert closed != room

    # nobody keys anything: prompted again once (TELEPHONY_CONFERENCE_PIN_PROMPTS=1), then goodbye
    call = dial_in(api, sipp, tmp_path, 'silent', [])
    end = api.server.wait_event('conference-pin-end', call=call)[0]
    assert (end['reason'], end['prompt']) == ('timeout', 'goodbye')
    assert prompts(api, call) == ['conference-pin-enter', 'conference-pin-enter']
    api.server.wait_no_calls()
