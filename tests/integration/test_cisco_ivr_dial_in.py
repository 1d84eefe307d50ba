"""Dial-in through a Cisco IVR (CMS §8.9, §7.3 resolveToIvrs): an inbound rule, coSpaces and
IVRs made over /api/v1; SIPp calls sip:<ivr uri>@<the rule's domain> and keys a call ID and
`#`, then the coSpace's passcode and `#` (RFC 4733 captures). A wrong call ID gets its prompt
and another try; the right one leads to the coSpace's passcode entry and then its room (the
mixer room keyed by the coSpace's id, seen in the server's conference-join lines); a coSpace
without a passcode is joined at once, an access method's call ID asks for its passcode; an
IVR with resolveCoSpaceCallIds=false knows no ID, and its tries end in goodbye."""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create
from tests.integration.conftest import assert_sipp_ok
from tests.integration.test_cospace_dial_in import DOMAIN, keyed
from tests.integration.uac_steps import NO_SHEDDING, pause, write

start_api = api_fixtures.start_api    # the API tests' fixture: a server and HTTP clients


def dial(server, sipp, tmp_path, uri: str, name: str, steps: list[str],
         domain: str = DOMAIN, wait_bye: bool = False) -> str:
    """One call to sip:<uri>@<domain> that hangs up after the steps (or, `wait_bye`, waits
    for the server to); the server's call id."""
    before = len(server.events('ivr-call'))
    scenario = write(tmp_path / f'{name}.xml', steps, wait_bye=wait_bye, domain=domain)
    result = sipp.run(f'127.0.0.1:{server.sip_port}', scenario=scenario, service=uri,
                      timeout=120, global_timeout=110)
    assert_sipp_ok(result, calls=1, server=server)
    call = server.wait_event('ivr-call', count=before + 1)[before]
    assert call['uri'] == uri
    return call['call']


def prompts_of(api, call: str) -> list[str]:
    return [e['prompt'] for e in api.server.events('conference-pin-prompt') if e['call'] == call]


def test_ivr_dial_in(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_PIN_TIMEOUT='3',
                    TELEPHONY_CONFERENCE_PIN_TRIES='2')
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    board = create(admin, 'coSpaces', name='Board', uri='board', callId='1379',
                   passcode='23456789')
    open_space = create(admin, 'coSpaces', name='Open', uri='open.room', callId='2468')
    create(admin, f'coSpaces/{open_space}/accessMethods', uri='open.guest', callId='3579',
           passcode='12345678')
    ivr = create(admin, 'ivrs', uri='meet')
    closed = create(admin, 'ivrs', uri='closed.ivr', resolveCoSpaceCallIds='false')

    # a wrong call ID (its prompt, another try), the right one, then the coSpace's passcode
    call = dial(api.server, sipp, tmp_path, 'meet', 'board', [
        pause(1000), *keyed('159#'), pause(3000), *keyed('1379#', 1, tmp_path), pause(3000),
        *keyed('23456789#', 2, tmp_path), pause(2000)])
    wrong = [e for e in api.server.events('conference-pin-wrong') if e['call'] == call]
    assert [(e['owner'], e['try']) for e in wrong] == [(ivr, '1')]
    assert api.server.wait_event('ivr-call-id', call=call)[0]['cospace'] == board
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == board
    prompts = prompts_of(api, call)
    assert prompts[:2] == ['ivr-call-id-enter', 'ivr-call-id-wrong']
    # the call ID's prompts (the enter prompt again when the wrong one ended), then the passcode's
    passcode_at = prompts.index('cospace-passcode-enter')
    assert set(prompts[:passcode_at]) == {'ivr-call-id-enter', 'ivr-call-id-wrong'}
    api.server.wait_event('conference-leave', call=call)

    # a coSpace without a passcode: its call ID joins at once
    call = dial(api.server, sipp, tmp_path, 'meet', 'open', [pause(1000), *keyed('2468#'), pause(2000)])
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == open_space
    assert api.server.wait_event('cospace-join', call=call)[0]['passcode'] == 'none'
    api.server.wait_event('conference-leave', call=call)

    # an access method's call ID: its passcode, the coSpace's room
    call = dial(api.server, sipp, tmp_path, 'meet', 'guest', [
        pause(1000), *keyed('3579#'), pause(3000), *keyed('12345678#', 1, tmp_path), pause(2000)])
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == open_space
    api.server.wait_event('conference-leave', call=call)

    # an IVR that does not resolve coSpace call IDs: a real one is a wrong one; after the
    # last try (conference_pin_tries, 2 here) goodbye, and the server hangs up
    call = dial(api.server, sipp, tmp_path, 'closed.ivr', 'closed',
                [pause(1000), *keyed('2468#'), pause(3000), *keyed('2468#', 1, tmp_path)],
                wait_bye=True)
    wrong = api.server.wait_event('conference-pin-wrong', call=call, count=2)
    assert {e['owner'] for e in wrong} == {closed}
    end = api.server.wait_event('conference-pin-end', call=call)[0]
    assert (end['reason'], end['prompt']) == ('wrong-pin', 'goodbye')
    assert not [e for e in api.server.events('conference-join') if e['call'] == call]
    api.server.wait_no_calls()
