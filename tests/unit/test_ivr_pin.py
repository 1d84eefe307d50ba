"""ivr/pin.py, the conference PIN entry, transition by transition (Q-loud §3.17 `pin`)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from ivr.pin import (COLLECTING, DONE, ENTER, GOODBYE, IDLE, INACTIVE, LOOKING_UP, PROMPTING,
                     REFUSED, WRONG, Digit, End, IllegalTransition, Join, LookedUp, Lookup,
                     PinEntry, Play, PromptDone, TimedOut, Wait)

ALL_EVENTS = [PromptDone(), Digit('1'), TimedOut(), LookedUp(None)]


@dataclass(frozen=True)
class Room:
    uuid: str
    active: bool = True


def started(**kw) -> PinEntry:
    e = PinEntry(**kw)
    assert e.state == IDLE
    assert e.start() == [Play(ENTER)]
    assert e.state == PROMPTING
    return e


def key(e: PinEntry, digits: str) -> list:
    out: list = []
    for d in digits:
        out = e.feed(Digit(d))
    return out


def test_start_prompts_for_the_pin_and_only_once():
    e = started()
    with pytest.raises(IllegalTransition):
        e.start()


def test_idle_takes_no_event():
    for ev in ALL_EVENTS:
        with pytest.raises(IllegalTransition):
            PinEntry().feed(ev)


def test_prompt_done_waits_for_the_first_digit():
    e = started(timeout=7)
    assert e.feed(PromptDone()) == [Wait(7)]
    assert e.state == COLLECTING


def test_a_digit_breaks_the_prompt_and_each_digit_restarts_the_wait():
    e = started(timeout=5)
    assert e.feed(Digit('4')) == [Wait(5)]          # during the prompt
    assert e.state == COLLECTING and e.keyed == '4'
    assert e.feed(Digit('7')) == [Wait(5)]
    assert e.feed(Digit('1')) == [Wait(5)]
    assert e.keyed == '471'


def test_the_fourth_digit_looks_the_pin_up():
    e = started()
    assert key(e, '4711') == [Lookup('4711')]
    assert e.state == LOOKING_UP and e.keyed == ''


def test_keys_other_than_digits_are_ignored_in_every_collecting_state():
    e = started()
    for k in '*#ABCD':
        assert e.feed(Digit(k)) == []
    assert e.state == PROMPTING
    e.feed(Digit('1'))
    assert e.feed(Digit('#')) == [] and e.state == COLLECTING and e.keyed == '1'
    assert key(e, '234') == [Lookup('1234')]


def test_digits_while_looking_up_are_ignored():
    e = started()
    key(e, '1234')
    assert e.feed(Digit('5')) == []
    assert e.state == LOOKING_UP


def test_an_active_conference_is_joined():
    e = started()
    key(e, '1234')
    room = Room('c1')
    assert e.feed(LookedUp(room)) == [Join(room)]
    assert e.state == DONE


def test_an_inactive_conference_gets_its_prompt_then_the_call_ends():
    e = started()
    key(e, '1234')
    assert e.feed(LookedUp(Room('c1', active=False))) == [End(INACTIVE, 'inactive')]
    assert e.state == DONE


def test_a_wrong_pin_is_refused_then_prompted_again():
    e = started()
    key(e, '1234')
    assert e.feed(LookedUp(None)) == [Play(WRONG)]
    assert e.state == REFUSED and e.tries == 1
    assert e.feed(PromptDone()) == [Play(ENTER)]
    assert e.state == PROMPTING


def test_a_digit_during_the_wrong_pin_prompt_starts_the_next_try():
    e = started()
    key(e, '1234')
    e.feed(LookedUp(None))
    assert e.feed(Digit('9')) == [Wait(10.0)]
    assert e.state == COLLECTING and e.keyed == '9'
    assert key(e, '876') == [Lookup('9876')]


def test_three_wrong_pins_say_goodbye():
    e = started(max_tries=3)
    for _ in range(2):
        key(e, '1234')
        assert e.feed(LookedUp(None)) == [Play(WRONG)]
        e.feed(PromptDone())
    key(e, '1234')
    assert e.feed(LookedUp(None)) == [End(GOODBYE, 'wrong-pin')]
    assert e.state == DONE and e.tries == 3


def test_a_timeout_discards_the_digits_and_prompts_again():
    e = started()
    e.feed(PromptDone())
    key(e, '12')
    assert e.feed(TimedOut()) == [Play(ENTER)]
    assert e.state == PROMPTING and e.keyed == '' and e.prompts == 1
    assert key(e, '3456') == [Lookup('3456')]


def test_timeouts_are_bounded_then_goodbye():
    e = started(max_prompts=2)
    for _ in range(2):
        e.feed(PromptDone())
        assert e.feed(TimedOut()) == [Play(ENTER)]
    e.feed(PromptDone())
    assert e.feed(TimedOut()) == [End(GOODBYE, 'timeout')]
    assert e.state == DONE


def test_events_without_a_transition_raise():
    illegal = {
        PROMPTING: [TimedOut(), LookedUp(None)],
        REFUSED: [TimedOut(), LookedUp(None)],
        COLLECTING: [PromptDone(), LookedUp(None)],
        LOOKING_UP: [PromptDone(), TimedOut()],
        DONE: ALL_EVENTS,
    }
    for state, events in illegal.items():
        for ev in events:
            e = PinEntry(state=state)
            with pytest.raises(IllegalTransition):
                e.feed(ev)


# --- a coSpace passcode: digits until '#' (length=None) --------------------------------------

def passcode_entry(**kw) -> PinEntry:
    e = PinEntry(length=None, enter='cospace-passcode-enter', wrong='cospace-passcode-wrong', **kw)
    assert e.start() == [Play('cospace-passcode-enter')]
    return e


def test_a_passcode_is_looked_up_at_the_pound_key():
    e = passcode_entry(timeout=4)
    assert key(e, '1234') == [Wait(4)]            # no length ends it
    assert key(e, '5678') == [Wait(4)]
    assert e.feed(Digit('*')) == []                # other keys are ignored
    assert e.feed(Digit('#')) == [Lookup('12345678')]
    assert e.state == LOOKING_UP and e.keyed == ''


def test_a_pound_alone_is_the_empty_passcode():
    e = passcode_entry()
    assert e.feed(Digit('#')) == [Lookup('')]      # during the prompt
    e = passcode_entry()
    e.feed(PromptDone())
    assert e.feed(Digit('#')) == [Lookup('')]


def test_a_passcode_keeps_at_most_max_length_plus_one_digits():
    e = passcode_entry(max_length=8)
    key(e, '1' * 20)
    assert e.keyed == '1' * 9                      # longer than any passcode: a wrong one
    assert e.feed(Digit('#')) == [Lookup('1' * 9)]


def test_a_wrong_passcode_gets_its_own_prompt_and_tries_are_bounded():
    e = passcode_entry(max_tries=2)
    key(e, '1#')
    assert e.feed(LookedUp(None)) == [Play('cospace-passcode-wrong')]
    assert e.state == REFUSED
    assert e.feed(PromptDone()) == [Play('cospace-passcode-enter')]
    key(e, '2#')
    assert e.feed(LookedUp(None)) == [End(GOODBYE, 'wrong-pin')]
    assert e.state == DONE


def test_the_right_passcode_joins():
    e = passcode_entry()
    key(e, '87654321#')
    assert e.feed(LookedUp(Room('space'))) == [Join(Room('space'))]


def test_a_four_digit_pin_ignores_the_pound_key():
    e = started()
    assert e.feed(Digit('#')) == []
    assert key(e, '12#34') == [Lookup('1234')]
