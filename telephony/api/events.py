"""API sessions and their event streams (Q-loud §2, §3.27, §6).

Every session has a bounded queue of events with contiguous ids from 0. When
a client falls behind, the oldest events are dropped and the gap in ids shows
it. Publishing is synchronous and never waits: a slow client cannot hold up a
call's signalling.
"""
from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import filters

QUEUE_LIMIT = 1000
SESSION_IDLE = 24 * 3600.0   # an unused session expires after a day


@dataclass
class Session:
    sid: str
    did: str
    user: str | None = None           # user uuid once authenticated
    created: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    filter: dict | None = None
    call_events: bool = False         # GET /api/call/event switches call events on
    next_id: int = 0
    events: deque = field(default_factory=lambda: deque(maxlen=QUEUE_LIMIT))
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, event: dict) -> None:
        if self.filter is not None:
            try:
                if not filters.matches(self.filter, event):
                    return
            except filters.FilterError as exc:
                event = {**event, 'filter_error': str(exc)}
        event = {**event, 'id': self.next_id}
        self.next_id += 1
        self.events.append(event)
        self._wakeup.set()

    def pending(self, next_id: int) -> list[dict]:
        return [e for e in self.events if e['id'] >= next_id]

    async def wait(self, next_id: int, timeout: float) -> list[dict]:
        """Events with id >= next_id, waiting up to timeout seconds for the first one."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = self.pending(next_id)
            if found or timeout <= 0:
                return found
            self._wakeup.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except asyncio.TimeoutError:
                return self.pending(next_id)


class SessionStore:
    def __init__(self):
        self.by_sid: dict[str, Session] = {}
        self.by_did: dict[str, Session] = {}
        self.by_user: dict[str, set[str]] = {}   # user uuid -> sids, so publish is O(own sessions)

    def create(self) -> Session:
        s = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        self.by_sid[s.sid] = s
        self.by_did[s.did] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        s = self.by_sid.get(sid or '')
        if s is not None:
            s.last_used = time.monotonic()
        return s

    def authenticate(self, s: Session, user: str) -> None:
        s.user = user
        self.by_user.setdefault(user, set()).add(s.sid)

    def delete(self, s: Session) -> None:
        self.by_sid.pop(s.sid, None)
        self.by_did.pop(s.did, None)
        if s.user is not None:
            sids = self.by_user.get(s.user, set())
            sids.discard(s.sid)
            if not sids:
                self.by_user.pop(s.user, None)

    def sweep(self) -> int:
        cutoff = time.monotonic() - SESSION_IDLE
        old = [s for s in self.by_sid.values() if s.last_used < cutoff]
        for s in old:
            self.delete(s)
        return len(old)

    def listening(self, user: str) -> bool:
        """Does any session of the user take call events (is a call API client there)?"""
        return any(self.by_sid[sid].call_events for sid in self.by_user.get(user, ()))

    def publish(self, user: str | None, name: str, fields: dict[str, Any], call: bool = False) -> None:
        """Deliver an event to every session of `user` (call events only where switched on)."""
        if user is None:
            return
        event = {'event': name, 'time': int(time.time()), **fields}
        for sid in list(self.by_user.get(user, ())):
            s = self.by_sid[sid]
            if not call or s.call_events:
                s.push(event)
