"""The Cisco dial plan as one pure decision per call: where an outgoing, forwarded or incoming
call goes, given the rules and a test for "is this address ours".

Outgoing: a destination that is ours is routed internally, whoever places it; else the dial
transforms run (first match wins; deny stops the call), then the outbound rules. Forwarded calls
skip the transforms. Incoming: inbound rules (exact domain) first, then forwarding rules.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from telephony.dialplan.rules import (
    Destination, ForwardingDecision, ForwardingRule, InboundRule, OutboundAttempt, OutboundRule,
    match_forwarding, match_inbound, outbound_plan, parse_destination,
)
from telephony.dialplan.transforms import MAX_DESTINATION, DialTransform, TransformResult, apply_transforms
from telephony.sip.uri import Uri, UriError

__all__ = ['IsLocal', 'Internal', 'Trunk', 'Denied', 'NoRoute', 'NotFound', 'ToCoSpace', 'Rejected', 'Forwarded',
           'Outgoing', 'Incoming', 'route_outgoing', 'route_forwarded', 'route_incoming']

IsLocal = Callable[[str, 'str | None'], bool]
"""is_local(user, domain): is this a SIP account or number the service owns? (domain None: bare)"""

# What a dialled string without scheme or '@' may hold before the transforms clean it up
# (a strip transform removes the spaces, dots and dashes people type).
_DIALLED_RE = re.compile(r'[ -~]{1,%d}' % MAX_DESTINATION)


@dataclass(frozen=True)
class Internal:
    """Ours: hand the call to the account/number `user` (domain None: the service's own)."""
    user: str | None
    domain: str | None


@dataclass(frozen=True)
class Trunk:
    """Out through the attempts in order (see rules.should_continue); `transform` decided the
    destination, if one matched."""
    attempts: tuple[OutboundAttempt, ...]
    transform: TransformResult | None = None


@dataclass(frozen=True)
class Denied:
    """Not placed: a deny transform, or a destination that cannot be called (403/484 to a phone)."""
    reason: str
    transform: DialTransform | None = None


@dataclass(frozen=True)
class NoRoute:
    """Not ours and no outbound rule matches (404 to a phone, a failed dial to the API)."""
    destination: str


@dataclass(frozen=True)
class NotFound:
    """Incoming: nothing here answers to this address (404)."""
    reason: str


@dataclass(frozen=True)
class ToCoSpace:
    """Incoming: join the coSpace that `user` dials (§7.3 resolveToCoSpaces, when `cospaces`),
    else run the IVR whose uri it is (resolveToIvrs, when `ivrs`); with neither, 404 `reason`."""
    user: str
    reason: str
    cospaces: bool = True
    ivrs: bool = False


@dataclass(frozen=True)
class Rejected:
    """Incoming: a forwarding rule with action reject caught the call (403)."""
    rule: ForwardingRule


@dataclass(frozen=True)
class Forwarded:
    """Incoming: bridge the call to a new leg (`route`) with the caller id `forwarding.caller()`."""
    forwarding: ForwardingDecision
    route: Internal | Trunk | NoRoute | Denied


Outgoing = Internal | Trunk | Denied | NoRoute
Incoming = Internal | NotFound | ToCoSpace | Rejected | Forwarded


def _local(dest: Destination, local_domains: Collection[str], is_local: IsLocal) -> Internal | None:
    if dest.host is not None and dest.host in local_domains:
        return Internal(dest.user, dest.host)
    if dest.user is not None and is_local(dest.user, dest.host):
        return Internal(dest.user, dest.host)
    return None


def _out(dest: Destination, rules: Iterable[OutboundRule], local_domains: Collection[str],
         is_local: IsLocal, phone: bool, transform: TransformResult | None) -> Outgoing:
    internal = _local(dest, local_domains, is_local)
    if internal is not None:
        return internal
    attempts = outbound_plan(rules, dest, phone=phone)
    if not attempts:
        return NoRoute(dest.address)
    return Trunk(tuple(attempts), transform)


def route_outgoing(destination: str | Uri, transforms: Iterable[DialTransform],
                   outbound_rules: Iterable[OutboundRule], local_domains: Collection[str],
                   is_local: IsLocal) -> Outgoing:
    """An outgoing call (API dial, a SIP account calling out, callback, hunt or dial-out legs).

    `destination`: a SIP/tel URI, 'user@host' or a dialled number (spaces allowed: transforms
    may strip them). `local_domains`: the service's own domains, lowercased.
    """
    text = str(destination)
    dialled: Destination | None = None
    if isinstance(destination, Uri) or '@' in text or text.lower().startswith(('sip:', 'sips:', 'tel:')):
        try:
            dialled = parse_destination(destination)
        except UriError as exc:
            return Denied(f'bad destination: {exc}')
        text = dialled.address
    elif not _DIALLED_RE.fullmatch(text):
        return Denied('bad destination: empty, too long or not printable ASCII')
    else:
        try:
            dialled = parse_destination(text)
        except UriError:
            dialled = None   # e.g. '030 1234': only a transform can make it callable
    if dialled is not None:
        # Ours before the transforms: no transform can send a call for our own number out.
        internal = _local(dialled, local_domains, is_local)
        if internal is not None:
            return internal
    result = apply_transforms(transforms, text)
    if result.action == 'deny':
        return Denied(result.reason or 'denied by a dial transform', result.transform)
    if result.action is None:
        if dialled is None:
            return Denied(f'bad destination {text[:60]!r} and no dial transform matches it')
        return _out(dialled, outbound_rules, local_domains, is_local, False, None)
    try:
        dest = parse_destination(result.destination)
    except UriError as exc:
        return Denied(f'dial transform {result.transform.id if result.transform else None} '
                      f'made a bad destination: {exc}', result.transform)
    if result.action == 'acceptPhone' and not dest.is_phone:
        return Denied(f'acceptPhone: {dest.user!r} is not a phone number', result.transform)
    return _out(dest, outbound_rules, local_domains, is_local, result.action == 'acceptPhone', result)


def route_forwarded(destination: str | Uri, outbound_rules: Iterable[OutboundRule],
                    local_domains: Collection[str], is_local: IsLocal) -> Outgoing:
    """A forwarded call's new leg: outbound rules only, never the dial transforms (§7.2)."""
    try:
        dest = parse_destination(destination)
    except UriError as exc:
        return Denied(f'bad destination: {exc}')
    return _out(dest, outbound_rules, local_domains, is_local, False, None)


def route_incoming(request_uri: str | Uri, from_uri: str, inbound_rules: Iterable[InboundRule],
                   forwarding_rules: Iterable[ForwardingRule], outbound_rules: Iterable[OutboundRule],
                   local_domains: Collection[str], is_local: IsLocal) -> Incoming:
    """An incoming call by its Request-URI: inbound rules (§7.3), else forwarding rules (§7.4).

    Our own domains behave as an inbound rule that resolves to users, so calls to our accounts
    and numbers work with no rule configured.
    """
    try:
        dest = parse_destination(request_uri)
    except UriError as exc:
        return NotFound(f'bad Request-URI: {exc}')
    if dest.host is None:
        return _resolve_users(dest, is_local, 'no domain')
    decision = match_inbound(inbound_rules, dest.host)
    if decision is not None:
        why = f'inbound rule {decision.rule.id} for {dest.host}'
        rule = decision.rule
        users = _resolve_users(dest, is_local, why) if rule.resolve_to_users else None
        if isinstance(users, Internal):
            return users   # users first, then coSpaces (CMS: a user's URI wins)
        if (rule.resolve_to_cospaces or rule.resolve_to_ivrs) and dest.user:
            tried = [name for name, on in (('account', rule.resolve_to_users),
                                           ('number', rule.resolve_to_users),
                                           ('coSpace', rule.resolve_to_cospaces),
                                           ('IVR', rule.resolve_to_ivrs)) if on]
            named = ' or '.join([', '.join(tried[:-1]), tried[-1]] if len(tried) > 1 else tried)
            return ToCoSpace(dest.user, f'{why}: no {named} {dest.user!r}',
                             rule.resolve_to_cospaces, rule.resolve_to_ivrs)
        if users is not None:
            return users
        pending = ', '.join(decision.pending_targets) or 'no target'
        return NotFound(f'{why} resolves to {pending}, not available here')
    if dest.host in local_domains:
        return _resolve_users(dest, is_local, f'our domain {dest.host}')
    forwarding = match_forwarding(forwarding_rules, request_uri, from_uri)
    if forwarding is None:
        return NotFound(f'no inbound or forwarding rule matches {dest.host}')
    if forwarding.destination is None:
        return Rejected(forwarding.rule)
    return Forwarded(forwarding, route_forwarded(forwarding.destination, outbound_rules,
                                                 local_domains, is_local))


def _resolve_users(dest: Destination, is_local: IsLocal, why: str) -> Internal | NotFound:
    if dest.user is not None and is_local(dest.user, dest.host):
        return Internal(dest.user, dest.host)
    return NotFound(f'{why}: no account or number {dest.user!r}')
