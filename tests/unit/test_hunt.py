"""The hunt state machine (parallel, linear, cyclic ringing), transition by transition:
events and times in, actions out."""
from datetime import datetime

import pytest

from telephony.dialplan import hunt as h
from telephony.dialplan.hunt import (Bridge, CallerCancelled, Cancel, GiveUp, Hunt, IllegalTransition,
                                     Leg, Ring, Start, State, TargetAnswered, TargetBusy, TargetFailed,
                                     TargetRinging, Tick, Wake)
from telephony.dialplan.qloud import CallFacts, DialplanV2, evaluate_v2


def started(mode, timeouts, overall=None, start=0, now=0.0) -> Hunt:
    hunt = Hunt(mode, timeouts, overall, start)
    hunt.handle(Start(), now)
    return hunt


# ---------------------------------------------------------------- IDLE

def test_start_parallel_rings_everyone_and_wakes_at_the_first_deadline():
    hunt = Hunt('parallel', [5, None, 3], overall=10)
    assert hunt.handle(Start(), 100) == [Ring(0), Ring(1), Ring(2), Wake(103)]
    assert hunt.state is State.HUNTING and hunt.deadline == 103
    assert hunt.legs == [Leg.RINGING] * 3


def test_start_linear_rings_the_first_only():
    hunt = Hunt('linear', [5, 4])
    assert hunt.handle(Start(), 0) == [Ring(0), Wake(5)]
    assert hunt.legs == [Leg.RINGING, Leg.WAITING]


def test_start_cyclic_rings_at_its_rotation():
    hunt = Hunt('cyclic', [4, 5, 6], start=2)
    assert hunt.handle(Start(), 0) == [Ring(2), Wake(6)]
    assert hunt.order == [2, 0, 1] and hunt.next_start == 0


def test_an_unchanged_deadline_is_not_announced_again():
    hunt = started('linear', [5, 4])
    assert hunt.handle(TargetFailed(0, 404), 1) == [Ring(1)]      # due at 5 still
    assert hunt.deadline == 5


def test_start_without_any_timeout_sets_no_timer():
    assert Hunt('linear', [None]).handle(Start(), 0) == [Ring(0)]


@pytest.mark.parametrize('event', [TargetRinging(0), TargetAnswered(0), TargetFailed(0, 480),
                                   TargetBusy(0), Tick(), CallerCancelled()])
def test_idle_takes_only_start(event):
    with pytest.raises(IllegalTransition):
        Hunt('parallel', [None]).handle(event, 0)


def test_bad_construction():
    with pytest.raises(ValueError):
        Hunt('random', [1])
    with pytest.raises(ValueError):
        Hunt('linear', [])


# ---------------------------------------------------------------- HUNTING

def test_ringing_is_noted_and_changes_nothing():
    hunt = started('parallel', [None, None])
    assert hunt.handle(TargetRinging(1), 1) == []
    assert hunt.state is State.HUNTING


def test_answer_bridges_and_cancels_the_others():
    hunt = started('parallel', [None, None, None])
    hunt.handle(TargetFailed(2, 404), 1)
    assert hunt.handle(TargetAnswered(1), 2) == [Cancel(0), Bridge(1)]
    assert hunt.state is State.ANSWERED and hunt.answered == 1 and hunt.done
    assert hunt.legs == [Leg.CANCELLED, Leg.ANSWERED, Leg.FAILED]
    assert hunt.deadline is None


def test_parallel_gives_up_unavailable_when_all_fail():
    hunt = started('parallel', [None, None])
    assert hunt.handle(TargetFailed(0, 480), 1) == []
    assert hunt.handle(TargetFailed(1, None), 2) == [GiveUp('unavailable')]
    assert hunt.state is State.GAVE_UP and hunt.reason == 'unavailable'


def test_parallel_gives_up_busy_when_one_was_busy():
    hunt = started('parallel', [None, None])
    hunt.handle(TargetBusy(0), 1)
    assert hunt.handle(TargetFailed(1, 503), 2) == [GiveUp('busy')]
    hunt = started('parallel', [None])
    assert hunt.handle(TargetFailed(0, 600), 1) == [GiveUp('busy')]     # busy everywhere


def test_linear_moves_on_when_a_target_is_busy_or_fails():
    hunt = started('linear', [5, 4, None])
    assert hunt.handle(TargetBusy(0), 2) == [Ring(1), Wake(6)]
    assert hunt.handle(TargetFailed(1, 404), 2.5) == [Ring(2)]
    assert hunt.deadline is None
    assert hunt.handle(TargetFailed(2, 480), 3) == [GiveUp('busy')]


def test_linear_moves_on_when_a_target_rings_past_its_timeout():
    hunt = started('linear', [5, 4])
    assert hunt.handle(Tick(), 4.9) == []            # early tick: nothing due
    assert hunt.handle(Tick(), 5) == [Cancel(0), Ring(1), Wake(9)]
    assert hunt.legs == [Leg.CANCELLED, Leg.RINGING]
    assert hunt.handle(Tick(), 9) == [Cancel(1), GiveUp('timeout')]
    assert hunt.reason == 'timeout'


def test_overall_timeout_wins_over_the_targets():
    # §4.1's example: linear timeout 7 over targets of 5 and 4 seconds
    hunt = Hunt('linear', [5, 4], overall=7)
    assert hunt.handle(Start(), 0) == [Ring(0), Wake(5)]
    assert hunt.handle(Tick(), 5) == [Cancel(0), Ring(1), Wake(7)]
    assert hunt.handle(Tick(), 7) == [Cancel(1), GiveUp('timeout')]


def test_overall_timeout_in_parallel():
    hunt = started('parallel', [None, None], overall=10)
    assert hunt.deadline == 10
    assert hunt.handle(Tick(), 10) == [Cancel(0), Cancel(1), GiveUp('timeout')]


def test_timed_out_and_busy_give_up_as_timeout():
    hunt = started('parallel', [3, None])
    hunt.handle(TargetBusy(1), 1)
    assert hunt.handle(Tick(), 3) == [Cancel(0), GiveUp('timeout')]


def test_answer_after_a_timeout_moved_on():
    hunt = started('linear', [5, None, None])
    hunt.handle(Tick(), 5)
    assert hunt.handle(TargetAnswered(1), 6) == [Bridge(1)]
    assert hunt.legs == [Leg.CANCELLED, Leg.ANSWERED, Leg.WAITING]


def test_caller_cancel_cancels_whatever_rings():
    hunt = started('parallel', [None, None, None])
    hunt.handle(TargetFailed(0, 404), 1)
    assert hunt.handle(CallerCancelled(), 2) == [Cancel(1), Cancel(2)]
    assert hunt.state is State.CANCELLED and hunt.done


def test_late_events_of_a_cancelled_target_are_ignored_while_hunting():
    hunt = started('linear', [5, None])
    hunt.handle(Tick(), 5)                             # 0 cancelled, 1 rings
    assert hunt.handle(TargetFailed(0, 487), 6) == []
    assert hunt.handle(TargetAnswered(0), 6) == []     # crossed the CANCEL: the leg BYEs it
    assert hunt.handle(TargetRinging(0), 6) == []
    assert hunt.state is State.HUNTING and hunt.legs[1] is Leg.RINGING


@pytest.mark.parametrize('event', [TargetRinging(1), TargetAnswered(1), TargetFailed(1, 480),
                                   TargetBusy(1)])
def test_events_of_a_target_never_rung_are_illegal(event):
    hunt = started('linear', [None, None])
    with pytest.raises(IllegalTransition):
        hunt.handle(event, 1)


def test_events_of_an_ended_target_or_no_target_are_illegal():
    hunt = started('parallel', [None, None])
    hunt.handle(TargetFailed(0, 404), 1)
    with pytest.raises(IllegalTransition):
        hunt.handle(TargetAnswered(0), 2)
    with pytest.raises(IllegalTransition):
        hunt.handle(TargetFailed(0, 404), 2)
    with pytest.raises(IllegalTransition):
        hunt.handle(TargetRinging(5), 2)


def test_start_twice_is_illegal():
    with pytest.raises(IllegalTransition):
        started('parallel', [None]).handle(Start(), 1)


# ---------------------------------------------------------------- after the hunt

def answered() -> Hunt:
    hunt = started('parallel', [None, None])
    hunt.handle(TargetAnswered(0), 1)
    return hunt


def test_after_answer_the_cancelled_ones_still_report():
    hunt = answered()
    assert hunt.handle(TargetFailed(1, 487), 2) == []
    assert hunt.handle(TargetAnswered(1), 2) == []
    assert hunt.handle(Tick(), 3) == []
    assert hunt.state is State.ANSWERED


def test_after_answer_the_bridged_target_and_the_caller_belong_to_the_call():
    with pytest.raises(IllegalTransition):
        answered().handle(TargetFailed(0, 487), 2)
    with pytest.raises(IllegalTransition):
        answered().handle(CallerCancelled(), 2)
    with pytest.raises(IllegalTransition):
        answered().handle(Start(), 2)


def test_after_giving_up_or_being_cancelled_only_late_events():
    hunt = started('parallel', [1, None])
    hunt.handle(TargetFailed(1, 404), 0.5)
    hunt.handle(Tick(), 1)                            # 0 cancelled: gave up
    assert hunt.state is State.GAVE_UP
    assert hunt.handle(TargetFailed(0, 487), 2) == []
    assert hunt.handle(CallerCancelled(), 2) == []
    with pytest.raises(IllegalTransition):
        hunt.handle(TargetFailed(1, 404), 2)          # it had ended before
    hunt = started('parallel', [None])
    hunt.handle(CallerCancelled(), 1)
    assert hunt.handle(TargetFailed(0, 487), 2) == [] and hunt.handle(CallerCancelled(), 2) == []


def test_table_lists_no_start_after_the_start():
    assert all(event is not Start or state is State.IDLE for state, event in h.TABLE)


# ---------------------------------------------------------------- cyclic rotation across calls

def test_cyclic_rotates_across_calls_through_the_stored_start():
    plan = DialplanV2.from_json({'profiles': [{'cyclic': {'targets': [
        {'target': 'joe_01', 'timeout': 5}, {'target': 'joe_02', 'timeout': 5},
        {'target': 'joe_03', 'timeout': 5}]}}]})
    decision = evaluate_v2(plan, CallFacts('+4930'), datetime(2026, 1, 1))
    stored = {}                                   # what the runtime persists (plan, profile) -> start
    key = ('plan-uuid', decision.profile)
    first_rung = []
    for _call in range(4):                        # a restart between calls loses nothing
        hunt = Hunt('cyclic', [t.timeout for t in decision.targets], decision.timeout,
                    start=stored.get(key, 0))
        stored[key] = hunt.next_start             # stored when the call starts
        actions = hunt.handle(Start(), 0)
        first_rung.append(decision.targets[actions[0].target].value)
    assert first_rung == ['joe_01', 'joe_02', 'joe_03', 'joe_01']


def test_cyclic_goes_once_round_from_its_start():
    hunt = started('cyclic', [5, 5, 5], start=1)
    assert hunt.handle(Tick(), 5) == [Cancel(1), Ring(2), Wake(10)]
    assert hunt.handle(TargetBusy(2), 6) == [Ring(0), Wake(11)]
    assert hunt.handle(Tick(), 11) == [Cancel(0), GiveUp('timeout')]


def test_cyclic_start_beyond_the_targets_wraps():
    # the plan lost targets since the rotation was stored
    assert Hunt('cyclic', [1, 1], start=7).start == 1
    assert Hunt('linear', [1, 1], start=7).start == 0 and Hunt('linear', [1]).next_start == 0


def test_give_up_statuses():
    assert h.GIVE_UP_STATUS['busy'] == (486, 'Busy Here')
    assert set(h.GIVE_UP_STATUS) == {'timeout', 'busy', 'unavailable'}
