"""The outgoing call policy at run time (Q-loud §9): reads what a partner set for the caller
(store/policy.py) and hands it to the pure decision in dialplan/policy.py.

`check` runs before any outgoing call of a user leaves the server: emergency numbers always
go out (to the control centre or the `emergency_route` setting), then the usergroup's
concurrent call limit, then the call filter with its number rewrite, then the price of a
minute from the zone filter of a usergroup with credits. `admit` refuses a trunk call the
credit cannot pay and meters the rest (calls/credit.py). `resolve` turns an internal
extension dialled by a usergroup member into the number it reaches.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Iterable

from ..dialplan.callfilter import CallFilterError, parse_filter
from ..dialplan.credit import Zone, ZoneFilter, ZoneFilterError, affordable
from ..dialplan.policy import (
    NO_CREDIT, Denied, Emergency, EmergencyRoute, is_emergency, outgoing_policy,
)
from ..dialplan.router import Outgoing, Trunk
from ..dialplan.rules import parse_destination
from ..sip.uri import UriError
from ..dialplan.usergroups import Usergroup, resolve_extension
from ..store.policy import enterprises, usergroups, zonefilter_of
from .credit import Charge, CreditMeter
from .outgoing import PolicyDenied

if TYPE_CHECKING:
    from ..config import Settings
    from ..store.phones import PhoneStore
    from ..store.policy import PolicyStore
    from .call import Call

log = logging.getLogger('telephony.policy')
# what may become a Request-URI's user part after the call filter's rewriting
DIALLABLE = re.compile(r'\+?[0-9*#]{1,64}')
# a stored zone filter that cannot be read prices every number above any credit left at 0
UNREADABLE_ZONES = ZoneFilter((Zone('unreadable', ('',), 1),))


@dataclass(frozen=True)
class PolicyVerdict:
    allowed: bool
    number: str          # what to dial: rewritten by the filter, or the emergency route
    reason: str          # SIP reason phrase of a refusal ('' when allowed)
    emergency: bool
    status: int = 0      # SIP status of a refusal (403)
    uui: str | None = None   # an emergency call's User-to-User (the user's uui_header)
    charge: Charge | None = None   # what the usergroup's credit pays for a minute of it


class OutgoingPolicy:
    def __init__(self, store: 'PolicyStore', phones: 'PhoneStore', settings: 'Settings',
                 active_calls: Callable[[], Iterable['Call']]):
        self.store = store
        self.meter = CreditMeter(store, settings.credit_interval)
        self.phones = phones
        self.settings = settings
        self.active_calls = active_calls
        self.emergency_numbers = tuple(n.strip() for n in settings.emergency_numbers.split(',')
                                       if n.strip())

    async def check(self, owner: str | None, number: str, service: str) -> PolicyVerdict:
        """May `owner` call `number` as `service` (a §9.1.3 service name), and where to."""
        route = EmergencyRoute.from_json(await self.store.emergency(owner) if owner else None,
                                         self.emergency_numbers)
        group = await self._group(owner)
        limit, active = await self._limit(group)
        credit, zones = self._credit(group)
        decision = outgoing_policy(number, service, route, await self._filter(owner), active,
                                   limit, zones)
        if isinstance(decision, Emergency):
            target = decision.control_centre or self.settings.emergency_route or number
            log.info('event=emergency-call owner=%s number=%s route=%s', owner, number, target)
            return PolicyVerdict(True, target, '', True, uui=decision.uui)
        if isinstance(decision, Denied):
            log.info('event=call-denied owner=%s number=%s reason="%s"', owner, number,
                     decision.reason)
            return PolicyVerdict(False, number, decision.reason, False, decision.status)
        if not DIALLABLE.fullmatch(decision.number):   # a filter's replace made it a non-number
            log.info('event=call-denied owner=%s number=%s reason="Not A Number"', owner, number)
            return PolicyVerdict(False, number, 'Not A Number', False, 403)
        charge = None
        if group is not None and credit is not None and zones is not None:
            charge = Charge(group['uuid'], decision.cost, credit, zones)
        return PolicyVerdict(True, decision.number, '', False, charge=charge)

    def admit(self, verdict: PolicyVerdict, outcome: Outgoing) -> Callable[['Call'], None] | None:
        """An allowed call about to be placed as `outcome`: only one that leaves through a
        trunk costs credits. PolicyDenied when its usergroup's credit cannot pay its first
        minute (it never leaves); else what meters the placed call (None: it is free)."""
        charge = verdict.charge
        if charge is None or not isinstance(outcome, Trunk):
            return None
        leaving = _leaving_number(outcome)
        if charge.zones is not None and leaving:
            # priced as dialled and as it leaves, the dearer: a transform that rewrites
            # 0049… into +49… (or +49… into 0…) is no way to a cheaper zone
            charge = replace(charge, cost=max(charge.cost, charge.zones.cost(leaving)))
        if charge.cost <= 0:
            return None
        if not affordable(charge.credit, charge.cost):
            log.info('event=call-denied number=%s reason="%s" group=%s credit=%s cost=%s',
                     verdict.number, NO_CREDIT.reason, charge.group, charge.credit, charge.cost)
            raise PolicyDenied(PolicyVerdict(False, verdict.number, NO_CREDIT.reason, False,
                                             NO_CREDIT.status))
        return lambda call: self.meter.watch(call, charge)

    async def _filter(self, owner: str | None):
        doc = await self.store.callfilter(owner) if owner else None
        if doc is None:
            return None
        try:
            return parse_filter(doc)
        except CallFilterError:     # stored only after this very check: deny, never open up
            log.warning('event=callfilter-unreadable owner=%s', owner)
            return parse_filter([{'operator': 'match', 'key': '.*', 'pass': False}])

    async def _group(self, owner: str | None) -> dict | None:
        """The row of the owner's usergroup, if it is in one."""
        group = await self.store.group_of(owner) if owner else None
        return await self.store.get(usergroups, None, group) if group else None

    async def _limit(self, row: dict | None) -> tuple[int | None, int]:
        """The concurrent call limit of the owner's usergroup and the group's live calls."""
        if row is None or row['call_limit'] is None:
            return None, 0
        members = set(await self.store.members(row['uuid']))
        active = sum(1 for c in self.active_calls() if c.owner in members and not c.leg.ended)
        return row['call_limit'], active

    @staticmethod
    def _credit(row: dict | None) -> tuple[int | None, ZoneFilter | None]:
        """The credit left and the zone filter of a usergroup with credits configured (a
        group without credits is not charged, whatever its filter says)."""
        if row is None or row['credit'] is None:
            return None, None
        doc = zonefilter_of(row)
        if doc is None:
            return row['credit'], None
        try:
            return row['credit'], ZoneFilter.from_json(doc)
        except ZoneFilterError:     # stored only after this very check: refuse, never free
            log.warning('event=zonefilter-unreadable group=%s', row['uuid'])
            return 0, UNREADABLE_ZONES

    async def resolve(self, owner: str | None, dialled: str) -> str | None:
        """The number a usergroup member reaches by dialling `dialled` as an internal
        extension (the other user's first number), or None when it is no extension."""
        if is_emergency(dialled, self.emergency_numbers):   # no extension hides 110 or 112
            return None
        group = await self.store.group_of(owner) if owner else None
        row = await self.store.get(usergroups, None, group) if group else None
        if row is None:
            return None
        own = Usergroup.from_json(row['uuid'], await self.store.group_document(row))
        others, prefixed = [], False
        if row['enterprise']:
            ent = await self.store.get(enterprises, None, row['enterprise'])
            prefixed = bool(ent and ent['group_prefix_enable'])
            others = [Usergroup.from_json(g['uuid'], await self.store.group_document(g))
                      for g in await self.store.enterprise_groups(row['enterprise'])]
        hit = resolve_extension(dialled, own, others, prefixed)
        if hit is None:
            return None
        numbers = await self.phones.of_owner(hit.user)
        return numbers[0].number if numbers else None


def _leaving_number(outcome: 'Trunk') -> str | None:
    """The user part the dial transforms made of the destination (None: none matched)."""
    result = outcome.transform
    if result is None or not result.destination:
        return None
    try:
        return parse_destination(result.destination).user
    except UriError:
        return None
