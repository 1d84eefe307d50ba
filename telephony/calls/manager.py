"""The call manager: takes new INVITEs, decides who may make them, and starts an application.

Routing: the demo services, then the user's phone numbers (their switches
pick the application), then SIP accounts (callers must authenticate). The
dial plan rules of later issues extend `on_invite`. Everything it uses is
handed in when it is made; it never reaches into the server.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Protocol

from ..dialplan import numbers
from ..dialplan.qloud import CallFacts
from ..logtext import quoted
from ..media.audiofile import load_audio
from ..sip.message import Request, make_response
from ..sip.transaction import Peer, ServerTransaction
from ..store.phones import Phone
from .call import Call
from .hunting import HuntShell, HuntTarget, give_up, ring_bindings
from .leg import ANSWERED, Leg
from .numbers import CHAIN, MAX_CHAIN, NumberRouter, chain_of
from .outgoing import OutgoingRunner

if TYPE_CHECKING:
    from ..config import Settings
    from ..events import EventSink
    from ..media.engine import MediaEngine
    from ..sip.access import Authenticator
    from ..sip.registrar import Registrar
    from ..sip.trunks import TrunkMatcher
    from ..sip.ua import SipStack
    from ..store.calls import CallHistory
    from .callback import DialplanCalls
    from .cdr import CdrRecorder
    from ..store.db import Database
    from ..store.conferences import Conference
    from ..store.cospaces import Entry
    from ..store.dialplans import DialplanStore
    from ..store.dialrules import DialRuleStore
    from ..store.objects import ObjectStore
    from ..store.phones import PhoneStore

log = logging.getLogger('telephony.calls')

App = Callable[[Call], Awaitable[None]]
API_ANSWER_TIMEOUT = 60.0   # an API call nobody touches is given up (cause 18, no user responding)


class Applications(Protocol):
    """The programs calls are handed to (ivr/ provides them; it sits above this layer)."""
    def service(self, name: str) -> App | None: ...
    def unlock(self, phone: Phone) -> App: ...
    def voicemail(self, phone: Phone) -> App: ...
    def ivr(self, phone: Phone) -> App: ...
    def record(self, owner: str, announcement: str | None) -> App: ...
    def conference(self, phone: Phone) -> App: ...
    def fax(self, phone: Phone) -> App: ...   # fax reception (§3.9 fax_enable)
    def cospace(self, entries: list['Entry']) -> App: ...   # a coSpace's ways in a URI dials
    def cisco_ivr(self, ivr: dict) -> App: ...   # a Cisco IVR (§8.9): call ID, then its coSpace
    # the `conference` control: the call into a conference's room now; returns what takes it
    # out and a future of the outcome (None: in; else the Q-loud status why not)
    conference_enter: Callable[[Call, 'Conference'],
                               tuple[Callable[[], None], 'asyncio.Future[str | None]']]


class CallManager:
    dialplan_calls: 'DialplanCalls | None' = None   # callback/callthrough/callreverse (§4.2)

    def __init__(self, *, stack: 'SipStack', media: 'MediaEngine', settings: 'Settings',
                 events: 'EventSink', auth: 'Authenticator', registrar: 'Registrar', db: 'Database',
                 phones: 'PhoneStore', objects: 'ObjectStore', history: 'CallHistory',
                 apps: Applications, recordings_dir: Path, cdr: 'CdrRecorder | None' = None,
                 trunks: 'TrunkMatcher | None' = None, dial_rules: 'DialRuleStore | None' = None,
                 dialplans: 'DialplanStore | None' = None, clock=None):
        self.stack = stack
        self.media = media     # handed to each Leg: the SIP stack carries no media
        self.settings = settings
        self.events = events
        self.auth = auth
        self.registrar = registrar
        self.db = db
        self.phones = phones
        self.objects = objects
        self.history = history
        self.apps = apps
        self.calls: dict[str, Call] = {}
        self.cdr = cdr         # every leg's CDRs (calls/cdr.py): told of each start and end
        # which trunk an INVITE's source address belongs to; never From/Contact/PAI
        self.trunks = trunks
        # outgoing calls through the dial plan rules, forwarding, inbound rules (calls/outgoing.py)
        self.outgoing = OutgoingRunner(self, dial_rules)
        self.recordings_dir = recordings_dir
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        # Q-loud dial plans of our numbers (calls/numbers.py); `clock` the v2 time filters read
        self.numbers = NumberRouter(self, dialplans, clock)

    # --- resources applications use ------------------------------------------------------
    def load_audio(self, path: str):
        return load_audio(path)

    def recording_path(self, name: str) -> Path:
        return self.recordings_dir / f'{name}.wav'

    def forget(self, call: Call) -> None:
        self.calls.pop(call.id, None)
        if call.api:
            self._archive(call, live=False)
        if self.cdr is not None:
            self.cdr.ended(call)

    def _archive(self, call: Call, live: bool) -> None:
        """API calls are in the call history from their start, so a crash cannot lose
        one: start-up ends whatever it finds still live (`CallHistory.end_live`)."""
        async def write():
            try:
                await self.history.put(call.id, call.owner, call.create_time, dict(call.info),
                                       live=live)
            except Exception:
                log.exception('event=archive-failed call=%s', call.id)
        asyncio.get_running_loop().create_task(write())

    def _track(self, leg: Leg, parent: Call | None = None, **kw) -> Call:
        """A new call; `parent` is the call that caused it (the inbound leg of a forward)."""
        call = Call(self, leg, **kw)
        self.calls[call.id] = call
        if self.cdr is not None:
            self.cdr.started(call, parent)
        if call.api:
            self._archive(call, live=True)
            call.listeners.append(lambda kind, fields: self._on_api_update(call, kind, fields))
        return call

    def _on_api_update(self, call: Call, kind: str, fields: dict) -> None:
        if kind == 'call_update' and fields.get('status') == ANSWERED:
            self._archive(call, live=True)   # a crash later still shows it was answered

    def publish(self, call: Call, kind: str, fields: dict) -> None:
        """Call events go to the owner's sessions that asked for them (GET /api/call/event)."""
        if not call.api:
            return
        if kind == 'call_dtmf':
            payload = {'call': call.id, **fields}
        else:
            payload = {'call': {call.id: fields}}
        self.events.publish(call.owner, kind, payload, call=True)

    def begin_recording(self, call: Call, path: Path) -> None:
        """An API user's recording exists as an object (status `record`) from its first
        frame, so a crash mid-recording still leaves a recording the user can fetch."""
        if call.owner is None:
            return
        call.record_begun = asyncio.get_running_loop().create_task(self.objects.begin_recording(
            call.owner, str(path), from_=call.info['from'], to=call.info['to'], call=call.id))

    def keep_recording(self, call: Call, path: Path, discard: bool = False,
                       ready: Awaitable | None = None) -> None:
        """A finished recording becomes a recording object (ok or empty), or goes;
        once `ready` (the recorder's file work) is done."""
        objects = self.objects
        begun = call.record_begun
        if call.owner is None:
            return

        async def store():
            if ready is not None:
                try:
                    await ready
                except Exception as exc:   # noqa: BLE001 -- what reached the disk is kept
                    log.warning('event=recording-file-failed call=%s error=%r', call.id, exc)
            uuid = None
            if begun is not None:
                try:
                    uuid = await begun
                except Exception as exc:   # noqa: BLE001 -- the object is made below instead
                    log.warning('event=recording-begin-failed call=%s error=%r', call.id, exc)
            try:
                if discard:
                    if uuid is not None:
                        await objects.finish_recording(uuid, discard=True)
                    else:
                        await asyncio.to_thread(path.unlink, missing_ok=True)
                    return
                uuid = await objects.add_recording(call.owner, str(path), from_=call.info['from'],
                                                   to=call.info['to'], call=call.id, uuid=uuid)
            except Exception:
                log.exception('event=recording-store-failed call=%s path=%s', call.id, path)
                return
            call.update(recording=uuid)
        call.record_begun = None
        call.record_stored = asyncio.get_running_loop().create_task(store())   # a CDR waits for it

    # --- inbound ------------------------------------------------------------------------------
    async def on_invite(self, req: Request, txn: ServerTransaction, peer: Peer) -> None:
        target = req.uri.user or ''
        app = self.apps.service(target)
        if app is not None:
            return self._start(self._inbound(req, txn, peer), app)
        phone = await self._phone(target)
        if phone is not None:
            return await self._to_number(req, txn, peer, phone)
        if await self.outgoing.incoming(req, txn, peer):   # inbound and forwarding rules
            return
        # Everything else needs a known caller: no open relay.
        outcome = await self.auth.check(req, peer)
        if outcome.response is not None:
            if outcome.response.status >= 400 and outcome.response.status not in (401, 407):
                self._log_refused(req, outcome.response.status, outcome.response.reason)
            return self.stack.respond(txn, outcome.response)
        domain = self.settings.domain
        if outcome.trunk is not None:
            return self._from_trunk(req, txn, peer, outcome.trunk, target)
        if target == '*98' and self.dialplan_calls and \
                (app := await self.dialplan_calls.star98(outcome.user)) is not None:
            return self._start(self._inbound(req, txn, peer), app)   # §4.2 callthrough
        bindings = self.registrar.lookup(f'{target}@{domain}', self.stack.now())
        if not bindings and self.outgoing.policy is not None:   # a usergroup extension (§9.1.6)
            reached = await self._extension(outcome.user, target)
            if reached is not None:
                return await self._to_number(req, txn, peer, reached)
        if not bindings:
            # the caller's v1 quick dialling may make it one of our numbers (§4.2)
            placed = await self.numbers.placed(None, outcome.user, target)
            if placed.number != target and (phone := await self._phone(placed.number)):
                return await self._to_number(req, txn, peer, phone)
            known = await self.db.sip_account(target, domain)
            if not known and await self.outgoing.from_account(req, txn, peer, outcome.user, placed):
                return   # out through the outbound rules
            # 480 subscriber absent / 404 unallocated
            self._log_refused(req, 480 if known else 404,
                              'Not Registered' if known else 'No Such Account')
            self._inbound(req, txn, peer).leg.hangup(cause=20 if known else 1)
            return
        call = self._inbound(req, txn, peer)
        self._start(call, lambda c: self.forward(c, bindings, outcome.user))

    def _from_trunk(self, req: Request, txn: ServerTransaction, peer: Peer, trunk: str,
                    target: str) -> None:
        """A trunk that authenticated with its credential, calling one of our SIP accounts
        (our numbers and forwarding rules came before): the account's contacts ring. A trunk
        has no account's features (quick dialling, *98, calling out through the rules)."""
        bindings = self.registrar.lookup(f'{target}@{self.settings.domain}', self.stack.now())
        if not bindings:
            return self._refuse(req, txn, 404, 'No Such Account')
        call = self._inbound(req, txn, peer, trunk=trunk)
        self._start(call, lambda c: self.forward(c, bindings, None))

    async def _extension(self, account: str | None, dialled: str) -> Phone | None:
        """The number an internal extension dialled by a SIP account's owner reaches."""
        acct = await self.db.sip_account(account, self.settings.domain) if account else None
        number = await self.outgoing.policy.resolve(acct.owner, dialled) if acct and acct.owner else None
        return await self.phones.get(number) if number else None

    def trunk_of(self, peer: Peer) -> str | None:
        """The trunk a request came from, by its source address alone."""
        return self.trunks.match(peer.addr[0]) if self.trunks else None

    def _inbound(self, req: Request, txn: ServerTransaction, peer: Peer,
                 trunk: str | None = None, **kw) -> Call:
        """A call for an inbound INVITE; `trunk`: the trunk whose credential it authenticated
        with, else the one its source address belongs to, if any."""
        leg = Leg.inbound(self.stack, self.media, req, txn, peer)
        call = self._track(leg, **kw)
        call.trunk = trunk if trunk is not None else self.trunk_of(peer)
        log.info('event=invite call=%s from=%s to=%s source=%s trunk=%s', call.id,
                 req.from_.uri, req.uri, peer.addr[0],
                 quoted(call.trunk) if call.trunk else '-')
        return call

    async def _phone(self, target: str) -> Phone | None:
        if not target or not target.lstrip('+').isdigit():
            return None
        number = target if target.startswith('+') else f'+{target}'
        return await self.phones.get(number)

    @staticmethod
    def _log_refused(req: Request, status: int, reason: str) -> None:
        """Every refused call leaves one line saying why."""
        log.info('event=call-refused status=%s reason="%s" from=%s to=%s call_id=%s', status,
                 reason, req.from_.uri, req.uri, req.call_id)

    def _refuse(self, req: Request, txn: ServerTransaction, status: int, reason: str) -> None:
        self._log_refused(req, status, reason)
        self.stack.respond(txn, make_response(req, status, reason))

    async def _to_number(self, req: Request, txn: ServerTransaction, peer: Peer, phone: Phone) -> None:
        """An inbound call to one of our numbers: its switches decide (§3.9)."""
        caller = req.from_.uri.user or 'anonymous'
        clir = 'id' in (req.get('Privacy') or '').lower() or caller.lower() == 'anonymous'
        shown = 'anonymous' if clir else caller
        chain = chain_of(req.get(CHAIN))
        if len(chain) >= MAX_CHAIN or phone.number in chain:
            return self._refuse(req, txn, 482, 'Loop Detected')
        special = self.dialplan_calls and await self.dialplan_calls.inbound(
            phone, None if clir else caller)    # callthrough/callreverse callers (§4.2)
        if special:
            call = self._inbound(req, txn, peer, owner=phone.owner, from_=shown, to=phone.number,
                                 clir=clir)
            return self._start(call, special)
        decision = await self.numbers.decide(phone, CallFacts(caller, clir, phone.number))
        if decision is None:
            return self._refuse(req, txn, 480, 'Dialplan Not Usable')
        if decision.kind == numbers.IVR:    # the number's IVR menu (§3.9: only without call_enable)
            call = self._inbound(req, txn, peer, owner=phone.owner, from_=shown, to=phone.number,
                                 clir=clir)
            return self._start(call, self.apps.ivr(phone))
        if decision.kind == numbers.CONFERENCE:   # PIN entry for the owner's conferences (§3.17)
            call = self._inbound(req, txn, peer, owner=phone.owner, from_=shown, to=phone.number,
                                 clir=clir)
            return self._start(call, self.apps.conference(phone))
        if decision.kind == numbers.FAX:   # fax reception (§3.9 fax_enable)
            call = self._inbound(req, txn, peer, owner=phone.owner, from_=shown, to=phone.number,
                                 clir=clir)
            return self._start(call, self.apps.fax(phone))
        if decision.not_yet:
            return self._refuse(req, txn, 480, decision.not_yet)
        if decision.kind in (numbers.DIALPLAN_V2, numbers.DIALPLAN_V1):
            step = self.numbers.refusal(decision)
            if step is not None:
                return self._refuse(req, txn, step.status, step.reason)
            call = self._inbound(req, txn, peer, owner=phone.owner, from_=shown, to=phone.number,
                                 clir=clir)
            return self._start(call, lambda c: self.numbers.run(c, phone, decision, chain))
        if phone.unlock_code:
            return self._start(self._inbound(req, txn, peer), self.apps.unlock(phone))
        if phone.call_api_only:
            if not self.events.listening(phone.owner):
                return self._refuse(req, txn, 480, 'No Call API Client')
            call = self._inbound(req, txn, peer, owner=phone.owner, api=True, from_=shown,
                                 to=phone.number, clir=clir)
            call.emit('call_update', dict(call.info))   # a new call: every field
            self._give_up_unless_touched(call)
            return
        if phone.recording_enable:
            call = self._inbound(req, txn, peer, owner=phone.owner, from_=shown, to=phone.number,
                                 clir=clir)
            return self._start(call, self.apps.voicemail(phone))
        self._refuse(req, txn, 480, 'Number Not In Service')

    def _give_up_unless_touched(self, call: Call) -> None:
        def check():
            if call.leg.state in ('calling',) and call.queue.current is None \
                    and call.queue.last_id is None and not call.queue.pending:
                call.leg.hangup(cause=18)
        timer = asyncio.get_running_loop().call_later(API_ANSWER_TIMEOUT, check)
        # an ended call lets go of the timer (and the timer of the call) at once
        call.ended.add_done_callback(lambda _: timer.cancel())

    def _start(self, call: Call, app: App) -> None:
        async def run():
            try:
                await app(call)
            except Exception:
                log.exception('event=app-error call=%s', call.id)
                call.leg.hangup(cause=41)
        asyncio.get_running_loop().create_task(run())

    # --- outbound through the dial plan rules (POST /api/call/dial) ------------------------------
    async def dial(self, owner: str | None, from_: str, to: str, clip: str | None, clir: bool,
                   parent: Call | None = None, api: bool = True, service: str = 'call_api') -> Call:
        """Raises outgoing.DialFailed when the call cannot be placed; `parent`: the leg that
        caused this one (callback, hunt), for the CDRs; `api`: the owner's call API clients see
        it (not a hunt's target leg); `service`: what the call filter sees (§9.1.3)."""
        return await self.outgoing.dial(owner, from_, to, clip, clir, parent=parent, api=api,
                                        service=service)

    # --- forwarding to registered contacts (B2BUA) ------------------------------------------------
    async def forward(self, inbound: Call, bindings, caller: str | None) -> None:
        """Ring every contact of the account at once; the first to answer gets the call
        (a one-target parallel hunt)."""
        target = HuntTarget('contacts', None, lambda: ring_bindings(self, inbound, bindings, caller))
        shell = HuntShell(self, inbound, [target], overall=float(self.settings.hunt_max_seconds))
        reason = await shell.run()
        cause = shell.best_cause()
        if reason is not None and cause:     # the contacts' own answer (busy, decline)
            inbound.leg.hangup(cause=cause)
        elif reason is not None:
            give_up(inbound, reason)
