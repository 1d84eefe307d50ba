"""Dial-in to Cisco coSpaces (CMS §6, §7.3 resolveToCoSpaces): coSpaces, access methods and
an inbound rule made over /api/v1; SIPp calls sip:<uri>@<the rule's domain> and keys
passcodes with RFC 4733 captures. A coSpace without a passcode is joined at once; one with a
passcode (or an access method's) asks for it, a wrong one gets its prompt and another try,
the right one joins the coSpace's room (the mixer room keyed by the coSpace's id, seen in
the server's conference-join lines); a URI no coSpace has answers 404."""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create
from tests.integration.conftest import assert_sipp_ok
from tests.integration.rawsip import UdpPeer, new_call_id, request, sdp_offer
from tests.integration.uac_steps import NO_SHEDDING, key, key_again, pause, write

start_api = api_fixtures.start_api    # the API tests' fixture: a server and HTTP clients
DOMAIN = 'meet.example.com'
GAP = 300      # ms between keys (each capture lasts 140 ms)


def keyed(code: str, round_: int = 0, folder=None) -> list[str]:
    steps = []
    for d in code:
        steps += [pause(GAP)] if steps else []
        steps.append(key(d) if round_ == 0 else key_again(d, round_, folder))
    return steps


def dial(api, sipp, tmp_path, uri: str, name: str, steps: list[str]) -> str:
    """One call to sip:<uri>@DOMAIN that hangs up after the steps; the server's call id."""
    before = len(api.server.events('cospace-call'))
    scenario = write(tmp_path / f'{name}.xml', steps, wait_bye=False, domain=DOMAIN)
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=uri,
                      timeout=120, global_timeout=110)
    assert_sipp_ok(result, calls=1, server=api.server)
    call = api.server.wait_event('cospace-call', count=before + 1)[before]
    assert call['uri'] == uri
    return call['call']


def test_cospace_dial_in(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_PIN_TIMEOUT='3')
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    open_space = create(admin, 'coSpaces', name='Open', uri='open.room', secondaryUri='4711')
    board = create(admin, 'coSpaces', name='Board', uri='board', passcode='12345678')
    guests = create(admin, f'coSpaces/{open_space}/accessMethods', uri='open.guest',
                    passcode='23456789')

    # no passcode: joined at once, by the uri and by the secondaryUri
    for uri in ('open.room', '4711'):
        call = dial(api, sipp, tmp_path, uri, f'open-{uri}', [pause(1500)])
        joined = api.server.wait_event('conference-join', call=call)[0]
        assert joined['conference'] == open_space
        assert api.server.wait_event('cospace-join', call=call)[0]['passcode'] == 'none'
        api.server.wait_event('conference-leave', call=call)
    assert not api.server.events('conference-pin')

    # a passcode: a wrong one first (its prompt, another try), then the right one
    call = dial(api, sipp, tmp_path, 'board', 'board', [
        pause(1000), *keyed('23456789#'), pause(3000), *keyed('12345678#', 1, tmp_path),
        pause(2000)])
    wrong = [e for e in api.server.events('conference-pin-wrong') if e['call'] == call]
    assert [e['try'] for e in wrong] == ['1']
    prompts = [e['prompt'] for e in api.server.events('conference-pin-prompt')
               if e['call'] == call]
    assert prompts[:2] == ['cospace-passcode-enter', 'cospace-passcode-wrong']
    assert api.server.wait_event('conference-pin-ok', call=call)[0]['conference'] == board
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == board
    api.server.wait_event('conference-leave', call=call)

    # an access method: its own URI and passcode, the coSpace's room
    call = dial(api, sipp, tmp_path, 'open.guest', 'guest',
                [pause(1000), *keyed('23456789#'), pause(2000)])
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == open_space
    api.server.wait_event('conference-leave', call=call)
    assert guests

    # a URI that no coSpace has: the rule matched, nothing answers to it
    peer = UdpPeer(api.server.sip_port)
    try:
        cid = new_call_id()
        peer.send(request('INVITE', f'sip:nobody@{DOMAIN}', port=peer.port, call_id=cid,
                          body=sdp_offer(40014), content_type='application/sdp'))
        final, _ = peer.final(cid, timeout=30)
        assert final is not None and final.status == 404, final
    finally:
        peer.close()
    api.server.wait_no_calls()


def test_passcode_mode_timeout_lets_a_silent_caller_in(start_api, sipp, tmp_path):
    """A coSpace whose callProfile has passcodeMode timeout (CMS §8.2.2): the host's way in
    has a passcode, the guests' access method on the same URI has none; a caller who keys
    nothing is taken, after passcodeTimeout, as having keyed the empty passcode and joins
    by the guests' way, with that access method's call leg profile."""
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_PIN_TIMEOUT='30')
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    timeout = create(admin, 'callProfiles', passcodeMode='timeout', passcodeTimeout='2')
    guest_leg = create(admin, 'callLegProfiles', needsActivation='true', rxAudioMute='true')
    space = create(admin, 'coSpaces', name='Lobby', uri='lobby.room', passcode='12345678',
                   callProfile=timeout)
    guests = create(admin, f'coSpaces/{space}/accessMethods', uri='lobby.room',
                    callLegProfile=guest_leg)

    call = dial(api, sipp, tmp_path, 'lobby.room', 'silent', [pause(15000)])
    assert api.server.wait_event('conference-pin-ok', call=call)[0]['conference'] == space
    assert api.server.wait_event('conference-lobby', call=call)[0]['conference'] == space   # needsActivation: nobody activates it
    chosen = api.server.wait_event('cospace-profiles', call=call)[0]
    assert chosen['method'] == guests and chosen['leg'] == 'needsActivation,rxAudioMute'
    assert not [e for e in api.server.events('conference-pin-wrong') if e['call'] == call]
    api.server.wait_event('leg-state', leg=call, state='hangup')
    api.server.wait_no_calls()


def test_an_out_of_policy_passcode_works_only_while_allowed(start_api, sipp, tmp_path):
    """§14.2 allowOutOfPolicy: a passcode set before a dial-in security profile raised the
    minimum is kept; false makes it no way in (keying it is a wrong passcode), true lets
    the caller join with it."""
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_PIN_TIMEOUT='5')
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    space = create(admin, 'coSpaces', name='Old', uri='old.room', passcode='12345678')
    strict = create(admin, 'dialInSecurityProfiles', minPasscodeLength='10',
                    allowOutOfPolicy='false')
    r = admin.put(f'/coSpaces/{space}', data={'dialInSecurityProfile': strict})
    assert r.status_code == 200, r.text   # attaching the profile keeps the old passcode

    call = dial(api, sipp, tmp_path, 'old.room', 'refused', [
        pause(1000), *keyed('12345678#'), pause(2000)])
    assert api.server.wait_event('cospace-out-of-policy', call=call)[0]['refused'] == '1'
    assert api.server.wait_event('conference-pin-wrong', call=call)[0]['try'] == '1'
    assert not [e for e in api.server.events('conference-join') if e['call'] == call]

    r = admin.put(f'/dialInSecurityProfiles/{strict}', data={'allowOutOfPolicy': 'true'})
    assert r.status_code == 200, r.text
    call = dial(api, sipp, tmp_path, 'old.room', 'allowed', [
        pause(1000), *keyed('12345678#'), pause(2000)])
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == space
    api.server.wait_event('conference-leave', call=call)
    api.server.wait_no_calls()
