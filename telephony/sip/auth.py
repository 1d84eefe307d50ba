"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760), sans-IO.

Server side: stateless HMAC-signed nonces bound to the client's address, MD5 and
SHA-256, qop=auth, nonce-count replay protection, a per-source failure rate limiter
and a per-account guess budget.  Client side: builds Authorization /
Proxy-Authorization values toward trunks.

Time is always passed in as `now` (seconds, float); use the same clock (wall clock
if several processes share a secret) for issuing and verifying nonces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..limiters import AccountLimiter, RateLimiter  # one implementation, shared with PINs

__all__ = [
    "AccountLimiter",
    "AuthHeaderError",
    "AuthResult",
    "Credentials",
    "DigestClient",
    "DigestServer",
    "RateLimiter",
    "digest_response",
    "format_challenge",
    "ha1",
    "normalize_algorithm",
    "parse_auth_header",
    "quote",
]


class AuthHeaderError(ValueError):
    """Malformed WWW-Authenticate / Authorization value, or an unsupported challenge."""


_HASHES: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-256": hashlib.sha256,
}
_CANONICAL = {"MD5": "MD5", "MD5-SESS": "MD5-sess", "SHA-256": "SHA-256", "SHA-256-SESS": "SHA-256-sess"}


def normalize_algorithm(algorithm: str | None) -> str:
    """Canonical algorithm name ('MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess').

    A missing algorithm means MD5 (RFC 2617 §3.2.1).  Raises AuthHeaderError otherwise.
    """
    if algorithm is None or algorithm == "":
        return "MD5"
    try:
        return _CANONICAL[algorithm.strip().upper()]
    except KeyError:
        raise AuthHeaderError(f"unsupported algorithm {algorithm!r}") from None


def _base(algorithm: str) -> str:
    return algorithm.removesuffix("-sess")


def _h(algorithm: str, data: str) -> str:
    return _HASHES[_base(algorithm)](data.encode("utf-8")).hexdigest()


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """H(username:realm:password) — what account storage keeps instead of the password."""
    return _h(normalize_algorithm(algorithm), f"{username}:{realm}:{password}")


def digest_response(ha1_hex: str, method: str, uri: str, nonce: str, algorithm: str = "MD5",
                    qop: str | None = None, nc: str | None = None,
                    cnonce: str | None = None) -> str:
    """The request-digest of RFC 7616 §3.4.1 (or RFC 2069 when qop is None)."""
    alg = normalize_algorithm(algorithm)
    ha1_hex = ha1_hex.lower()
    if alg.endswith("-sess"):
        ha1_hex = _h(alg, f"{ha1_hex}:{nonce}:{cnonce or ''}")
    ha2 = _h(alg, f"{method}:{uri}")
    if qop:
        return _h(alg, f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(alg, f"{ha1_hex}:{nonce}:{ha2}")


# --------------------------------------------------------------------------- header syntax

_WS = " \t\r\n"
_TOKEN_STOP = set(_WS) | {",", "=", '"', ";"}


def is_digest(value: str) -> bool:
    """Credentials of the Digest scheme (other schemes, Basic's token68 among them, may not
    even parse as parameters)."""
    words = value.split(None, 1)
    return bool(words) and words[0].lower() == "digest"


def parse_auth_header(value: str) -> tuple[str, dict[str, str]]:
    """Parse 'Digest k=v, k="quoted \\"v\\"", ...' into (scheme, {lowercase key: value}).

    Raises AuthHeaderError on syntax errors and duplicate parameters (duplicates
    are a classic way to make two parsers disagree about what was signed).
    """
    s = value
    n = len(s)
    i = 0
    while i < n and s[i] in _WS:
        i += 1
    start = i
    while i < n and s[i] not in _TOKEN_STOP:
        i += 1
    scheme = s[start:i]
    if not scheme:
        raise AuthHeaderError("missing auth scheme")
    params: dict[str, str] = {}
    while True:
        while i < n and (s[i] in _WS or s[i] == ","):
            i += 1
        if i >= n:
            break
        start = i
        while i < n and s[i] not in _TOKEN_STOP:
            i += 1
        name = s[start:i].lower()
        if not name:
            raise AuthHeaderError(f"expected parameter name at offset {i}")
        while i < n and s[i] in _WS:
            i += 1
        if i >= n or s[i] != "=":
            raise AuthHeaderError(f"expected '=' after {name!r}")
        i += 1
        while i < n and s[i] in _WS:
            i += 1
        if i < n and s[i] == '"':
            i += 1
            buf: list[str] = []
            while True:
                if i >= n:
                    raise AuthHeaderError(f"unterminated quoted string for {name!r}")
                c = s[i]
                if c == "\\":
                    if i + 1 >= n:
                        raise AuthHeaderError("dangling escape")
                    buf.append(s[i + 1])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                buf.append(c)
                i += 1
            val = "".join(buf)
        else:
            start = i
            while i < n and s[i] not in _WS and s[i] not in ',"':
                i += 1
            val = s[start:i]
        if name in params:
            raise AuthHeaderError(f"duplicate parameter {name!r}")
        params[name] = val
        while i < n and s[i] in _WS:
            i += 1
        if i < n and s[i] != ",":
            raise AuthHeaderError(f"expected ',' at offset {i}")
    return scheme, params


def quote(value: str) -> str:
    """RFC 7230 quoted-string; refuses CR/LF so values can't inject header lines."""
    if "\r" in value or "\n" in value:
        raise ValueError("CR/LF not allowed in header parameter")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_challenge(realm: str, nonce: str, algorithm: str = "MD5", qop: str | None = "auth",
                     stale: bool = False, opaque: str | None = None) -> str:
    """A WWW-Authenticate / Proxy-Authenticate value."""
    parts = [f"realm={quote(realm)}", f"nonce={quote(nonce)}"]
    if opaque is not None:
        parts.append(f"opaque={quote(opaque)}")
    parts.append(f"algorithm={normalize_algorithm(algorithm)}")
    if qop:
        parts.append(f"qop={quote(qop)}")
    if stale:
        parts.append("stale=TRUE")
    return "Digest " + ", ".join(parts)


# --------------------------------------------------------------------------- server


@dataclass(frozen=True)
class AuthResult:
    """Outcome of DigestServer.verify / check_credentials.

    `reason` is for logs only: callers must answer 'no-such-user' and
    'bad-response' identically (403) so accounts can't be enumerated.  Only those
    two are guesses (`guessed`): the digest was computed and did not match.  Every
    other failure is decided before the password is looked at, so it tells the
    client nothing about the password and must not count against anyone: that is
    what keeps spoofed or broken packets from locking a real phone out.  `stale`
    means "challenge again with stale=TRUE": an expired, evicted or replayed nonce.
    """

    ok: bool
    username: str | None
    stale: bool
    # ok|no-such-user|bad-response|stale-nonce|replay|bad-nonce|bad-realm|malformed|no-qop|
    # unsupported-algorithm
    reason: str
    algorithm: str | None = None
    uri: str | None = None  # digest-uri the client signed; not compared with the Request-URI

    @property
    def guessed(self) -> bool:
        return self.reason in ("no-such-user", "bad-response")


@dataclass(frozen=True)
class Credentials:
    """An Authorization value whose syntax, realm and nonce checked out: what is left
    is to compare its digest with the account's (DigestServer.check_credentials)."""

    username: str
    realm: str
    algorithm: str
    uri: str
    nonce: str
    issued: float
    response: str
    qop: str | None
    nc_s: str | None
    cnonce: str | None

    @property
    def nc(self) -> int:
        return int(self.nc_s, 16) if self.nc_s else 0


_NONCE_TS = struct.Struct(">q")  # milliseconds
_SALT_LEN = 8
_MAC_LEN = 16
_NONCE_LEN = _NONCE_TS.size + _SALT_LEN + _MAC_LEN
_FUTURE_SKEW = 30.0  # tolerate clock differences between processes sharing a secret
_NC_HEX = set("0123456789abcdefABCDEF")


class DigestServer:
    """Stateless-nonce digest verifier for one realm.

    Nonce = base64url(timestamp_ms || salt || HMAC-SHA256(secret, realm, bound_to, ts, salt)[:16]),
    so any process holding `secret` can check it without shared state.  The salt keeps
    nonces unique even when two challenges are issued in the same millisecond, which
    the nonce-count table relies on.  `bound_to` (the client's IP address) makes a
    nonce valid only from the address it was sent to: an off-path attacker who forges
    a phone's source address never sees the phone's nonces, so it cannot make a
    guess that counts against that address.
    """

    def __init__(self, secret: bytes, realm: str, nonce_ttl: float = 300.0, *,
                 opaque: str | None = None, algorithms: Iterable[str] = ("SHA-256", "MD5"),
                 allow_rfc2069: bool = False, max_tracked_nonces: int = 10000,
                 random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        if len(secret) < 16:
            raise ValueError("nonce secret should be at least 16 bytes")
        self.secret = bytes(secret)
        self.realm = realm
        self.nonce_ttl = float(nonce_ttl)
        self.opaque = opaque
        self.algorithms = tuple(normalize_algorithm(a) for a in algorithms)
        # Without qop there is no nc, so a captured request could be replayed for
        # the nonce's lifetime; only enable for ancient phones that need it.
        self.allow_rfc2069 = allow_rfc2069
        self.max_tracked_nonces = max_tracked_nonces
        self._random = random_bytes
        # nonce -> (issue time, highest nc accepted); insertion order = eviction order.
        self._nc_seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        # Nonces issued at or before this time whose nc history was evicted are
        # treated as stale, so eviction never re-opens a replay window.
        self._evicted_floor = float("-inf")
        # Unknown users are checked against this so timing matches a wrong password.
        self._dummy_ha1 = {
            a: _HASHES[a](hmac.new(self.secret, b"dummy-ha1", hashlib.sha256).digest()).hexdigest()
            for a in _HASHES
        }

    # -- nonces

    def _mac(self, body: bytes, bound_to: str) -> bytes:
        msg = (b"sip-digest-nonce\x00" + self.realm.encode("utf-8") + b"\x00"
               + bound_to.encode("utf-8") + b"\x00" + body)
        return hmac.new(self.secret, msg, hashlib.sha256).digest()[:_MAC_LEN]

    def make_nonce(self, now: float, bound_to: str = "") -> str:
        body = _NONCE_TS.pack(int(now * 1000)) + self._random(_SALT_LEN)
        raw = body + self._mac(body, bound_to)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def nonce_time(self, nonce: str, bound_to: str = "") -> float | None:
        """Issue time of a nonce signed by us for `bound_to`, else None."""
        if len(nonce) > 64:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != _NONCE_LEN:
            return None
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        if not hmac.compare_digest(mac, self._mac(body, bound_to)):
            return None
        return _NONCE_TS.unpack(body[: _NONCE_TS.size])[0] / 1000.0

    def make_challenges(self, now: float, stale: bool = False, bound_to: str = "") -> list[str]:
        """WWW-Authenticate values, preferred algorithm first (RFC 8760 §2.4)."""
        nonce = self.make_nonce(now, bound_to)
        return [format_challenge(self.realm, nonce, alg, "auth", stale, self.opaque)
                for alg in self.algorithms]

    # -- verification

    def verify(self, method: str, auth_header_value: str,
               lookup_ha1: Callable[[str, str, str], str | None], now: float, *,
               bound_to: str = "") -> AuthResult:
        """Check an Authorization / Proxy-Authorization value for `method`.

        lookup_ha1(username, realm, base_algorithm) returns the stored HA1 hex for
        'MD5' or 'SHA-256', or None if the user doesn't exist.  It is only called
        when the digest is about to be compared.
        """
        creds = self.parse_credentials(auth_header_value, now, bound_to=bound_to)
        if isinstance(creds, AuthResult):
            return creds
        return self.check_credentials(
            method, creds, lookup_ha1(creds.username, creds.realm, _base(creds.algorithm)), now)

    def parse_credentials(self, auth_header_value: str, now: float, *,
                          bound_to: str = "") -> Credentials | AuthResult:
        """Everything that can be checked without the password: syntax, algorithm, realm,
        qop, and that the nonce is ours, for `bound_to`, and fresh.  A failure here is
        never a guess (see AuthResult)."""
        def fail(reason: str, username: str | None = None, stale: bool = False,
                 alg: str | None = None, uri: str | None = None) -> AuthResult:
            return AuthResult(False, username, stale, reason, alg, uri)

        if auth_header_value.strip() and not is_digest(auth_header_value):
            return fail("unknown-scheme")   # RFC 4475 §3.3.7: challenged, not refused
        try:
            _, p = parse_auth_header(auth_header_value)
        except AuthHeaderError:
            return fail("malformed")
        username = p.get("username")
        realm, nonce, uri, response = p.get("realm"), p.get("nonce"), p.get("uri"), p.get("response")
        if username is None or realm is None or nonce is None or not uri or not response:
            return fail("malformed", username)
        try:
            alg = normalize_algorithm(p.get("algorithm"))
        except AuthHeaderError:
            return fail("unsupported-algorithm", username, uri=uri)
        if alg not in self.algorithms and _base(alg) not in self.algorithms:
            return fail("unsupported-algorithm", username, uri=uri)
        if realm != self.realm:
            return fail("bad-realm", username, alg=alg, uri=uri)

        qop = p.get("qop")
        nc_s, cnonce = p.get("nc"), p.get("cnonce")
        if qop is not None:
            if qop.lower() != "auth":  # auth-int isn't offered
                return fail("malformed", username, alg=alg, uri=uri)
            if not nc_s or len(nc_s) != 8 or not set(nc_s) <= _NC_HEX or not cnonce:
                return fail("malformed", username, alg=alg, uri=uri)
            if int(nc_s, 16) == 0:
                return fail("malformed", username, alg=alg, uri=uri)
        elif not self.allow_rfc2069:
            return fail("no-qop", username, alg=alg, uri=uri)
        elif alg.endswith("-sess") and not cnonce:
            return fail("malformed", username, alg=alg, uri=uri)
        else:
            nc_s = None  # RFC 2069 has no nonce count

        issued = self.nonce_time(nonce, bound_to)
        if issued is None or issued > now + _FUTURE_SKEW:
            return fail("bad-nonce", username, alg=alg, uri=uri)
        # Refused before the digest is compared, so stale=TRUE says nothing about the
        # password (RFC 7616 §3.3 allows it for any invalid nonce) and nothing is counted.
        if now - issued > self.nonce_ttl:
            return fail("stale-nonce", username, stale=True, alg=alg, uri=uri)
        if qop is not None and nonce not in self._nc_seen and issued <= self._evicted_floor:
            return fail("stale-nonce", username, stale=True, alg=alg, uri=uri)
        return Credentials(username, realm, alg, uri, nonce, issued, response, qop, nc_s, cnonce)

    def check_credentials(self, method: str, creds: Credentials, stored_ha1: str | None,
                          now: float) -> AuthResult:
        """Compare the digest with the account's HA1 (None: no such user)."""
        alg, username, uri = creds.algorithm, creds.username, creds.uri
        known = stored_ha1 is not None
        expected = digest_response(stored_ha1 if known else self._dummy_ha1[_base(alg)],
                                   method, uri, creds.nonce, alg, creds.qop, creds.nc_s,
                                   creds.cnonce)
        # Always run the comparison, and on bytes: compare_digest rejects non-ASCII str.
        match = hmac.compare_digest(expected.encode(),
                                    creds.response.lower().encode("utf-8", "replace"))
        if not known:
            return AuthResult(False, username, False, "no-such-user", alg, uri)
        if not match:
            return AuthResult(False, username, False, "bad-response", alg, uri)
        if creds.qop is not None:
            entry = self._nc_seen.get(creds.nonce)
            if entry is None and creds.issued <= self._evicted_floor:  # evicted meanwhile
                return AuthResult(False, username, True, "stale-nonce", alg, uri)
            if entry is not None and creds.nc <= entry[1]:
                # Could also be a client reordering parallel requests; stale lets it retry cleanly.
                return AuthResult(False, username, True, "replay", alg, uri)
            self._remember_nc(creds.nonce, creds.issued, creds.nc, now)
        return AuthResult(True, username, False, "ok", alg, uri)

    def _remember_nc(self, nonce: str, issued: float, nc: int, now: float) -> None:
        if nonce in self._nc_seen:
            self._nc_seen[nonce] = (issued, nc)
            return
        if len(self._nc_seen) >= self.max_tracked_nonces:
            self.prune(now)
        while len(self._nc_seen) >= self.max_tracked_nonces:
            _, (old_issued, _) = self._nc_seen.popitem(last=False)
            self._evicted_floor = max(self._evicted_floor, old_issued)
        self._nc_seen[nonce] = (issued, nc)

    def prune(self, now: float) -> int:
        """Forget nc history of expired nonces (they fail as stale anyway); returns count."""
        dead = [k for k, (issued, _) in self._nc_seen.items() if now - issued > self.nonce_ttl]
        for k in dead:
            del self._nc_seen[k]
        return len(dead)


# --------------------------------------------------------------------------- client


class DigestClient:
    """Answers digest challenges from upstream trunks/proxies."""

    def __init__(self, random_hex: Callable[[], str] | None = None) -> None:
        self._random_hex = random_hex or (lambda: secrets.token_hex(8))

    @staticmethod
    def choose_challenge(values: Iterable[str]) -> str:
        """Pick the strongest supported Digest challenge among several headers."""
        best: tuple[int, str] | None = None
        rank = {"SHA-256": 0, "SHA-256-sess": 1, "MD5": 2, "MD5-sess": 3}
        for v in values:
            try:
                scheme, p = parse_auth_header(v)
                alg = normalize_algorithm(p.get("algorithm"))
            except AuthHeaderError:
                continue
            if scheme.lower() != "digest":
                continue
            if best is None or rank[alg] < best[0]:
                best = (rank[alg], v)
        if best is None:
            raise AuthHeaderError("no supported Digest challenge")
        return best[1]

    def build_authorization(self, challenge_header_value: str, method: str, uri: str,
                            username: str, password: str, cnonce: str | None = None,
                            nc: int = 1) -> str:
        """Authorization / Proxy-Authorization value answering one challenge."""
        scheme, p = parse_auth_header(challenge_header_value)
        if scheme.lower() != "digest":
            raise AuthHeaderError(f"unsupported auth scheme {scheme!r}")
        realm, nonce = p.get("realm"), p.get("nonce")
        if realm is None or nonce is None:
            raise AuthHeaderError("challenge lacks realm or nonce")
        alg = normalize_algorithm(p.get("algorithm"))
        qop = None
        if "qop" in p:
            options = [o.strip().lower() for o in p["qop"].split(",")]
            if "auth" not in options:
                raise AuthHeaderError(f"unsupported qop {p['qop']!r}")  # auth-int only
            qop = "auth"
        if (qop or alg.endswith("-sess")) and cnonce is None:
            cnonce = self._random_hex()
        nc_s = f"{nc:08x}" if qop else None
        response = digest_response(ha1(username, realm, password, alg), method, uri, nonce,
                                   alg, qop, nc_s, cnonce)
        parts = [f"username={quote(username)}", f"realm={quote(realm)}",
                 f"nonce={quote(nonce)}", f"uri={quote(uri)}", f"response={quote(response)}"]
        if "algorithm" in p:  # echo only if the server named one, for RFC 2069-era servers
            parts.append(f"algorithm={alg}")
        if cnonce is not None and (qop or alg.endswith("-sess")):
            parts.append(f"cnonce={quote(cnonce)}")
        if "opaque" in p:
            parts.append(f"opaque={quote(p['opaque'])}")
        if qop:
            parts.append(f"qop={qop}")
            parts.append(f"nc={nc_s}")
        return "Digest " + ", ".join(parts)
