"""REGISTER bindings (RFC 3261 §10.3), sans-IO: contacts per address-of-record with expiry.

Bindings live in memory: a registration is refreshed every few minutes, so a
restart costs at most one refresh interval, and REGISTER never waits on disk.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .message import Request, SipParseError
from .transaction import Peer
from .uri import UriError, parse_uri

DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 30
MAX_EXPIRES = 7200


@dataclass
class Binding:
    aor: str
    contact: str          # the Contact URI as the phone sent it
    expires_at: float
    peer: Peer            # where the REGISTER came from: we reach the phone there (NAT-safe)
    call_id: str
    cseq: int
    q: float = 1.0

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now))

    def target(self) -> Peer:
        """Where to send a request for this contact.

        The Contact itself (RFC 3261), so a third party can register a phone, except
        when the phone is behind NAT (its Contact names a private address other than
        the one the REGISTER came from) or uses a connection (TCP), which we reuse.
        """
        try:
            uri = parse_uri(self.contact)
            host = ipaddress.ip_address(uri.host.strip('[]'))
        except (UriError, ValueError):
            return self.peer   # no address we can use without DNS on the call path
        source = self.peer.addr[0]
        transport = (uri.params.get('transport') or self.peer.transport).upper()
        if transport == 'TCP' or self.peer.reliable:
            return self.peer if str(host) == source else Peer('TCP', (str(host), uri.port or 5060))
        if host.is_private and not host.is_loopback and str(host) != source:
            return self.peer
        return Peer('UDP', (str(host), uri.port or 5060))


class RegisterError(Exception):
    def __init__(self, status: int, reason: str, min_expires: int | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.min_expires = min_expires


class Registrar:
    def __init__(self):
        self.bindings: dict[str, dict[str, Binding]] = {}

    def update(self, aor: str, req: Request, peer: Peer, now: float) -> list[Binding]:
        """Apply one REGISTER; returns the AoR's bindings after it. Raises RegisterError."""
        header_expires = req.get('Expires')
        try:
            default = int(header_expires) if header_expires is not None else DEFAULT_EXPIRES
        except ValueError:
            raise RegisterError(400, 'Bad Expires') from None
        raw = [c.strip() for c in req.get_all('Contact')]
        try:
            contacts = [] if raw == ['*'] else req.contacts
        except SipParseError as exc:
            raise RegisterError(400, exc.reason) from None
        current = self.bindings.setdefault(aor, {})
        if raw == ['*']:
            if default != 0:
                raise RegisterError(400, 'Wildcard Contact requires Expires: 0')
            for b in list(current.values()):
                if b.call_id == req.call_id and req.cseq.seq <= b.cseq:
                    raise RegisterError(500, 'CSeq Out of Order')
            current.clear()
        for c in contacts:
            value = c.params.get('expires')
            try:
                expires = int(value) if value is not None else default
            except ValueError:
                raise RegisterError(400, 'Bad Contact expires') from None
            if 0 < expires < MIN_EXPIRES:
                raise RegisterError(423, 'Interval Too Brief', MIN_EXPIRES)
            expires = min(expires, MAX_EXPIRES)
            key = str(c.uri)
            old = current.get(key)
            if old is not None and old.call_id == req.call_id and req.cseq.seq <= old.cseq:
                raise RegisterError(500, 'CSeq Out of Order')
            if expires == 0:
                current.pop(key, None)
                continue
            q = c.params.get('q')
            current[key] = Binding(aor, key, now + expires, peer, req.call_id, req.cseq.seq,
                                   float(q) if q else 1.0)
        if not current:
            del self.bindings[aor]
        return self.lookup(aor, now)

    def lookup(self, aor: str, now: float) -> list[Binding]:
        found = [b for b in self.bindings.get(aor, {}).values() if b.expires_at > now]
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
