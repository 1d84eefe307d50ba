"""Who may register and call: digest checks against the account table, with rate limiting.

Missing accounts and wrong passwords get the same answers, so a scanner (svwar) cannot
list accounts.  Guessing is limited twice: per source address (RateLimiter: refused
without a challenge for a while) and per account, however many addresses guess
(AccountLimiter), while the addresses an account authenticated from before are still
heard.  Only a wrong digest on a nonce we sent to that very address counts as a guess:
a malformed header, a stale or foreign nonce is decided before the password is looked
at, so spoofed packets (which never see our nonces) cannot lock a real phone out.

A trunk's inbound credential (`trunk_logins`, from the outbound rules) is checked the same
way, with the same limits, when no account has its name: accounts come first, so a trunk
name never opens an account and an account made later with a trunk's name shadows the trunk
(logged).  Its success says `trunk`, never `user`: a trunk is not an account.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from ..logtext import quoted
from .auth import (AccountLimiter, AuthResult, DigestServer, RateLimiter, is_digest,
                   parse_auth_header)
from .message import Request, make_response
from .transaction import Peer
from .trunks import TrunkLogin, TrunkLogins

log = logging.getLogger('telephony.auth')

BLOCKED_LOG_EVERY = 60.0  # seconds
MAX_KEY_USER = 128        # longer usernames share a limiter key: bounded memory per key

AccountLookup = Callable[[str, str], Awaitable[object | None]]  # (user, domain) -> account with ha1_*


@dataclass
class AuthOutcome:
    user: str | None          # authenticated account's user, or None
    response: object | None   # the response to send when not authenticated
    trunk: str | None = None  # authenticated with this trunk's inbound credential (user None)


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
                 algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS, *,
                 allow_rfc2069: bool = False, account_guesses: int = 10,
                 account_window: float = 60.0):
        self.secret = secret
        self.algorithms = tuple(algorithms)
        self.allow_rfc2069 = allow_rfc2069
        self.default_domain = default_domain
        self.lookup = lookup
        self.domains = domains
        self.clock = clock
        self.limiter = RateLimiter()    # per source address
        self.accounts = AccountLimiter(account_guesses, account_window)
        self._servers: dict[str, DigestServer] = {}
        self._logged: dict[str, float] = {}   # log key -> when we last logged it
        self._unlogged: dict[str, int] = {}   # log key -> lines left out since
        self.refused = 0   # requests refused unheard: blocked address or spent account
        self.trunk_logins = TrunkLogins()   # trunks' inbound credentials (calls/trunk_rules.py)

    def remember_source(self, aor: str, ip: str) -> None:
        """`ip` authenticated for `aor` before (a binding restored at start): it stays heard
        while the account's guess budget is spent, as it was before the restart."""
        user, _, realm = aor.rpartition('@')
        self.accounts.success(f'{user[:MAX_KEY_USER]}@{realm}', ip, self.clock(), refund=False)

    def _log_limited(self, key: str, now: float, fmt: str, *args) -> None:
        """One line per key and minute: a cracker or a spoofer must not flood the log."""
        last = self._logged.get(key)
        if last is not None and now - last < BLOCKED_LOG_EVERY:
            self._unlogged[key] = self._unlogged.get(key, 0) + 1
            return
        if len(self._logged) > 10000:
            self._logged.clear()
            self._unlogged.clear()
        self._logged[key] = now
        log.info(fmt + ' refused_since_last=%d', *args, self._unlogged.pop(key, 0))

    def realm_for(self, req: Request) -> str:
        """The account domain the request names, else the default domain."""
        host = (req.to if req.method == 'REGISTER' else req.from_).uri.host
        return host if host in self.domains() else self.default_domain

    def _digest(self, realm: str) -> DigestServer:
        if realm not in self._servers:
            self._servers[realm] = DigestServer(self.secret, realm, algorithms=self.algorithms,
                                                allow_rfc2069=self.allow_rfc2069)
        return self._servers[realm]

    def _challenge(self, req: Request, realm: str, ip: str, stale: bool = False):
        proxy = req.method != 'REGISTER'
        resp = make_response(req, 407 if proxy else 401)
        name = 'Proxy-Authenticate' if proxy else 'WWW-Authenticate'
        for value in self._digest(realm).make_challenges(self.clock(), stale, bound_to=ip):
            resp.add(name, value)
        return resp

    def _not_a_guess(self, req: Request, realm: str, ip: str, result: AuthResult, now: float):
        """Answer an Authorization refused before its digest was looked at; counts nothing."""
        self._log_limited(f'{ip}/{result.reason}', now,
                          'event=auth-rejected ip=%s method=%s user=%s reason=%s',
                          ip, req.method, quoted((result.username or '')[:MAX_KEY_USER]), result.reason)
        if result.stale or result.reason in ('bad-nonce', 'bad-realm', 'unknown-scheme'):
            # a nonce that is not (or no longer) valid from this address: NAT rebinding,
            # an old nonce, a restart; the client retries on a fresh one. Credentials of a
            # scheme we do not speak are as good as none: a plain challenge
            return self._challenge(req, realm, ip,
                                   stale=result.reason not in ('bad-realm', 'unknown-scheme'))
        return make_response(req, 400, 'Malformed Authorization')

    async def check(self, req: Request, peer: Peer) -> AuthOutcome:
        now = self.clock()
        ip = peer.addr[0]
        if self.limiter.blocked(ip, now):
            self.refused += 1
            self._log_limited(ip, now, 'event=auth-blocked ip=%s method=%s', ip, req.method)
            return AuthOutcome(None, make_response(req, 403, 'Too Many Failed Attempts'))
        realm = self.realm_for(req)
        header = req.get('Proxy-Authorization' if req.method != 'REGISTER' else 'Authorization') \
            or req.get('Authorization') or req.get('Proxy-Authorization')
        if not header:
            return AuthOutcome(None, self._challenge(req, realm, ip))
        try:
            params = parse_auth_header(header)[1] if is_digest(header) else {}
        except ValueError:
            return AuthOutcome(None, make_response(req, 400, 'Malformed Authorization'))
        hdr_realm = params.get('realm', realm)
        known = hdr_realm == self.default_domain or hdr_realm in self.domains()
        digest = self._digest(hdr_realm if known else realm)
        creds = digest.parse_credentials(header, now, bound_to=ip)
        if isinstance(creds, AuthResult):
            return AuthOutcome(None, self._not_a_guess(req, realm, ip, creds, now))

        user = creds.username
        key = f'{user[:MAX_KEY_USER]}@{digest.realm}'
        # Taken before the lookup is awaited, so concurrent guesses cannot overdraw it.
        ticket = self.accounts.attempt(key, ip, now)
        if ticket is None:
            self.refused += 1
            self._log_limited(key, now, 'event=auth-account-limited user=%s ip=%s method=%s',
                              quoted(user[:MAX_KEY_USER]), ip, req.method)
            return AuthOutcome(None, make_response(req, 403, 'Too Many Failed Attempts'))
        account = await self.lookup(user, creds.realm)
        stored = None
        login: TrunkLogin | None = None
        if account is not None:
            stored = account.ha1_sha256 if creds.algorithm.upper().startswith('SHA-256') \
                else account.ha1_md5
            if (shadowed := self.trunk_logins.named(user)) is not None:
                self._log_limited(f'shadowed/{key}', now, 'event=trunk-login-shadowed user=%s '
                                  'trunk=%s', quoted(user[:MAX_KEY_USER]), shadowed.trunk)
        else:
            login = self.trunk_logins.get(user, creds.realm)
            if login is not None:
                stored = login.ha1(creds.algorithm)
        now = self.clock()
        result = digest.check_credentials(req.method, creds, stored, now)
        if result.ok:
            self.limiter.success(ip)
            self.accounts.success(key, ip, now, refund=ticket == AccountLimiter.BUDGET)
            if login is not None:
                return AuthOutcome(None, None, trunk=login.trunk)
            return AuthOutcome(result.username, None)
        if not result.guessed:   # a replayed nc or a nonce evicted meanwhile: correct digest
            return AuthOutcome(None, self._challenge(req, realm, ip, stale=True))
        self.limiter.failure(ip, now)
        # reason is for the log only: the peer sees the same 403 for every failure
        log.info('event=auth-failed ip=%s method=%s user=%s reason=%s', ip, req.method,
                 quoted(user[:MAX_KEY_USER]), result.reason)
        return AuthOutcome(None, make_response(req, 403))
