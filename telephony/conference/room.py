"""Conference rooms at run time: a caller who keyed the right PIN joins the conference's
room (media/mixer.py mixes it on the one clock); the room tells the registry what the API and
the event streams see (§7.11): start and stop, join and leave, member changes.

One `ConferenceRoom` per running conference, made by the first member's join and closed by
the last member's leave. A member is a call: it stays until its call ends or it is kicked
(`kick` hangs the call up, so the caller hears the BYE, not silence).

With a tap directory (setting `conference_tap_dir`) every member's received mix is written
to DIR/<conference>/<member>.wav while it is in the room. The join, update, leave and tap
lines carry `tick=`, the media clock's ticks run so far: a tap holds one frame per tick from
its own `tick=`, so a change logged at tick T is at frame T - tick(tap) of every tap.

A coSpace's room follows its Cisco profiles (the conference's `profiles`: `call`, `leg` and
`dtmf` field dicts; dialplan/roomrules.py turns them into rules): participantLimit (`RoomFull`),
rxAudioMute/txAudioMute on entry, the lobby of legs that need activation, join and leave tone
thresholds, maxCallDurationTime, and the DTMF actions (conference/actions.py). A Q-loud
conference has no profiles: no limit, no lobby, a tone for every join and leave, keys ignored.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..calls.controls import Control as C
from ..dialplan.roomrules import ACTIVE, Activation, DtmfMatcher, LegRules, RoomRules
from ..ids import new_uuid
from ..media import quality
from ..prompts import prompt_path
from . import actions, lobby
from .deadlines import Deadlines
from .registry import CHANGEABLE, MEMBER_FIELDS, VOLUME_RANGE

if TYPE_CHECKING:
    from ..calls.call import Call
    from ..media.mixer import ConferenceMixer, Member as MixMember, Room as MixRoom
    from ..store.conferences import Conference
    from .registry import ConferenceRegistry

log = logging.getLogger('telephony.conference')
FULL = 'conference-full'    # prompts/prompts.toml


class RoomFull(Exception):
    """The room holds its call profile's participantLimit already (Cisco
    `participantLimitReached`); the caller was told and hung up."""


def _profiles(conference) -> tuple[dict, dict, dict]:
    """The conference's Cisco profile fields (call, leg, dtmf); none for a Q-loud one."""
    p = getattr(conference, 'profiles', None)
    return tuple(dict(getattr(p, k, None) or {}) for k in ('call', 'leg', 'dtmf'))


@dataclass
class _Member:
    call: 'Call'
    mix: 'MixMember | None'        # None while it waits in the lobby
    phone: str | None
    joined: float                  # loop time of the join (durationSeconds, bitRate)
    rules: LegRules = field(default_factory=LegRules)
    mute_default: bool = False     # the conference's own, when no profile sets rxAudioMute
    keys: DtmfMatcher | None = None
    listener: Any = None           # its call's listener for keys (conference/actions.py)
    held: bool = False             # the lobby's prompt and tone were queued on its call
    user: str | None = None
    shown: dict[str, Any] = field(default_factory=dict)   # the fields the events last said
    windows: quality.QualityWindows = field(default_factory=quality.QualityWindows)  # call_quality
    profiles: Any = None           # the Resolved profiles it came in with (callLegProfileTrace)
    wanted: dict[str, bool] = field(default_factory=dict)   # mute/deaf the API set in the lobby

    @property
    def endpoint(self):
        return self.call.leg.endpoint   # the mixer member's too, once it is mixed

    def fields(self) -> dict[str, Any]:
        """The §7.11.3 view: `phone` only when the caller sent a number, `user` once set."""
        m = self.mix
        out: dict[str, Any] = {'phone': self.phone, 'user': self.user, 'mute': m.mute,
                               'deaf': m.deaf, 'talk': m.talk, 'floor': m.floor,
                               'volume_in': m.volume_in, 'volume_out': m.volume_out}
        return {k: out[k] for k in MEMBER_FIELDS if out[k] is not None}

    def audio(self, now: float) -> dict[str, dict]:
        """The Cisco rxAudio/txAudio figures of its endpoint since it joined."""
        return quality.audio_status(self.endpoint.stats(), now - self.joined)

    def entry(self, override: bool | None) -> tuple[bool, bool]:
        """(mute, deaf) it has in the mix, or will have once admitted: what the API set
        while it waited, else the room's joinAudioMuteOverride, its profile's
        rxAudioMute/txAudioMute, the conference's mute default."""
        if self.mix is not None:
            return self.mix.mute, self.mix.deaf
        mute = self.wanted.get('mute', override)
        if mute is None:
            mute = self.rules.rx_audio_mute
        if mute is None:
            mute = self.mute_default
        return bool(mute), bool(self.wanted.get('deaf', self.rules.tx_audio_mute))


class ConferenceRoom:
    """A running conference: the registry's `Room` over one mixer room."""

    def __init__(self, rooms: 'ConferenceRooms', conference: 'Conference'):
        self.rooms = rooms
        self.uuid = conference.uuid
        self.owner = conference.owner
        self.description = conference.description
        self.mix: 'MixRoom' = rooms.mixer.room(self.uuid)
        self.mix.on_change = self._mix_changed
        self._members: dict[str, _Member] = {}
        self._by_mix: dict[int, str] = {}
        # the Cisco view (api/cisco/calls.py): a call per run of the room, its legs the members
        self.call_id = new_uuid()
        self.cospace = conference.owner is None    # a coSpace's room has no Q-loud owner
        self.started = rooms.now()
        self.max_members = 0
        call, _, _ = _profiles(conference)
        self.rules = RoomRules.from_fields(call)
        self.activation = Activation(self.rules.locked, self.rules.lock_mode)
        self._lobby: dict[str, _Member] = {}
        self.live = False                   # conference_start sent (someone was mixed)
        self.join_mute_override: bool | None = None   # Cisco joinAudioMuteOverride
        self.allow_all_mute_self = False              # Cisco allowAllMuteSelf
        self.held = False   # made by POST /api/v1/calls: stays, empty too, until DELETE (dialout.py)

    @property
    def locked(self) -> bool:
        return self.activation.locked

    @property
    def lobby(self) -> dict[str, _Member]:
        """The legs that wait for activation (not mixed, not in `legs`); read only."""
        return self._lobby

    def full(self) -> bool:
        """At its call profile's participantLimit (members and lobby)."""
        limit = self.rules.participant_limit
        return limit is not None and self.participants() >= limit

    def participants(self) -> int:
        """Everyone connected to the room: mixed or waiting (participantLimit counts both)."""
        return len(self._members) + len(self._lobby)

    def call_space(self) -> str | None:
        """The coSpace this room is the call of (its id), None for a Q-loud conference."""
        return self.uuid if self.cospace else None

    @property
    def legs(self) -> dict[str, _Member]:
        """Member uuid -> the member (its call, mixer member, join time); read only."""
        return self._members

    def member(self, uuid: str) -> _Member | None:
        """A leg of the room, mixed or waiting in the lobby."""
        return self._members.get(uuid) or self._lobby.get(uuid)

    def connected(self) -> dict[str, _Member]:
        """Every leg connected to the room, mixed or waiting in the lobby (the Cisco
        callLegs: a leg awaiting activation is `connected` and `deactivated`)."""
        return {**self._members, **self._lobby}

    @property
    def members(self) -> dict[str, dict[str, Any]]:
        """The conference_status view: the §7.11.3 fields and our `call_quality` (a snapshot
        only; join and update events keep to the document's fields)."""
        now = self.rooms.now()
        return {uuid: {**m.fields(), 'call_quality': m.windows.quality(m.mix.endpoint.stats(), now, m.joined)}
                for uuid, m in self._members.items()}

    def add(self, call: 'Call', conference, uuid: str | None = None) -> str:
        """`call` enters (its leg must have media): mixed at once, or into the lobby until
        activated; returns its member uuid (`uuid`: the id a dial-out was given). RoomFull
        past the participantLimit; ValueError when the mixer refuses the endpoint (a bridged
        leg)."""
        if self.full():
            raise RoomFull(f'{self.participants()} of {self.rules.participant_limit} participants')
        _, leg, dtmf = _profiles(conference)
        uuid = uuid or new_uuid()
        caller = call.info.get('from') or ''
        phone = caller if caller.startswith('+') and not call.info.get('clir') else None
        member = self._lobby[uuid] = _Member(call, None, phone, self.rooms.now(),
                                             LegRules.from_fields(leg), conference.mute_default,
                                             DtmfMatcher(dtmf) or None)
        self.max_members = max(self.max_members, self.participants())   # maxCallLegs
        member.profiles = getattr(conference, 'profiles', None)
        lobby.apply(self, self.activation.join(uuid, member.rules, member.joined))
        if uuid in self._lobby and self.activation.state(uuid) == ACTIVE:
            self.remove(uuid)                  # the mixer refused it (see _admit)
            raise ValueError('the mixer refused the endpoint')
        if member.rules.max_call_duration is not None:
            self.rooms.deadlines.set(('max', uuid), member.joined + member.rules.max_call_duration,
                                     lambda now, m=member, u=uuid: self._too_long(u, m))
        if member.keys is not None:
            actions.listen(self, uuid, member)
        return uuid

    def remove(self, uuid: str) -> None:
        """Its call ended (or it never got in): out of the mix or the lobby."""
        member = self._members.pop(uuid, None)
        waiting = self._lobby.pop(uuid, None)
        if member is None and waiting is None:
            return
        if member is not None:
            count = len(self._members) + 1
            self._unmix(uuid, member)
            if self._members and member.rules.leave_tone(count):
                self.mix.play_tone('leave')
        member = member or waiting
        self.rooms.deadlines.cancel(('max', uuid))
        actions.unlisten(self, uuid, member)
        lobby.apply(self, self.activation.leave(uuid, self.rooms.now()))
        self._close_if_empty()

    def release(self) -> None:
        """An API-made call is no longer held open (its DELETE): it closes once empty."""
        self.held = False
        self._close_if_empty()

    def _close_if_empty(self) -> None:
        if self.participants() or self.held or self.rooms.rooms.get(self.uuid) is not self:
            return
        self.rooms.deadlines.cancel(('lobby', self.uuid))
        if self.live:
            self.rooms.closed(self)
        else:
            self.rooms._drop(self)

    # --- entering the mix (at once, or from the lobby: conference/lobby.py) ----------------
    def _admit(self, uuid: str) -> None:
        member = self._lobby.get(uuid)
        if member is None:
            return
        call = member.call
        if member.held:
            member.held = False
            call.queue.enqueue([], 'break')          # the hold prompt or tone ends
        mute, deaf = member.entry(self.join_mute_override)
        try:
            member.mix = self.mix.add(call.leg.endpoint, mute=mute, deaf=deaf)
        except ValueError as exc:      # a bridged leg: refused by the mixer; add() undoes it
            log.warning('event=conference-join-refused conference=%s call=%s reason="%s"',
                        self.uuid, call.id, exc)
            return
        del self._lobby[uuid]
        member.wanted.clear()
        self._members[uuid] = member
        self._by_mix[id(member.mix)] = uuid
        member.shown = member.fields()
        if not self.live:
            self.live = True
            self.started = self.rooms.now()    # the call starts with its first mixed leg
            self.rooms.registry.started(self)
            if self.rules.recording_mode == 'automatic':
                actions.start_recording(self)
        elif member.rules.join_tone(len(self._members)):
            self.mix.play_tone('join')   # the others hear someone come in
        self.rooms.registry.detail(self, 'conference_join', {uuid: dict(member.shown)})
        log.info('event=conference-join conference=%s member=%s call=%s members=%d tick=%d',
                 self.uuid, uuid, call.id, len(self._members), self.rooms.tick())
        self.rooms.tap(self, uuid, member.mix)

    def _unmix(self, uuid: str, member: _Member) -> None:
        self._by_mix.pop(id(member.mix), None)
        self.mix.remove(member.mix)
        member.mix = None
        log.info('event=conference-leave conference=%s member=%s call=%s members=%d tick=%d',
                 self.uuid, uuid, member.call.id, len(self._members), self.rooms.tick())
        self.rooms.registry.detail(self, 'conference_leave', [uuid])

    def _too_long(self, uuid: str, member: _Member) -> None:
        log.info('event=conference-max-duration conference=%s member=%s seconds=%s', self.uuid,
                 uuid, member.rules.max_call_duration)
        member.call.leg.hangup()

    # --- the API's member changes (§3.17 POST .../member) -----------------------------------
    def update(self, uuid: str, fields: dict[str, Any]) -> None:
        waiting = self._lobby.get(uuid)
        if waiting is not None:      # kept for its admission (a Cisco PUT: mute and deaf)
            waiting.wanted.update({k: bool(v) for k, v in fields.items() if k in ('mute', 'deaf')})
            return
        member = self._members.get(uuid)
        if member is None:
            return
        for name, value in fields.items():
            if name not in CHANGEABLE:
                continue
            if name == 'user':
                member.user = value
            elif name.startswith('volume_'):
                low, high = VOLUME_RANGE
                setattr(member.mix, name, max(low, min(high, int(value))))
            else:
                setattr(member.mix, name, bool(value))
        log.info('event=conference-member-update conference=%s member=%s fields=%s tick=%d',
                 self.uuid, uuid, ','.join(n for n in CHANGEABLE if n in fields), self.rooms.tick())
        self._report(uuid, member)

    def end(self) -> None:
        """Hang up every participant, the lobby's too (endCall; DELETE of the call)."""
        actions.end_call(self)

    def kick(self, uuid: str) -> None:
        member = self.member(uuid)
        if member is not None:
            log.info('event=conference-kick conference=%s member=%s', self.uuid, uuid)
            member.call.leg.hangup()

    # --- what changed, as conference_update (only the changed fields, §7.11.4) -------------
    def _mix_changed(self, mix: 'MixMember', change: dict) -> None:
        uuid = self._by_mix.get(id(mix))
        if uuid is not None:
            self._report(uuid, self._members[uuid])

    def _report(self, uuid: str, member: _Member) -> None:
        now = member.fields()
        changed = {k: v for k, v in now.items() if member.shown.get(k) != v}
        member.shown = now
        if changed:
            self.rooms.registry.detail(self, 'conference_update', {uuid: changed})


class ConferenceRooms:
    """The rooms of running conferences; `join` is what PIN entry hands a caller to."""

    def __init__(self, registry: 'ConferenceRegistry', mixer: 'ConferenceMixer',
                 tap_dir: str | Path | None = None, record_dir: str | Path | None = None):
        self.registry = registry
        self.mixer = mixer
        self.tap_dir = Path(tap_dir) if tap_dir else None   # off by default: disk per member
        self.rooms: dict[str, ConferenceRoom] = {}
        self.deadlines = Deadlines(self.now)    # one timer for every room's deadlines
        self.record_dir = Path(record_dir) if record_dir else None   # DTMF startRecording

    def now(self) -> float:
        return self.mixer.engine.loop_time()

    def running(self) -> list[ConferenceRoom]:
        """The rooms with legs, mixed or waiting, oldest first (the Cisco `calls`)."""
        return sorted((r for r in self.rooms.values() if r.participants() or r.held),
                      key=lambda r: r.started)

    def call(self, call_id: str) -> ConferenceRoom | None:
        return next((r for r in self.rooms.values() if r.call_id == call_id.lower()), None)

    def leg(self, leg_id: str) -> tuple[ConferenceRoom, str] | None:
        """The room holding leg `leg_id` (mixed or in the lobby), and its uuid."""
        leg_id = leg_id.lower()
        return next(((r, leg_id) for r in self.rooms.values()
                     if leg_id in r.legs or leg_id in r.lobby), None)

    def tick(self) -> int:
        """The media clock's ticks run so far (taps and log lines line up on it)."""
        return self.mixer.engine.clock.ticks

    def tap(self, room: ConferenceRoom, uuid: str, mix: 'MixMember') -> None:
        """With a tap directory: record what the member hears until it leaves."""
        if self.tap_dir is None:
            return
        path = self.tap_dir / room.uuid / f'{uuid}.wav'
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning('event=conference-tap-error conference=%s member=%s error="%s"',
                        room.uuid, uuid, exc)
            return
        mix.start_tap(str(path))
        log.info('event=conference-tap conference=%s member=%s path=%s tick=%d', room.uuid,
                 uuid, path, self.tick())

    def full(self, conference) -> bool:
        """Would a join be refused now (participantLimit)? For a dial-out to check before it
        dials (Cisco `participantLimitReached`); `join` checks again when the call is in."""
        room = self.rooms.get(conference.uuid)
        if room is not None:
            return room.full()
        limit = RoomRules.from_fields(_profiles(conference)[0]).participant_limit
        return limit is not None and limit <= 0

    async def join(self, call: 'Call', conference: 'Conference', member: str | None = None,
                   raise_full: bool = False) -> None:
        """Put `call` in the conference's room until the call ends (`member`: its uuid). A
        full room plays the caller a prompt and hangs up (and, with `raise_full`, raises
        RoomFull after)."""
        if call.leg.ended or call.leg.endpoint is None:
            return
        room = self.rooms.get(conference.uuid)
        if room is None:
            room = self.rooms[conference.uuid] = ConferenceRoom(self, conference)
        try:
            uuid = room.add(call, conference, member)
        except RoomFull as exc:
            log.info('event=conference-full conference=%s call=%s reason="%s"', conference.uuid,
                     call.id, exc)
            if not room.participants() and not room.held:
                self._drop(room)
            await call.run(C.make('play', path=prompt_path(FULL)), C.make('hangup'))
            if raise_full:
                raise
            return
        except ValueError as exc:     # a bridged leg: refused by the mixer
            log.warning('event=conference-join-refused conference=%s call=%s reason="%s"',
                        conference.uuid, call.id, exc)
            call.leg.hangup(cause=47)
            return
        try:
            await asyncio.shield(call.ended)   # a cancel (split) leaves; the call goes on
        finally:
            room.remove(uuid)

    def closed(self, room: ConferenceRoom) -> None:
        """The last member left: the conference is no longer live."""
        self._drop(room)
        self.registry.stopped(room)

    def _drop(self, room: ConferenceRoom) -> None:
        if self.rooms.get(room.uuid) is room:
            del self.rooms[room.uuid]
        self.mixer.close_room(room.uuid)
