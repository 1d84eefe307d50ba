"""Calls to our numbers that a Q-loud dial plan decides (§4.1 v2, §4.2 v1), and calls placed
from our SIP accounts (§4.2 quick dialling, CLIP, CLIR).

The decision is pure (dialplan/numbers.py `number_decision`); this loads the plans, reads
the dial plan clock, and runs what was decided: a refusal, voice mail, or a hunt
(calls/hunting.py) with its v1 fallbacks. Hunt targets: the owner's SIP accounts ring their
registered bindings (checked to be the owner's again, now), our own numbers are called
internally (a loopback INVITE, so that number's own switches decide), other numbers are
outgoing calls of the owner through `CallManager.dial`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from ..dialplan import qloud
from ..dialplan.numbers import DIALPLAN_V1, DIALPLAN_V2, NumberDecision, number_decision
from ..sip.transaction import Peer
from ..sip.uri import parse_uri
from .call import Call
from .controls import Control
from .leg import Leg
from .hunting import HuntShell, HuntTarget, give_up, refuse, ring_bindings

if TYPE_CHECKING:
    from ..store.dialplans import DialplanStore
    from ..store.phones import Phone
    from .manager import CallManager

log = logging.getLogger('telephony.calls')

CHAIN = 'X-Telephony-Chain'   # numbers a loopback hunt leg has passed through (loop guard)
MAX_CHAIN = 10                # hops through our own numbers before a call is refused (482)
RING_TONE = dict(frequencies=[425], duration_ms=1000, interval_ms=4000, loop=0)   # ETSI ringing


def dialplan_clock(offset: float = 0) -> Callable[[], datetime]:
    """The wall clock the v2 time filters read (UTC), shifted by `dialplan_clock_offset`."""
    return lambda: datetime.now(timezone.utc) + timedelta(seconds=offset)


def chain_of(value: str | None) -> tuple[str, ...]:
    """The loop guard's numbers from an INVITE (bounded; anything else in it is ignored)."""
    items = [x.strip() for x in (value or '').split(',')[:MAX_CHAIN + 1]]
    return tuple(x for x in items if qloud.PHONE.fullmatch(x))


@dataclass(frozen=True)
class PlacedCall:
    number: str
    clip: str | None = None
    clir: bool = False


class NumberRouter:
    def __init__(self, manager: 'CallManager', dialplans: 'DialplanStore | None',
                 clock: Callable[[], datetime] | None = None):
        self.m = manager
        self.dialplans = dialplans
        self._clock = clock      # None: the wall clock with the settings' offset

    def clock(self) -> datetime:
        if self._clock is None:
            self._clock = dialplan_clock(self.m.settings.dialplan_clock_offset)
        return self._clock()

    # --- the decision ---------------------------------------------------------------------
    async def decide(self, phone: 'Phone', facts: qloud.CallFacts) -> NumberDecision | None:
        """None: the stored plan cannot be used (logged; the caller gets 480)."""
        v2 = v1 = None
        try:
            if phone.dialplan and self.dialplans is not None:
                raw = await self.dialplans.v2(phone.dialplan)
                v2 = None if raw is None else qloud.DialplanV2.from_json(raw)
            if phone.dialplan_enable and self.dialplans is not None:
                raw = await self.dialplans.v1(phone.number)
                v1 = None if raw is None else qloud.DialplanV1.from_json(raw)
            return number_decision(phone, v2, v1, facts, self.clock())
        except ValueError as exc:
            log.warning('event=dialplan-unusable number=%s error="%s"', phone.number, exc)
            return None

    @staticmethod
    def refusal(decision: NumberDecision) -> qloud.Step | None:
        """The SIP answer when the plan rings nobody and records nothing."""
        if decision.kind == DIALPLAN_V2:
            return qloud.v2_refusal(decision.v2)
        if decision.kind == DIALPLAN_V1 and decision.v1.first.action == 'reject':
            return decision.v1.first
        return None

    # --- running it -------------------------------------------------------------------------
    async def run(self, call: Call, phone: 'Phone', decision: NumberDecision,
                  chain: tuple[str, ...]) -> None:
        owner = phone.owner
        chain = (*chain, phone.number)
        if decision.kind == DIALPLAN_V2:
            d = decision.v2
            if d.action == 'record':
                return await self.m.apps.record(owner, d.announcement)(call)
            start = 0
            if d.action == 'cyclic':
                key = (phone.dialplan, d.profile)
                start = await self.dialplans.rotation(key)
                # stored before ringing: a crash mid-hunt loses no turn
                await self.dialplans.set_rotation(key, (start + 1) % len(d.targets))
            reason = await self._hunt(call, owner, d.targets, d.action, d.timeout, start,
                                      d.ringtone, chain)
            if reason is not None:
                give_up(call, reason)
            return
        v1 = decision.v1
        step, fallback = v1.first, True
        while True:
            if step.action == 'reject':
                refuse(call, step.status, step.reason)
                return
            if step.action == 'record':
                return await self.m.apps.record(owner, None)(call)
            reason = await self._hunt(call, owner, step.targets, 'parallel',
                                      v1.timeout if fallback else None, 0, v1.ringtone, chain)
            if reason is None or call.leg.ended:
                return
            if not fallback:    # a fallback that rings has no fallback of its own
                give_up(call, reason)
                return
            step, fallback = v1.after(reason), False

    async def _hunt(self, call: Call, owner: str, targets, mode: str, overall: float | None,
                    start: int, ringtone: qloud.Ringtone | None, chain: tuple[str, ...]) -> str | None:
        """Hunt the targets; None when answered (or the caller left), else the give-up reason.
        Targets already in the chain (this number, the numbers before it) are skipped."""
        usable = [t for t in targets if t.value not in chain]
        if not usable:
            log.info('event=hunt-nothing-to-ring call=%s chain=%s', call.id, ','.join(chain))
            return 'unavailable'
        if mode == 'cyclic' and len(usable) != len(targets):
            start = 0
        caller = call.info.get('from') or 'anonymous'
        hunt_targets = [HuntTarget(t.value, t.timeout, self._placer(call, owner, t.value, caller,
                                                                   chain)) for t in usable]
        limit = float(self.m.settings.hunt_max_seconds)
        ringback = None
        if ringtone is not None:
            path = await self.m.objects.playable(owner, ringtone.announcement)
            if path is not None:
                ringback = _ringback(path, ringtone.mix)
        shell = HuntShell(self.m, call, hunt_targets, mode, min(overall or limit, limit), start,
                          ringback)
        return await shell.run()

    def _placer(self, call: Call, owner: str, target: str, caller: str, chain: tuple[str, ...]):
        async def place() -> list[Call]:
            if not target.startswith('+'):
                return await self._sip_target(call, owner, target, caller)
            if await self.m.phones.get(target) is not None:
                return [await self._internal(call, target, caller, chain)]
            out = await self.m.dial(owner, caller, target, None, bool(call.info.get('clir')),
                                    parent=call, api=False, service='dialplan')
            return [out]
        return place

    async def _sip_target(self, call: Call, owner: str, name: str, caller: str) -> list[Call]:
        m = self.m
        domain = m.settings.domain
        account = await m.db.sip_account(name, domain)
        if account is None or account.owner != owner:
            log.info('event=hunt-target-refused call=%s target=%s reason="not the owner\'s"',
                     call.id, name)
            return []
        bindings = m.registrar.lookup(f'{name}@{domain}', m.stack.now())
        return await ring_bindings(m, call, bindings, caller)

    async def _internal(self, call: Call, number: str, caller: str, chain: tuple[str, ...]) -> Call:
        """Our own number: an INVITE to ourselves, so its own switches and plan decide."""
        m = self.m
        stack = m.stack
        peer = Peer('UDP', (stack.host, stack.port))
        leg = await Leg.outbound(stack, m.media, parse_uri(f'sip:{number}@{stack.host}:{stack.port}'),
                                 peer, f'sip:{caller}@{m.settings.domain}',
                                 headers=[(CHAIN, ','.join(chain))])
        return m._track(leg, parent=call)

    # --- calls placed from our SIP accounts -------------------------------------------------
    async def placed(self, owner: str | None, account: str, target: str) -> PlacedCall:
        """§4.2 quick dialling, CLIP and CLIR of the account owner's v1 plan (`owner`
        None: the owner of our SIP account `account`)."""
        if owner is None:
            found = await self.m.db.sip_account(account, self.m.settings.domain)
            owner = found.owner if found is not None else None
        raw = await self.dialplans.v1_of(owner) if owner and self.dialplans is not None else None
        try:
            plan = None if raw is None else qloud.DialplanV1.from_json(raw)
        except ValueError as exc:
            log.warning('event=dialplan-unusable account=%s error="%s"', account, exc)
            plan = None
        p = qloud.placed_call(plan, target)
        return PlacedCall(p.number, p.clip, p.clir)


def _ringback(path: str, mix: bool):
    """Early media while targets ring: the announcement, again and again; with `mix`, a
    ring tone under it."""
    under = {'under_tone': RING_TONE} if mix else {}

    async def program(call: Call, done: Callable[[], bool]) -> None:
        await call.leg.progress()
        while not done() and not call.leg.ended:
            await call.run(Control.make('play', path=path, **under))
    return program
