"""API sessions and their event streams (Q-loud §2, §3.27, §6).

Every session has a bounded queue of events with contiguous ids from 0. When
a client falls behind, the oldest events are dropped and the gap in ids shows
it. Publishing is synchronous and never waits: a slow client cannot hold up a
call's signalling.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from . import filters

log = logging.getLogger('telephony.api')

QUEUE_LIMIT = 1000
MAX_TOPICS = 1000        # detail subscriptions (conferences) one session may hold
ANONYMOUS_IDLE = 300.0   # seconds: a session nobody logged in on only waits for a login


class TooManySessions(Exception):
    """The cap on sessions nobody has logged in on is reached (`resource-throttle`)."""


@dataclass
class Session:
    sid: str
    did: str
    user: str | None = None           # user uuid once authenticated
    origin: str | None = None         # Origin of the request that created it (§2 wrong-origin)
    created: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    born: float = field(default_factory=time.monotonic)   # on the store's clock
    filter: Callable[[dict], bool] | None = None   # a compiled filters.compile() tree
    call_events: bool = False         # GET /api/call/event switches call events on
    partner: bool = False             # authenticated with partner + key (Q-loud §3.1, §9)
    streams: dict = field(default_factory=dict)   # elected streams ('cdr') -> expiry, store clock
    topics: set = field(default_factory=set)      # detail subscriptions: conference uuids
    next_id: int = 0
    events: deque = field(default_factory=lambda: deque(maxlen=QUEUE_LIMIT))
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, event: dict) -> None:
        if self.filter is not None:
            try:
                if not self.filter(event):
                    return
            except filters.FilterError as exc:
                event = {**event, 'filter_error': str(exc)}
        event = {**event, 'id': self.next_id}
        self.next_id += 1
        self.events.append(event)
        self._wakeup.set()

    def origin_ok(self, origin: str | None) -> bool:
        """§2: a request whose Origin differs from the session's is `wrong-origin`. A request
        without one (curl, a server, a browser's same-origin GET) cannot be told apart and
        passes; a session created without an Origin is bound to the first one it sees."""
        if origin is None:
            return True
        if self.origin is None:
            self.origin = origin
        return origin == self.origin

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
    """Sessions by sid, did and user. An unused session expires after `idle` seconds (one
    nobody logged in on after ANONYMOUS_IDLE at most); at most `max_anonymous` of those
    exist at once. The clock is handed in, so expiry is tested without waiting."""

    def __init__(self, idle: float = 3600.0, max_anonymous: int = 10000,
                 clock: Callable[[], float] = time.monotonic, max_per_user: int = 100):
        self.idle = idle
        self.max_anonymous = max_anonymous
        # every event of a user is copied into each of its sessions' queues: a script that
        # logs in again and again must not make that cost (and the memory) grow for an hour
        self.max_per_user = max_per_user
        self.clock = clock
        self.anonymous = 0
        self.by_sid: dict[str, Session] = {}
        self.by_did: dict[str, Session] = {}
        self.by_user: dict[str, set[str]] = {}   # user uuid -> sids, so publish is O(own sessions)
        self._turns: dict[tuple[str, str], int] = {}   # (user, stream) -> elections so far

    def create(self, origin: str | None = None, user: str | None = None) -> Session:
        """A new session; raises TooManySessions for an anonymous one past the cap."""
        if user is None and self.anonymous >= self.max_anonymous:
            raise TooManySessions
        now = self.clock()
        s = Session(secrets.token_urlsafe(24), secrets.token_urlsafe(24), origin=origin,
                    last_used=now, born=now)
        self.by_sid[s.sid] = s
        self.by_did[s.did] = s
        self.anonymous += 1
        if user is not None:
            self.authenticate(s, user)
        return s

    def login(self, old: Session | None, user: str, origin: str | None) -> Session:
        """Log `user` in on a fresh session and end `old`: whoever created `old` (and
        perhaps handed its sid to the victim: session fixation) is left with nothing."""
        if old is not None:
            self.delete(old)
        return self.create(origin, user)

    def _expired(self, s: Session, now: float) -> bool:
        if s.user is None:
            # counted from its creation, not its last use: it only waits for a login, and
            # touching it must not keep the anonymous cap full for ever
            return now - s.born > min(self.idle, ANONYMOUS_IDLE)
        return now - s.last_used > self.idle

    def get(self, sid: str | None) -> Session | None:
        return self._live(self.by_sid.get(sid or ''))

    def by_download_id(self, did: str | None) -> Session | None:
        """The session of a download id (§2.3), under the same expiry as its sid."""
        return self._live(self.by_did.get(did or ''))

    def _live(self, s: Session | None) -> Session | None:
        if s is None:
            return None
        now = self.clock()
        if self._expired(s, now):
            self.delete(s)
            return None
        s.last_used = now
        return s

    def touch(self, s: Session) -> None:
        """A request still waiting on the session (a long poll, a WebSocket) keeps it alive."""
        s.last_used = self.clock()

    def authenticate(self, s: Session, user: str) -> None:
        if s.user is None:
            self.anonymous -= 1
        s.user = user
        sids = self.by_user.setdefault(user, set())
        sids.add(s.sid)
        while len(sids) > self.max_per_user:   # the least recently used one goes
            self.delete(min((self.by_sid[x] for x in sids if x != s.sid),
                            key=lambda o: o.last_used))

    def delete(self, s: Session) -> None:
        if self.by_sid.pop(s.sid, None) is None:
            return
        self.by_did.pop(s.did, None)
        if s.user is None:
            self.anonymous -= 1
        else:
            sids = self.by_user.get(s.user, set())
            sids.discard(s.sid)
            if not sids:
                self.by_user.pop(s.user, None)

    def sweep(self) -> int:
        now = self.clock()
        old = [s for s in self.by_sid.values() if self._expired(s, now)]
        for s in old:
            self.delete(s)
        return len(old)

    async def sweep_forever(self) -> None:
        """Run by the server: expired sessions go even when nobody asks for them again."""
        interval = min(60.0, max(0.5, min(self.idle, ANONYMOUS_IDLE) / 4))
        while True:
            await asyncio.sleep(interval)
            gone = self.sweep()
            if gone:
                log.info('event=sessions-expired count=%d left=%d', gone, len(self.by_sid))

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
            if (not call or s.call_events) and not s.partner:
                s.push(event)

    def publish_detail(self, user: str, topic: str, name: str, fields: dict[str, Any]) -> None:
        """Deliver to those of `user`'s sessions that subscribed to `topic`."""
        event = None
        for sid in list(self.by_user.get(user, ())):
            s = self.by_sid[sid]
            if topic in s.topics and not s.partner:
                event = event or {'event': name, 'time': int(time.time()), **fields}
                s.push(event)

    def drop_topic(self, user: str, topic: str) -> None:
        """`topic` is gone (its conference was deleted): no session of `user` holds it."""
        for sid in self.by_user.get(user, ()):
            self.by_sid[sid].topics.discard(topic)

    def subscribe_stream(self, s: Session, stream: str, seconds: float | None) -> None:
        """Let `s` take `stream` events for `seconds` (None: stop)."""
        if seconds is None:
            s.streams.pop(stream, None)
        else:
            s.streams[stream] = self.clock() + seconds

    def publish_elected(self, user: str, stream: str, name: str, fields: dict[str, Any]) -> bool:
        """Deliver to one of `user`'s live sessions subscribed to `stream`, in turn (a
        session that went no longer takes its share). False if there is none."""
        now = self.clock()
        takers = sorted((self.by_sid[sid] for sid in self.by_user.get(user, ())
                         if self.by_sid[sid].streams.get(stream, 0) > now
                         and not self._expired(self.by_sid[sid], now)), key=lambda x: x.sid)
        if not takers:
            return False
        turn = self._turns.get((user, stream), 0)
        self._turns[(user, stream)] = turn + 1
        takers[turn % len(takers)].push({'event': name, 'time': int(time.time()), **fields})
        return True
