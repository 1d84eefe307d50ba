"""Outgoing faxes waiting for a line (issue 11 §3): which job may dial now.

At most `at_once` fax calls run at once; the rest wait in the order they were sent, at
most `limit` of them.  Each owner has a share (issue 11 review): at most `owner_at_once`
of their calls run at once (a later owner's job overtakes theirs) and at most
`owner_limit` of their jobs wait, so one user's sends to a number that never answers
cannot hold every line or fill the queue.  A job submitted without an owner has no share.  A busy destination's job waits for its retry time, then queues
again at the end.  One job's way through (a table, like faxreport's):

    (none) -submit-> pending -take-> running -finished-> (none) -wait-> waiting
    waiting -due-> pending;  pending|waiting -drop-> (none)  (cancelled)

Pure: the times are passed in (the shell's loop.time()); the shell starts what `take()`
gives and keeps ONE timer for `next_due()`.
"""
from __future__ import annotations

import heapq
from collections import Counter, deque

PENDING, RUNNING, WAITING = 'pending', 'running', 'waiting'


class FaxQueueError(Exception):
    """A change the job's state does not have (a bug in the shell, never the user's)."""


class QueueFull(FaxQueueError):
    """`limit` jobs wait already: the send is refused."""


class FaxQueue:
    def __init__(self, at_once: int, limit: int, *, owner_at_once: int = 0,
                 owner_limit: int = 0) -> None:
        """`owner_at_once` / `owner_limit` 0: no share (the global caps only)."""
        self.at_once = max(1, at_once)
        self.limit = max(0, limit)
        self.owner_at_once = max(0, owner_at_once)
        self.owner_limit = max(0, owner_limit)
        self._owner: dict[str, str] = {}          # key -> owner, while the job is known
        self._owner_running: Counter[str] = Counter()
        self._owner_queued: Counter[str] = Counter()   # pending + waiting
        self._state: dict[str, str] = {}
        self._pending: deque[str] = deque()
        self._running: set[str] = set()
        self._waiting: list[tuple[float, int, str]] = []   # (due, order, key); dropped lazily
        self._due: dict[str, int] = {}    # waiting key -> the order of its live heap entry
        self._order = 0

    def state(self, key: str) -> str | None:
        return self._state.get(key)

    def __len__(self) -> int:
        return len(self._state)

    def _expect(self, key: str, *states: str | None) -> None:
        now = self._state.get(key)
        if now not in states:
            raise FaxQueueError(f'fax job {key}: {now or "none"}, not {" or ".join(map(str, states))}')

    def submit(self, key: str, owner: str | None = None) -> None:
        """A new job: it dials when a line is free; QueueFull when `limit` already wait, or
        `owner_limit` of the owner's."""
        self._expect(key, None)
        if len(self._pending) + len(self._due) >= self.limit:
            raise QueueFull(f'{self.limit} faxes wait already')
        if owner is not None and self.owner_limit and \
                self._owner_queued[owner] >= self.owner_limit:
            raise QueueFull(f'{self.owner_limit} of this user\'s faxes wait already')
        if owner is not None:
            self._owner[key] = owner
        self._queued(key, +1)
        self._state[key] = PENDING
        self._pending.append(key)

    def _queued(self, key: str, n: int) -> None:
        owner = self._owner.get(key)
        if owner is not None:
            self._owner_queued[owner] += n
            if self._owner_queued[owner] <= 0:
                del self._owner_queued[owner]

    def _may_run(self, key: str) -> bool:
        owner = self._owner.get(key)
        return owner is None or not self.owner_at_once or \
            self._owner_running[owner] < self.owner_at_once

    def take(self) -> list[str]:
        """The jobs to start now (pending -> running), oldest first; a job whose owner has
        their share of lines running stays pending, in its place."""
        out: list[str] = []
        if not self._pending or len(self._running) >= self.at_once:
            return out
        kept: deque[str] = deque()
        while self._pending:
            key = self._pending.popleft()
            if len(self._running) >= self.at_once or not self._may_run(key):
                kept.append(key)
                continue
            self._queued(key, -1)
            self._state[key] = RUNNING
            self._running.add(key)
            if key in self._owner:
                self._owner_running[self._owner[key]] += 1
            out.append(key)
        self._pending = kept
        return out

    def finished(self, key: str) -> None:
        """A job's call ended: its line is free."""
        self._expect(key, RUNNING)
        self._running.discard(key)
        del self._state[key]
        owner = self._owner.pop(key, None)
        if owner is not None:
            self._owner_running[owner] -= 1
            if self._owner_running[owner] <= 0:
                del self._owner_running[owner]

    def wait(self, key: str, due: float, owner: str | None = None) -> None:
        """A finished job dials again at `due` (a busy destination's retry); a retry counts
        as one of its owner's waiting jobs even beyond `owner_limit` (it was let in)."""
        self._expect(key, None)
        if owner is not None:
            self._owner[key] = owner
        self._queued(key, +1)
        self._state[key] = WAITING
        self._order += 1
        self._due[key] = self._order
        heapq.heappush(self._waiting, (due, self._order, key))

    def next_due(self) -> float | None:
        """When the next waiting job is due (None: none waits): the shell's one timer."""
        self._prune()
        return self._waiting[0][0] if self._waiting else None

    def due(self, now: float) -> list[str]:
        """The waiting jobs due by `now`, queued again (waiting -> pending), in due order."""
        out = []
        self._prune()
        while self._waiting and self._waiting[0][0] <= now:
            _, _, key = heapq.heappop(self._waiting)
            del self._due[key]
            self._state[key] = PENDING
            self._pending.append(key)
            out.append(key)
            self._prune()
        return out

    def drop(self, key: str) -> str | None:
        """Cancel a job: a pending or waiting one is gone; a running one stays until its call
        has ended (`finished`).  Returns the state it was in."""
        state = self._state.get(key)
        if state == PENDING:
            self._pending.remove(key)
            del self._state[key]
        elif state == WAITING:
            del self._due[key], self._state[key]   # its heap entry is skipped later
        if state in (PENDING, WAITING):
            self._queued(key, -1)
            self._owner.pop(key, None)
        return state

    def _prune(self) -> None:
        w = self._waiting
        while w and self._due.get(w[0][2]) != w[0][1]:
            heapq.heappop(w)
