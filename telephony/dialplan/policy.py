"""The policy for a user's outgoing call (§9): emergency numbers, the usergroup's concurrent
call limit, the partner's call filter, in that order; then the price of a minute of it from
the usergroup's zone filter (§9.1.6 hot billing).

An emergency call (110, 112, and the numbers an operator configures) is decided first and
always reaches the emergency route, whatever limit or filter would deny it (§9.1.5: it goes
to the user's `emergency_police` / `emergency_rescue` control centre when one is set).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from .callfilter import CallFilter, evaluate
from .credit import ZoneFilter
from .usergroups import limit_allows

EMERGENCY = ('110', '112')      # Germany's police and fire/rescue, as §9.1.5 names them


def is_emergency(number: str, configured: Iterable[str] = ()) -> bool:
    """The dialled number exactly, before any rewriting by dial prefixes or filters."""
    return number in EMERGENCY or number in set(configured)


@dataclass(frozen=True)
class EmergencyRoute:
    """§9.1.5 per user: control centres in "german emergency encoding" (e.g. 221CC00)."""
    police: str | None = None       # emergency_police, for 110
    rescue: str | None = None       # emergency_rescue, for 112
    configured: tuple[str, ...] = ()
    uui: str | None = None          # uui_header: sent with the user's emergency calls

    @classmethod
    def from_json(cls, d: dict | None, configured: Iterable[str] = ()) -> 'EmergencyRoute':
        d = d or {}
        return cls(d.get('emergency_police') or None, d.get('emergency_rescue') or None,
                   tuple(configured), d.get('uui_header') or None)


@dataclass(frozen=True)
class Emergency:
    number: str                     # as dialled
    control_centre: str | None      # where to send it; None: the number itself
    uui: str | None = None          # the user's uui_header, for the User-to-User header


@dataclass(frozen=True)
class Denied:
    status: int
    reason: str


@dataclass(frozen=True)
class Allowed:
    number: str                     # after the call filter's replace operators
    cost: int = 0                   # credits per minute its zone costs (charged when answered)


_HEX = re.compile(r'(?:[0-9A-Fa-f]{2})+')


def user_to_user(uui: str) -> str:
    """The User-to-User header value (RFC 7433) for a §9.1.5 `uui_header`: hex as the
    document's example is, sent as it is; any other text goes as the hex of its UTF-8 (the
    only encoding RFC 7433 defines, and no character of it can break the header)."""
    data = uui if _HEX.fullmatch(uui) else uui.encode().hex().upper()
    return f'{data};encoding=hex'


LIMIT_REACHED = Denied(403, 'Concurrent Call Limit Reached')
NO_CREDIT = Denied(403, 'Insufficient Credit')   # a trunk call its usergroup cannot pay


def outgoing_policy(number: str, service: str, route: EmergencyRoute = EmergencyRoute(),
                    callfilter: CallFilter | None = None, active: int = 0,
                    limit: int | None = None,
                    zones: ZoneFilter | None = None) -> Emergency | Denied | Allowed:
    """Decide a user's outgoing call to `number` (`service` is a §9.1.3 service name).
    `zones`: the zone filter of a usergroup with credits, which prices the number as it
    leaves (after the call filter); whether the credit pays is decided once the call is
    known to go to a trunk (dialplan.credit.affordable)."""
    if is_emergency(number, route.configured):
        centre = {'110': route.police, '112': route.rescue}.get(number)
        return Emergency(number, centre, route.uui)
    if not limit_allows(active, limit):
        return LIMIT_REACHED
    if callfilter is not None:
        result = evaluate(callfilter, number, service)
        if not result.allowed:
            return Denied(403, 'Call Filter Denied')
        number = result.number
    return Allowed(number, zones.cost(number) if zones is not None else 0)
