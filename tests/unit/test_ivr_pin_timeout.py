"""ivr/pin.py with `blank_after` (a call profile's passcodeMode `timeout`, CMS §8.2.2),
transition by transition: silence after the prompt is the empty passcode."""
from __future__ import annotations

from dataclasses import dataclass

from ivr.pin import (COLLECTING, DONE, LOOKING_UP, PROMPTING, REFUSED, Digit, End, Join, LookedUp,
                     Lookup, PinEntry, Play, PromptDone, TimedOut, Wait)

ENTER, WRONG = 'cospace-passcode-enter', 'cospace-passcode-wrong'


@dataclass(frozen=True)
class Room:
    uuid: str
    active: bool = True


def started(**kw) -> PinEntry:
    e = PinEntry(length=None, enter=ENTER, wrong=WRONG, **kw)
    assert e.start() == [Play(ENTER)]
    return e


def test_the_wait_after_the_prompt_is_the_passcode_timeout():
    e = started(timeout=10, blank_after=3)
    assert e.feed(PromptDone()) == [Wait(3)]
    assert e.state == COLLECTING


def test_silence_after_the_prompt_looks_up_the_empty_passcode_and_joins():
    e = started(timeout=10, blank_after=3)
    e.feed(PromptDone())
    assert e.feed(TimedOut()) == [Lookup('')]
    assert e.state == LOOKING_UP and e.prompts == 0
    room = Room('space')
    assert e.feed(LookedUp(room)) == [Join(room)]
    assert e.state == DONE


def test_silence_without_a_blank_way_in_is_a_wrong_passcode():
    e = started(timeout=10, blank_after=3, max_tries=2)
    e.feed(PromptDone())
    e.feed(TimedOut())
    assert e.feed(LookedUp(None)) == [Play(WRONG)]
    assert e.state == REFUSED and e.tries == 1
    assert e.feed(PromptDone()) == [Play(ENTER)]
    assert e.feed(PromptDone()) == [Wait(3)]
    assert e.feed(TimedOut()) == [Lookup('')]
    assert e.feed(LookedUp(None)) == [End('goodbye', 'wrong-pin')]


def test_digits_keep_the_inter_digit_timeout_and_a_pause_reprompts():
    e = started(timeout=10, blank_after=3)
    e.feed(PromptDone())
    assert e.feed(Digit('1')) == [Wait(10)]
    assert e.feed(TimedOut()) == [Play(ENTER)]      # a half-keyed passcode is not blank
    assert e.state == PROMPTING and e.keyed == '' and e.prompts == 1


def test_keyed_passcode_still_works_in_timeout_mode():
    e = started(timeout=10, blank_after=3)
    for d in '12345678':
        e.feed(Digit(d))
    assert e.feed(Digit('#')) == [Lookup('12345678')]


def test_required_mode_reprompts_on_silence():
    e = started(timeout=10)
    assert e.feed(PromptDone()) == [Wait(10)]
    assert e.feed(TimedOut()) == [Play(ENTER)]
    assert e.prompts == 1
