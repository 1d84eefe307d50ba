"""REGISTER bindings (RFC 3261 §10.3, Path RFC 3327), sans-IO: contacts per address-of-record
with expiry.

A binding remembers the flow its REGISTER came from (transport, source address and, on TCP,
the connection) and the Path the proxies put in it. Requests for a contact go to that flow, or
to the first Path hop on the host the REGISTER came from, never to the host the Contact names:
the Contact stays the Request-URI only.  Otherwise anyone with an account could register a
Contact naming our trunk and have us call through it (toll fraud); NAT needs the flow anyway.

Bindings are kept in memory here; store/bindings.py writes them behind to the database so a
restart keeps phones reachable.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Collection

from .message import Request, SipParseError
from .transaction import Peer
from .uri import UriError, parse_name_addr, parse_uri

DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 30
MAX_EXPIRES = 7200
# RFC 3261 §25.1: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r'(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)')


@dataclass
class Binding:
    aor: str
    contact: str          # the Contact URI as the phone sent it: the Request-URI of our requests
    expires_at: float
    peer: Peer            # the flow the REGISTER came from
    call_id: str
    cseq: int
    q: float = 1.0
    path: tuple[str, ...] = ()   # RFC 3327 Path values in order: our Route headers

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now))

    def target(self) -> Peer:
        """Where requests for this contact are sent.

        The flow, except: with a Path, its first hop when that hop is on the host the REGISTER
        came from (the proxy that relayed it, maybe on its listening port rather than the
        source port); and a TCP flow whose connection is gone (closed, or restored after a
        restart) goes to the Contact's port on the flow's host, where the phone listens.
        Never another host.
        """
        flow = self.peer
        if self.path:
            hop = _hop(self.path[0], by_name_addr=True)
        elif flow.reliable and (flow.conn is None or getattr(flow.conn, 'closed', False)):
            hop = _hop(self.contact)
        else:
            hop = None
        if hop is None or hop[1] != _ip(flow.addr[0]):
            return flow
        transport, host, port = hop
        transport = (transport or flow.transport).upper()
        if transport not in ('UDP', 'TCP'):   # the transports we have
            return flow
        peer = Peer(transport, (host, port or 5060))
        return flow if (peer.transport, peer.addr) == (flow.transport, flow.addr) else peer

    def routes(self) -> list[str]:
        """Route header values for a request to this contact (RFC 3327 §5.3)."""
        return list(self.path)


def _ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip('[]')))
    except ValueError:
        return None


def _hop(text: str, by_name_addr: bool = False) -> tuple[str | None, str, int | None] | None:
    """(transport param, IP, port) of a URI or name-addr; None for a host name (no DNS)."""
    try:
        uri = parse_name_addr(text).uri if by_name_addr else parse_uri(text)
    except (UriError, ValueError):
        return None
    host = _ip(uri.host)
    return None if host is None else (uri.params.get('transport'), host, uri.port)


class RegisterError(Exception):
    def __init__(self, status: int, reason: str, min_expires: int | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.min_expires = min_expires


def _delta_seconds(value: str | None, what: str) -> int:
    """RFC 3261 delta-seconds: digits only (no sign, no fraction); huge values are capped."""
    v = (value or '').strip(' \t')
    if not (v.isascii() and v.isdigit()):
        raise RegisterError(400, f'Bad {what}')
    return int(v) if len(v) <= 10 else 2**32 - 1


def _qvalue(params: dict) -> float:
    if 'q' not in params:
        return 1.0
    v = params['q']
    if v is None or not _QVALUE.fullmatch(v):
        raise RegisterError(400, 'Bad Contact q')
    return float(v)


class Registrar:
    def __init__(self, forbidden: Collection[tuple[str, int]] = (), max_contacts: int = 10):
        self.bindings: dict[str, dict[str, Binding]] = {}
        # contacts per AoR: each costs memory, a row, and an outbound leg at every call
        self.max_contacts = max_contacts
        # addresses a binding must never send to (the trunk, an outbound proxy)
        self.forbidden = {(_ip(h) or h, p) for h, p in forbidden}
        # what REGISTERs changed before the stored bindings were restored (the stack answers
        # while they load): an AoR (a wildcard) or (AoR, contact), newer than anything
        # stored. None once restored.
        self._changed_before_restore: set | None = set()

    def update(self, aor: str, req: Request, peer: Peer, now: float) -> list[Binding]:
        """Apply one REGISTER; returns the AoR's bindings after it. Raises RegisterError
        and then changes nothing: the whole request is checked before any binding moves."""
        header_expires = req.get('Expires')
        default = DEFAULT_EXPIRES if header_expires is None else _delta_seconds(header_expires,
                                                                               'Expires')
        raw = [c.strip() for c in req.get_all('Contact')]
        try:
            contacts = [] if raw == ['*'] else req.contacts
        except SipParseError as exc:
            raise RegisterError(400, exc.reason) from None
        path = tuple(req.get_all('Path'))
        for p in path:
            try:
                parse_name_addr(p)
            except (UriError, ValueError):
                raise RegisterError(400, 'Bad Path') from None
        current = self.bindings.get(aor, {})
        if raw == ['*']:
            if default != 0:
                raise RegisterError(400, 'Wildcard Contact requires Expires: 0')
            for b in current.values():
                if b.call_id == req.call_id and req.cseq.seq <= b.cseq:
                    raise RegisterError(500, 'CSeq Out of Order')
            self.bindings.pop(aor, None)
            self._mark({aor})
            return []
        changes: list[tuple[str, Binding | None]] = []
        for c in contacts:
            value = c.params.get('expires')
            expires = default if 'expires' not in c.params else _delta_seconds(value,
                                                                               'Contact expires')
            q = _qvalue(c.params)
            if 0 < expires < MIN_EXPIRES:
                raise RegisterError(423, 'Interval Too Brief', MIN_EXPIRES)
            key = str(c.uri)
            old = current.get(key)
            if old is not None and old.call_id == req.call_id and req.cseq.seq <= old.cseq:
                raise RegisterError(500, 'CSeq Out of Order')
            if expires == 0:
                changes.append((key, None))
                continue
            b = Binding(aor, key, now + min(expires, MAX_EXPIRES), peer, req.call_id,
                        req.cseq.seq, q, path)
            self.check(b)
            changes.append((key, b))
        added = {k for k, b in changes if b is not None}
        if len(added) > self.max_contacts:
            raise RegisterError(403, 'Too Many Contacts')
        if changes:
            current = self.bindings.setdefault(aor, {})
            for key, b in changes:
                if b is None:
                    current.pop(key, None)
                else:
                    current[key] = b
            # past the cap the other contacts that expire soonest make room (a phone that
            # registers a new Contact at every restart must not lock itself out)
            extra = len(current) - self.max_contacts
            if extra > 0:
                for b in sorted((b for k, b in current.items() if k not in added),
                                key=lambda b: b.expires_at)[:extra]:
                    del current[b.contact]
            if not current:
                del self.bindings[aor]
            self._mark({(aor, key) for key, _ in changes})
        return self.lookup(aor, now)

    def _mark(self, changed: set) -> None:
        if self._changed_before_restore is not None:
            self._changed_before_restore |= changed

    def check(self, b: Binding) -> None:
        if self.forbids(b):
            raise RegisterError(403, 'Contact Route Forbidden')

    def forbids(self, b: Binding) -> bool:
        return b.target().addr in self.forbidden

    def restore(self, bindings: list[Binding], now: float) -> list[Binding]:
        """Bindings loaded at start; returns those refused (expired, or forbidden since)."""
        refused = []
        newer = self._changed_before_restore or set()
        self._changed_before_restore = None
        for b in bindings:
            if b.expires_at <= now or self.forbids(b):
                refused.append(b)
            elif b.aor not in newer and (b.aor, b.contact) not in newer:
                self.bindings.setdefault(b.aor, {})[b.contact] = b
        return refused

    def uses(self, conn) -> bool:
        """True while a binding's flow is this connection (the transport keeps it open)."""
        return any(b.peer.conn is conn for contacts in self.bindings.values()
                   for b in contacts.values())

    def lookup(self, aor: str, now: float) -> list[Binding]:
        # The target is checked again here, not only at REGISTER: it can change afterwards
        # (a TCP flow that closed falls back to the Contact's port on the flow's host).
        found = [b for b in self.bindings.get(aor, {}).values()
                 if b.expires_at > now and not self.forbids(b)]
        return sorted(found, key=lambda b: -b.q)

    def sweep(self, now: float) -> list[Binding]:
        """Drop expired bindings; returns them so the caller can log or emit events."""
        gone = []
        for aor in list(self.bindings):
            contacts = self.bindings[aor]
            for key in [k for k, b in contacts.items() if b.expires_at <= now]:
                gone.append(contacts.pop(key))
            if not contacts:
                del self.bindings[aor]
        return gone


def ok_headers(req: Request, bindings: list[Binding], now: float) -> list[tuple[str, str]]:
    """Headers of the REGISTER's 200: every binding of the AoR, and the request's Path echoed
    with `Supported: path` when the UA said it supports path (RFC 3327 §5.3)."""
    out = [('Contact', f'<{b.contact}>;expires={b.remaining(now)}') for b in bindings]
    path = req.get_all('Path')
    if path and 'path' in (t.lower() for t in req.get_all('Supported')):
        out += [('Path', p) for p in path] + [('Supported', 'path')]
    return out
