"""Checking an API user's password, for every door that takes one (Q-loud logins, Cisco
HTTP Basic): scrypt on a thread of its own, at most CHECKING_MAX checks running or waiting.
A flood of logins with random names (no per-account limit applies to names never seen)
must wait in a short line, not queue scrypt in front of the prompt and recording loads
that calls run on the default executor."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..store.passwords import DUMMY_HASH, verify_password
from .login_guard import CHECKING_MAX

if TYPE_CHECKING:
    from ..store.db import User
    from .login_guard import LoginGuard

_PASSWORDS = ThreadPoolExecutor(max_workers=1, thread_name_prefix='password-check')


class TooManyChecks(Exception):
    """CHECKING_MAX checks are running or waiting already."""


def account_key(user: 'User | None', name: str) -> str:
    """One key per account however it is named; unknown names are counted under the name,
    so answers do not tell whether a name exists."""
    return user.uuid if user else f'?{name.lower()}'


async def password_matches(guard: 'LoginGuard', user: 'User | None', password: str) -> bool:
    """Runs scrypt for unknown users too (against a dummy hash), so timing tells nothing."""
    if guard.checking >= CHECKING_MAX:
        raise TooManyChecks
    guard.checking += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(
            _PASSWORDS, verify_password, password, user.password_hash if user else DUMMY_HASH)
    finally:
        guard.checking -= 1
