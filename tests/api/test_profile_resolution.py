"""store/profiles.py `resolve_profiles` on a real SQLite file: the hierarchy global
(system/profiles) -> coSpace -> access method -> a dial-out's own callLegProfile for each kind, what a deleted profile leaves,
and the callLegProfileTrace it renders (§8.4.7)."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from telephony.api.cisco.profiles import trace_xml
from telephony.dialplan.confprofiles import ACCESS_METHOD, CALL_LEG, COSPACE, GLOBAL
from telephony.store import cospaces as cs
from telephony.store import profiles as ps
from telephony.store.db import Database


@pytest.fixture
async def stores(tmp_path):
    db = Database(f'sqlite+aiosqlite:///{tmp_path / "telephony.db"}')
    await db.open()
    yield ps.ProfileStore(db), cs.CoSpaceStore(db)
    await db.close()


async def test_each_level_overrides_the_one_above(stores):
    profiles, spaces = stores
    top_leg = await profiles.create(ps.CALL_LEG_PROFILES, {
        'participantLabels': 'true', 'rxAudioMute': 'true', 'needsActivation': 'true',
        'name': 'top'})
    space_leg = await profiles.create(ps.CALL_LEG_PROFILES, {'participantLabels': 'false'})
    method_leg = await profiles.create(ps.CALL_LEG_PROFILES, {'needsActivation': 'false',
                                                              'maxCallDurationTime': '60'})
    top_call = await profiles.create(ps.CALL_PROFILES, {'participantLimit': '50'})
    space_call = await profiles.create(ps.CALL_PROFILES, {'passcodeMode': 'timeout',
                                                          'passcodeTimeout': '3'})
    dtmf = await profiles.create(ps.DTMF_PROFILES, {'toggleMuteSelfAudio': '*6'})
    security = await profiles.create(ps.SECURITY_PROFILES, {'minPasscodeLength': '10',
                                                            'allowOutOfPolicy': 'false'})
    await profiles.set_system({'callLegProfile': top_leg, 'callProfile': top_call,
                               'dtmfProfile': dtmf})
    space = await spaces.create(cs.COSPACES, {'callLegProfile': space_leg,
                                              'callProfile': space_call,
                                              'dialInSecurityProfile': security})
    method = await spaces.create(cs.ACCESS_METHODS, {cs.PARENT: space,
                                                     'callLegProfile': method_leg})

    r = await profiles.resolve_profiles(space, method)
    assert r.leg == {'participantLabels': 'false', 'rxAudioMute': 'true',
                     'needsActivation': 'false', 'maxCallDurationTime': '60'}
    assert r.call == {'participantLimit': '50', 'passcodeMode': 'timeout',
                      'passcodeTimeout': '3'}
    assert r.dtmf == {'toggleMuteSelfAudio': '*6'}
    assert r.security == {'minPasscodeLength': '10', 'allowOutOfPolicy': 'false'}
    legs = [(s.scope, s.id) for s in r.trace if s.kind == 'leg']
    assert legs == [(GLOBAL, top_leg), (COSPACE, space_leg), (ACCESS_METHOD, method_leg)]

    # by the coSpace's own URI the access method's profile does not apply
    own = await profiles.resolve_profiles(space, None)
    assert own.leg == {'participantLabels': 'false', 'rxAudioMute': 'true',
                       'needsActivation': 'true'}

    # the trace as GET /callLegs/<id>/callLegProfileTrace shows it
    root = ET.fromstring(trace_xml(r))
    assert root.tag == 'callLegProfileTrace'
    assert [(e.get('scope'), e.get('id')) for e in root] == legs
    assert {c.tag: c.text for c in root[2]} == {'needsActivation': 'false',
                                                 'maxCallDurationTime': '60'}
    assert trace_xml(None) == '<callLegProfileTrace/>'

    # a deleted profile unsets its links: the level above shows through
    assert await profiles.delete(ps.CALL_LEG_PROFILES, space_leg)
    assert (await spaces.get(cs.COSPACES, space))['callLegProfile'] is None
    assert (await profiles.resolve_profiles(space, method)).leg['participantLabels'] == 'true'
    assert await profiles.delete(ps.CALL_LEG_PROFILES, top_leg)
    assert (await profiles.system())['callLegProfile'] is None


async def test_nothing_set_anywhere(stores):
    profiles, spaces = stores
    space = await spaces.create(cs.COSPACES, {'name': 'bare'})
    r = await profiles.resolve_profiles(space, None)
    assert (r.call, r.leg, r.dtmf, r.security, r.trace) == ({}, {}, {}, {}, ())
    assert r.effective('security', 'allowOutOfPolicy') == 'true'
    gone = await profiles.resolve_profiles('no-such-space', 'no-such-method')
    assert gone.trace == ()


async def test_a_dial_outs_call_leg_profile_is_the_lowest_level(stores):
    """§8.1.6 POST /calls/<id>/participants callLegProfile: below the coSpace's, in the trace."""
    profiles, spaces = stores
    top = await profiles.create(ps.CALL_LEG_PROFILES, {'rxAudioMute': 'false',
                                                       'muteSelfAllowed': 'true'})
    own = await profiles.create(ps.CALL_LEG_PROFILES, {'rxAudioMute': 'true'})
    await profiles.set_system({'callLegProfile': top})
    space = await spaces.create(cs.COSPACES, {'name': 'dialled'})
    r = await profiles.resolve_profiles(space, None, own)
    assert r.leg == {'rxAudioMute': 'true', 'muteSelfAllowed': 'true'}
    assert [(s.scope, s.id) for s in r.trace] == [(GLOBAL, top), (CALL_LEG, own)]
    root = ET.fromstring(trace_xml(r))
    assert [(e.get('scope'), e.get('id')) for e in root] == [(GLOBAL, top), (CALL_LEG, own)]
    # an ad hoc call (no coSpace) still has the global level and the leg's own
    assert (await profiles.resolve_profiles(None, None, own)).leg == r.leg
    # without one the leg level is absent
    assert [s.scope for s in (await profiles.resolve_profiles(space, None)).trace] == [GLOBAL]
