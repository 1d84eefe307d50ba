"""Cisco dial plan rules: outbound (§7.1), inbound (§7.3) and call forwarding (§7.4).

Each rule is built from the stored dict of its /api/v1 parameters (`from_fields`). Rules of one
kind are tried highest `priority` first; equal priorities keep the order given, which the store
gives as creation order.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from telephony.dialplan import fields
from telephony.dialplan.fields import FieldError, ordered
from telephony.sip.trunks import INBOUND_USER, TrunkLogin, parse_addresses
from telephony.sip.uri import Uri, UriError, format_params, parse_uri

__all__ = [
    'Destination', 'parse_destination', 'wildcard_match',
    'TrunkCredentials', 'OutboundRule', 'OutboundAttempt', 'outbound_plan', 'should_continue',
    'InboundRule', 'InboundDecision', 'match_inbound',
    'ForwardingRule', 'ForwardingDecision', 'match_forwarding',
]

MAX_TRUNK_ADDRESSES = 32
_DOMAIN_RE = re.compile(r'[a-z0-9_*\-]+(?:\.[a-z0-9_*\-]+)*')
_PHONE_RE = re.compile(r'\+?[0-9]{1,32}')
# A number or name without a domain: the user characters of RFC 3261 §25.1 (and '#').
_BARE_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%#]{1,255}")
_BUSY_OR_DECLINED = frozenset({486, 600, 603})
# A caller's maddr would name the host the next hop sends to (RFC 3261 §19.1.1): never pass it on.
_DROPPED_PARAMS = ('maddr',)


def wildcard_match(pattern: str, text: str) -> bool:
    """'*.com' matches 'example.com' and 'a.b.com'; '*' matches any run of characters.

    Two pointers with a return to the last '*': at most len(pattern) * len(text) steps.
    """
    p = t = 0
    star = mark = -1
    while t < len(text):
        if p < len(pattern) and pattern[p] == text[t] and pattern[p] != '*':
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == '*':
            star, mark = p, t
            p += 1
        elif star >= 0:
            p, mark = star + 1, mark + 1
            t = mark
        else:
            return False
    return pattern[p:].strip('*') == ''


def _domain(d: Mapping[str, Any], name: str, *, wildcards: bool, required: bool) -> str | None:
    value = fields.text(d, name, required=required)
    if value is None:
        return None
    value = value.lower()
    if not _DOMAIN_RE.fullmatch(value):
        raise FieldError(name, f'not a domain: {value[:60]!r}')
    if '*' in value and not wildcards:
        raise FieldError(name, 'must be a complete domain, without wildcards')
    return value


# ---------------------------------------------------------------------------
# destinations


@dataclass(frozen=True)
class Destination:
    """Where a call goes: user and host of a SIP URI, or a bare number/name (host None)."""
    user: str | None
    host: str | None
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    secure: bool = False   # a sips: URI: TLS all the way

    @property
    def is_phone(self) -> bool:
        return self.user is not None and _PHONE_RE.fullmatch(self.user) is not None

    @property
    def address(self) -> str:
        """'user@host[:port]' or the bare user: what dial transforms read."""
        if self.host is None:
            return self.user or ''
        port = '' if self.port is None else f':{self.port}'
        return f'{self.user}@{self.host}{port}' if self.user else f'{self.host}{port}'


def parse_destination(text: str | Uri) -> Destination:
    """'sip:bob@example.com;x=1', 'sips:…', 'tel:+44…', 'bob@example.com', '+4930…' or 'alice'.

    URI headers ('?…') are dropped: they are not part of where the call goes. Raises UriError.
    """
    if isinstance(text, Uri):
        uri = text
    elif text.startswith(('sip:', 'sips:', 'tel:', 'SIP:', 'SIPS:', 'TEL:')):
        uri = parse_uri(text)
    elif '@' in text:
        uri = parse_uri('sip:' + text)
    else:
        if not _BARE_RE.fullmatch(text):
            raise UriError(f'bad destination {text[:60]!r}')
        return Destination(text, None)
    if uri.scheme == 'tel':
        return Destination(uri.user, None)
    if uri.scheme not in ('sip', 'sips'):
        raise UriError(f'cannot call a {uri.scheme}: URI')
    return Destination(uri.user, uri.host.lower(), uri.port,
                       tuple(uri.params.items()), uri.scheme == 'sips')


def _uri(user: str | None, host: str, port: int | None, params: Iterable[tuple[str, str | None]]) -> str:
    userinfo = f'{user}@' if user else ''
    hostport = host if port is None else f'{host}:{port}'
    return f'sip:{userinfo}{hostport}{format_params(dict(params))}'


# ---------------------------------------------------------------------------
# outbound rules (§7.1) with our trunk extension parameters


@dataclass(frozen=True)
class TrunkCredentials:
    """Digest credentials towards a trunk; the password never shows in a repr or a log."""
    username: str
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OutboundRule:
    id: str | None
    domain: str
    priority: int
    sip_proxy: tuple[str, int] | None      # host, port (5060 unless given); None: a direct call
    local_contact_domain: str | None
    local_from_domain: str | None
    trunk_type: str                        # sip|lync|avaya; only sip can be placed here
    failure_action: str                    # stop|continue
    sip_control_encryption: str            # auto|encrypted|unencrypted
    credentials: TrunkCredentials | None
    transport: str                         # udp|tcp (sipProxyTransport)
    register: bool
    register_expiry: int
    trunk_addresses: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    # trunkInboundUsername/trunkInboundPassword: the digest credential the trunk's own calls
    # may authenticate with (the password stored as HA1s, sip/trunks.py inbound_secret)
    inbound: TrunkLogin | None = None

    @classmethod
    def from_fields(cls, d: Mapping[str, Any]) -> 'OutboundRule':
        domain = _domain(d, 'domain', wildcards=True, required=True)
        assert domain is not None
        proxy_text = fields.text(d, 'sipProxy')
        proxy = None
        if proxy_text is not None:
            host, port = fields.hostport(proxy_text, 'sipProxy')
            proxy = (host, 5060 if port is None else port)
        username = fields.text(d, 'sipProxyUsername')
        password = fields.text(d, 'sipProxyPassword')
        if password is not None and username is None:
            raise FieldError('sipProxyUsername', 'required with sipProxyPassword', 'missing')
        register = fields.boolean(d, 'register', False)
        if register and proxy is None:
            raise FieldError('sipProxy', 'a trunk registers to its sipProxy, and none is set',
                             'missing')
        return cls(
            id=fields.rule_id(d),
            domain=domain,
            priority=fields.integer(d, 'priority', 0),
            sip_proxy=proxy,
            local_contact_domain=fields.hostname(d, 'localContactDomain'),
            local_from_domain=fields.hostname(d, 'localFromDomain'),
            trunk_type=fields.choice(d, 'trunkType', ('sip', 'lync', 'avaya'), 'sip'),
            failure_action=fields.choice(d, 'failureAction', ('stop', 'continue'), 'stop'),
            sip_control_encryption=fields.choice(
                d, 'sipControlEncryption', ('auto', 'encrypted', 'unencrypted'), 'auto'),
            credentials=None if username is None else TrunkCredentials(username, password),
            transport=fields.choice(d, 'sipProxyTransport', ('udp', 'tcp'), 'udp'),
            register=register,
            register_expiry=fields.integer(d, 'registerExpiry', 3600, 60, 86400),
            trunk_addresses=_trunk_addresses(d, proxy),
            inbound=_inbound_login(d),
        )

    def matches(self, destination: Destination) -> bool:
        """A SIP destination by its domain; a number without a domain goes to any trunk (sipProxy)."""
        if destination.host is None:
            return destination.is_phone and self.sip_proxy is not None
        return wildcard_match(self.domain, destination.host)

    @property
    def unavailable(self) -> str | None:
        """Why calls through this rule cannot be placed in this build, if they cannot."""
        if self.sip_control_encryption == 'encrypted':
            return 'TLS not available (sipControlEncryption encrypted)'
        if self.trunk_type != 'sip':
            return f'trunkType {self.trunk_type} not available'
        return None


def _trunk_addresses(d: Mapping[str, Any], proxy: tuple[str, int] | None,
                     ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`trunkAddresses`, or else the sipProxy host when it is an IP address."""
    value = fields.text(d, 'trunkAddresses', cap=MAX_TRUNK_ADDRESSES * 44)
    if value is None:
        if proxy is None:
            return ()
        try:
            return (ipaddress.ip_network(proxy[0].strip('[]')),)
        except ValueError:
            return ()   # a host name: its calls are recognised by credentials only
    if len([item for item in value.split(',') if item.strip()]) > MAX_TRUNK_ADDRESSES:
        raise FieldError('trunkAddresses', f'more than {MAX_TRUNK_ADDRESSES} addresses', 'valueTooLong')
    try:
        return tuple(parse_addresses(value))
    except ValueError as exc:
        raise FieldError('trunkAddresses', str(exc)) from None


def _inbound_login(d: Mapping[str, Any]) -> TrunkLogin | None:
    """`trunkInboundUsername` with `trunkInboundPassword` (as stored: HA1s for that very name),
    both or neither."""
    user = fields.text(d, 'trunkInboundUsername', cap=64)
    secret = fields.text(d, 'trunkInboundPassword', cap=1000)
    if user is None and secret is None:
        return None
    if user is None:
        raise FieldError('trunkInboundUsername', 'required with trunkInboundPassword', 'missing')
    if not INBOUND_USER.fullmatch(user):
        raise FieldError('trunkInboundUsername', 'not a digest user name (letters, digits, ._~+-@ ...)')
    if secret is None:
        raise FieldError('trunkInboundPassword', 'required with trunkInboundUsername', 'missing')
    try:
        login = TrunkLogin.parse(fields.rule_id(d) or '', secret)
    except ValueError as exc:
        raise FieldError('trunkInboundPassword', str(exc)) from None
    if login.user != user:   # the HA1s bind the name: a new name needs the password again
        raise FieldError('trunkInboundPassword', 'set for another user name', 'missing')
    return login


@dataclass(frozen=True)
class OutboundAttempt:
    """One try at placing an outgoing call through one outbound rule.

    The INVITE goes to `host`:`port` over `transport` with `request_uri`; From is
    user@`from_domain` (None: the service's own domain). When `failure` is set the attempt
    must not be sent: the runtime treats it as failed with no status (should_continue(a, None)).
    """
    rule: OutboundRule
    request_uri: str
    host: str
    port: int
    transport: str
    from_domain: str | None
    contact_domain: str | None
    credentials: TrunkCredentials | None
    failure: str | None = None

    @property
    def has_credentials(self) -> bool:
        return self.credentials is not None


def outbound_plan(rules: Iterable[OutboundRule], destination: str | Uri | Destination,
                  *, phone: bool = False) -> list[OutboundAttempt]:
    """The attempts for `destination`, in order, up to and including the first `stop` rule.

    `phone` marks the user part as a telephone number (`;user=phone`, RFC 3261 §19.1.1), as an
    acceptPhone transform does; a number without a domain is one too. Raises UriError.
    """
    dest = destination if isinstance(destination, Destination) else parse_destination(destination)
    phone = phone or dest.host is None
    params = [(k, v) for k, v in dest.params if k not in _DROPPED_PARAMS and k != 'user']
    if phone:
        params.append(('user', 'phone'))
    attempts = []
    for rule in ordered(r for r in rules if r.matches(dest)):
        if dest.host is not None:
            uri_host, uri_port = dest.host, dest.port
        elif '*' not in rule.domain:
            uri_host, uri_port = rule.domain, None
        else:
            assert rule.sip_proxy is not None
            uri_host, uri_port = rule.sip_proxy
        host, port = rule.sip_proxy or (uri_host, uri_port or 5060)
        failure = rule.unavailable or ('TLS not available (sips URI)' if dest.secure else None)
        attempts.append(OutboundAttempt(
            rule=rule,
            request_uri=_uri(dest.user, uri_host, uri_port, params),
            host=host, port=port, transport=rule.transport,
            from_domain=rule.local_from_domain, contact_domain=rule.local_contact_domain,
            credentials=rule.credentials, failure=failure,
        ))
        if rule.failure_action == 'stop':
            break
    return attempts


def should_continue(attempt: OutboundAttempt, status: int | None, *, cancelled: bool = False) -> bool:
    """After a failed attempt: try the next one? `status` is the final response, None on a
    timeout or an attempt that could not be sent. `continue` rules go on after 3xx (we follow no
    redirects), 5xx, 6xx and 4xx, except busy (486, 600) and decline (603); never after a 2xx or
    once the caller cancelled (our CANCEL's 487 included)."""
    if status is not None and not 200 <= status <= 699:
        raise ValueError(f'not a final status: {status}')
    if attempt.rule.failure_action != 'continue' or cancelled:
        return False
    if status is None:
        return True
    return status >= 300 and status != 487 and status not in _BUSY_OR_DECLINED


# ---------------------------------------------------------------------------
# inbound rules (§7.3)

# Targets of §7.3 that this build cannot resolve (no Lync): a call that matches a rule
# asking only for them resolves to nothing and gets 404.
_PENDING_TARGETS = (('resolveToLyncConferences', False), ('resolveToLyncSimplejoin', False))


@dataclass(frozen=True)
class InboundRule:
    id: str | None
    domain: str
    priority: int
    resolve_to_users: bool             # ours (not in the document's list): SIP accounts and numbers
    pending_targets: tuple[str, ...]   # the other resolveTo* parameters that are true
    resolve_to_cospaces: bool = True   # a coSpace's uri, secondaryUri or access method uri
    resolve_to_ivrs: bool = True       # an IVR's uri (§8.9): call ID entry, then its coSpace

    @classmethod
    def from_fields(cls, d: Mapping[str, Any]) -> 'InboundRule':
        domain = _domain(d, 'domain', wildcards=False, required=True)
        assert domain is not None
        return cls(
            id=fields.rule_id(d),
            domain=domain,
            priority=fields.integer(d, 'priority', 0),
            resolve_to_users=fields.boolean(d, 'resolveToUsers', True),
            pending_targets=tuple(name for name, default in _PENDING_TARGETS
                                  if fields.boolean(d, name, default)),
            resolve_to_cospaces=fields.boolean(d, 'resolveToCoSpaces', True),
            resolve_to_ivrs=fields.boolean(d, 'resolveToIvrs', True),
        )


@dataclass(frozen=True)
class InboundDecision:
    """The inbound rule a call's domain matched. With `resolve_to_users` false it resolves to
    nothing in this build (the runtime answers 404); `pending_targets` says what it asked for."""
    rule: InboundRule

    @property
    def resolve_to_users(self) -> bool:
        return self.rule.resolve_to_users

    @property
    def pending_targets(self) -> tuple[str, ...]:
        return self.rule.pending_targets


def match_inbound(rules: Iterable[InboundRule], request_domain: str) -> InboundDecision | None:
    """The highest-priority rule whose domain is exactly the request's (case-insensitive)."""
    domain = request_domain.lower()
    for rule in ordered(rules):
        if rule.domain == domain:
            return InboundDecision(rule)
    return None


# ---------------------------------------------------------------------------
# forwarding rules (§7.4)


@dataclass(frozen=True)
class ForwardingRule:
    id: str | None
    match_pattern: str
    priority: int
    action: str                 # forward|reject
    destination_domain: str | None
    caller_id_mode: str         # regenerate|preserve
    uri_parameters: str         # discard|forward

    @classmethod
    def from_fields(cls, d: Mapping[str, Any]) -> 'ForwardingRule':
        pattern = _domain(d, 'matchPattern', wildcards=True, required=True)
        assert pattern is not None
        if not pattern.replace('*', '').replace('.', ''):
            # §7.4: "do not use matchPattern=* as a match all, otherwise you will create call loops"
            raise FieldError('matchPattern', 'a pattern that matches every domain makes call loops')
        return cls(
            id=fields.rule_id(d),
            match_pattern=pattern,
            priority=fields.integer(d, 'priority', 0),
            action=fields.choice(d, 'action', ('forward', 'reject'), 'reject'),
            destination_domain=_domain(d, 'destinationDomain', wildcards=False, required=False),
            caller_id_mode=fields.choice(d, 'callerIdMode', ('regenerate', 'preserve'), 'regenerate'),
            uri_parameters=fields.choice(d, 'uriParameters', ('discard', 'forward'), 'discard'),
        )


@dataclass(frozen=True)
class ForwardingDecision:
    """A forwarding rule matched: reject the call, or forward it to `destination` (a SIP URI,
    None for reject). The new call's From is `caller(from_domain)`."""
    rule: ForwardingRule
    destination: str | None
    from_uri: str

    @property
    def action(self) -> str:
        return self.rule.action

    def caller(self, from_domain: str) -> str:
        """preserve: the caller's From URI as it came; regenerate: the caller's user at
        `from_domain` (the outbound rule's localFromDomain, else the service's domain)."""
        if self.rule.caller_id_mode == 'preserve':
            return self.from_uri
        try:
            user = parse_uri(self.from_uri).user
        except UriError:
            user = None
        return f'sip:{user}@{from_domain}' if user else f'sip:{from_domain}'


def match_forwarding(rules: Iterable[ForwardingRule], request_uri: str | Uri,
                     from_uri: str) -> ForwardingDecision | None:
    """The highest-priority rule whose matchPattern matches the request's domain. Raises UriError."""
    dest = parse_destination(request_uri)
    if dest.host is None:
        return None
    for rule in ordered(rules):
        if not wildcard_match(rule.match_pattern, dest.host):
            continue
        if rule.action == 'reject':
            return ForwardingDecision(rule, None, from_uri)
        if rule.destination_domain is not None:
            host, port = rule.destination_domain, None   # the old port belonged to the old host
        else:
            host, port = dest.host, dest.port
        params = ([(k, v) for k, v in dest.params if k not in _DROPPED_PARAMS]
                  if rule.uri_parameters == 'forward' else [])
        return ForwardingDecision(rule, _uri(dest.user, host, port, params), from_uri)
    return None
