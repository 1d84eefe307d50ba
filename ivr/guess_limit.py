"""Guessing limits on PINs, passcodes and call IDs across calls (pure; times are arguments).

A call allows `conference_pin_tries` wrong entries; a guesser simply redials. So, as for SIP
digests (telephony/sip/access.py), guesses are limited twice, with the same classes:

- **per source** (`RateLimiter`): `failures` wrong entries within `window` seconds from
  one source block it for `block` seconds, whatever it guesses at.
- **per target** (`AccountLimiter`: the owner whose conference PINs are tried, a coSpace's
  passcodes, an IVR's call IDs): a budget of `target_guesses` wrong entries per
  `target_window`, refilled steadily. Once it is spent, a source that has already failed
  against that target within the window is refused unheard; a source that joined it before
  (a good source) and a source that has not failed there yet are still heard. So a stranger
  who spends the budget cannot keep out the callers who know the PIN (each comes from its
  own address and keys it right the first time), while a guesser needs a new address for
  every further guess.

`attempt()` answers before the entry is checked, and takes the budget's token first (the
lookup is awaited in between, so concurrent guesses cannot all pass an almost spent budget);
`right()` gives it back. What a source is: its IP address (an IPv6 address's /64, which one
host gets); for a call from a trunk, the trunk and the caller's number (every caller of a
trunk comes from its address; the trunk vouches for the number), so one guesser behind a
trunk does not lock out the trunk's other callers.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from telephony.limiters import AccountLimiter, RateLimiter

TRUNK_SHARE = 5   # a trunk's callers together may fail this many times one source's share


@dataclass(frozen=True)
class Ticket:
    """An entry that may be checked: where it came from, what it guesses at, and whether it
    took a token of the target's budget."""
    target: str
    source: str
    token: bool


def source_key(ip: str, trunk: str | None = None, caller: str = '') -> str:
    """Whom guesses are counted against (see the module's text)."""
    if trunk is not None:
        return f'trunk {trunk} {caller[:64] or "anonymous"}'
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if addr.version == 4:
        return str(addr)
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(ipaddress.ip_network(f'{addr}/64', strict=False))


class GuessGuard:
    def __init__(self, failures: int = 10, window: float = 600.0, block: float = 600.0,
                 target_guesses: int = 30, target_window: float = 600.0,
                 max_keys: int = 10000) -> None:
        self.sources = RateLimiter(failures, window, block, max_keys)
        # every caller of one trunk together (their numbers are the trunk's word only)
        self.trunks = RateLimiter(failures * TRUNK_SHARE, window, block, max_keys)
        self.targets = AccountLimiter(target_guesses, target_window, max_keys)
        # (target, source) pairs that failed within the target window: one failure marks one
        self.failed = RateLimiter(1, target_window, target_window, max_keys)

    def attempt(self, target: str, source: str, now: float) -> Ticket | None:
        """May this entry be checked? A Ticket, or None: refuse it without looking at it."""
        if self.sources.blocked(source, now) or self.trunks.blocked(_trunk(source), now):
            return None
        verdict = self.targets.attempt(target, source, now)
        if verdict is None and self.failed.blocked(_pair(target, source), now):
            return None
        return Ticket(target, source, verdict == AccountLimiter.BUDGET)

    def wrong(self, ticket: Ticket, now: float) -> None:
        self.sources.failure(ticket.source, now)
        if _trunk(ticket.source):
            self.trunks.failure(_trunk(ticket.source), now)
        self.failed.failure(_pair(ticket.target, ticket.source), now)

    def right(self, ticket: Ticket, now: float) -> None:
        """The entry led somewhere: its source is a good one, its token goes back. Its wrong
        entries still count: knowing one PIN of a target must not buy unlimited guesses at
        its others."""
        self.targets.success(ticket.target, ticket.source, now, refund=ticket.token)

    def __len__(self) -> int:
        return len(self.sources) + len(self.trunks) + len(self.targets) + len(self.failed)


def _trunk(source: str) -> str:
    """The trunk a trunk caller's source key names ('' for an address)."""
    return ' '.join(source.split(' ', 2)[:2]) if source.startswith('trunk ') else ''


def _pair(target: str, source: str) -> str:
    return f'{target} {source}'
