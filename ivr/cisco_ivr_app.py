"""A Cisco IVR (CMS §8.9, §7.3 resolveToIvrs): the caller keys a call ID ended by `#`
(ivr/pin.py's `#`-terminated entry with its own prompts, bounded tries and timeouts, then
goodbye); with `resolveCoSpaceCallIds` true it is looked up among coSpaces' and access
methods' `callId`s, and the coSpace found is dialled into as its URI would be
(ivr/cospace_app.py: its passcode if that way in has one, then its room). With
`resolveCoSpaceCallIds` false no ID leads anywhere (Lync conference IDs are not resolved
here), so every one is a wrong one."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from telephony.calls.call import Call

from .cospace_app import CoSpaceRoom, Resolve, no_profiles, run_cospace
from .pin_app import PinRuntime, run_pin

if TYPE_CHECKING:
    from telephony.store.cospaces import Entry

    from .guess_limit import GuessGuard

log = logging.getLogger('telephony.ivr')
ENTER, WRONG = 'ivr-call-id-enter', 'ivr-call-id-wrong'   # prompts/prompts.toml
CALL_ID_MAX = 200   # the longest callId /api/v1 takes (api/cisco/cospaces.py)


@dataclass(frozen=True)
class Found:
    """A call ID that leads into a coSpace (`uuid`, as pin_app logs what it joins)."""
    uuid: str
    entries: list['Entry']
    active: bool = True


async def run_ivr(call: Call, ivr: dict, find: Callable[[str], Awaitable[list['Entry']]],
                  join: Callable[[Call, CoSpaceRoom], Awaitable[None]],
                  tries: int, timeout: float, prompts: int,
                  guard: 'GuessGuard | None' = None,
                  profiles: Resolve = no_profiles) -> None:
    resolve = ivr.get('resolveCoSpaceCallIds') != 'false'   # §8.9.2: defaults to true

    async def lookup(_ivr: str, call_id: str) -> Found | None:
        entries = await find(call_id) if resolve and call_id else []
        return Found(entries[0].cospace['id'], entries) if entries else None

    async def enter(call: Call, found: Found) -> None:
        log.info('event=ivr-call-id call=%s ivr=%s cospace=%s', call.id, ivr['id'], found.uuid)
        await run_cospace(call, found.entries, join, tries, timeout, prompts, guard, profiles)

    rt = PinRuntime(lookup, enter, tries, timeout, prompts, length=None, enter=ENTER, wrong=WRONG,
                    max_length=CALL_ID_MAX, guard=guard)
    await run_pin(call, ivr['id'], rt)
