"""Password hashing for API users: scrypt from the standard library, salted per user."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P = 2 ** 14, 8, 1


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip('=')


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f'scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}'


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split('$')
        if scheme != 'scrypt':
            return False
        expected = base64.urlsafe_b64decode(digest + '==')
        got = hashlib.scrypt(password.encode(), salt=base64.urlsafe_b64decode(salt + '=='),
                             n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# A hash of nothing, checked when the user does not exist, so a login takes as long either way.
DUMMY_HASH = hash_password(secrets.token_hex(8))
