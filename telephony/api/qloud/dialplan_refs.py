"""What a dial plan (v1 §4.2, v2 §4.1) may point at, and whether the router can run it:
checked before it is stored.

A plan is a standing order to place calls on its owner's behalf, so every target must be
the owner's to use (toll fraud, and one user steering calls into another's numbers):
- SIP accounts: only the user's own (`wrong-sip`, §4.2);
- numbers: never a number that belongs to another user (`wrong-phone`); external numbers
  are allowed (the document's own example forwards to +491771234567) and leave through the
  outgoing call policy like any call the user places; `cti_via` and `clip_number` must be
  the user's own numbers (`wrong-phone`);
- announcements: the user's own playable ones (`wrong-announcement`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .common import ApiError

if TYPE_CHECKING:
    from ..services import ApiServices

SIP_RE = r'^[a-z0-9]{2,20}_[0-9]{2}$'
_SIP = re.compile(SIP_RE)


@dataclass
class Refs:
    """References collected from a request: value -> where it was given (for messages)."""
    announcements: dict[str, str] = field(default_factory=dict)
    sips: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)       # not another user's
    own_numbers: dict[str, str] = field(default_factory=dict)   # the user's own only

    def target(self, value: str, where: str) -> None:
        """A v2 `target` or a pool entry: a SIP account name or a number."""
        (self.sips if _SIP.match(value) else self.numbers).setdefault(value, where)


async def check(server: 'ApiServices', owner: str, refs: Refs) -> None:
    for uuid, where in refs.announcements.items():
        if await server.objects.playable(owner, uuid) is None:
            raise ApiError('wrong-announcement',
                           f'{where}: {uuid} is not one of your (playable) announcements')
    if refs.sips:
        mine = {a.user for a in await server.db.sip_accounts(owner=owner)
                if a.domain == server.settings.domain}
        for name, where in refs.sips.items():
            if name not in mine:
                raise ApiError('wrong-sip', f'{where}: {name} is not one of your SIP accounts')
    owners = await server.phones.owners([*refs.numbers, *refs.own_numbers])
    for number, where in refs.numbers.items():
        if owners.get(number, owner) != owner:
            raise ApiError('wrong-phone', f'{where}: {number} belongs to another user')
    for number, where in refs.own_numbers.items():
        if owners.get(number) != owner:
            raise ApiError('wrong-phone', f'{where}: {number} is not one of your numbers')


def runnable(build: Callable[[dict], Any], plan: dict, prefix: str = '') -> None:
    """The plan as the router will read it (`DialplanV2.from_json`, `DialplanV1.from_json`):
    what the pydantic shapes let through but the core cannot run is `wrong-syntax`, with
    the field the core names (after `prefix`, where the body holds the plan). The API
    stores only what the router runs."""
    try:
        build(plan)
    except ValueError as exc:
        raise ApiError('wrong-syntax', f'{prefix}{exc}') from None
