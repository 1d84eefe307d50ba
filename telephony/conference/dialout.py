"""Calls that /api/v1 makes (CMS §8.1.2) and the legs it dials out into them (§8.1.6
participants, §8.3.2 callLegs).

A call made by `POST /calls` is a room held open (`ConferenceRoom.held`): it runs with no
members until `DELETE /calls/<id>`, as a Meeting Server keeps it. A dial-out is placed by
`CallManager.dial`, the path every outgoing call takes (policy, dial transforms, outbound
rules, our own accounts), so it reaches only what the outbound rules allow. Until the far end
answers it is a `DialOut` here (state `initial`, then `ringing`); once answered it joins the
room under the same id, and from then on the room holds it as a member (`connected`). A
participant is one leg: the two share one id.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..calls.leg import ANSWERED, CALLING, HANGUP
from ..ids import new_uuid
from ..logtext import quoted
from .room import ConferenceRoom, RoomFull

if TYPE_CHECKING:
    from ..calls.call import Call
    from ..calls.manager import CallManager
    from ..config import Settings
    from ..dialplan.confprofiles import Resolved
    from ..store.profiles import ProfileStore
    from .room import ConferenceRooms


log = logging.getLogger('telephony.conference')

NO_ANSWER = 19   # Q.850 "no answer from user": a dial-out that rang too long


class Refused(Exception):
    """A call or dial-out the server will not make: `reason` is the Cisco failure reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Space:
    """What ConferenceRooms needs of a conference: a coSpace's id or an ad hoc call's key.
    No Q-loud user owns it, so its events go to no session."""
    uuid: str
    description: str
    owner: None = None
    mute_default: bool = False
    profiles: 'Resolved | None' = None   # global, the coSpace's, the dial-out's callLegProfile


@dataclass
class DialOut:
    """A leg dialled out for a call that has not joined its room yet."""
    id: str
    room: ConferenceRoom
    call: 'Call'
    remote_party: str                 # as the API was given it
    wanted: dict[str, bool] = field(default_factory=dict)   # mute/deaf set before it joined
    leg_profile: str | None = None    # the POST's callLegProfile: the leg level of its profiles

    @property
    def state(self) -> str:
        """§8.11.1 `state`: `initial` until the far end answers anything, then `ringing`."""
        state = self.call.leg.state
        if state == CALLING:
            return 'initial'
        return 'connected' if state == ANSWERED else 'ringing'


class DialOuts:
    """The calls /api/v1 made and the dial-outs on their way into rooms."""

    def __init__(self, rooms: 'ConferenceRooms', calls: 'CallManager', settings: 'Settings'):
        self.rooms = rooms
        self.calls = calls
        self.settings = settings
        self.pending: dict[str, DialOut] = {}
        self.placing: list[ConferenceRoom] = []   # dial-outs whose dial is still awaited
        self.profiles: 'ProfileStore | None' = None   # server.py sets it: the legs' profiles

    # --- calls (§8.1.2) -------------------------------------------------------------------
    async def create_call(self, cospace: str | None, name: str) -> ConferenceRoom:
        """The running call of `cospace` (a coSpace id; None: an ad hoc call named `name`),
        held open until `end_call`. A coSpace that already has a call keeps it: dial-ins and
        dial-outs meet in one room. A new room takes the coSpace's call profile (its limit,
        lock, recording) as a dial-in would."""
        profiles = None
        if cospace and self.profiles is not None:
            profiles = await self.profiles.resolve_profiles(cospace, None)
        room = self.rooms.rooms.get(cospace) if cospace else None
        if room is None or not room.held:
            held = sum(1 for r in self.rooms.rooms.values() if r.held)
            if held >= self.settings.cisco_api_calls_max:
                raise Refused('tooManyCalls')
        if room is None:
            key = cospace or new_uuid()
            room = self.rooms.rooms[key] = ConferenceRoom(self.rooms,
                                                          _Space(key, name, profiles=profiles))
            room.cospace = cospace is not None
        room.held = True
        log.info('event=conference-call-create call=%s conference=%s cospace=%s', room.call_id,
                 room.uuid, cospace or '-')
        return room

    def end_call(self, room: ConferenceRoom) -> None:
        """DELETE /calls/<id>: every leg hung up, dial-outs too; the room closes when the
        last member has left (at once when it has none)."""
        for d in self.of_room(room):
            d.call.leg.hangup()
        room.end()          # the members and the lobby's legs
        room.release()

    # --- dial-outs (§8.1.6, §8.3.2) ---------------------------------------------------------
    def of_room(self, room: ConferenceRoom) -> list[DialOut]:
        return [d for d in self.pending.values() if d.room is room]

    def find(self, leg_id: str) -> DialOut | None:
        return self.pending.get(leg_id.lower())

    async def dial(self, room: ConferenceRoom, remote_party: str, caller: str,
                   wanted: dict[str, bool] | None = None,
                   leg_profile: str | None = None) -> DialOut:
        """Place a leg to `remote_party` from `caller` (the user part of our From), which
        joins with the room's profiles and `leg_profile` (a callLegProfile id) below them;
        Refused at a limit, calls.outgoing.DialFailed when the outbound rules do not reach
        it."""
        if len(self.pending) + len(self.placing) >= self.settings.cisco_dialouts_max:
            raise Refused('tooManyDialOuts')
        limit = room.rules.participant_limit     # members, the lobby and ringing dial-outs
        ringing = len(self.of_room(room)) + sum(r is room for r in self.placing)
        if limit is not None and room.participants() + ringing >= limit:
            raise Refused('participantLimitReached')
        self.placing.append(room)     # counted while the dial awaits the rules and DNS
        try:
            call = await self.calls.dial(None, caller, remote_party, None, False, api=False)
        finally:
            self.placing.remove(room)
        if self.rooms.rooms.get(room.uuid) is not room:   # DELETE of the call meanwhile
            call.leg.hangup()
            raise Refused('callDoesNotExist')
        d = DialOut(call.id, room, call, remote_party, dict(wanted or {}), leg_profile=leg_profile)
        self.pending[d.id] = d
        # on the rooms' one deadline heap, as maxCallDurationTime: no timer per ringing leg
        self.rooms.deadlines.set(('ring', d.id),
                                 self.rooms.now() + self.settings.cisco_dialout_ring_seconds,
                                 lambda now: self._ring_out(d))
        call.listeners.append(lambda kind, fields: self._changed(d, kind, fields))
        call.ended.add_done_callback(lambda _: self._gone(d))
        log.info('event=conference-dial-out call=%s conference=%s leg=%s remote=%s',
                 room.call_id, room.uuid, d.id, quoted(remote_party))
        if call.leg.state == ANSWERED:   # answered before we listened (our own number)
            self._answered(d)
        return d

    def update(self, d: DialOut, fields: dict[str, bool]) -> None:
        """Mute/deaf for a leg still on its way: applied when it joins."""
        d.wanted.update(fields)

    def _changed(self, d: DialOut, kind: str, fields: dict) -> None:
        if kind == 'call_update' and fields.get('status') == ANSWERED:
            self._answered(d)

    def _answered(self, d: DialOut) -> None:
        self.rooms.deadlines.cancel(('ring', d.id))
        if not self._late(d):
            asyncio.get_running_loop().create_task(self._join(d))

    def _late(self, d: DialOut) -> bool:
        """The call ended while the leg rang or its profiles were read: hung up."""
        if self.rooms.rooms.get(d.room.uuid) is d.room:
            return False
        log.info('event=conference-dial-out-late leg=%s call=%s', d.id, d.room.call_id)
        d.call.leg.hangup()
        return True

    async def _join(self, d: DialOut) -> None:
        profiles = None
        if self.profiles is not None:   # §8.4.7: global, coSpace, then the leg's own
            try:
                profiles = await self.profiles.resolve_profiles(d.room.call_space(), None,
                                                                d.leg_profile)
            except Exception:      # noqa: BLE001 -- an answered leg is never left in no room
                log.exception('event=conference-dial-out-profiles-failed leg=%s', d.id)
                d.call.leg.hangup()
                return
            log.info('event=conference-dial-out-profiles leg=%s call=%s leg_profile=%s set=%s',
                     d.id, d.room.call_id, d.leg_profile or 'none',
                     ','.join(sorted(profiles.leg)) or 'none')
            if self._late(d):
                return
        space = _Space(d.room.uuid, d.room.description, mute_default=d.wanted.get('mute', False),
                       profiles=profiles)
        # runs once join's first step (the add) is done: the member is in, or refused
        asyncio.get_running_loop().call_soon(self._joined, d)
        try:
            await self.rooms.join(d.call, space, member=d.id, raise_full=True)
        except RoomFull:
            log.info('event=conference-dial-out-refused leg=%s call=%s reason=participantLimit',
                     d.id, d.room.call_id)
            d.call.leg.hangup()

    def _joined(self, d: DialOut) -> None:
        self.pending.pop(d.id, None)
        if d.id in d.room.legs or d.id in d.room.lobby:
            # the POST's own rxAudioMute/txAudioMute are more specific than its profiles
            # (one in the lobby keeps them for its admission)
            member = d.room.member(d.id)
            wanted = {k: v for k, v in d.wanted.items()
                      if member.mix is None or getattr(member.mix, k) != v}
            if wanted:
                d.room.update(d.id, wanted)
        elif not d.room.full():   # (a full room plays its prompt, then hangs up itself)
            # the join refused it (the leg lost its media, the room closed): not left up
            log.info('event=conference-dial-out-not-joined leg=%s call=%s', d.id, d.room.call_id)
            d.call.leg.hangup()

    def _ring_out(self, d: DialOut) -> None:
        if d.call.leg.state not in (ANSWERED, HANGUP):
            log.info('event=conference-dial-out-timeout leg=%s call=%s', d.id, d.room.call_id)
            d.call.leg.hangup(cause=NO_ANSWER)

    def _gone(self, d: DialOut) -> None:
        self.rooms.deadlines.cancel(('ring', d.id))
        self.pending.pop(d.id, None)


def view(d: DialOut) -> dict[str, Any]:
    """What a dial-out shows before it joined: the far end, the call, the state."""
    return {'remoteParty': d.remote_party, 'call': d.room.call_id, 'state': d.state,
            'rxAudioMute': d.wanted.get('mute', False), 'txAudioMute': d.wanted.get('deaf', False)}


WRONG_CONFERENCE = 'wrong-conference'   # Q-loud §3.17: trashed, not active, not yours


def refusal(conference) -> str | None:
    """Why the `conference` control may not join `conference` (None: it may)."""
    if conference is None or conference.trashed is not None or not conference.active:
        return WRONG_CONFERENCE
    return None


Current = Callable[[str, str], Awaitable[Any]]   # (owner, uuid) -> the stored conference


def enter(rooms: 'ConferenceRooms', call: 'Call', conference, current: Current | None = None
          ) -> tuple[Callable[[], None], 'asyncio.Future[str | None]']:
    """The Q-loud `conference` control (our extension): `call` joins the conference's room
    as a member until it ends. Returns what takes it out at once (a `split`, a `bridge`,
    another `conference`) while the call goes on, and a future of the join's outcome: None
    once it is in, or the Q-loud status why not. The control was checked when it was queued;
    a `sleep` before it may have seen the conference trashed or deactivated, so `current`
    (the store's read) is asked again when it runs."""
    member = new_uuid()
    loop = asyncio.get_running_loop()
    checked: asyncio.Future[str | None] = loop.create_future()

    async def join() -> None:
        try:
            if current is not None:
                reason = refusal(await current(conference.owner, conference.uuid))
                if reason is not None:
                    log.info('event=conference-control-refused call=%s conference=%s status=%s',
                             call.id, conference.uuid, reason)
                    checked.set_result(reason)
                    return
            checked.set_result(None)   # its callbacks run once the join below has added it
            await rooms.join(call, conference, member=member)
        finally:
            if not checked.done():     # left (cancelled) while the store was read
                checked.set_result(None)
    task = loop.create_task(join())

    def leave() -> None:
        room = rooms.rooms.get(conference.uuid)
        if room is not None:
            room.remove(member)
        task.cancel()   # a join not begun never adds it; one begun ends (room.remove again: none)
    return leave, checked
