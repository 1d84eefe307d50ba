"""PIN guessing across calls (ivr/guess_limit.py) with SIPp from several 127.0.0.x sources: a
source that keyed too many wrong PINs is refused even the right one (goodbye and BYE, the
PIN not looked up), while a caller from another address with the right PIN still joins
although the conference owner's budget is spent, and a new address gets one guess there.
The server's log keeps no keyed digit (count only)."""
from __future__ import annotations

import re

from tests.api import conftest as api_fixtures
from tests.integration.conftest import assert_sipp_ok
from tests.integration.test_conference_pin import DIAL_IN, conference, keyed
from tests.integration.uac_steps import NO_SHEDDING, pause, write

start_api = api_fixtures.start_api
PIN = '2468'


def dial_in(api, sipp, tmp_path, name: str, host: str, steps: list[str],
            wait_bye: bool = True) -> str:
    """One SIPp call from `host` (a 127.0.0.x loopback address); the server's call id."""
    before = len(api.server.events('conference-pin'))
    scenario = write(tmp_path / f'{name}.xml', steps, wait_bye)
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=DIAL_IN,
                      timeout=120, global_timeout=110,
                      extra=['-i', host, '-mi', host, '-ci', host])   # the last -i counts
    assert_sipp_ok(result, calls=1, server=api.server)
    return api.server.wait_event('conference-pin', count=before + 1)[before]['call']


def ended(api, call: str) -> tuple[str, str]:
    end = api.server.wait_event('conference-pin-end', call=call)[0]
    return end['reason'], end['prompt']


def of(api, name: str, call: str) -> list[dict]:
    return [e for e in api.server.events(name) if e['call'] == call]


def test_a_guessing_source_is_refused_and_others_still_join(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_PIN_SOURCE_FAILURES='3',
                    TELEPHONY_PIN_TARGET_GUESSES='3')
    api.add_user('joe')
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    room = conference(api.login('joe'), PIN)

    # 127.0.0.1 keys three wrong PINs: goodbye; it has spent its own and joe's budget
    call = dial_in(api, sipp, tmp_path, 'guesser', '127.0.0.1', [
        pause(1000), *keyed('1234'), pause(1000), *keyed('5678'), pause(1000),
        *keyed('1234', 1, tmp_path)])
    assert [e['try'] for e in of(api, 'conference-pin-wrong', call)] == ['1', '2', '3']
    assert ended(api, call) == ('wrong-pin', 'goodbye')
    source = of(api, 'invite', call)[0]['source']
    assert source == '127.0.0.1'

    # it redials with the right PIN: refused before the lookup, the same goodbye and BYE
    call = dial_in(api, sipp, tmp_path, 'guesser-right', '127.0.0.1', [
        pause(1000), *keyed(PIN)])
    assert ended(api, call) == ('limited', 'goodbye')
    assert of(api, 'conference-pin-limited', call)
    assert not of(api, 'conference-pin-wrong', call) and not of(api, 'conference-pin-ok', call)

    # a caller from 127.0.0.2 who knows the PIN joins joe's conference all the same
    call = dial_in(api, sipp, tmp_path, 'member', '127.0.0.2', [
        pause(1000), *keyed(PIN), pause(2000)], wait_bye=False)
    assert of(api, 'invite', call)[0]['source'] == '127.0.0.2'
    assert api.server.wait_event('conference-pin-ok', call=call)[0]['conference'] == room
    api.server.wait_event('conference-leave', call=call)

    # a new address gets one guess at joe's spent budget, not a second (even the right PIN)
    call = dial_in(api, sipp, tmp_path, 'second-guesser', '127.0.0.3', [
        pause(1000), *keyed('1357'), pause(1000), *keyed(PIN)])
    assert [e['try'] for e in of(api, 'conference-pin-wrong', call)] == ['1']
    assert ended(api, call) == ('limited', 'goodbye')
    api.server.wait_no_calls()

    # the keys reached the server (counted per call), no digit is in the log
    lines = api.server.log_lines()
    keys = [line for line in lines if 'event=dtmf' in line]
    assert len(keys) >= 4 * 4
    assert not [line for line in lines if re.search(r'\bdigits?=', line)]
    assert not [line for line in keys + [x for x in lines if 'conference-pin' in x]
                if re.search(rf'(?<![0-9A-Za-z]){PIN}(?![0-9A-Za-z])', line)]
