"""Who may register and call: digest checks against the account table, with rate limiting.

Missing accounts and wrong passwords get the same answers, so a scanner
(svwar) cannot list accounts; repeated failures from one address are refused
without a challenge for a while, so a password cracker (svcrack) crawls.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from .auth import DigestServer, RateLimiter, parse_auth_header
from .message import Request, make_response
from .transaction import Peer

log = logging.getLogger('telephony.auth')

BLOCKED_LOG_EVERY = 60.0  # seconds

AccountLookup = Callable[[str, str], Awaitable[object | None]]  # (user, domain) -> account with ha1_*


@dataclass
class AuthOutcome:
    user: str | None          # authenticated user, or None
    response: object | None   # the response to send when not authenticated


# Digest challenges offered, preferred first (RFC 8760 section 2.4); Settings.digest_algorithms
# overrides it.  MD5 only by default because deployed clients fail on a challenge they
# cannot compute instead of skipping it: libre/baresip 1.0 rejects the whole 401/407 when
# any WWW-Authenticate names a non-MD5 algorithm (REGISTER fails with ENOSYS, "Function
# not implemented"), and SIPp 3.6 aborts ("authentication must use MD5 or AKAv1-MD5") when
# the first one is SHA-256.  With "SHA-256,MD5" both are offered and verified.
DEFAULT_ALGORITHMS = ('MD5',)


class Authenticator:
    def __init__(self, secret: bytes, default_domain: str, lookup: AccountLookup,
                 domains: Callable[[], set[str]], clock: Callable[[], float],
                 algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS):
        self.secret = secret
        self.algorithms = tuple(algorithms)
        self.default_domain = default_domain
        self.lookup = lookup
        self.domains = domains
        self.clock = clock
        self.limiter = RateLimiter()
        self._servers: dict[str, DigestServer] = {}
        self._blocked_logged: dict[str, float] = {}   # ip -> when we last logged its block
        self.refused = 0   # requests refused unheard because their address is blocked
        self._blocked_refused: dict[str, int] = {}

    def _log_blocked(self, ip: str, method: str, now: float) -> None:
        """One line per address and minute: a cracker must not flood the log too."""
        last = self._blocked_logged.get(ip)
        if last is not None and now - last < BLOCKED_LOG_EVERY:
            self._blocked_refused[ip] = self._blocked_refused.get(ip, 0) + 1
            return
        if len(self._blocked_logged) > 10000:
            self._blocked_logged.clear()
            self._blocked_refused.clear()
        refused = self._blocked_refused.pop(ip, 0)
        self._blocked_logged[ip] = now
        log.info('event=auth-blocked ip=%s method=%s refused_since_last=%d', ip, method, refused)

    def realm_for(self, req: Request) -> str:
        """The account domain the request names, else the default domain."""
        host = (req.to if req.method == 'REGISTER' else req.from_).uri.host
        return host if host in self.domains() else self.default_domain

    def _digest(self, realm: str) -> DigestServer:
        if realm not in self._servers:
            self._servers[realm] = DigestServer(self.secret, realm, algorithms=self.algorithms)
        return self._servers[realm]

    def _challenge(self, req: Request, realm: str, stale: bool = False):
        proxy = req.method != 'REGISTER'
        resp = make_response(req, 407 if proxy else 401)
        name = 'Proxy-Authenticate' if proxy else 'WWW-Authenticate'
        for value in self._digest(realm).make_challenges(self.clock(), stale=stale):
            resp.add(name, value)
        return resp

    async def check(self, req: Request, peer: Peer) -> AuthOutcome:
        now = self.clock()
        ip = peer.addr[0]
        if self.limiter.blocked(ip, now):
            self.refused += 1
            self._log_blocked(ip, req.method, now)
            return AuthOutcome(None, make_response(req, 403, 'Too Many Failed Attempts'))
        realm = self.realm_for(req)
        header = req.get('Proxy-Authorization' if req.method != 'REGISTER' else 'Authorization') \
            or req.get('Authorization') or req.get('Proxy-Authorization')
        if not header:
            return AuthOutcome(None, self._challenge(req, realm))
        try:
            scheme, params = parse_auth_header(header)
        except ValueError:
            return AuthOutcome(None, make_response(req, 400, 'Malformed Authorization'))
        user = params.get('username', '')
        hdr_realm = params.get('realm', realm)
        account = await self.lookup(user, hdr_realm) if user else None

        def ha1_for(username: str, r: str, algorithm: str) -> str | None:
            if account is None:
                return None
            return account.ha1_sha256 if algorithm.upper().startswith('SHA-256') else account.ha1_md5

        known = hdr_realm == self.default_domain or hdr_realm in self.domains()
        result = self._digest(hdr_realm if known else realm).verify(req.method, header, ha1_for, now)
        if result.ok:
            self.limiter.success(ip)
            return AuthOutcome(result.username, None)
        if result.stale:
            return AuthOutcome(None, self._challenge(req, realm, stale=True))
        self.limiter.failure(ip, now)
        # reason is for the log only: the peer sees the same 403 for every failure
        log.info('event=auth-failed ip=%s method=%s user=%s reason=%s', ip, req.method, user,
                 result.reason)
        return AuthOutcome(None, make_response(req, 403))
