"""telephony/dialplan/roomrules.py: profiles as rules, the DTMF matcher and the lobby, fed
the document's field names and string values, and times; transition by transition."""
import pytest

from telephony.dialplan.roomrules import (
    ACTIVE, IDLE, PREFIX, WAITING, Activation, Admit, Disconnect, DtmfMatcher, Hold,
    IllegalTransition, LegRules, RoomRules, allowed,
)


# --- rules from the profiles' fields --------------------------------------------------------------
def test_no_profile_is_todays_room():
    assert RoomRules.from_fields(None) == RoomRules() == RoomRules.from_fields({})
    assert RoomRules().participant_limit is None and not RoomRules().locked
    leg = LegRules.from_fields({})
    assert leg == LegRules() and leg.rx_audio_mute is None and not leg.needs_activation
    assert leg.join_tone(1000) and leg.leave_tone(1000) and leg.max_call_duration is None


def test_call_profile_fields():
    r = RoomRules.from_fields({'participantLimit': '3', 'locked': 'true', 'lockMode': 'all',
                               'recordingMode': 'automatic'})
    assert (r.participant_limit, r.locked, r.lock_mode, r.recording_mode) == (3, True, 'all',
                                                                            'automatic')


@pytest.mark.parametrize('bad', ['', 'x', '-1', '3.5', '10001'])
def test_a_limit_that_is_no_number_is_no_limit(bad):
    assert RoomRules.from_fields({'participantLimit': bad}).participant_limit is None


def test_leg_profile_fields():
    leg = LegRules.from_fields({
        'rxAudioMute': 'true', 'txAudioMute': 'true', 'muteSelfAllowed': 'false',
        'needsActivation': 'true', 'deactivationMode': 'disconnect',
        'deactivationModeTime': '5', 'joinToneParticipantThreshold': '2',
        'leaveToneParticipantThreshold': '0', 'maxCallDurationTime': '60',
        'endCallAllowed': 'false'})
    assert leg.rx_audio_mute is True and leg.tx_audio_mute and not leg.mute_self_allowed
    assert leg.needs_activation and leg.deactivation_mode == 'disconnect'
    assert leg.deactivation_mode_time == 5 and leg.max_call_duration == 60
    assert not leg.end_call_allowed
    assert leg.join_tone(2) and not leg.join_tone(3)
    assert not leg.leave_tone(1)            # 0 disables the leave tone
    assert LegRules.from_fields({'rxAudioMute': 'false'}).rx_audio_mute is False
    assert LegRules.from_fields({'deactivationMode': 'bogus'}).deactivation_mode == 'deactivate'


@pytest.mark.parametrize('action,field', [
    ('muteSelfAudio', 'muteSelfAllowed'), ('toggleMuteSelfAudio', 'muteSelfAllowed'),
    ('muteAllExceptSelfAudio', 'muteOthersAllowed'), ('endCall', 'endCallAllowed'),
    ('startRecording', 'recordingControlAllowed'), ('lockCall', 'callLockAllowed'),
    ('muteAllNewAudio', 'changeJoinAudioMuteOverrideAllowed'),
    ('allowAllMuteSelf', 'allowAllMuteSelfAllowed'),
])
def test_each_action_needs_its_permission(action, field):
    assert allowed(action, LegRules.from_fields({field: 'true'}))
    assert not allowed(action, LegRules.from_fields({field: 'false'}))


def test_permission_details():
    no_self = LegRules.from_fields({'muteSelfAllowed': 'false'})
    assert allowed('unmuteSelfAudio', no_self, allow_all_mute_self=True)
    both = LegRules.from_fields({'changeJoinAudioMuteOverrideAllowed': 'true'})
    assert allowed('muteAllNewAndAllExceptSelfAudio', both)
    assert not allowed('muteAllNewAndAllExceptSelfAudio',
                       LegRules.from_fields({'changeJoinAudioMuteOverrideAllowed': 'true',
                                             'muteOthersAllowed': 'false'}))
    assert not allowed('startRecording', LegRules(), recording_mode='automatic')
    assert allowed('getTotalParticipantCount', LegRules(end_call_allowed=False))
    assert not allowed('nextLayout', LegRules())


# --- the DTMF matcher --------------------------------------------------------------------------
def test_a_sequence_fires_on_its_last_key():
    m = DtmfMatcher({'toggleMuteSelfAudio': '*6', 'endCall': '**9'})
    assert m.state == IDLE
    assert m.feed('*', 0.0) == [] and m.state == PREFIX and m.deadline == 3.0
    assert m.feed('6', 0.5) == ['toggleMuteSelfAudio'] and m.state == IDLE
    assert m.deadline is None and m.buffer == ''


def test_keys_that_lead_nowhere_are_dropped_from_the_front():
    m = DtmfMatcher({'toggleMuteSelfAudio': '*6'})
    assert m.feed('1', 0.0) == [] and m.state == IDLE
    assert m.feed('*', 0.1) == [] and m.feed('*', 0.2) == []   # '**': the second starts again
    assert m.buffer == '*' and m.feed('6', 0.3) == ['toggleMuteSelfAudio']


def test_a_sequence_that_begins_a_longer_one_waits_for_the_next_key_or_the_timeout():
    m = DtmfMatcher({'muteSelfAudio': '*6', 'unmuteSelfAudio': '*66'})
    m.feed('*', 0.0)
    assert m.feed('6', 0.1) == [] and m.state == PREFIX
    assert m.feed('6', 0.2) == ['unmuteSelfAudio']
    m.feed('*', 1.0)
    m.feed('6', 1.1)
    assert m.feed('5', 1.2) == ['muteSelfAudio'] and m.state == IDLE   # the '5' leads nowhere
    m.feed('*', 2.0)
    m.feed('6', 2.1)
    with pytest.raises(IllegalTransition):
        m.expire(2.5)                          # not due yet
    assert m.expire(5.1) == ['muteSelfAudio'] and m.state == IDLE
    with pytest.raises(IllegalTransition):
        m.expire(9.0)                          # nothing buffered


def test_a_late_key_first_expires_what_was_buffered():
    m = DtmfMatcher({'muteSelfAudio': '*6', 'unmuteSelfAudio': '*66', 'endCall': '6'})
    m.feed('*', 0.0)
    m.feed('6', 0.1)
    assert m.feed('6', 10.0) == ['muteSelfAudio', 'endCall']
    m.feed('*', 20.0)
    assert m.feed('6', 30.0) == ['endCall']     # the '*' alone timed out, dropped


def test_actions_sharing_a_sequence_run_in_the_documents_order():
    m = DtmfMatcher({'unmuteSelfAudio': '#1', 'muteSelfAudio': '#1'})
    m.feed('#', 0)
    assert m.feed('1', 0) == ['muteSelfAudio', 'unmuteSelfAudio']


def test_bad_sequences_are_ignored_and_the_buffer_is_bounded():
    m = DtmfMatcher({'muteSelfAudio': '*x', 'endCall': '1' * 33, 'lockCall': '',
                     'unlockCall': '*' + '1' * 30, 'unknownAction': '9'})
    assert list(m.sequences) == ['*' + '1' * 30]
    m.feed('*', 0)
    for i in range(200):
        m.feed('1', i * 0.01)
        assert len(m.buffer) <= 31
    assert not DtmfMatcher(None) and DtmfMatcher({'endCall': '*0'})


def test_a_non_key_is_refused():
    with pytest.raises(IllegalTransition):
        DtmfMatcher({'endCall': '*0'}).feed('x', 0)


def test_lower_case_letters_match():
    assert DtmfMatcher({'endCall': 'a'}).feed('A', 0) == ['endCall']
    assert DtmfMatcher({'endCall': 'A'}).feed('a', 0) == ['endCall']


# --- the lobby ----------------------------------------------------------------------------------
GUEST = LegRules(needs_activation=True)
HOST = LegRules()


def test_an_activator_enters_at_once_and_lets_the_waiting_in():
    a = Activation()
    assert a.join('g1', GUEST, 0) == [Hold('g1')] and a.state('g1') == WAITING
    assert a.join('g2', GUEST, 0) == [Hold('g2')]
    assert a.join('h', HOST, 1) == [Admit('h'), Admit('g1'), Admit('g2')]
    assert a.state('g1') == ACTIVE
    assert a.join('g3', GUEST, 2) == [Admit('g3')]      # an activator is in


def test_joining_twice_or_leaving_unknown_is_illegal():
    a = Activation()
    a.join('h', HOST, 0)
    with pytest.raises(IllegalTransition):
        a.join('h', HOST, 0)
    with pytest.raises(IllegalTransition):
        a.leave('x', 0)
    with pytest.raises(IllegalTransition):
        a.expire(0)


def test_the_last_activator_leaving_deactivates_at_once_by_default():
    a = Activation()
    a.join('h', HOST, 0)
    a.join('g', GUEST, 0)
    assert a.leave('h', 5) == [Hold('g')] and a.state('g') == WAITING and a.deadline is None


def test_deactivation_after_its_time_unless_an_activator_is_back():
    a = Activation()
    a.join('h', HOST, 0)
    a.join('g', LegRules(needs_activation=True, deactivation_mode='disconnect',
                         deactivation_mode_time=10), 0)
    a.join('r', LegRules(needs_activation=True, deactivation_mode='remainActivated'), 0)
    assert a.leave('h', 5) == [] and a.deadline == 15
    with pytest.raises(IllegalTransition):
        a.expire(14)
    assert a.expire(15) == [Disconnect('g')]
    assert a.state('r') == ACTIVE                        # remainActivated
    a.join('h2', HOST, 16)
    assert a.leave('h2', 17) == [] and a.deadline == 27
    assert a.join('h3', HOST, 20) == [Admit('h3')] and a.deadline is None   # back in time


def test_two_activators_one_leaves_nothing_changes():
    a = Activation()
    a.join('h1', HOST, 0)
    a.join('h2', HOST, 0)
    a.join('g', GUEST, 0)
    assert a.leave('h1', 1) == [] and a.leave('g', 2) == [] and a.leave('h2', 3) == []


def test_locked_needs_activation_mode_holds_only_guests():
    a = Activation(locked=True)
    assert a.join('h', HOST, 0) == [Admit('h')]
    assert a.join('g', GUEST, 0) == [Hold('g')]
    assert a.unlock() == [Admit('g')] and not a.locked


def test_lock_keeps_the_activated_in_and_holds_new_guests():
    a = Activation()
    a.join('h', HOST, 0)
    a.join('g1', GUEST, 0)
    assert a.lock() == [] and a.state('g1') == ACTIVE
    assert a.join('g2', GUEST, 1) == [Hold('g2')]
    assert a.join('h2', HOST, 1) == [Admit('h2')]       # an activator does not let them in
    assert a.state('g2') == WAITING
    assert a.unlock() == [Admit('g2')]


def test_locked_all_mode_holds_everyone_new_until_unlocked():
    a = Activation(locked=True, lock_mode='all')
    assert a.join('g', GUEST, 0) == [Hold('g')]
    assert a.join('h', HOST, 0) == [Hold('h')]
    assert a.unlock() == [Admit('h'), Admit('g')]


def test_unlock_without_an_activator_keeps_guests_waiting():
    a = Activation(locked=True)
    a.join('g', GUEST, 0)
    assert a.unlock() == [] and a.state('g') == WAITING
