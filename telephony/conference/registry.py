"""The conferences that run now, as the API sees them (Q-loud §3.17 `/event`, `/member`).

`ConferenceRuntime` is all the API needs: `running(uuid)` gives the room of a conference
that has participants, or None (`conference-offline`). A `Room` lists its members in the
§7.11.3 shape and takes member changes and kicks. `ConferenceRegistry` is the real
runtime: rooms register when their first participant enters and leave with the last one;
it publishes `conference_start`/`conference_stop` to the owner's sessions and the detail
events (`conference_join`, `_leave`, `_update`, `_status`) to the sessions that subscribed
to that conference only. With `status_interval` it also sends each room's
`conference_status` to those sessions periodically (§7.11.3: it "may" be), on one timer
for all rooms.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..events import EventSink

log = logging.getLogger('telephony.conference')

MEMBER_FIELDS = ('phone', 'user', 'mute', 'deaf', 'talk', 'floor', 'volume_in', 'volume_out')
CHANGEABLE = ('user', 'mute', 'deaf', 'volume_in', 'volume_out')   # POST .../member `update`
VOLUME_RANGE = (-4, 4)


class Room(Protocol):
    """A running conference."""
    uuid: str                 # the conference object's uuid
    owner: str
    description: str

    @property
    def members(self) -> dict[str, dict[str, Any]]:
        """Member uuid -> its MEMBER_FIELDS (`phone` and `user` only when known), and
        `call_quality` where the room measures it (conference_status only)."""
        ...

    def update(self, member: str, fields: dict[str, Any]) -> None:
        """Apply CHANGEABLE fields to a member; a member that already left is ignored."""
        ...

    def kick(self, member: str) -> None:
        """Hang up a member's call; a member that already left is ignored."""
        ...


class ConferenceRuntime(Protocol):
    def running(self, uuid: str) -> Room | None: ...


class ConferenceRegistry:
    """The rooms by conference uuid, and where their events go."""

    def __init__(self, events: 'EventSink', status_interval: float = 0.0):
        self.events = events
        self.rooms: dict[str, Room] = {}
        self.status_interval = status_interval    # s; 0: conference_status only on subscribing
        self._status_timer: asyncio.TimerHandle | None = None   # one for all rooms

    def running(self, uuid: str) -> Room | None:
        return self.rooms.get(uuid.lower())

    def started(self, room: Room) -> None:
        """The first participant entered: the conference is live (§7.11.1)."""
        self.rooms[room.uuid] = room
        log.info('event=conference-start conference=%s', room.uuid)
        self.events.publish(room.owner, 'conference_start', _head(room))
        self._arm()

    def stopped(self, room: Room) -> None:
        """The last participant left (§7.11.2)."""
        if self.rooms.get(room.uuid) is room:
            del self.rooms[room.uuid]
        log.info('event=conference-stop conference=%s', room.uuid)
        self.events.publish(room.owner, 'conference_stop', _head(room))
        if not self.rooms and self._status_timer is not None:
            self._status_timer.cancel()     # no room, no timer
            self._status_timer = None

    def detail(self, room: Room, name: str, member: dict | list) -> None:
        """`conference_join|leave|update|status` to the sessions subscribed to this room;
        `member` is copied (the event waits in queues while the room changes)."""
        copy = [*member] if isinstance(member, list) else {m: dict(f) for m, f in member.items()}
        self.events.publish_detail(room.owner, room.uuid, name,
                                   {'conference': room.uuid, 'member': copy})

    def _arm(self) -> None:
        if self.status_interval > 0 and self._status_timer is None and self.rooms:
            self._status_timer = asyncio.get_running_loop().call_later(
                self.status_interval, self._send_status)

    def _send_status(self) -> None:
        """Every room's conference_status to the sessions that follow it. A coSpace's room
        has no Q-loud owner, so nobody follows it there: its members are not even read."""
        self._status_timer = None
        for room in list(self.rooms.values()):
            if room.owner is None:
                continue
            try:
                members = room.members
            except Exception:        # one room's fault must not stop the others' status
                log.exception('event=conference-status-error conference=%s', room.uuid)
                continue
            if members:
                self.detail(room, 'conference_status', members)
        self._arm()


def _head(room: Room) -> dict:
    out = {'conference': room.uuid, 'owner': room.owner}
    if room.description:
        out['description'] = room.description
    return out
