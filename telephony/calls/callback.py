"""Q-loud §4.2's calls that the user starts over the API: callback, callthrough, callreverse.

- **callback**: ring the user's `cti_via` number; when it answers, ring `to` and bridge the
  two. `from` is the caller on both legs (with the plan's `clip_number` and `clir_enable`).
- **callthrough**: a request (`phone`, optional `filter`) waits up to CALLTHROUGH_TIMEOUT;
  the next call to the user's dial plan from `filter` (any caller without one) is answered
  and connected to `phone`. One request per user; it is used up when it connects.
- **callreverse**: a call to the user's dial plan with `callreverse_enable` waits as one more
  target; `dialplan_callreverse_start` tells the user, POST /api/dialplan/callreverse sets
  the number they will call from, and their call from there is connected to the waiting one.

Every leg to an outside number goes out through `CallManager.dial` (transforms, outbound
rules and the owner's policy live there); the second leg names the first as its parent so
the CDRs link them. The programs drive the legs through their control queues.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from ..dialplan import numbers
from ..dialplan.qloud import Callback, DialplanV1
from .outgoing import DialFailed
from .controls import Control
from .leg import ANSWERED, HANGUP

if TYPE_CHECKING:
    from ..events import EventSink
    from ..store.dialplans import DialplanStore
    from ..store.phones import Phone
    from .call import Call
    from .manager import CallManager

log = logging.getLogger('telephony.calls')

App = Callable[['Call'], Awaitable[None]]
ANSWER_TIMEOUT = 60.0        # s a callback leg may ring before it is given up (cause 19)
CALLTHROUGH_TIMEOUT = 120.0  # s an outstanding callthrough request waits ("1-2 minutes", §4.2)
CALLREVERSE_LIMIT = 20       # waiting call-reverse calls per user: each holds a caller
CALLREVERSE_TIMEOUT = 120.0  # s a call-reverse call waits for the user's call (then cause 19)
RINGBACK = dict(frequency=425, duration=1000, interval=4000, loop=1000)   # while `to` rings


async def outcome(call: 'Call', timeout: float = ANSWER_TIMEOUT) -> bool:
    """Wait until the leg is answered (True) or ends (False); give up a leg that rings on."""
    if call.leg.state == ANSWERED:
        return True
    if call.leg.ended:
        return False
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()

    def on_update(kind: str, fields: dict) -> None:
        status = fields.get('status') if kind == 'call_update' else None
        if status in (ANSWERED, HANGUP) and not done.done():
            done.set_result(status == ANSWERED)

    call.listeners.append(on_update)
    try:
        return await asyncio.wait_for(asyncio.shield(done), timeout)
    except asyncio.TimeoutError:
        call.leg.hangup(cause=19)     # no answer from user (user alerted)
        return False
    finally:
        if on_update in call.listeners:
            call.listeners.remove(on_update)


@dataclass
class Callthrough:
    phone: str
    filter: str | None
    expires: float


@dataclass
class Callreverse:
    """A call to the user's dial plan waiting for the user to call back from `filter`."""
    owner: str
    waiting: 'Call'
    phone_from: str
    phone_to: str
    filter: str | None = None
    connected: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop()
                                      .create_future())   # the user's call, or None: ended


class DialplanCalls:
    def __init__(self, manager: 'CallManager', dialplans: 'DialplanStore', events: 'EventSink',
                 clock: Callable[[], float] | None = None):
        self.manager = manager
        self.dialplans = dialplans
        self.events = events
        self.clock = clock or (lambda: asyncio.get_running_loop().time())   # monotonic seconds
        self.callthroughs: dict[str, Callthrough] = {}
        self.callreverses: dict[str, list[Callreverse]] = {}

    # --- callback ---------------------------------------------------------------------------
    async def callback(self, owner: str, cb: Callback) -> 'Call':
        """Place the first leg (to `cti_via`) now; the rest runs on its own."""
        first = await self.manager.dial(owner, cb.caller, cb.first, cb.clip, cb.clir,
                                        service='callback')
        first.cdr_service = 'callback'
        log.info('event=callback call=%s via=%s to=%s', first.id, cb.first, cb.second)
        asyncio.get_running_loop().create_task(self._connect(owner, first, cb))
        return first

    async def _connect(self, owner: str, first: 'Call', cb: Callback) -> None:
        try:
            if not await outcome(first):
                return
            await self.onwards(owner, first, cb.caller, cb.second, cb.clip, cb.clir)
        except DialFailed as exc:   # the second leg is refused (policy) or has no route
            log.info('event=callback-refused call=%s to=%s reason="%s"', first.id, cb.second,
                     exc.reason)
            first.leg.hangup(cause=21 if exc.status == 403 else 3)
        except Exception:
            log.exception('event=callback-error call=%s', first.id)
            first.leg.hangup(cause=41)

    async def onwards(self, owner: str, first: 'Call', caller: str, to: str,
                      clip: str | None, clir: bool) -> None:
        """Ring `to` for an answered `first` (who hears a ring tone meanwhile); bridge them
        when it answers; end `first` with the second leg's cause when it does not."""
        # the call filter sees the service the first leg is (§9.1.3 `callback`, `call_through`)
        service = 'callback' if first.cdr_service == 'callback' else 'call_through'
        second = await self.manager.dial(owner, caller, to, clip, clir, parent=first,
                                         service=service)
        second.cdr_service = first.cdr_service
        first.ended.add_done_callback(lambda _: second.leg.hangup())   # gave up while it rang
        first.queue.enqueue([Control.make('tone', **RINGBACK)])
        if not await outcome(second) or first.leg.ended:
            first.leg.hangup(cause=second.leg.hangup_cause or 16)
            second.leg.hangup()
            return
        await first.run(Control.make('bridge', call=second.id, hangup_both=True), queue='break')

    # --- callthrough ------------------------------------------------------------------------
    def set_callthrough(self, owner: str, phone: str | None, filter_: str | None) -> None:
        """§4.2: every request resets the process; one without `phone` only clears it."""
        self.callthroughs.pop(owner, None)
        if phone:
            self.callthroughs[owner] = Callthrough(phone, filter_, self.clock() + CALLTHROUGH_TIMEOUT)

    def _take_callthrough(self, owner: str, caller: str | None,
                          any_caller: bool = False) -> Callthrough | None:
        ct = self.callthroughs.get(owner)
        if ct is None:
            return None
        if ct.expires <= self.clock():
            del self.callthroughs[owner]
            return None
        if not any_caller and ct.filter is not None and ct.filter != caller:
            return None
        return self.callthroughs.pop(owner)    # initiated: the process is over

    def _callthrough_app(self, owner: str, ct: Callthrough, plan: DialplanV1,
                         caller: str | None = None) -> App:
        async def run(call: 'Call') -> None:
            call.cdr_service = 'call_through'
            await call.run(Control.make('ring'), Control.make('answer'))
            if call.leg.ended:
                return
            # an outside caller's number is shown onwards, as a forward would (CLIR kept)
            await self.onwards(owner, call, caller or call.info.get('from') or 'anonymous',
                               ct.phone, plan.clip_number,
                               plan.clir_enable or bool(call.info.get('clir')))
        return run

    # --- callreverse ------------------------------------------------------------------------
    def offer_callreverse(self, owner: str, waiting: 'Call', phone_from: str,
                          phone_to: str) -> Callreverse | None:
        """The call-reverse function as one more target of a call to the user's dial plan:
        `connected` says when (and whether) the user's own call took it. The hunt cancels it
        with `end_callreverse` when another target answers."""
        procs = self.callreverses.setdefault(owner, [])
        if len(procs) >= CALLREVERSE_LIMIT:
            return None
        proc = Callreverse(owner, waiting, phone_from, phone_to)
        procs.append(proc)
        self._publish(proc, 'dialplan_callreverse_start')
        waiting.ended.add_done_callback(lambda _: self.end_callreverse(proc))
        return proc

    def end_callreverse(self, proc: Callreverse, user_call: 'Call | None' = None) -> None:
        procs = self.callreverses.get(proc.owner, [])
        if proc not in procs:
            return
        procs.remove(proc)
        if not procs:
            del self.callreverses[proc.owner]
        if not proc.connected.done():
            proc.connected.set_result(user_call)
        self._publish(proc, 'dialplan_callreverse_stop')

    def _publish(self, proc: Callreverse, name: str) -> None:
        self.events.publish(proc.owner, name, {'phone_from': proc.phone_from,
                                               'phone_to': proc.phone_to})

    def set_callreverse_filter(self, owner: str, filter_: str) -> bool:
        """POST /api/dialplan/callreverse: the newest waiting call takes the filter; False
        when none waits (`no-callreverse`)."""
        procs = self.callreverses.get(owner)
        if not procs:
            return False
        procs[-1].filter = filter_
        return True

    def _take_callreverse(self, owner: str, caller: str | None) -> Callreverse | None:
        for proc in self.callreverses.get(owner, ()):
            if proc.filter is not None and proc.filter == caller:
                return proc
        return None

    def _callreverse_app(self, proc: Callreverse) -> App:
        async def run(call: 'Call') -> None:
            self.end_callreverse(proc, call)
            waiting = proc.waiting
            await call.run(Control.make('ring'), Control.make('answer'))
            if waiting.leg.state != ANSWERED:
                await waiting.run(Control.make('answer'), queue='break')
            if call.leg.ended or waiting.leg.ended:
                call.leg.hangup()
                waiting.leg.hangup()
                return
            await call.run(Control.make('bridge', call=waiting.id, hangup_both=True))
        return run

    def _waiting_app(self, owner: str, number: str) -> App:
        """A call whose plan rings nothing but the call-reverse function (a hunt with no
        other target): it rings until the user's call takes it or the caller gives up."""
        async def run(call: 'Call') -> None:
            await call.run(Control.make('ring'))
            proc = self.offer_callreverse(owner, call, call.info.get('from') or 'anonymous',
                                          number)
            if proc is None:
                call.leg.hangup(cause=17)    # user busy: too many waiting already
                return
            try:
                await asyncio.wait_for(asyncio.shield(proc.connected), CALLREVERSE_TIMEOUT)
            except asyncio.TimeoutError:
                self.end_callreverse(proc)
                call.leg.hangup(cause=19)    # no answer from user
        return run

    # --- the call manager's hooks -----------------------------------------------------------
    async def inbound(self, phone: 'Phone', caller: str | None) -> App | None:
        """A call to one of our numbers: the program that takes it if it is the user's dial
        plan being called by a waiting callreverse's or callthrough's caller, or a plan that
        rings nothing but the call-reverse function; else None (the dial plan decides)."""
        if numbers.precedence(phone) != numbers.DIALPLAN_V1:
            return None
        owner = phone.owner
        proc = self._take_callreverse(owner, caller)
        if proc is not None:
            return self._callreverse_app(proc)
        try:
            plan = DialplanV1.from_json(await self.dialplans.v1_of(owner))
        except ValueError:
            return None          # the dial plan runtime logs and refuses a broken plan
        ct = self._take_callthrough(owner, caller)
        if ct is not None:
            return self._callthrough_app(owner, ct, plan)
        first = plan.first_step()
        if plan.callreverse_enable and first.action == 'ring' and not first.targets:
            return self._waiting_app(owner, phone.number)
        return None

    async def star98(self, account: str | None) -> App | None:
        """*98 from a (authenticated) SIP account: its user's outstanding callthrough,
        whatever its filter (that is for outside callers)."""
        m = self.manager
        found = await m.db.sip_account(account, m.settings.domain) if account else None
        owner = found.owner if found is not None else None
        ct = self._take_callthrough(owner, None, any_caller=True) if owner else None
        if ct is None:
            return None
        plan = DialplanV1.from_json(await self.dialplans.v1_of(owner))
        # the account calls as the user's dial plan number (the one *98 stands for)
        mine = [p.number for p in await self.manager.phones.of_owner(owner)
                if numbers.precedence(p) == numbers.DIALPLAN_V1]
        return self._callthrough_app(owner, ct, plan, mine[0] if mine else None)
