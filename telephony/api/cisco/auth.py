"""HTTP Basic for /api/v1 (§3.2: "a shared secret username and password"), against our API
users. Only administrators (`telephony user add --admin`) may use it: the dialect
provisions the whole system (dial plans, trunks, CDR receivers), not one user's objects.

Guessing is limited by the same LoginGuard as Q-loud logins (per account from all
addresses, per address and account), so the two doors share one budget. Basic sends the
password with every request and scrypt costs ~50 ms, so a good check is remembered for
REMEMBER seconds (as a keyed hash of user, stored hash and password; a new password
misses it) and a provisioning script does not pay scrypt per request.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from starlette.requests import Request

from ..credentials import TooManyChecks, account_key, password_matches
from .errors import CiscoError

if TYPE_CHECKING:
    from ...store.db import User
    from ..login_guard import LoginGuard
    from ..services import ApiServices

REALM = 'telephony'
REMEMBER = 60.0      # seconds a good password check is reused
REMEMBERED_MAX = 1000
NAME_MAX = 128       # characters of a username that count; longer names are never ours
RETRY_AFTER = '60'   # the guard blocks for a minute


def unauthorized() -> CiscoError:
    return CiscoError(401, headers={'WWW-Authenticate': f'Basic realm="{REALM}", charset="UTF-8"'})


def credentials(request: Request) -> tuple[str, str]:
    """(username, password) from `Authorization: Basic ...`; 401 if absent or malformed."""
    scheme, _, token = request.headers.get('authorization', '').partition(' ')
    if scheme.lower() != 'basic':
        raise unauthorized()
    try:
        name, colon, password = base64.b64decode(token.strip(), validate=True).decode() \
            .partition(':')
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise unauthorized() from None
    if not colon or not name:
        raise unauthorized()
    return name[:NAME_MAX], password


class BasicAuth:
    def __init__(self, server: 'ApiServices', guard: 'LoginGuard'):
        self.server = server
        self.guard = guard
        self._key = secrets.token_bytes(32)
        self._good: OrderedDict[bytes, float] = OrderedDict()

    def _token(self, user: 'User', password: str) -> bytes:
        return hmac.new(self._key, '\0'.join((user.uuid, user.password_hash, password)).encode(),
                        hashlib.sha256).digest()

    def _remembered(self, user: 'User | None', password: str, now: float) -> bool:
        if user is None:
            return False
        until = self._good.get(self._token(user, password))
        return until is not None and until > now

    def _remember(self, user: 'User', password: str, now: float) -> None:
        token = self._token(user, password)
        self._good[token] = now + REMEMBER
        self._good.move_to_end(token)
        while len(self._good) > REMEMBERED_MAX:
            self._good.popitem(last=False)

    async def user(self, request: Request) -> 'User':
        """The administrator the request authenticates as; else 401 (no or wrong
        credentials), 403 (not an administrator), 429 (guessing blocked) or 503 (too many
        password checks at once)."""
        name, password = credentials(request)
        user = await self.server.db.user_by(username=name)
        account = account_key(user, name)
        ip = request.client.host if request.client else '-'
        now = time.monotonic()
        if not self.guard.allowed(account, ip, now):
            raise CiscoError(429, headers={'Retry-After': RETRY_AFTER})
        good = self._remembered(user, password, now)
        if not good:
            try:
                good = await password_matches(self.guard, user, password)
            except TooManyChecks:
                raise CiscoError(503, headers={'Retry-After': '1'}) from None
        if user is None or not good:
            self.guard.failure(account, ip, now)
            raise unauthorized()
        self.guard.success(account, ip)
        self._remember(user, password, now)
        if not user.admin:
            raise CiscoError(403)
        return user
