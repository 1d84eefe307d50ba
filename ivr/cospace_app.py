"""Dial-in to a Cisco coSpace (CMS §6, §7.3 resolveToCoSpaces): the ways in that the dialled
URI reached (the coSpace's own uri/secondaryUri, its access methods' uri), each with its
passcode. Without any passcode the caller joins at once; else ivr/pin_app.py asks for a
passcode ended by `#` (bounded tries, timeouts and prompts), and the passcode keyed picks
the way in (a `#` alone: the one without a passcode). Either way the caller joins the
coSpace's room, which conference/room.py keys by the coSpace's id."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from telephony.calls.call import Call
from telephony.calls.controls import Control as C

from .pin_app import PinRuntime, run_pin

if TYPE_CHECKING:
    from telephony.store.cospaces import Entry

    from .guess_limit import GuessGuard

log = logging.getLogger('telephony.ivr')
ENTER, WRONG = 'cospace-passcode-enter', 'cospace-passcode-wrong'   # prompts/prompts.toml


@dataclass(frozen=True)
class CoSpaceRoom:
    """What the conference rooms need of a coSpace. No Q-loud user owns it, so its events
    go to no session (`owner` None): /api/v1 administrators provision it, the log shows it."""
    uuid: str
    description: str
    owner: None = None
    mute_default: bool = False
    active: bool = True          # a coSpace is always open (PIN entry asks)


def room_of(entry: 'Entry') -> CoSpaceRoom:
    return CoSpaceRoom(entry.cospace['id'], entry.cospace.get('name') or '')


async def run_cospace(call: Call, entries: list['Entry'],
                      join: Callable[[Call, CoSpaceRoom], Awaitable[None]],
                      tries: int, timeout: float, prompts: int,
                      guard: 'GuessGuard | None' = None) -> None:
    if not any(e.passcode for e in entries):
        log.info('event=cospace-join call=%s cospace=%s passcode=none', call.id,
                 entries[0].cospace['id'])
        await call.run(C.make('answer'))
        await join(call, room_of(entries[0]))
        return
    by_code = {e.passcode: e for e in entries}

    async def lookup(_owner: str, code: str) -> CoSpaceRoom | None:
        entry = by_code.get(code)
        return room_of(entry) if entry is not None else None

    rt = PinRuntime(lookup, join, tries, timeout, prompts, length=None, enter=ENTER, wrong=WRONG,
                    guard=guard)
    await run_pin(call, entries[0].cospace['id'], rt)
