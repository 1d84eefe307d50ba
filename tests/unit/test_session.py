"""The INVITE session state machine, transition by transition (sans-IO: events and times)."""
import random

import pytest

from telephony.sip import session as ss
from telephony.sip.session import (Accept, Ack, AckTimeout, AnswerReinvite, Bye, Cancel, Hangup,
                                   IllegalTransition, InviteResponse, InviteSession, NoResponse,
                                   Provisional, Reinvite, ReinviteRequest, ReinviteResponse,
                                   Reject, Respond, Send, SendReinvite, StartTimer, State,
                                   TimerFired)


def uas(state=State.INCOMING) -> InviteSession:
    s = InviteSession(uas=True, rng=random.Random(1))
    if state in (State.EARLY,):
        s.handle(Provisional(180), 0)
    if state in (State.CONNECTING, State.CONFIRMED):
        s.handle(Accept(body='sdp'), 0)
    if state is State.CONFIRMED:
        s.handle(Ack(), 0)
    assert s.state is state
    return s


def uac(state=State.CALLING) -> InviteSession:
    s = InviteSession(uas=False, rng=random.Random(1))
    if state in (State.EARLY, State.CONFIRMED):
        s.handle(InviteResponse(180), 0)
    if state is State.CONFIRMED:
        assert s.handle(InviteResponse(200), 0) == [Send('ACK')]
    assert s.state is state
    return s


# ---------------------------------------------------------------- UAS

def test_uas_rings_answers_and_is_confirmed_by_the_ack():
    s = uas()
    assert s.handle(Provisional(180), 0) == [Respond(180)]
    assert s.state is State.EARLY
    assert s.handle(Provisional(183, body='early'), 0) == [Respond(183, body='early')]
    assert s.handle(Accept(body='answer'), 1) == [Respond(200, body='answer')]
    assert s.state is State.CONNECTING
    assert s.handle(Ack(), 2) == [] and s.state is State.CONFIRMED


def test_uas_reject_and_cancel_end_an_unanswered_invite():
    s = uas()
    assert s.handle(Reject(488, headers=(('Warning', 'x'),)), 0) == [
        Respond(488, headers=(('Warning', 'x'),))]
    assert s.terminated
    s = uas(State.EARLY)
    assert s.handle(Cancel(), 0) == [Respond(487)] and s.terminated


def test_hangup_of_an_unanswered_inbound_invite_answers_it():
    s = uas(State.EARLY)
    assert s.handle(Hangup(status=486), 0) == [Respond(486)] and s.terminated


def test_nothing_can_be_answered_after_a_cancel():
    """The CANCEL race: answer() awaited its endpoint while a CANCEL ended the session."""
    s = uas()
    s.handle(Cancel(), 0)
    with pytest.raises(IllegalTransition):
        s.handle(Accept(body='late'), 1)
    with pytest.raises(IllegalTransition):
        s.handle(Provisional(183), 1)


def test_cancel_crossing_our_200_has_no_effect():
    s = uas(State.CONNECTING)
    assert s.handle(Cancel(), 1) == [] and s.state is State.CONNECTING
    assert s.handle(Ack(), 1) == [] and s.state is State.CONFIRMED
    assert s.handle(Cancel(), 2) == [] and s.state is State.CONFIRMED


def test_bye_before_ack_waits_for_the_ack():
    s = uas(State.CONNECTING)
    assert s.handle(Hangup(), 1) == []                  # RFC 3261 §15: not before the ACK
    assert s.state is State.CONNECTING_HANGUP
    assert s.handle(Hangup(), 1) == []
    assert s.handle(Ack(), 2) == [Send('BYE')] and s.terminated


def test_bye_before_ack_goes_at_the_ack_timeout_if_no_ack_comes():
    s = uas(State.CONNECTING)
    s.handle(Hangup(), 1)
    assert s.handle(AckTimeout(), 33) == [Send('BYE')] and s.terminated


def test_ack_timeout_ends_the_session_with_a_bye():
    s = uas(State.CONNECTING)
    assert s.handle(AckTimeout(), 32) == [Send('BYE')] and s.terminated
    assert s.handle(Ack(), 33) == []                    # a very late ACK is harmless


def test_their_bye_before_their_ack_is_answered():
    s = uas(State.CONNECTING)
    assert s.handle(Bye(handle='t'), 1) == [Respond(200, handle='t')] and s.terminated


def test_confirmed_hangup_sends_bye_once():
    s = uas(State.CONFIRMED)
    assert s.handle(Hangup(), 5) == [Send('BYE')] and s.terminated
    assert s.handle(Hangup(), 6) == []
    assert s.handle(Bye(handle='t'), 6) == [Respond(200, handle='t')]   # BYEs crossed


def test_uas_events_are_illegal_for_a_uac_in_early():
    s = uac(State.EARLY)
    with pytest.raises(IllegalTransition):
        s.handle(Accept(), 0)
    with pytest.raises(IllegalTransition):
        uas(State.EARLY).handle(InviteResponse(200), 0)


# ---------------------------------------------------------------- UAC

def test_uac_2xx_is_acked_and_confirms():
    s = uac()
    assert s.handle(InviteResponse(100), 0) == [] and s.state is State.EARLY
    assert s.handle(InviteResponse(200), 1) == [Send('ACK')] and s.state is State.CONFIRMED
    assert s.handle(InviteResponse(200), 2) == [Send('ACK')]     # retransmission: ACK again
    assert s.state is State.CONFIRMED


def test_uac_failure_ends_the_session():
    s = uac(State.EARLY)
    assert s.handle(InviteResponse(486), 1) == [] and s.terminated   # the txn ACKs a non-2xx


def test_uac_hangup_before_any_provisional_waits_to_cancel():
    s = uac()
    assert s.handle(Hangup(), 0) == [] and s.state is State.CALLING_HANGUP   # §9.1
    assert s.handle(InviteResponse(180), 1) == [Send('CANCEL')]
    assert s.state is State.CANCELLING
    assert s.handle(InviteResponse(487), 2) == [] and s.terminated


def test_uac_hangup_when_early_cancels_at_once():
    s = uac(State.EARLY)
    assert s.handle(Hangup(), 0) == [Send('CANCEL')] and s.state is State.CANCELLING
    assert s.handle(InviteResponse(183), 0) == []


def test_cancel_crossing_a_200_gets_ack_and_bye():
    s = uac(State.EARLY)
    s.handle(Hangup(), 0)
    assert s.handle(InviteResponse(200), 1) == [Send('ACK'), Send('BYE')] and s.terminated
    assert s.handle(InviteResponse(200), 2) == [Send('ACK')]     # its retransmission


def test_a_challenged_invite_sent_again_waits_for_its_own_provisional():
    s = uac()
    s.handle(InviteResponse(100), 0)
    assert s.handle(ss.Reissued(), 0) == [] and s.state is State.CALLING   # after the 407
    assert s.handle(Hangup(), 1) == [] and s.state is State.CALLING_HANGUP


def test_a_2xx_after_our_invite_timed_out_is_acked_and_ended():
    s = uac(State.EARLY)
    assert s.handle(NoResponse(), 32) == [] and s.terminated
    assert s.handle(InviteResponse(200), 33) == [Send('ACK'), Send('BYE')]


# ---------------------------------------------------------------- re-INVITE

def test_their_reinvite_is_answered_through_the_session():
    s = uas(State.CONFIRMED)
    assert s.handle(ReinviteRequest(handle='r1'), 1) == [] and s.reinvite is Reinvite.INCOMING
    assert s.handle(AnswerReinvite(200, 'r1', body='a'), 1) == [Respond(200, handle='r1', body='a')]
    assert s.reinvite is Reinvite.NONE
    assert s.handle(Ack(), 2) == [] and s.state is State.CONFIRMED


def test_a_reinvite_during_their_pending_one_gets_500_with_retry_after():
    s = uas(State.CONFIRMED)
    s.handle(ReinviteRequest(handle='r1'), 1)
    [resp] = s.handle(ReinviteRequest(handle='r2'), 1)
    assert resp.status == 500 and resp.handle == 'r2'
    assert 0 <= resp.retry_after <= 10                           # RFC 3261 §14.2
    assert s.reinvite is Reinvite.INCOMING


def test_a_reinvite_during_ours_gets_491():
    s = uas(State.CONFIRMED)
    assert s.handle(SendReinvite(), 1) == [Send('INVITE')]
    assert s.handle(ReinviteRequest(handle='r'), 1) == [Respond(491, handle='r')]   # §14.2
    assert s.reinvite is Reinvite.OUTGOING


def test_we_may_not_send_a_reinvite_while_one_is_pending():
    s = uas(State.CONFIRMED)
    s.handle(ReinviteRequest(handle='r'), 1)
    with pytest.raises(IllegalTransition):
        s.handle(SendReinvite(), 1)
    with pytest.raises(IllegalTransition):
        uas(State.CONNECTING).handle(SendReinvite(), 0)


@pytest.mark.parametrize('owner, low, high', [(True, *ss.GLARE_RETRY_OWNER),
                                              (False, *ss.GLARE_RETRY_OTHER)])
def test_glare_491_retries_after_the_rfc_3261_timer(owner, low, high):
    for seed in range(20):
        s = InviteSession(uas=not owner, rng=random.Random(seed))
        if s.uas:
            s.handle(Accept(), 0)
            s.handle(Ack(), 0)
        else:
            s.handle(InviteResponse(200), 0)
        assert s.call_id_owner is owner
        s.handle(SendReinvite(), 10)
        [timer] = s.handle(ReinviteResponse(491), 10)
        assert isinstance(timer, StartTimer) and low <= timer.at - 10 <= high
        assert round((timer.at - 10) * 100) == pytest.approx((timer.at - 10) * 100)   # 10 ms units
        assert s.reinvite is Reinvite.RETRY
        assert s.handle(ReinviteRequest('x'), 11) == []   # theirs is taken while we wait
        s.handle(AnswerReinvite(200, 'x'), 11)
        assert s.handle(TimerFired(timer.name), timer.at) == [Send('INVITE')]
        assert s.reinvite is Reinvite.OUTGOING
        assert s.handle(ReinviteResponse(200), timer.at + 1) == [Send('ACK')]
        assert s.reinvite is Reinvite.NONE


def test_glare_retry_waits_while_their_reinvite_is_unanswered():
    s = uac(State.CONFIRMED)
    s.handle(SendReinvite(), 0)
    [timer] = s.handle(ReinviteResponse(491), 0)
    s.handle(ReinviteRequest(handle='r'), 1)
    [again] = s.handle(TimerFired(timer.name), timer.at)     # theirs still pending: later
    assert isinstance(again, StartTimer) and again.at > timer.at
    s.handle(AnswerReinvite(200, 'r'), again.at - 0.001)
    assert s.handle(TimerFired(again.name), again.at) == [Send('INVITE')]


def test_reinvite_failures_keep_or_end_the_session():
    s = uac(State.CONFIRMED)
    s.handle(SendReinvite(), 0)
    assert s.handle(ReinviteResponse(488), 1) == [] and s.state is State.CONFIRMED   # §14.1
    s.handle(SendReinvite(), 2)
    assert s.handle(ReinviteResponse(481), 3) == [Send('BYE')] and s.terminated      # §12.2.1.2
    s = uac(State.CONFIRMED)
    s.handle(SendReinvite(), 0)
    assert s.handle(NoResponse(reinvite=True), 32) == [Send('BYE')] and s.terminated


def test_hangup_during_their_reinvite_answers_it_487_then_byes():
    s = uas(State.CONFIRMED)
    s.handle(ReinviteRequest(handle='r'), 1)
    assert s.handle(Hangup(), 2) == [Respond(487, handle='r'), Send('BYE')]


def test_unacked_2xx_to_their_reinvite_ends_the_session():
    s = uas(State.CONFIRMED)
    s.handle(ReinviteRequest(handle='r'), 1)
    s.handle(AnswerReinvite(200, 'r'), 1)
    assert s.handle(AckTimeout(), 33) == [Send('BYE')] and s.terminated


def test_every_table_entry_is_reachable_from_a_state_the_machine_has():
    assert {state for state, _ in ss.TABLE} == set(State)
