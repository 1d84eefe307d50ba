"""Guess limiters shared by everything that checks a secret (SIP digests, API logins, PINs
and passcodes): a per-key failure window (`RateLimiter`, e.g. per source address) and a
per-target guess budget with its good sources (`AccountLimiter`). Sans-IO: times are
arguments, memory is bounded."""

from __future__ import annotations

from collections import OrderedDict, deque

__all__ = ["AccountLimiter", "RateLimiter"]


class RateLimiter:
    """Per-key (source IP) auth-failure limiter.

    Sliding window: each key keeps the times of its last `max_failures` failures;
    when all of them fall within `window` seconds the key is blocked for
    `block_for` seconds.  Chosen over a token bucket because it is exact for
    "N failures per window" and needs only max_failures floats per key.
    Memory is bounded by `max_keys`: idle entries are pruned first, then the
    least recently active ones (which only ever loosens the limit, never wrongly
    blocks).
    """

    def __init__(self, max_failures: int = 5, window: float = 60.0, block_for: float = 60.0,
                 max_keys: int = 10000) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be >= 1")
        self.max_failures = max_failures
        self.window = window
        self.block_for = block_for
        self.max_keys = max_keys
        # key -> (recent failure times, blocked-until); order = least recently active first.
        self._entries: OrderedDict[str, tuple[deque[float], float]] = OrderedDict()

    def failure(self, key: str, now: float) -> bool:
        """Record a failed attempt; returns True if the key is now blocked."""
        entry = self._entries.get(key)
        if entry is None:
            self._make_room(now)
            entry = (deque(maxlen=self.max_failures), float("-inf"))
        times, until = entry
        times.append(now)
        if len(times) == self.max_failures and now - times[0] <= self.window:
            until = now + self.block_for
            times.clear()  # the block itself is the penalty; start counting afresh after it
        self._entries[key] = (times, until)
        self._entries.move_to_end(key)
        return now < until

    def blocked(self, key: str, now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and now < entry[1]

    def blocked_until(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return entry[1] if entry is not None and entry[1] != float("-inf") else None

    def success(self, key: str) -> None:
        """Forget earlier failures (a phone that fixed its password), but keep an active block."""
        entry = self._entries.get(key)
        if entry is not None:
            entry[0].clear()

    def prune(self, now: float) -> int:
        """Drop keys with no recent failures and no active block; returns count."""
        dead = [k for k, (times, until) in self._entries.items()
                if now >= until and (not times or now - times[-1] > self.window)]
        for k in dead:
            del self._entries[k]
        return len(dead)

    def __len__(self) -> int:
        return len(self._entries)

    def _make_room(self, now: float) -> None:
        if len(self._entries) < self.max_keys:
            return
        self.prune(now)
        # Evict down to 90% so a flood doesn't rescan the whole table on every insert.
        while len(self._entries) >= self.max_keys * 0.9 and self._entries:
            self._entries.popitem(last=False)


class AccountLimiter:
    """Per-account guess budget shared by all source addresses, and the addresses each
    account authenticated from before ("good sources").  Sans-IO: times are arguments.

    A token bucket per account: `max_failures` guesses at once, refilled at
    max_failures per `window` seconds, so however many addresses take part, an account
    gets about max_failures wrong answers a minute (defaults: 10 at once, then one every
    6 s).  A guess takes its token *before* the password is checked (the caller awaits
    the account lookup in between), so concurrent guesses cannot all slip past an almost
    empty bucket; a correct answer gives the token back.  While the bucket is empty only
    good sources are heard, so a distributed guesser cannot keep the real phone out.

    Memory is bounded by `max_keys` per table.  A budget is evicted only once it is full
    again: evicting a spent one would hand a guesser a fresh budget for the price of a
    flood of other usernames.  Accounts that do not fit share one overflow budget.  Good
    sources go least recently used first: forgetting one only costs a phone its exemption.
    """

    BUDGET = "budget"  # attempt() took a token: give it back with success(refund=True)
    GOOD = "good"      # no token left, heard anyway because the source is a good one

    def __init__(self, max_failures: int = 10, window: float = 60.0, max_keys: int = 10000,
                 good_per_key: int = 4) -> None:
        if max_failures < 1 or window <= 0:
            raise ValueError("max_failures must be >= 1 and window > 0")
        self.capacity = float(max_failures)
        self.rate = max_failures / window
        self.max_keys = max_keys
        self.good_per_key = good_per_key
        # key -> (tokens, at); least recently spent first
        self._budgets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._overflow = (self.capacity, float("-inf"))
        self._good: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    def _level(self, entry: tuple[float, float], now: float) -> float:
        tokens, at = entry
        return min(self.capacity, tokens + (now - at) * self.rate)

    def _slot(self, key: str, now: float) -> str | None:
        """Where key's budget lives: its own entry, or None for the shared overflow."""
        if key in self._budgets:
            return key
        while len(self._budgets) >= self.max_keys:
            head = next(iter(self._budgets))
            if self._level(self._budgets[head], now) < self.capacity:
                return None
            del self._budgets[head]
        return key

    def _get(self, slot: str | None, now: float) -> float:
        if slot is None:
            return self._level(self._overflow, now)
        entry = self._budgets.get(slot)
        return self.capacity if entry is None else self._level(entry, now)

    def _put(self, slot: str | None, level: float, now: float) -> None:
        if slot is None:
            self._overflow = (level, now)
            return
        self._budgets[slot] = (level, now)
        self._budgets.move_to_end(slot)

    def attempt(self, key: str, source: str, now: float) -> str | None:
        """May a guess from `source` against `key` be checked?  BUDGET (a token was taken),
        GOOD (none left, but `source` authenticated for `key` before), or None: refuse
        it without looking at the digest."""
        slot = self._slot(key, now)
        level = self._get(slot, now)
        if level >= 1.0:
            self._put(slot, level - 1.0, now)
            return self.BUDGET
        return self.GOOD if self.is_good(key, source) else None

    def success(self, key: str, source: str, now: float, refund: bool) -> None:
        """`source` answered correctly: remember it, and return the token if one was taken."""
        if refund:
            slot = self._slot(key, now)
            self._put(slot, min(self.capacity, self._get(slot, now) + 1.0), now)
        good = tuple(s for s in self._good.pop(key, ()) if s != source) + (source,)
        self._good[key] = good[-self.good_per_key:]
        while len(self._good) > self.max_keys:
            self._good.popitem(last=False)

    def is_good(self, key: str, source: str) -> bool:
        return source in self._good.get(key, ())

    def __len__(self) -> int:
        return len(self._budgets)
