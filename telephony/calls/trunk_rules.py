"""Trunks from the outbound dial plan rules: a rule with a `sipProxy` is a trunk account
(it registers when `register` is true), and every rule's `trunkAddresses` say where that
trunk's inbound calls come from. `sync()` applies the rules as they are now; the store calls
`changed()` after every write (the API's), so a new rule registers without a restart.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..logtext import quoted
from ..sip.registrations import SETTINGS_TRUNK
from ..sip.trunks import TrunkAccount, TrunkMatcher

if TYPE_CHECKING:
    from ..sip.registrations import TrunkRegistrations
    from .outgoing import RuleCache

log = logging.getLogger('telephony.trunks')


class TrunkRules:
    def __init__(self, rules: 'RuleCache', registrations: 'TrunkRegistrations',
                 settings_addresses: list[str], set_matcher: Callable[[TrunkMatcher], None]):
        self.rules = rules
        self.registrations = registrations
        self.settings_addresses = settings_addresses   # the settings trunk's, kept first
        self.set_matcher = set_matcher
        self._ids: set[str] = set()
        self._task: asyncio.Task | None = None
        self._again = False

    async def sync(self) -> None:
        rules = await self.rules.get()
        ids = set()
        for row in rules.outbound_fields:
            if not row.get('sipProxy'):
                continue
            try:
                account = TrunkAccount.from_fields(row, id=row['id'])
            except ValueError as exc:
                log.warning('event=trunk-rule-skipped rule=%s reason=%s', row.get('id'), quoted(exc))
                continue
            self.registrations.add(account)   # the same account again changes nothing
            ids.add(account.id)
        for gone in self._ids - ids:
            self.registrations.remove(gone)
        self._ids = ids
        addresses: dict[str, list[str]] = {SETTINGS_TRUNK: list(self.settings_addresses)}
        for rule in rules.outbound:
            if rule.trunk_addresses and rule.id is not None:
                addresses[rule.id] = [str(net) for net in rule.trunk_addresses]
        self.set_matcher(TrunkMatcher(addresses))

    def changed(self) -> None:
        """A rule was written: sync soon, once for a burst of writes."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self.sync()
            except Exception:
                log.exception('event=trunk-rules-sync-failed')
            if not self._again:
                return
