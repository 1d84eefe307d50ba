"""The event sink: where calls/, store/ and the applications publish, and api/ subscribes.

Nothing below the API knows about HTTP sessions: a publisher names the user the event
belongs to, and whatever subscribed (the API's SessionStore) delivers it. Publishing is
synchronous and never waits, so a slow client cannot hold up a call's signalling.
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger('telephony.events')


class Subscriber(Protocol):
    def publish(self, user: str | None, name: str, fields: dict[str, Any],
                call: bool = False) -> None: ...

    def listening(self, user: str) -> bool:
        """Does this subscriber take call events for `user` (is a call API client there)?"""
        ...


class EventSink:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, user: str | None, name: str, fields: dict[str, Any],
                call: bool = False) -> None:
        """An event for `user`'s clients; `call` marks call events (delivered only to clients
        that asked for them)."""
        if user is None:
            return
        for s in self._subscribers:
            try:
                s.publish(user, name, fields, call=call)
            except Exception:   # one broken subscriber must not stop the call that published
                log.exception('event=subscriber-error name=%s', name)

    def listening(self, user: str) -> bool:
        return any(s.listening(user) for s in self._subscribers)

    def publish_detail(self, user: str | None, topic: str, name: str,
                       fields: dict[str, Any]) -> None:
        """A detail event of `topic` (a conference's uuid) for those of `user`'s sessions
        that subscribed to it (Q-loud §7.11: `GET /api/conference/(uuid)/event`)."""
        if user is None:
            return
        for s in self._subscribers:
            detail = getattr(s, 'publish_detail', None)
            try:
                if detail is not None:
                    detail(user, topic, name, fields)
            except Exception:
                log.exception('event=subscriber-error name=%s', name)

    def publish_elected(self, user: str | None, stream: str, name: str,
                        fields: dict[str, Any]) -> bool:
        """An event for ONE of `user`'s sessions that subscribed to `stream` (Q-loud §9.1.4:
        the partner's CDR stream is split between its subscribing sessions). False when no
        session took it."""
        if user is None:
            return False
        for s in self._subscribers:
            elect = getattr(s, 'publish_elected', None)
            try:
                if elect is not None and elect(user, stream, name, fields):
                    return True
            except Exception:
                log.exception('event=subscriber-error name=%s', name)
        return False
