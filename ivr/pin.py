"""PIN entry for conference dial-in (Q-loud §3.17 `pin`) as a sans-IO state machine.

The caller hears the PIN prompt and keys four digits (a digit breaks the prompt). The PIN is
looked up among the called number owner's conferences: an active one is joined, an
inactive one gets its prompt and the call ends, a wrong PIN gets the wrong-PIN prompt and
another try; after `max_tries` wrong PINs, goodbye. A digit that does not come within
`timeout` seconds discards what was keyed and prompts again, at most `max_prompts` times,
then goodbye. Keys other than 0-9 are ignored.

A coSpace passcode (CMS §6.2: 8 to 63 digits) is the same entry with `length=None`: digits
until `#` (a `#` alone is the empty passcode), with its own prompts; what is keyed past
`max_length` is not kept (no passcode that long exists, so it is a wrong one). With
`blank_after` (a call profile's passcodeMode `timeout`, CMS §8.2.2) a caller who keys
nothing for that long after the prompt has keyed the empty passcode. The program that runs this over a call's
control queue is ivr/pin_app.py; this module does no I/O and reads no clock (the program
turns a running timer into `TimedOut`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .steps import Digit, IllegalTransition, TimedOut, Wait  # noqa: F401 (this machine's too)

PIN_LENGTH = 4
ENTER, WRONG, INACTIVE, GOODBYE = 'conference-pin-enter', 'conference-pin-wrong', \
    'conference-inactive', 'goodbye'     # prompt ids (prompts/prompts.toml)


# --- events (Digit and TimedOut are ivr/steps.py's) ----------------------------------------

@dataclass(frozen=True)
class PromptDone:
    """The prompt the last Play asked for has finished."""


@dataclass(frozen=True)
class LookedUp:
    """The answer to Lookup: the owner's conference with that PIN (anything with an
    `active` flag), or None."""
    conference: Any


@dataclass(frozen=True)
class Limited:
    """Instead of LookedUp: the guessing limits refused the entry unchecked (goodbye, as
    after the last wrong try, right or wrong)."""


# --- actions (Wait is ivr/steps.py's) ------------------------------------------------------

@dataclass(frozen=True)
class Play:
    prompt: str                      # a prompt id; digits break it


@dataclass(frozen=True)
class Lookup:
    pin: str


@dataclass(frozen=True)
class Join:
    conference: Any


@dataclass(frozen=True)
class End:
    """Play `prompt`, then hang up."""
    prompt: str
    reason: str                      # wrong-pin | timeout | inactive | limited


Action = Play | Wait | Lookup | Join | End
Event = PromptDone | Digit | TimedOut | LookedUp | Limited

# --- states ------------------------------------------------------------------------------------
IDLE = 'idle'
PROMPTING = 'prompting'        # the PIN prompt plays; a digit breaks it
REFUSED = 'refused'            # the wrong-PIN prompt plays; a digit starts the next try
COLLECTING = 'collecting'      # digits come in, each within `timeout`
LOOKING_UP = 'looking_up'      # four digits keyed, the conference is being looked up
DONE = 'done'                  # joined or ended: nothing more happens here


@dataclass
class PinEntry:
    """One caller's PIN entry. `start()` then `feed(event)`, each returning the actions to
    carry out in order."""
    max_tries: int = 3
    timeout: float = 10.0
    max_prompts: int = 3               # prompts again after a timeout, at most this often
    state: str = IDLE
    keyed: str = ''
    tries: int = 0                     # wrong PINs so far
    prompts: int = 0                   # re-prompts after a timeout so far
    length: int | None = PIN_LENGTH    # digits of a PIN; None: digits until '#'
    max_length: int = 63               # with length None: the longest code kept
    enter: str = ENTER                 # the prompts: enter the code, wrong code
    wrong: str = WRONG
    blank_after: float | None = None   # no key this long after the prompt: the empty code

    def start(self) -> list[Action]:
        if self.state != IDLE:
            raise IllegalTransition(f'start in state {self.state}')
        self.state = PROMPTING
        return [Play(self.enter)]

    def feed(self, event: Event) -> list[Action]:
        handler = _TRANSITIONS.get((self.state, type(event)))
        if handler is None:
            raise IllegalTransition(f'{type(event).__name__} in state {self.state}')
        return handler(self, event)

    # --- transitions ---------------------------------------------------------------------
    def _prompt_done(self, _: PromptDone) -> list[Action]:
        self.state = COLLECTING
        return [Wait(self.timeout if self.blank_after is None else self.blank_after)]

    def _prompt_again(self, _: PromptDone) -> list[Action]:
        self.state = PROMPTING
        return [Play(self.enter)]

    def _digit(self, ev: Digit) -> list[Action]:
        if self.length is None and ev.digit == '#':
            return self._lookup()
        if ev.digit not in '0123456789':
            return []
        if self.length is not None or len(self.keyed) <= self.max_length:
            self.keyed += ev.digit
        if self.length is None or len(self.keyed) < self.length:
            self.state = COLLECTING
            return [Wait(self.timeout)]
        return self._lookup()

    def _lookup(self) -> list[Action]:
        self.state = LOOKING_UP
        pin, self.keyed = self.keyed, ''
        return [Lookup(pin)]

    def _timed_out(self, _: TimedOut) -> list[Action]:
        if self.blank_after is not None and not self.keyed:
            return self._lookup()      # §8.2.2: "interpret this as a blank passcode"
        self.keyed = ''
        self.prompts += 1
        if self.prompts > self.max_prompts:
            return self._end(End(GOODBYE, 'timeout'))
        self.state = PROMPTING
        return [Play(self.enter)]

    def _looked_up(self, ev: LookedUp) -> list[Action]:
        c = ev.conference
        if c is None:
            self.tries += 1
            if self.tries >= self.max_tries:
                return self._end(End(GOODBYE, 'wrong-pin'))
            self.state = REFUSED
            return [Play(self.wrong)]
        if not c.active:
            return self._end(End(INACTIVE, 'inactive'))
        return self._end(Join(c))

    def _limited(self, _: Limited) -> list[Action]:
        return self._end(End(GOODBYE, 'limited'))

    def _ignore(self, _: Event) -> list[Action]:
        return []

    def _end(self, action: Action) -> list[Action]:
        self.state = DONE
        return [action]


_TRANSITIONS = {
    (PROMPTING, PromptDone): PinEntry._prompt_done,
    (PROMPTING, Digit): PinEntry._digit,
    (REFUSED, PromptDone): PinEntry._prompt_again,
    (REFUSED, Digit): PinEntry._digit,
    (COLLECTING, Digit): PinEntry._digit,
    (COLLECTING, TimedOut): PinEntry._timed_out,
    (LOOKING_UP, LookedUp): PinEntry._looked_up,
    (LOOKING_UP, Limited): PinEntry._limited,
    (LOOKING_UP, Digit): PinEntry._ignore,     # keyed past the fourth digit
}
