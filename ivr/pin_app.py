"""The conference dial-in program: ivr/pin.py's PIN entry carried out over a call's control
queue (`answer`, `dtmf_collect`, `play`, `hangup`), then `join(call, conference)`."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.prompts import prompt_path

from .guess_limit import GuessGuard, source_key
from .keys import play_until_key, wait_for_key
from .pin import (
    DONE, ENTER, PIN_LENGTH, WRONG, Digit, End, Join, Limited, LookedUp, Lookup, PinEntry, Play,
    PromptDone, TimedOut, Wait,
)

log = logging.getLogger('telephony.ivr')


@dataclass
class PinRuntime:
    """What the program needs besides the call."""
    lookup: Callable[[str, str], Awaitable[Any]]          # ConferenceStore.by_pin(owner, pin)
    join: Callable[[Call, Any], Awaitable[None]]          # the room takes the call from here
    max_tries: int = 3
    timeout: float = 10.0
    max_prompts: int = 3
    length: int | None = PIN_LENGTH    # None: a passcode ended by '#'
    enter: str = ENTER
    wrong: str = WRONG
    max_length: int = 63               # with length None: the longest code kept
    guard: GuessGuard | None = None    # guessing limits across calls (ivr/guess_limit.py)
    blank_after: float | None = None   # passcodeMode timeout: silence is the empty code


async def run_pin(call: Call, owner: str, rt: PinRuntime) -> None:
    """Ask for a PIN of `owner`'s conferences until one is joined or the call ends."""
    entry = PinEntry(rt.max_tries, rt.timeout, rt.max_prompts, length=rt.length,
                     enter=rt.enter, wrong=rt.wrong, max_length=rt.max_length,
                     blank_after=rt.blank_after)
    await call.run(C.make('answer'), C.make('dtmf_collect', enable=True))
    log.info('event=conference-pin call=%s owner=%s', call.id, owner)
    pending = entry.start()
    while pending and not call.leg.ended:
        action = pending.pop(0)
        if isinstance(action, Play):
            log.info('event=conference-pin-prompt call=%s prompt=%s', call.id, action.prompt)
            got = await play_until_key(call, prompt_path(action.prompt), _keyed(entry))
            pending += _after(call, entry, got, PromptDone())
        elif isinstance(action, Wait):
            got = await wait_for_key(call, action.seconds, _keyed(entry))
            pending += _after(call, entry, got, TimedOut())
        elif isinstance(action, Lookup):
            pending += await _check(call, owner, rt, entry, action.pin)
        elif isinstance(action, Join):
            log.info('event=conference-pin-ok call=%s conference=%s', call.id,
                     action.conference.uuid)
            await rt.join(call, action.conference)
        elif isinstance(action, End):
            log.info('event=conference-pin-end call=%s owner=%s reason=%s prompt=%s', call.id,
                     owner, action.reason, action.prompt)
            await call.run(C.make('play', path=prompt_path(action.prompt)), C.make('hangup'))
    if not call.leg.ended and entry.state != DONE:   # a bug must not hold the caller
        log.error('event=conference-pin-stuck call=%s state=%s', call.id, entry.state)
        await call.run(C.make('hangup'))


async def _check(call: Call, owner: str, rt: PinRuntime, entry: PinEntry, pin: str) -> list:
    """Look the entry up, unless the guessing limits refuse it before that."""
    ticket = None
    if rt.guard is not None:
        source = source_key(call.leg.peer.addr[0], call.trunk, call.info.get('from') or '')
        ticket = rt.guard.attempt(owner, source, time.monotonic())
        if ticket is None:
            log.info('event=conference-pin-limited call=%s owner=%s', call.id, owner)
            return entry.feed(Limited())
    conference = await rt.lookup(owner, pin)
    if conference is None:
        log.info('event=conference-pin-wrong call=%s owner=%s try=%d', call.id, owner,
                 entry.tries + 1)
    if ticket is not None:
        (rt.guard.wrong if conference is None else rt.guard.right)(ticket, time.monotonic())
    return entry.feed(LookedUp(conference))


def _keyed(entry: PinEntry) -> Callable[[str], list]:
    return lambda digit: entry.feed(Digit(digit))


def _after(call: Call, entry: PinEntry, got: list | None, otherwise) -> list:
    """A key's actions; else, unless the caller hung up, what the prompt's end or the
    timeout (`otherwise`) leads to."""
    if got is not None:
        return got
    return [] if call.leg.ended else entry.feed(otherwise)
