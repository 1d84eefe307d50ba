"""Outgoing calls through the Cisco dial plan (issue 9): the shell around dialplan/router.py.

`OutgoingRunner` places an outgoing call (POST /api/call/dial, a SIP account calling a number
that is not ours): policy hook, dial transforms and outbound rules (`route_outgoing`), then
our own number/account (no trunk), or the trunk attempts in order with failover
(`should_continue`). When no outbound rule matches, the settings trunk (`trunk`, `trunk_user`,
...) is the last resort, so a service configured before /api/v1 keeps dialling out.

It also takes incoming calls that are not for one of ours (`incoming`): inbound rules (404 when
the matched rule resolves to nothing), forwarding rules (403 for reject; forward: a B2BUA
bridge through `route_forwarded`, outbound rules only). Only a trunk (by its address or its
inbound credential) or an authenticated account may have a call forwarded: a stranger is
challenged and never reaches a trunk.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..dialplan.fields import FieldError
from ..dialplan.policy import user_to_user
from ..dialplan.router import (
    Denied, Forwarded, Internal, NoRoute, NotFound, Outgoing, Rejected, ToCoSpace, Trunk,
    route_incoming, route_outgoing,
)
from ..dialplan.rules import (
    ForwardingDecision, ForwardingRule, InboundRule, OutboundAttempt, OutboundRule, TrunkCredentials,
    match_inbound, parse_destination, should_continue,
)
from ..dialplan.transforms import DialTransform
from ..logtext import quoted
from ..sip.message import Request
from ..sip.transaction import Peer, ServerTransaction
from ..sip.trunks import is_ip, split_proxy
from ..sip.uri import UriError, parse_uri
from ..store.dialrules import DIAL_TRANSFORMS, FORWARDING, INBOUND, OUTBOUND
from .controls import Control
from .fork import Fork, contact_legs
from .leg import ANSWERED, HANGUP, PROGRESS, RINGING, Leg

if TYPE_CHECKING:
    from .numbers import PlacedCall
    from ..store.cospaces import CoSpaceStore
    from ..store.dialrules import DialRuleStore
    from .call import Call
    from .manager import CallManager

log = logging.getLogger('telephony.calls')

MAX_LOOKUPS = 4     # rounds of "is this user ours?" look-ups per routing decision


class DialFailed(Exception):
    """The call cannot be placed: `reason` for the API and the log, `status` for a phone."""

    def __init__(self, reason: str, status: int = 404):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Verdict(Protocol):
    allowed: bool
    number: str | None
    reason: str | None
    emergency: bool
    status: int           # the SIP status a phone gets when the call is refused


class Policy(Protocol):
    """Who may call what (calls/policy.py); `number` may come back rewritten."""
    async def check(self, owner: str | None, number: str, service: str) -> Verdict: ...

    async def resolve(self, owner: str, dialled: str) -> str | None:
        """The number a usergroup extension reaches, if `dialled` is one."""

    def admit(self, verdict: Verdict, outcome: Outgoing) -> Callable[['Call'], None] | None:
        """What meters an allowed call placed as `outcome` (None: free); PolicyDenied when
        its usergroup's credit cannot pay it."""


class PolicyDenied(DialFailed):
    """An outgoing call the policy refused; the API answers it with a status, a phone with
    the verdict's SIP status."""
    def __init__(self, verdict: Verdict):
        super().__init__(f'not allowed: {verdict.reason or "policy"}', verdict.status)
        self.verdict = verdict


# ---------------------------------------------------------------------------
# the rules, parsed once per change of the store


@dataclass(frozen=True)
class DialRules:
    transforms: tuple[DialTransform, ...] = ()
    outbound: tuple[OutboundRule, ...] = ()
    inbound: tuple[InboundRule, ...] = ()
    forwarding: tuple[ForwardingRule, ...] = ()
    outbound_fields: tuple[dict, ...] = ()   # the stored rows, password included (trunk accounts)


_PARSERS: dict[str, Callable[[dict], Any]] = {
    DIAL_TRANSFORMS: DialTransform.from_fields, OUTBOUND: OutboundRule.from_fields,
    INBOUND: InboundRule.from_fields, FORWARDING: ForwardingRule.from_fields}


class RuleCache:
    """DialRuleStore's rules as the router's values, read again only after a write
    (`DialRuleStore.generation`)."""

    def __init__(self, store: 'DialRuleStore | None'):
        self.store = store
        self._cached: tuple[int, DialRules] | None = None

    async def get(self) -> DialRules:
        if self.store is None:
            return DialRules()
        generation = self.store.generation
        if self._cached is not None and self._cached[0] == generation:
            return self._cached[1]
        parsed: dict[str, list] = {}
        rows = {}
        for kind, parse in _PARSERS.items():
            rows[kind] = await self.store.rules(kind, secrets=kind == OUTBOUND)
            parsed[kind] = []
            for row in rows[kind]:
                try:
                    parsed[kind].append(parse(row))
                except (FieldError, ValueError) as exc:   # the API checked it: a newer/older build
                    log.warning('event=dial-rule-skipped kind=%s id=%s reason=%s', kind,
                                row.get('id'), quoted(exc))
        rules = DialRules(tuple(parsed[DIAL_TRANSFORMS]), tuple(parsed[OUTBOUND]),
                          tuple(parsed[INBOUND]), tuple(parsed[FORWARDING]), tuple(rows[OUTBOUND]))
        self._cached = (generation, rules)
        return rules


def _settings_rule(s) -> OutboundRule:
    host, port = split_proxy(s.trunk)
    return OutboundRule(
        id='settings', domain='*', priority=0, sip_proxy=(host, port), local_contact_domain=None,
        local_from_domain=s.trunk_domain or host, trunk_type='sip', failure_action='stop',
        sip_control_encryption='auto',
        credentials=TrunkCredentials(s.trunk_user, s.trunk_password) if s.trunk_user else None,
        transport=s.trunk_transport.lower(), register=False, register_expiry=3600,
        trunk_addresses=())


# ---------------------------------------------------------------------------
# who the new leg says is calling


@dataclass(frozen=True)
class Permitted:
    """An outgoing call the policy allows: the number to dial, and for an emergency call the
    user's uui_header."""
    number: str
    uui: str | None = None
    verdict: Verdict | None = None   # what the usergroup's credit pays (Policy.admit)


@dataclass(frozen=True)
class Caller:
    """The From of the new leg: `user`@(rule's localFromDomain or our domain), or per the
    forwarding rule's callerIdMode; `asserted` goes in P-Asserted-Identity."""
    user: str
    asserted: str | None = None
    display: str | None = None
    clir: bool = False
    forwarding: ForwardingDecision | None = None
    uui: str | None = None     # an emergency call's uui_header (§9.1.5), as User-to-User

    def headers(self, from_domain: str) -> tuple[str, str | None, list[tuple[str, str]]]:
        """(From URI, display name, extra headers)."""
        if self.forwarding is not None:
            return self.forwarding.caller(from_domain), self.display, []
        headers = [('P-Asserted-Identity', f'<sip:{self.asserted or self.user}@{from_domain}>')]
        if self.uui:
            headers.append(('User-to-User', user_to_user(self.uui)))
        if self.clir:
            headers.append(('Privacy', 'id'))
            return 'sip:anonymous@anonymous.invalid', 'Anonymous', headers
        return f'sip:{self.user}@{from_domain}', self.display, headers


class _Attempts:
    """One outgoing call's trunk attempts: a failed attempt's leg is replaced by the next
    one's under the same Call (its id, events and CDR stay), until one answers, the caller
    gives up, or `should_continue` says stop; then the last leg's end is the call's."""

    def __init__(self, runner: 'OutgoingRunner', attempts: tuple[OutboundAttempt, ...],
                 caller: Caller):
        self.runner = runner
        self.attempts = attempts
        self.caller = caller
        self.index = 0
        self.call: 'Call | None' = None
        self.answered = False
        self.sending: asyncio.Task | None = None   # the next attempt being placed

    async def start(self, track: Callable[[Leg], 'Call']) -> 'Call':
        found = await self._send_from(0)
        if found is None:
            raise DialFailed(self.reason, 503)
        self.index, leg = found
        self.call = track(leg)
        leg.on_state = self._on_state
        return self.call

    async def _send_from(self, i: int, leg: Leg | None = None) -> tuple[int, Leg] | None:
        """The first attempt from `i` on that can go out, sent (as `leg` when given); None
        when none can, or when `leg` was hung up meanwhile."""
        self.reason = 'no outbound attempt'
        while i < len(self.attempts):
            if leg is not None and leg.ended:
                return None
            attempt = self.attempts[i]
            failure = attempt.failure
            peer = None
            if failure is None:
                peer, failure = await self.runner.peer_for(attempt)
            if failure is None:
                return i, await self.runner.send(attempt, peer, self.caller, leg)
            self.reason = f'outbound rule {attempt.rule.id}: {failure}'
            log.info('event=trunk-attempt-failed rule=%s reason=%s', attempt.rule.id, quoted(failure))
            if not should_continue(attempt, None):
                return None
            i += 1
        return None

    def _on_state(self, leg: Leg) -> None:
        call = self.call
        if leg.state == ANSWERED:
            self.answered = True
        elif (leg.state == HANGUP and not self.answered and not leg.ended_here
              and self.index + 1 < len(self.attempts)
              and should_continue(self.attempts[self.index], leg.final_status)):
            log.info('event=trunk-failover call=%s rule=%s status=%s', call.id,
                     self.attempts[self.index].rule.id, leg.final_status)
            # the next attempt's leg is the call's from now on, before it is sent: a hangup
            # (API, the caller's CANCEL) while it is being placed ends the call, and it stays
            # unsent
            m = self.runner.manager
            self._use(Leg(m.stack, m.media, False, leg.peer), leg)
            self.sending = asyncio.get_running_loop().create_task(self._next(leg, call.leg))
            return
        call._on_leg_state(leg)

    def _use(self, leg: Leg, old: Leg) -> None:
        self.call.leg = leg
        leg.on_state = self._on_state
        leg.on_dtmf = old.on_dtmf
        leg.on_confirmed = old.on_confirmed

    async def _next(self, old: Leg, leg: Leg) -> None:
        call = self.call
        try:
            found = await self._send_from(self.index + 1, leg)
        except Exception:   # no RTP port, a bad URI: the last failure ends the call
            log.exception('event=trunk-failover-failed call=%s', call.id)
            found = None
        if leg.ended:
            return   # hung up meanwhile: that ended the call, nothing (more) goes out
        if found is None:
            call.leg = old
            call._on_leg_state(old)   # the last failure ends the call
            return
        self.index = found[0]


# ---------------------------------------------------------------------------


class OutgoingRunner:
    def __init__(self, manager: 'CallManager', store: 'DialRuleStore | None' = None):
        self.manager = manager
        self.rules = RuleCache(store)
        self.policy: Policy | None = None   # None: every call is allowed
        self.cospaces: 'CoSpaceStore | None' = None   # what resolveToCoSpaces looks in

    @property
    def local_domains(self) -> frozenset[str]:
        s, stack = self.manager.settings, self.manager.stack
        names = {s.domain, s.sip_host, stack.host}
        return frozenset(n.lower() for n in names if n and n not in ('0.0.0.0', '::'))

    async def _is_local(self, user: str, domain: str | None) -> bool:
        if domain is not None and domain.lower() not in self.local_domains:
            return False
        m = self.manager
        if await m._phone(user) is not None:
            return True
        return await m.db.sip_account(user, m.settings.domain) is not None

    async def _decide(self, decide: Callable[[Callable[[str, str | None], bool]], Any]) -> Any:
        """Run a pure router function whose is_local is sync: answer from look-ups made so far,
        look up what it asked and did not know, and run it again (it is deterministic)."""
        known: dict[tuple[str, str | None], bool] = {}
        for _ in range(MAX_LOOKUPS):
            missing: set[tuple[str, str | None]] = set()

            def is_local(user: str, domain: str | None) -> bool:
                key = (user, domain)
                if key not in known:
                    missing.add(key)
                return known.get(key, False)
            outcome = decide(is_local)
            if not missing:
                return outcome
            for user, domain in missing:
                known[(user, domain)] = await self._is_local(user, domain)
        return outcome

    async def permitted(self, owner: str | None, to: str, service: str) -> Permitted:
        """What the policy lets `owner` call for `to` (maybe rewritten, or the emergency
        route); PolicyDenied when it refuses."""
        if self.policy is None:
            return Permitted(to)
        verdict = await self.policy.check(owner, to, service)
        if not verdict.allowed:
            raise PolicyDenied(verdict)
        number = verdict.number or to
        if verdict.emergency:
            log.info('event=emergency-call owner=%s to=%s', owner, quoted(number))
        return Permitted(number, verdict.uui, verdict)

    def _admit(self, permit: 'Permitted', outcome: Outgoing) -> Callable[['Call'], None] | None:
        """What meters the call once placed (the usergroup's credit, §9.1.6); PolicyDenied
        when the credit cannot pay it."""
        if self.policy is None or permit.verdict is None:
            return None
        return self.policy.admit(permit.verdict, outcome)

    async def route_number(self, number: str) -> Outgoing:
        """Transforms and outbound rules (or our own number/account) for a number the policy
        allowed."""
        rules = await self.rules.get()
        outcome = await self._decide(lambda is_local: route_outgoing(
            number, rules.transforms, rules.outbound, self.local_domains, is_local))
        if isinstance(outcome, NoRoute) and self.manager.settings.trunk:
            attempt = self._settings_attempt(outcome.destination)
            if attempt is not None:
                return Trunk((attempt,))
        return outcome

    def _settings_attempt(self, destination: str) -> OutboundAttempt | None:
        """The settings trunk: sip:user@(trunk_domain or its host), as before the rules."""
        try:
            dest = parse_destination(destination)
        except UriError:
            return None
        rule = _settings_rule(self.manager.settings)
        assert rule.sip_proxy is not None
        host, port = rule.sip_proxy
        return OutboundAttempt(rule, f'sip:{dest.user or ""}@{rule.local_from_domain}', host, port,
                               rule.transport, rule.local_from_domain, None, rule.credentials)

    async def peer_for(self, attempt: OutboundAttempt) -> tuple[Peer | None, str | None]:
        """(where the INVITE goes, None) or (None, why it cannot go)."""
        host = attempt.host.strip('[]')
        if not is_ip(host):
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, attempt.port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                return None, f'cannot resolve {host}: {exc.strerror or exc}'
            host = infos[0][4][0]
        return Peer(attempt.transport.upper(), (host, attempt.port)), None

    async def send(self, attempt: OutboundAttempt, peer: Peer, caller: Caller,
                   leg: Leg | None = None) -> Leg:
        """The attempt's INVITE, as `leg` when given (a failover's, made beforehand)."""
        m = self.manager
        from_uri, display, headers = caller.headers(attempt.from_domain or m.settings.domain)
        contact = None
        if attempt.contact_domain:
            tp = ';transport=tcp' if peer.transport == 'TCP' else ''
            contact = f'<sip:telephony@{attempt.contact_domain}{tp}>'
        creds = None
        if attempt.credentials is not None:
            creds = (attempt.credentials.username, attempt.credentials.password or '')
        log.info('event=trunk-attempt rule=%s uri=%s proxy=%s:%s transport=%s', attempt.rule.id,
                 quoted(attempt.request_uri), attempt.host, attempt.port, attempt.transport)
        if leg is None:
            leg = Leg(m.stack, m.media, False, peer)
        await leg.send_invite(parse_uri(attempt.request_uri), peer, from_uri, display, headers,
                              creds, contact=contact)
        return leg

    async def _internal(self, internal: Internal, caller: Caller) -> Fork:
        """Our own number (an INVITE to ourselves: the inbound routing decides) or every
        registered contact of a SIP account at once (calls/fork.py)."""
        m = self.manager
        user = internal.user or ''
        from_uri, display, headers = caller.headers(m.settings.domain)
        if await m._phone(user) is not None:
            host = m.stack.host if m.stack.host not in ('0.0.0.0', '::', '') else '127.0.0.1'
            peer = Peer('UDP', (host, m.stack.port))
            return Fork([await Leg.outbound(
                m.stack, m.media, parse_uri(f'sip:{user}@{host}:{m.stack.port}'), peer, from_uri,
                display, headers)])
        bindings = m.registrar.lookup(f'{user}@{m.settings.domain}', m.stack.now())
        if not bindings:
            raise DialFailed(f'{user} is ours but not registered', 480)
        return Fork(await contact_legs(m, bindings, from_uri, display, headers, lambda leg: leg))

    async def place(self, outcome: Outgoing, caller: Caller, track: Callable[[Leg], 'Call']) -> 'Call':
        failed = _failure(outcome)
        if failed is not None:
            raise failed
        if isinstance(outcome, Internal):
            return (await self._internal(outcome, caller)).start(track)
        return await _Attempts(self, outcome.attempts, caller).start(track)

    # --- POST /api/call/dial ------------------------------------------------------------------
    async def dial(self, owner: str | None, from_: str, to: str, clip: str | None, clir: bool,
                   parent: 'Call | None' = None, api: bool = True,
                   service: str = 'call_api') -> 'Call':
        m = self.manager
        try:
            # a call of no user (an /api/v1 dial-out) has no user's filter, limit or credit, but
            # a number still goes through the policy: an emergency number takes its route
            from .policy import DIALLABLE   # here: calls/policy.py imports this module
            number = owner or DIALLABLE.fullmatch(to)
            permit = await self.permitted(owner, to, service) if number else Permitted(to)
            to = permit.number   # as the call shows it
            outcome = await self.route_number(to)
            meter = self._admit(permit, outcome)
            caller = Caller(clip or from_, from_, None, clir, uui=permit.uui)
            call = await self.place(outcome, caller, lambda leg: m._track(
                leg, parent=parent, owner=owner, api=api, from_=from_, to=to, clip=clip,
                clir=clir))
            if meter is not None:
                meter(call)
        except DialFailed as exc:
            log.info('event=dial-failed owner=%s from=%s to=%s status=%s reason=%s', owner, from_,
                     quoted(to), exc.status, quoted(exc.reason))
            raise
        call.emit('call_update', dict(call.info))
        log.info('event=dial call=%s from=%s to=%s route=%s', call.id, from_, quoted(to),
                 type(outcome).__name__.lower())
        return call

    # --- a SIP account calling a number that is not ours --------------------------------------
    async def from_account(self, req: Request, txn: ServerTransaction, peer: Peer, user: str,
                           placed: 'PlacedCall | None' = None) -> bool:
        """Out through the rules, bridged (True); False when the rules say it is ours after all.
        `placed`: the owner's v1 quick dialling, CLIP and CLIR (calls/numbers.py)."""
        m = self.manager
        account = await m.db.sip_account(user, m.settings.domain)
        owner = account.owner if account is not None else None
        host = (req.uri.host or '').lower()
        # sip:+4930…@our-domain is the number; a foreign domain is the whole address
        to = (req.uri.user or '') if host in self.local_domains else str(req.uri)
        if placed is not None and host in self.local_domains:
            to = placed.number
        try:
            permit = await self.permitted(owner, to, 'sip')
            outcome = await self.route_number(permit.number)
            if isinstance(outcome, Internal):
                return False
            failed = _failure(outcome)
            if failed is not None:
                raise failed
            meter = self._admit(permit, outcome)
        except DialFailed as exc:
            m._refuse(req, txn, exc.status, exc.reason[:120])
            return True
        clir = 'id' in (req.get('Privacy') or '').lower() or bool(placed and placed.clir)
        shown = (placed.clip if placed else None) or user
        inbound = m._inbound(req, txn, peer, owner=owner)
        m._start(inbound, lambda c: self._out_and_bridge(
            c, outcome, Caller(shown, user, req.from_.display, clir, uui=permit.uui), owner, to,
            meter))
        return True

    async def _out_and_bridge(self, inbound: 'Call', outcome: Outgoing, caller: Caller,
                              owner: str | None, to: str,
                              meter: Callable[['Call'], None] | None = None) -> None:
        """`meter`: what charges the outgoing call's usergroup (calls/credit.py)."""
        m = self.manager
        try:
            out = await self.place(outcome, caller, lambda leg: m._track(
                leg, parent=inbound, owner=owner, from_=caller.user, to=to))
        except DialFailed as exc:
            log.info('event=call-refused status=%s reason=%s call=%s', exc.status,
                     quoted(exc.reason), inbound.id)
            inbound.leg.hangup(cause=34 if exc.status >= 500 else 21 if exc.status == 403 else 1)
            return
        if meter is not None:
            meter(out)
        await bridge_when_answered(inbound, out)

    # --- incoming calls for someone else ------------------------------------------------------
    async def incoming(self, req: Request, txn: ServerTransaction, peer: Peer) -> bool:
        """Inbound and forwarding rules for a call that is not to one of our numbers: True when
        they decided it (refused, or forwarded); False: the usual routing goes on."""
        rules = await self.rules.get()
        if not rules.inbound and not rules.forwarding:
            return False
        m = self.manager
        from_uri = str(req.from_.uri)
        outcome = await self._decide(lambda is_local: route_incoming(
            req.uri, from_uri, rules.inbound, rules.forwarding, rules.outbound, self.local_domains,
            is_local))
        if isinstance(outcome, Internal):
            return False
        if isinstance(outcome, ToCoSpace):
            return await self._to_cospace(req, txn, peer, outcome)
        if isinstance(outcome, NotFound):
            if match_inbound(rules.inbound, (req.uri.host or '').lower()) is None:
                return False   # no rule spoke: our domain's accounts, or a caller calling out
            m._refuse(req, txn, 404, outcome.reason[:120])
            return True
        if isinstance(outcome, Rejected):
            m._refuse(req, txn, 403, f'Rejected by forwarding rule {outcome.rule.id}')
            return True
        assert isinstance(outcome, Forwarded)
        owner = None
        trunk = m.trunk_of(peer)
        if trunk is None:
            # not from a trunk's address: only a trunk's credential or an account of ours may
            # have a call forwarded
            auth = await m.auth.check(req, peer)
            if auth.response is not None:
                if auth.response.status not in (401, 407):
                    m._log_refused(req, auth.response.status, auth.response.reason)
                m.stack.respond(txn, auth.response)
                return True
            trunk = auth.trunk
            if trunk is None:
                account = await m.db.sip_account(auth.user, m.settings.domain)
                owner = account.owner if account is not None else None
        route = outcome.route
        if isinstance(route, Internal):
            return False
        failed = _failure(route)
        if failed is not None:
            m._refuse(req, txn, failed.status, failed.reason[:120])
            return True
        meter = None
        if owner is not None:
            # an account's call forwarded out is its owner's outgoing call: the call filter,
            # the limit and the usergroup's credit decide it as for any other (a forwarding
            # rule's domain is no way around them)
            try:
                permit = await self.permitted(owner, req.uri.user or '', 'sip')
                meter = self._admit(permit, route)
            except DialFailed as exc:
                m._refuse(req, txn, exc.status, exc.reason[:120])
                return True
        inbound = m._inbound(req, txn, peer, trunk=trunk, owner=owner)
        caller = Caller(req.from_.uri.user or 'anonymous', display=req.from_.display,
                        forwarding=outcome.forwarding)
        log.info('event=forward call=%s rule=%s to=%s', inbound.id, outcome.forwarding.rule.id,
                 quoted(outcome.forwarding.destination))
        m._start(inbound, lambda c: self._out_and_bridge(c, route, caller, owner,
                                                         req.uri.user or '', meter))
        return True

    async def _to_cospace(self, req: Request, txn: ServerTransaction, peer: Peer,
                          outcome: ToCoSpace) -> bool:
        """A coSpace's way in that the user part dials, else an IVR whose uri it is (any
        caller may dial in: a coSpace reaches no trunk, and its passcode, if any, is asked
        first; an IVR asks for a call ID first); neither: 404."""
        m, spaces = self.manager, self.cospaces
        entries = await spaces.entries(outcome.user) if spaces and outcome.cospaces else []
        ivr = await spaces.ivr(outcome.user) if spaces and outcome.ivrs and not entries else None
        if not entries and ivr is None:
            m._refuse(req, txn, 404, outcome.reason[:120])
            return True
        call = m._inbound(req, txn, peer)
        if ivr is not None:
            log.info('event=ivr-call call=%s ivr=%s uri=%s', call.id, ivr['id'],
                     quoted(outcome.user))
            m._start(call, m.apps.cisco_ivr(ivr))
            return True
        log.info('event=cospace-call call=%s cospace=%s uri=%s ways=%d', call.id,
                 entries[0].cospace['id'], quoted(outcome.user), len(entries))
        m._start(call, m.apps.cospace(entries))
        return True


def _failure(outcome: Outgoing) -> DialFailed | None:
    if isinstance(outcome, Denied):
        return DialFailed(outcome.reason, 403)
    if isinstance(outcome, NoRoute):
        return DialFailed(f'no outbound rule matches {outcome.destination[:80]}', 404)
    return None


async def bridge_when_answered(inbound: 'Call', out: 'Call') -> None:
    """B2BUA: the inbound leg rings with the outbound one, is answered when it answers, and
    the two are bridged; either giving up first ends the other."""
    answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def on_out(kind: str, fields: dict) -> None:
        status = fields.get('status') if kind == 'call_update' else None
        if status in (RINGING, PROGRESS) and inbound.leg.state not in (RINGING, ANSWERED, HANGUP):
            asyncio.ensure_future(inbound.leg.ring())
        elif status in (ANSWERED, HANGUP) and not answered.done():
            answered.set_result(status == ANSWERED)

    out.listeners.append(on_out)
    if out.leg.state == ANSWERED:
        answered.set_result(True)
    done, _ = await asyncio.wait({answered, inbound.ended}, return_when=asyncio.FIRST_COMPLETED)
    if answered not in done or not answered.result():
        if not out.leg.ended:
            out.leg.hangup(cause=16)
        if not inbound.leg.ended:
            inbound.leg.hangup(cause=out.leg.hangup_cause or 19)
        return
    await inbound.run(Control.make('answer'))
    if inbound.leg.ended:
        out.leg.hangup()
        return
    await inbound.run(Control.make('bridge', call=out.id, hangup_both=True))
