"""Limits on API password guessing (POST /api/session), sans-IO: callers pass the time.

Failures are counted per account, whatever the source address (a botnet of many
addresses gets about ACCOUNT_FAILURES guesses a minute at one account), and per
address and account (one address gets PAIR_FAILURES). No count is per address alone,
so one user's typos or an attacker behind a shared NAT address never lock the other
users of that address out. While an account is blocked, the addresses it logged in
from before still get in with the right password: a flood of wrong guesses cannot
lock the real user out.
"""
from __future__ import annotations

from collections import OrderedDict

from ..limiters import RateLimiter

ACCOUNT_FAILURES = 10   # per WINDOW, from all addresses together
PAIR_FAILURES = 5       # per WINDOW, from one address at one account
WINDOW = 60.0
BLOCK_FOR = 60.0
KNOWN_MAX = 10000       # (account, address) pairs remembered after a good login
CHECKING_MAX = 32       # password checks running or waiting; more logins: resource-throttle


class LoginGuard:
    def __init__(self) -> None:
        self.accounts = RateLimiter(ACCOUNT_FAILURES, WINDOW, BLOCK_FOR)
        self.pairs = RateLimiter(PAIR_FAILURES, WINDOW, BLOCK_FOR)
        self.known: OrderedDict[tuple[str, str], None] = OrderedDict()
        # scrypt costs ~50 ms and 16 MB: a flood of logins (any names) must wait in a short
        # line, not a line as long as the flood
        self.checking = 0

    def allowed(self, account: str, address: str, now: float) -> bool:
        """May this address try a password for this account now?"""
        if self.pairs.blocked(f'{address} {account}', now):
            return False
        return not self.accounts.blocked(account, now) or (account, address) in self.known

    def failure(self, account: str, address: str, now: float) -> None:
        self.accounts.failure(account, now)
        self.pairs.failure(f'{address} {account}', now)

    def success(self, account: str, address: str) -> None:
        self.pairs.success(f'{address} {account}')
        self.known[(account, address)] = None
        self.known.move_to_end((account, address))
        while len(self.known) > KNOWN_MAX:
            self.known.popitem(last=False)
