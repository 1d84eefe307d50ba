"""Cisco profiles inside coSpace rooms on the real server (CMS §8.2 callProfiles, §8.4
callLegProfiles, §8.8 dtmfProfiles), provisioned over /api/v1 and linked to coSpaces and access
methods by their document names (`callProfile`, `callLegProfile`; `dtmfProfile` globally); SIPp callers
key RFC 4733 captures.

- the global dtmfProfile's `unmuteSelfAudio=*6` with a callLegProfile's `rxAudioMute=true`:
  the caller enters muted (GET /callLegs shows it), keys *6 and is unmuted;
- a callProfile's `participantLimit=1`: a second caller hears the "meeting is full" prompt and
  gets the server's BYE while the first stays;
- a callLegProfile's `needsActivation=true` on a guest access method: the guest waits in the
  lobby until a caller by the coSpace's own URI (no activation needed) comes in.
"""
from __future__ import annotations

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create, fields, parsed
from tests.integration.conftest import assert_sipp_ok, wait_for
from tests.integration.test_conference_keys import keyed_in_order
from tests.integration.uac_steps import NO_SHEDDING, pause, write

start_api = api_fixtures.start_api
DOMAIN = 'meet.example.com'


def _start(api, sipp, tmp_path, name: str, uri: str, steps: list[str], wait_bye: bool = False):
    scenario = write(tmp_path / f'{name}.xml', steps, wait_bye=wait_bye, domain=DOMAIN)
    return sipp.start(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service=uri,
                      global_timeout=110)


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
