"""Q-loud hot billing (§9.1.6 /credit and /zonefilter): what a minute to a number costs, and
when the calls up now are charged next.

A zone filter is "an array of up to 250 rules, each of which have a description, a number of
prefixes [...] and a cost (in credits per minute)". The longest matching prefix wins; of two
entries with the same prefix the first listed wins (decisions.md); "" matches every number;
"If a destination number does not match any of the entires, a cost value of 0 is assumed".

Charging is write-ahead: the first interval is charged when the call is answered, the next
one when it begins, so a crash never gives free minutes.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Any, Hashable

MAX_ZONES = 250           # "exceeds the limit of 250 entries" (`too-large`)
MAX_PREFIXES = 100        # prefixes of one entry (ours: bounded cost)
MAX_COST = 10**9          # credits per minute of one entry
MAX_DESCRIPTION = 200
PREFIX = re.compile(r'\+?[0-9*#]{0,32}')   # "" (everything), "+49", "0049", ...


class ZoneFilterError(ValueError):
    """The stored or POSTed zone filter is not one; `too_large` for the 250 entries."""

    def __init__(self, message: str, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class Zone:
    description: str
    prefixes: tuple[str, ...]
    cost: int                 # credits per minute (per credit interval)

    @classmethod
    def from_json(cls, d: Any) -> 'Zone':
        if not isinstance(d, dict):
            raise ZoneFilterError('zonefilter: each entry is an object')
        description = d.get('description', '')
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            raise ZoneFilterError(f'description: a string of at most {MAX_DESCRIPTION} characters')
        prefixes = d.get('prefix')
        if not isinstance(prefixes, list) or not prefixes or len(prefixes) > MAX_PREFIXES:
            raise ZoneFilterError(f'prefix: a list of 1 to {MAX_PREFIXES} prefixes')
        for p in prefixes:
            if not isinstance(p, str) or not PREFIX.fullmatch(p):
                raise ZoneFilterError(f'prefix: {p!r} is not a number prefix')
        cost = d.get('cost')
        if isinstance(cost, bool) or not isinstance(cost, int) or not 0 <= cost <= MAX_COST:
            raise ZoneFilterError(f'cost: an integer from 0 to {MAX_COST}')
        return cls(description, tuple(prefixes), cost)


@dataclass(frozen=True)
class ZoneFilter:
    zones: tuple[Zone, ...]

    @classmethod
    def from_json(cls, d: Any) -> 'ZoneFilter':
        """The value of `zonefilter` as POSTed (a list of entries)."""
        if not isinstance(d, list):
            raise ZoneFilterError('zonefilter: a list of entries')
        if len(d) > MAX_ZONES:
            raise ZoneFilterError(f'zonefilter: at most {MAX_ZONES} entries', too_large=True)
        return cls(tuple(Zone.from_json(z) for z in d))

    def zone_of(self, number: str) -> Zone | None:
        """The entry with the longest prefix of `number`; the first listed of equal ones."""
        best: Zone | None = None
        best_len = -1
        for zone in self.zones:
            for p in zone.prefixes:
                if len(p) > best_len and number.startswith(p):
                    best, best_len = zone, len(p)
        return best

    def cost(self, number: str) -> int:
        """Credits per minute of a call to `number`; 0 when no entry matches."""
        zone = self.zone_of(number)
        return 0 if zone is None else zone.cost


def affordable(credit: int | None, cost: int) -> bool:
    """May a call costing `cost` a minute start? No credit configured is no limit; a call
    needs its first minute covered (it is charged when answered)."""
    return credit is None or cost <= credit


def next_charge(answered: float, interval: float, charged: int) -> float:
    """When the charge after `charged` ones is due: interval k starts at answered + k *
    interval, and is paid as it starts."""
    return answered + charged * interval


class ChargeQueue:
    """The next charge time of every metered call, earliest first: one timer for all calls
    (the shell arms it for `next_time()`). A key added again moves; a discarded one is
    skipped when it comes up."""

    def __init__(self):
        self._heap: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, tuple[float, int]] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._due

    def add(self, key: Hashable, due: float) -> None:
        self._seq += 1
        self._due[key] = (due, self._seq)
        heapq.heappush(self._heap, (due, self._seq, key))

    def discard(self, key: Hashable) -> None:
        self._due.pop(key, None)

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][:2]:
            heapq.heappop(self._heap)

    def next_time(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[Hashable]:
        """The keys whose time has come (removed), earliest first."""
        out = []
        self._drop_stale()
        while self._heap and self._heap[0][0] <= now:
            _, _, key = heapq.heappop(self._heap)
            del self._due[key]
            out.append(key)
            self._drop_stale()
        return out
