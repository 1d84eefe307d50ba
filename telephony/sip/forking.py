"""Which final answer a forked call gives when every branch failed (RFC 3261 §16.7 step 6),
sans-IO: the statuses in, the one to act on out.

A 6xx wins (and ends the fork at once, step 5: "the stateful proxy SHOULD cancel all client
pending transactions"); otherwise the lowest class; within it the answers that tell the
caller how to try again (401, 407, 415, 420, 484), then busy (486, 600: busy beats no
answer), then the earlier branch, and last the answers that only say nobody answered
(480, 408) or that we cancelled (487). A branch with no final answer (timer B) is a 408.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

NO_ANSWER = 408      # §16.7: no final response at all is a 408 (Request Timeout)
_FIRST = (401, 407, 415, 420, 484, 486, 600)   # in this order of preference
_LAST = (480, 408, 487)                          # the least telling, in this order too


def ends_fork(status: int | None) -> bool:
    """A global failure (6xx): the other branches are cancelled, the call fails with it."""
    return status is not None and status >= 600


def best_response(statuses: Iterable[int | None]) -> int:
    """The final status a failed fork answers with; `None` is a branch that never got one."""
    finals = _finals(statuses)
    return finals[best_branch(finals)] if finals else NO_ANSWER


def best_branch(statuses: Sequence[int | None]) -> int:
    """The index of the branch whose failure the fork answers with (statuses in branch
    order, at least one; a 1xx or 2xx is not a failure and is never chosen)."""
    finals = _finals(statuses)
    failed = [s for s in finals if s >= 300] or finals
    global_failures = [s for s in failed if s >= 600]
    if global_failures:
        pool = global_failures
    else:
        lowest = min(s // 100 for s in failed)
        pool = [s for s in failed if s // 100 == lowest]
    return finals.index(min(pool, key=_rank_of(finals)))


def _finals(statuses: Iterable[int | None]) -> list[int]:
    return [NO_ANSWER if s is None else s for s in statuses]


def _rank_of(arrived: list[int]):
    """Sort key: preferred statuses first, then branch order, the uninformative ones last."""
    def rank(status: int) -> tuple[int, int]:
        if status in _FIRST:
            return (0, _FIRST.index(status))
        if status in _LAST:
            return (2, _LAST.index(status))
        return (1, arrived.index(status))
    return rank
