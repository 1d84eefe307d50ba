"""The asyncio shell around the pure Hunt machine (dialplan/hunt.py): it places the legs a
target needs, turns their state changes into hunt events, keeps ONE timer per hunt (the
machine's `Wake`), and tells the caller what happened. The inbound call is answered and
bridged to the winner here; a hunt that gives up hands its reason back (v1 fallbacks).

A target is whatever `place()` makes of it: a SIP account rings all its registered
bindings (several legs, one target: the first leg to answer wins, the others go), a number
is one leg. The caller hears ringing (180), or the ringback program (early media) when one
is given.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable, Sequence

from ..dialplan import hunt as h
from ..sip.forking import best_branch
from .call import Call
from .controls import Control
from .fork import CANCELLED_ELSEWHERE, contact_legs
from .leg import ANSWERED, HANGUP, PROGRESS, RINGING

if TYPE_CHECKING:
    from .manager import CallManager

log = logging.getLogger('telephony.calls')

GIVE_UP_CAUSE = {'timeout': 19, 'busy': 17, 'unavailable': 20}   # no answer, busy, absent


@dataclass(frozen=True)
class HuntTarget:
    """One thing to ring: `place` makes its outbound calls (none: it cannot be reached)."""
    name: str
    timeout: float | None
    place: Callable[[], Awaitable[list[Call]]]


class HuntShell:
    def __init__(self, manager: 'CallManager', inbound: Call, targets: Sequence[HuntTarget],
                 mode: str = 'parallel', overall: float | None = None, start: int = 0,
                 ringback: Callable[[Call, Callable[[], bool]], Awaitable[None]] | None = None):
        self.manager = manager
        self.inbound = inbound
        self.targets = list(targets)
        self.machine = h.Hunt(mode, [t.timeout for t in self.targets], overall, start)
        self.ringback = ringback
        self.legs: dict[int, list[Call]] = {}
        self.winner: Call | None = None
        self.loop = asyncio.get_running_loop()
        self.outcome: asyncio.Future = self.loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._alerted = False
        # the failed legs' (final status, cause), in the order they ended
        self.failures: list[tuple[int | None, int]] = []

    # --- feeding the machine --------------------------------------------------------------
    def _feed(self, event: h.Event) -> None:
        try:
            actions = self.machine.handle(event, self.loop.time())
        except h.IllegalTransition as exc:
            log.info('event=hunt-out-of-order call=%s reason="%s"', self.inbound.id, exc)
            return
        for a in actions:
            if isinstance(a, h.Ring):
                self.loop.create_task(self._ring(a.target))
            elif isinstance(a, h.Cancel):
                for c in self.legs.get(a.target, ()):
                    c.leg.hangup(cause=CANCELLED_ELSEWHERE if self.machine.answered is not None
                                 else 16)
            elif isinstance(a, h.Bridge):
                self._settle(self.winner)
            elif isinstance(a, h.GiveUp):
                self._settle(a.reason)
            elif isinstance(a, h.Wake):
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self.loop.call_at(a.at, self._feed, h.Tick())

    def _settle(self, result) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self.outcome.done():
            self.outcome.set_result(result)

    async def _ring(self, i: int) -> None:
        target = self.targets[i]
        try:
            calls = await target.place()
        except Exception:
            log.exception('event=hunt-place-failed call=%s target=%s', self.inbound.id, target.name)
            calls = []
        log.info('event=hunt-ring call=%s target=%s legs=%d', self.inbound.id, target.name,
                 len(calls))
        if not calls:
            return self._feed(h.TargetFailed(i, 480))
        self.legs[i] = calls
        if self.machine.legs[i] is not h.Leg.RINGING:     # cancelled while the legs were made
            for c in calls:
                c.leg.hangup(cause=16)
            return
        for c in calls:
            c.listeners.append(lambda kind, fields, c=c: self._on_leg(i, c, kind, fields))

    def _on_leg(self, i: int, c: Call, kind: str, fields: dict) -> None:
        status = fields.get('status') if kind == 'call_update' else None
        state = self.machine.legs[i]
        if status in (RINGING, PROGRESS):
            self._alert()
            if state is h.Leg.RINGING:
                self._feed(h.TargetRinging(i))
        elif status == ANSWERED:
            if state is not h.Leg.RINGING or self.machine.done:
                c.leg.hangup(cause=CANCELLED_ELSEWHERE)   # crossed our CANCEL, or lost the race
                return
            self.winner = c
            for other in self.legs[i]:
                if other is not c:
                    other.leg.hangup(cause=CANCELLED_ELSEWHERE)
            self._feed(h.TargetAnswered(i))
        elif status == HANGUP and state is h.Leg.RINGING \
                and all(o.leg.ended for o in self.legs[i]):
            failed = [(o.leg.final_status, o.leg.hangup_cause) for o in self.legs[i]
                      if o.leg.hangup_cause]
            self.failures += failed
            if 17 in (cause for _, cause in failed):
                self._feed(h.TargetBusy(i))
            else:
                self._feed(h.TargetFailed(i))

    def _alert(self) -> None:
        """The caller hears that something rings: a 180, or the ringback as early media."""
        if self._alerted or self.inbound.leg.state in (RINGING, PROGRESS, ANSWERED, HANGUP):
            return
        self._alerted = True
        if self.ringback is None:
            self.loop.create_task(self.inbound.leg.ring())

    def best_cause(self) -> int | None:
        """The cause of the failure the legs' answers add up to (sip/forking.py), if any."""
        if not self.failures:
            return None
        return self.failures[best_branch([status for status, _ in self.failures])][1]

    # --- the whole hunt ---------------------------------------------------------------------
    async def run(self) -> str | None:
        """Hunt until one answers (bridged: None) or all give up (the reason)."""
        if self.ringback is not None:
            self._alerted = True
            self.loop.create_task(self.ringback(self.inbound, self.outcome.done))
        self._feed(h.Start())
        done, _ = await asyncio.wait({self.outcome, self.inbound.ended},
                                     return_when=asyncio.FIRST_COMPLETED)
        if self.outcome not in done:
            self._feed(h.CallerCancelled())
            self._settle(None)
            return None
        result = self.outcome.result()
        if self.ringback is not None:
            await self.inbound.run(Control.make('silence', duration=1), queue='break')
        if isinstance(result, str):
            log.info('event=hunt-gave-up call=%s reason=%s', self.inbound.id, result)
            return result
        winner: Call = result
        log.info('event=hunt-answered call=%s winner=%s', self.inbound.id, winner.id)
        await self.inbound.run(Control.make('answer'))
        if self.inbound.leg.ended:
            winner.leg.hangup()
            return None
        await self.inbound.run(Control.make('bridge', call=winner.id, hangup_both=True))
        return None


def give_up(inbound: Call, reason: str) -> None:
    """Answer the unanswered caller with the hunt's reason (hunt.GIVE_UP_STATUS)."""
    status, phrase = h.GIVE_UP_STATUS.get(reason, (480, 'Temporarily Unavailable'))
    refuse(inbound, status, phrase, cause=GIVE_UP_CAUSE.get(reason))


def refuse(inbound: Call, status: int, phrase: str | None = None, cause: int | None = None) -> None:
    """A final answer to a caller still unanswered (after ringing, or early media)."""
    inbound.leg.reject(status, phrase, cause)


async def ring_bindings(manager: 'CallManager', inbound: Call, bindings, caller: str | None) -> list[Call]:
    """One outbound leg per registered contact of an account (a hunt target's legs)."""
    from_uri = f'sip:{caller or inbound.leg.caller or "anonymous"}@{manager.settings.domain}'
    display = inbound.leg.invite.from_.display
    return await contact_legs(manager, bindings, from_uri, display, [],
                              lambda leg: manager._track(leg, parent=inbound))
