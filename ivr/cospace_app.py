"""Dial-in to a Cisco coSpace (CMS §6, §7.3 resolveToCoSpaces): the ways in that the dialled
URI reached (the coSpace's own uri/secondaryUri, its access methods' uri), each with its
passcode. Without any passcode the caller joins at once; else ivr/pin_app.py asks for a
passcode ended by `#` (bounded tries, timeouts and prompts), and the passcode keyed picks
the way in (a `#` alone: the one without a passcode). Either way the caller joins the
coSpace's room, which conference/room.py keys by the coSpace's id, with the profiles in
force for the way in used (`CoSpaceRoom.profiles`, dialplan/confprofiles.py).

The profiles steer the entry too: the call profile's passcodeMode `timeout` takes a caller
who keys nothing for passcodeTimeout seconds as having keyed the empty passcode (CMS
§8.2.2); a way whose passcode is shorter than its dial-in security profile's
minPasscodeLength is no way in while allowOutOfPolicy is false (§14.2)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.dialplan.confprofiles import PasscodePolicy, Resolved

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
    profiles: 'Resolved | None' = None   # the profiles in force for the way in used


Resolve = Callable[[str, 'str | None'], Awaitable[Resolved]]   # ProfileStore.resolve_profiles


async def no_profiles(_space: str, _method: str | None) -> Resolved:
    return Resolved()


def _method_id(entry: 'Entry') -> str | None:
    return entry.method['id'] if entry.method is not None else None


async def run_cospace(call: Call, entries: list['Entry'],
                      join: Callable[[Call, CoSpaceRoom], Awaitable[None]],
                      tries: int, timeout: float, prompts: int,
                      guard: 'GuessGuard | None' = None,
                      resolve: Resolve = no_profiles) -> None:
    space = entries[0].cospace
    resolved = {_method_id(e): await resolve(space['id'], _method_id(e)) for e in entries}

    def room_of(entry: 'Entry') -> CoSpaceRoom:
        method, profiles = _method_id(entry), resolved[_method_id(entry)]
        log.info('event=cospace-profiles call=%s cospace=%s method=%s leg=%s', call.id,
                 space['id'], method or 'none', ','.join(sorted(profiles.leg)) or 'none')
        return CoSpaceRoom(space['id'], space.get('name') or '', profiles=profiles)

    ways = [e for e in entries
            if PasscodePolicy.from_resolved(resolved[_method_id(e)]).usable(e.passcode)]
    if len(ways) < len(entries):
        log.info('event=cospace-out-of-policy call=%s cospace=%s refused=%d', call.id,
                 space['id'], len(entries) - len(ways))
    if ways and not any(e.passcode for e in ways):
        log.info('event=cospace-join call=%s cospace=%s passcode=none', call.id, space['id'])
        await call.run(C.make('answer'))
        await join(call, room_of(ways[0]))
        return
    by_code = {e.passcode: e for e in ways}

    async def lookup(_owner: str, code: str) -> CoSpaceRoom | None:
        entry = by_code.get(code)
        return room_of(entry) if entry is not None else None

    # passcodeMode is the call profile's: the coSpace's, whichever way the caller takes
    policy = PasscodePolicy.from_resolved(resolved.get(None) or await resolve(space['id'], None))
    blank_after = (policy.timeout or timeout) if policy.timeout_mode else None
    rt = PinRuntime(lookup, join, tries, timeout, prompts, length=None, enter=ENTER, wrong=WRONG,
                    guard=guard, blank_after=blank_after)
    await run_pin(call, space['id'], rt)
