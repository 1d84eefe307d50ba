"""Usergroup credits at run time (§9.1.6 hot billing): "the corresponding cost will be removed
from the usergroup's credits as soon as the call is answered, and will from then on be
removed every 60 seconds until the call ends. If the usergroup does not have enough credits
left, the call is terminated."

One timer for all metered calls: their next charge times sit in a dialplan.credit.ChargeQueue
and a single loop.call_at is armed for the earliest; when it fires, one task charges every
call that is due. Each charge is one conditional UPDATE (store.policy.charge), paid before
the interval is used (write-ahead): a crash never gives free minutes, and concurrent calls
of a group never spend the same credit twice.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..dialplan.credit import ChargeQueue, next_charge
from .leg import ANSWERED, HANGUP

if TYPE_CHECKING:
    from ..dialplan.credit import ZoneFilter
    from ..store.policy import PolicyStore
    from .call import Call

log = logging.getLogger('telephony.credit')


@dataclass(frozen=True)
class Charge:
    """What a call's usergroup pays: `cost` credits per interval; `credit` was left when the
    call was allowed."""
    group: str
    cost: int
    credit: int
    zones: 'ZoneFilter | None' = field(default=None, compare=False, repr=False)  # to price again


@dataclass
class _Metered:
    call: 'Call'
    charge: Charge
    answered: float | None = None   # loop time
    charged: int = 0                # intervals paid


class CreditMeter:
    def __init__(self, store: 'PolicyStore', interval: float):
        self.store = store
        self.interval = max(1.0, float(interval))   # a 0 would charge in a busy loop
        self.queue = ChargeQueue()
        self.metered: dict[str, _Metered] = {}      # call id ->
        self._timer: asyncio.TimerHandle | None = None
        self._charging: asyncio.Task | None = None

    def watch(self, call: 'Call', charge: Charge) -> None:
        """Charge `call` from its answer until it ends (a free call is not watched)."""
        if charge.cost <= 0:
            return
        m = _Metered(call, charge)
        self.metered[call.id] = m
        call.listeners.append(lambda kind, fields: self._on_update(m, kind, fields))
        if call.leg.state == ANSWERED:
            self._answered(m)
        elif call.leg.ended:
            self._forget(m)

    def _on_update(self, m: _Metered, kind: str, fields: dict) -> None:
        status = fields.get('status') if kind == 'call_update' else None
        if status == ANSWERED and m.answered is None:
            self._answered(m)
        elif status == HANGUP:
            self._forget(m)

    def _answered(self, m: _Metered) -> None:
        m.answered = asyncio.get_running_loop().time()
        self.queue.add(m.call.id, m.answered)    # the first interval is paid now
        self._arm()

    def _forget(self, m: _Metered) -> None:
        self.metered.pop(m.call.id, None)
        self.queue.discard(m.call.id)

    def _arm(self) -> None:
        """The one timer, for the earliest charge (re-armed after each round)."""
        if self._charging is not None:
            return   # the running round arms it when it is done
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.queue.next_time()
        if due is not None:
            self._timer = asyncio.get_running_loop().call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._charging = asyncio.get_running_loop().create_task(self._charge_due())

    async def _charge_due(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while due := self.queue.pop_due(loop.time()):
                for key in due:
                    m = self.metered.get(key)
                    if m is not None and not m.call.leg.ended:
                        await self._charge(m)
        finally:
            self._charging = None
            self._arm()

    async def _charge(self, m: _Metered) -> None:
        call, charge = m.call, m.charge
        try:
            paid = await self.store.charge(charge.group, charge.cost)
        except Exception:   # cannot charge: no free minutes either
            log.exception('event=credit-charge-failed call=%s group=%s', call.id, charge.group)
            paid = False
        if call.leg.ended:
            self._forget(m)
            return
        if not paid:
            log.info('event=credit-exhausted call=%s group=%s cost=%s intervals=%s', call.id,
                     charge.group, charge.cost, m.charged)
            self._forget(m)
            call.leg.hangup(cause=16)
            return
        m.charged += 1
        assert m.answered is not None
        self.queue.add(call.id, next_charge(m.answered, self.interval, m.charged))
