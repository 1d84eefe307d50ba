"""Cisco profiles inside coSpace rooms on the real server (CMS §8.2 callProfiles, §8.4
callLegProfiles, §8.8 dtmfProfiles), provisioned over /api/v1 and linked to coSpaces and access
methods by their document names (`callProfile`, `callLegProfile`; `dtmfProfile` globally); SIPp callers
key RFC 4733 captures.

- the global dtmfProfile's `unmuteSelfAudio=*6` with a callLegProfile's `rxAudioMute=true`:
  the caller enters muted (GET /callLegs shows it), keys *6 and is unmuted;
- a callProfile's `participantLimit=1`: a second caller hears the "meeting is full" prompt and
  gets the server's BYE while the first stays;
- a callLegProfile's `needsActivation=true` on a guest access method: the guest waits in the
  lobby until a caller by the coSpace's own URI (no activation needed) comes in;
- DTMF actions run only where the leg's profile allows them (§8.4 muteSelfAllowed,
  muteOthersAllowed, endCallAllowed): the coSpace's callLegProfile forbids, an access
  method's allows; a refused key logs conference-dtmf-refused and changes nothing.

Keys are robust to a slow join: a caller keys an idempotent action five times, and the test
waits until the server heard every key (the `dtmf` lines count them) before it says what did
not happen. Where the server may hang a caller up while it still keys (endCall), the pauses
between repeats are `recv BYE` with a timeout (`_keys_until_bye`), so SIPp takes the BYE
whenever it comes.
"""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create, fields, listing, parsed
from tests.integration.conftest import assert_sipp_ok, wait_for
from tests.integration.test_conference_keys import keyed_in_order
from tests.integration.uac_steps import NO_SHEDDING, pause, write

start_api = api_fixtures.start_api
DOMAIN = 'meet.example.com'


def _start(api, sipp, tmp_path, name: str, uri: str, steps: list[str], wait_bye: bool = False):
    scenario = write(tmp_path / f'{name}.xml', steps, wait_bye=wait_bye, domain=DOMAIN)
    return sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=uri,
                      global_timeout=110)


def _rounds(code: str, times: int, folder, every: int = 1500, bye: bool = False) -> list[str]:
    """`code` keyed `times` times (its keys GAP apart), `every` ms between two rounds. With
    `bye` each such wait takes a BYE (then to the 200 OK of `_bye_aware`'s tail), so a hangup
    mid-keys is no failure."""
    steps = keyed_in_order(code * times, folder)
    per = 2 * len(code)              # a round's keys and pauses, with the pause after it
    for i in range(times - 1):
        steps[per * (i + 1) - 1] = pause(every) if not bye else (
            f'  <recv request="BYE" timeout="{every}" ontimeout="k{i}" next="bye"/>\n'
            f'  <label id="k{i}"/>\n')
    return steps


def _bye_aware(api, sipp, tmp_path, name: str, uri: str, steps: list[str]):
    """A caller that ends on the server's BYE, one taken mid-steps too (label `bye`)."""
    path = write(tmp_path / f'{name}.xml', steps, wait_bye=True, domain=DOMAIN)
    text = path.read_text()
    path.write_text(text.replace('<recv request="BYE" timeout="90000"/>',
                                 '<recv request="BYE" timeout="90000"/>\n  <label id="bye"/>', 1))
    return sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=path, service=uri,
                      global_timeout=110)


def _joined(api, uri: str, count: int = 1) -> str:
    """The member id of the `count`th caller to `uri`, once it is in the room."""
    call = _call_of(api, uri, count)
    return api.server.wait_event('conference-join', call=call)[0]['member']


def _all_keys_heard(api, uri: str, keys: int, count: int = 1) -> None:
    api.server.wait_event('dtmf', call=_call_of(api, uri, count), n=keys, timeout=60)


def _rooms_with_rights(admin, right: str, dtmf: dict) -> str:
    """A coSpace whose own URI gives legs a profile with `right`=false, its access method
    `chair.room` one with `right`=true, and the global dtmfProfile `dtmf`."""
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    no = create(admin, 'callLegProfiles', **{right: 'false'})
    yes = create(admin, 'callLegProfiles', **{right: 'true'})
    assert admin.put('/system/profiles', data={
        'dtmfProfile': create(admin, 'dtmfProfiles', **dtmf)}).status_code == 200
    space = create(admin, 'coSpaces', name='Rights', uri='guest.room', callLegProfile=no)
    create(admin, f'coSpaces/{space}/accessMethods', uri='chair.room', callLegProfile=yes)
    return space


def _leg_config(admin, leg: str) -> dict[str, str]:
    return fields(parsed(admin.get(f'/callLegs/{leg}')).find('configuration'))


def _call_of(api, uri: str, count: int = 1) -> str:
    calls = [e for e in api.server.wait_event('cospace-call', uri=uri, count=count)]
    return calls[count - 1]['call']


def test_keys_unmute_a_caller_that_entered_muted(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    dtmf = create(admin, 'dtmfProfiles', unmuteSelfAudio='*6')
    leg = create(admin, 'callLegProfiles', rxAudioMute='true')
    # a DTMF profile is named only globally or by a tenant (§10.5, §14), never by a coSpace
    assert admin.put('/system/profiles', data={'dtmfProfile': dtmf}).status_code == 200
    space = create(admin, 'coSpaces', name='Keys', uri='keys', callLegProfile=leg)
    run = _start(api, sipp, tmp_path, 'keys', 'keys',
                 # keyed five times over 15 s: a busy box may take a while to put the caller in the
                 # room, and unmuting is idempotent, so only keys after the join count
                 [pause(6000), *keyed_in_order('*6' * 5, tmp_path, gap=1500), pause(2000)])
    call = _call_of(api, 'keys')
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == space
    [leg_id] = [el.get('id') for el in parsed(admin.get('/callLegs'))]
    config = fields(parsed(admin.get(f'/callLegs/{leg_id}')).find('configuration'))
    assert config['rxAudioMute'] == 'true'                     # entered muted
    api.server.wait_event('conference-dtmf-action', conference=space,
                          action='unmuteSelfAudio')
    api.server.wait_event('conference-member-update', conference=space, fields='mute')
    config = fields(parsed(admin.get(f'/callLegs/{leg_id}')).find('configuration'))
    assert config['rxAudioMute'] == 'false'
    assert_sipp_ok(sipp.wait(*run, timeout=60), calls=1, server=api.server)
    api.server.wait_no_calls()


def test_participant_limit_refuses_the_second_caller(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    profile = create(admin, 'callProfiles', participantLimit='1')
    space = create(admin, 'coSpaces', name='Small', uri='small', callProfile=profile)
    first = _start(api, sipp, tmp_path, 'first', 'small', [pause(8000)])
    call = _call_of(api, 'small')
    api.server.wait_event('conference-join', call=call)
    second = sipp.run(f'127.0.0.1:{api.server.sip_port}',
                      scenario=write(tmp_path / 'second.xml', [], wait_bye=True, domain=DOMAIN),
                      service='small', timeout=120, global_timeout=110)
    assert_sipp_ok(second, calls=1, server=api.server)         # the prompt, then our BYE
    [full] = api.server.wait_event('conference-full', conference=space)
    assert full['call'] == _call_of(api, 'small', 2)
    assert len(api.server.events('conference-join')) == 1
    assert_sipp_ok(sipp.wait(*first, timeout=60), calls=1, server=api.server)
    api.server.wait_no_calls()


def test_a_guest_waits_in_the_lobby_until_the_host_comes(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    guest_leg = create(admin, 'callLegProfiles', needsActivation='true')
    space = create(admin, 'coSpaces', name='Lobby', uri='host.room')
    create(admin, f'coSpaces/{space}/accessMethods', uri='guest.room',
           callLegProfile=guest_leg)
    guest = _start(api, sipp, tmp_path, 'guest', 'guest.room', [pause(12000)])
    gcall = _call_of(api, 'guest.room')
    api.server.wait_event('conference-lobby', call=gcall)
    assert not api.server.events('conference-join')             # not mixed, no call yet
    host = _start(api, sipp, tmp_path, 'host', 'host.room', [pause(3000)])
    hcall = _call_of(api, 'host.room')
    api.server.wait_event('conference-join', call=hcall)
    api.server.wait_event('conference-join', call=gcall)        # activated by the host
    wait_for(lambda: len(parsed(admin.get('/callLegs'))) == 2, 20, 'two call legs')
    assert_sipp_ok(sipp.wait(*host, timeout=60), calls=1, server=api.server)
    api.server.wait_event('conference-deactivated', mode='deactivate')   # back to the lobby
    assert_sipp_ok(sipp.wait(*guest, timeout=60), calls=1, server=api.server)
    api.server.wait_no_calls()


def test_lobby_legs_are_call_legs_of_a_running_call(start_api, sipp, tmp_path):
    """Guests waiting for activation are connected legs (§8.3.6 status `state` connected,
    `deactivated` true): their call is in GET /calls, they are in /callLegs and
    /participants and counted in numCallLegs; DELETE disconnects one; a PUT rxAudioMute
    waits for its admission."""
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    guest_leg = create(admin, 'callLegProfiles', needsActivation='true')
    space = create(admin, 'coSpaces', name='Lobby', uri='host.room')
    create(admin, f'coSpaces/{space}/accessMethods', uri='guest.room',
           callLegProfile=guest_leg)
    guests, waiting = [], []
    for i in (1, 2):    # one after the other, so the i-th call to guest.room is SIPp guest<i>
        guests.append(_start(api, sipp, tmp_path, f'guest{i}', 'guest.room', [], wait_bye=True))
        waiting.append(api.server.wait_event(
            'conference-lobby', call=_call_of(api, 'guest.room', i))[0]['member'])
    total, calls = listing(admin, 'calls')
    assert total == 1 and calls[0][1]['coSpace'] == space
    call_id = calls[0][0]
    call = fields(parsed(admin.get(f'/calls/{call_id}')))
    assert (call['numCallLegs'], call['maxCallLegs']) == ('2', '2')
    assert {leg for leg, _ in listing(admin, 'callLegs')[1]} == set(waiting)
    assert {p for p, _ in listing(admin, f'calls/{call_id}/participants')[1]} == set(waiting)
    status = fields(parsed(admin.get(f'/callLegs/{waiting[0]}')).find('status'))
    assert (status['state'], status['deactivated']) == ('connected', 'true')

    # DELETE of a waiting leg: our BYE
    assert admin.delete(f'/callLegs/{waiting[1]}').status_code == 200
    assert_sipp_ok(sipp.wait(*guests[1], timeout=60), calls=1, server=api.server)
    assert listing(admin, 'callLegs')[0] == 1

    # a mute set while it waits holds once the host's arrival admits it
    assert admin.put(f'/callLegs/{waiting[0]}', data={'rxAudioMute': 'true'}).status_code == 200
    assert _leg_config(admin, waiting[0])['rxAudioMute'] == 'true'
    host = _start(api, sipp, tmp_path, 'host', 'host.room', [], wait_bye=True)
    api.server.wait_event('conference-join', member=waiting[0])
    leg = parsed(admin.get(f'/callLegs/{waiting[0]}'))
    assert fields(leg.find('configuration'))['rxAudioMute'] == 'true'
    assert 'deactivated' not in fields(leg.find('status'))
    assert admin.delete(f'/calls/{call_id}').status_code == 200
    for sent in (guests[0], host):
        assert_sipp_ok(sipp.wait(*sent, timeout=60), calls=1, server=api.server)
    api.server.wait_no_calls()


def test_self_mute_keys_work_only_with_mute_self_allowed(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    space = _rooms_with_rights(admin, 'muteSelfAllowed',
                               {'muteSelfAudio': '*5', 'toggleMuteSelfAudio': '*7'})
    guest = _start(api, sipp, tmp_path, 'guest', 'guest.room',
                   [pause(3000), *_rounds('*5*7', 3, tmp_path), pause(500)])
    guest_leg = _joined(api, 'guest.room')
    _all_keys_heard(api, 'guest.room', 12)
    assert {(e['member'], e['action']) for e in api.server.events('conference-dtmf-refused')} == \
        {(guest_leg, 'muteSelfAudio'), (guest_leg, 'toggleMuteSelfAudio')}
    assert _leg_config(admin, guest_leg)['rxAudioMute'] == 'false'     # the mute did not change
    assert_sipp_ok(sipp.wait(*guest, timeout=60), calls=1, server=api.server)
    assert not api.server.events('conference-member-update')
    assert not api.server.events('conference-dtmf-action')

    # by the access method that allows it the same keys mute
    chair = _start(api, sipp, tmp_path, 'chair', 'chair.room',
                   [pause(3000), *_rounds('*5', 5, tmp_path), pause(500)])
    chair_leg = _joined(api, 'chair.room')
    api.server.wait_event('conference-dtmf-action', member=chair_leg, action='muteSelfAudio')
    api.server.wait_event('conference-member-update', member=chair_leg, fields='mute')
    assert _leg_config(admin, chair_leg)['rxAudioMute'] == 'true'
    assert_sipp_ok(sipp.wait(*chair, timeout=60), calls=1, server=api.server)
    assert {e['conference'] for e in api.server.events('conference-join')} == {space}
    api.server.wait_no_calls()


def test_mute_all_except_self_works_only_with_mute_others_allowed(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    _rooms_with_rights(admin, 'muteOthersAllowed', {'muteAllExceptSelfAudio': '*8'})
    other = _bye_aware(api, sipp, tmp_path, 'other', 'guest.room', [])
    other_leg = _joined(api, 'guest.room')
    guest = _bye_aware(api, sipp, tmp_path, 'guest', 'guest.room',
                       [pause(3000), *_rounds('*8', 5, tmp_path)])
    guest_leg = _joined(api, 'guest.room', 2)
    _all_keys_heard(api, 'guest.room', 10, count=2)
    assert {(e['member'], e['action']) for e in api.server.events('conference-dtmf-refused')} == \
        {(guest_leg, 'muteAllExceptSelfAudio')}
    assert not api.server.events('conference-member-update')          # nobody was muted
    assert _leg_config(admin, other_leg)['rxAudioMute'] == 'false'

    # by the access method that allows it: everyone else is muted, the chair is not
    chair = _start(api, sipp, tmp_path, 'chair', 'chair.room',
                   [pause(3000), *_rounds('*8', 5, tmp_path), pause(500)])
    chair_leg = _joined(api, 'chair.room')
    api.server.wait_event('conference-dtmf-action', member=chair_leg,
                          action='muteAllExceptSelfAudio')
    for leg in (other_leg, guest_leg):
        api.server.wait_event('conference-member-update', member=leg, fields='mute')
        assert _leg_config(admin, leg)['rxAudioMute'] == 'true'
    assert_sipp_ok(sipp.wait(*chair, timeout=60), calls=1, server=api.server)
    assert not [e for e in api.server.events('conference-member-update') if e['member'] == chair_leg]
    for leg, run in ((guest_leg, guest), (other_leg, other)):   # our BYE ends them
        assert admin.delete(f'/callLegs/{leg}').status_code == 200
        assert_sipp_ok(sipp.wait(*run, timeout=60), calls=1, server=api.server)
    api.server.wait_no_calls()


def test_end_call_key_works_only_with_end_call_allowed(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    _rooms_with_rights(admin, 'endCallAllowed', {'endCall': '*9'})
    host = _bye_aware(api, sipp, tmp_path, 'host', 'guest.room', [])
    host_leg = _joined(api, 'guest.room')
    guest = _bye_aware(api, sipp, tmp_path, 'guest', 'guest.room',
                       [pause(3000), *_rounds('*9', 5, tmp_path, bye=True)])
    guest_leg = _joined(api, 'guest.room', 2)
    _all_keys_heard(api, 'guest.room', 10, count=2)
    assert {(e['member'], e['action']) for e in api.server.events('conference-dtmf-refused')} == \
        {(guest_leg, 'endCall')}
    assert {el.get('id') for el in parsed(admin.get('/callLegs'))} == {host_leg, guest_leg}

    # by the access method that allows it: every leg gets our BYE
    chair = _bye_aware(api, sipp, tmp_path, 'chair', 'chair.room',
                       [pause(3000), *_rounds('*9', 5, tmp_path, bye=True)])
    chair_leg = _joined(api, 'chair.room')
    api.server.wait_event('conference-dtmf-action', member=chair_leg, action='endCall')
    for run in (host, guest, chair):
        result = sipp.wait(*run, timeout=60)
        assert_sipp_ok(result, calls=1, server=api.server)
        assert 'BYE sip:' in result.messages
    api.server.wait_no_calls()
