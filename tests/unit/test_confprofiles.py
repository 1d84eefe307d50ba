"""dialplan/confprofiles.py: the Cisco profile hierarchy (CMS §8.4.7, §14.1), its trace, the
document's defaults, and the dial-in policy the profiles set (§8.2.2, §14.2)."""
from __future__ import annotations

import pytest

from telephony.dialplan.confprofiles import (
    ACCESS_METHOD, CALL, COSPACE, GLOBAL, LEG, SECURITY, Level, PasscodePolicy, Resolved, TraceStep,
    links, resolve,
)


def test_the_lowest_level_that_sets_a_parameter_wins():
    # §8.4.7's example: the coSpace's participantLabels false beats the upper level's true
    r = resolve([
        Level(GLOBAL, {LEG: ('g', {'participantLabels': 'true', 'rxAudioMute': 'true',
                                   'name': 'global one'})}),
        Level(COSPACE, {LEG: ('s', {'participantLabels': 'false', 'txAudioMute': None})}),
        Level(ACCESS_METHOD, {LEG: ('m', {'rxAudioMute': 'false', 'needsActivation': ''})}),
    ])
    assert r.leg == {'participantLabels': 'false', 'rxAudioMute': 'false'}
    assert r.call == {} and r.dtmf == {} and r.security == {}
    assert r.trace == (TraceStep(GLOBAL, LEG, 'g', {'participantLabels': 'true',
                                                     'rxAudioMute': 'true'}),
                       TraceStep(COSPACE, LEG, 's', {'participantLabels': 'false'}),
                       TraceStep(ACCESS_METHOD, LEG, 'm', {'rxAudioMute': 'false'}))


def test_kinds_inherit_separately_and_a_missing_profile_adds_nothing():
    r = resolve([
        Level(GLOBAL, {CALL: ('c', {'participantLimit': '10'}),
                       SECURITY: ('d', {'minPasscodeLength': '10'})}),
        Level(COSPACE, {CALL: ('gone', None), SECURITY: ('d2', {'allowOutOfPolicy': 'false'})}),
    ])
    assert r.call == {'participantLimit': '10'}
    assert r.security == {'minPasscodeLength': '10', 'allowOutOfPolicy': 'false'}
    assert [s.id for s in r.trace] == ['c', 'd', 'd2']


def test_unset_everywhere_is_the_documents_default():
    r = Resolved()
    assert r.effective(SECURITY, 'minPasscodeLength') == '0'       # §14.1.1
    assert r.effective(SECURITY, 'allowOutOfPolicy') == 'true'
    assert r.effective(CALL, 'chatAllowed') == 'true'              # §8.2.2
    assert r.effective(LEG, 'audioPacketSizeMs') == '20'           # §8.4.3
    assert r.effective(CALL, 'participantLimit') is None           # no default: no limit
    assert resolve([Level(GLOBAL, {CALL: ('c', {'chatAllowed': 'false'})})]) \
        .effective(CALL, 'chatAllowed') == 'false'


def test_an_unknown_scope_is_refused():
    with pytest.raises(ValueError):
        resolve([Level('tenantGroup', {})])


def test_links_are_what_each_level_may_name():
    row = {'callProfile': 'c', 'callLegProfile': 'l', 'dtmfProfile': 'd',
           'dialInSecurityProfile': 's'}
    assert links(GLOBAL, row) == {CALL: 'c', LEG: 'l', 'dtmf': 'd', SECURITY: 's'}
    assert links(COSPACE, row) == {CALL: 'c', LEG: 'l', SECURITY: 's'}
    assert links(ACCESS_METHOD, row) == {LEG: 'l', SECURITY: 's'}
    assert links(COSPACE, {'callProfile': None, 'callLegProfile': ''}) == {}
    assert links(ACCESS_METHOD, None) == {}


def test_passcode_policy_defaults_and_values():
    p = PasscodePolicy.from_resolved(Resolved())
    assert p == PasscodePolicy(False, None, 0, True)
    r = Resolved(call={'passcodeMode': 'timeout', 'passcodeTimeout': '4'},
                 security={'minPasscodeLength': '10', 'allowOutOfPolicy': 'false'})
    assert PasscodePolicy.from_resolved(r) == PasscodePolicy(True, 4.0, 10, False)
    assert PasscodePolicy.from_resolved(Resolved(call={'passcodeMode': 'required',
                                                       'passcodeTimeout': '4'})).timeout_mode \
        is False


def test_too_short_and_usable():
    strict = PasscodePolicy(min_length=10, allow_out_of_policy=False)
    lenient = PasscodePolicy(min_length=10, allow_out_of_policy=True)
    assert strict.too_short('123456789') and not strict.too_short('1234567890')
    assert not strict.too_short('')                  # no passcode is always allowed
    assert not strict.usable('123456789') and strict.usable('1234567890') and strict.usable('')
    assert lenient.usable('123456789')               # kept, and it still works
    assert PasscodePolicy().usable('1') and not PasscodePolicy().too_short('1')
