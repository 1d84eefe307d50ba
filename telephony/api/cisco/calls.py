"""/api/v1/calls, /callLegs and /participants (CMS §8.1, §8.3, §8.11) over the conference
rooms running now: a running room is a call (its id new for each run of the room), its members
are the call's legs, and a participant is one leg (same id). GET lists and shows them with the
leg's media figures (media/quality.py), PUT sets `rxAudioMute` (the others do not hear the
leg: the mixer's mute) and `txAudioMute` (the leg hears nothing: deaf), DELETE disconnects
the leg (its call is hung up). POST /calls makes a call held open until DELETE, POST
.../participants and .../callLegs dial out (conference/dialout.py; api/cisco/participants.py).
Nothing is stored: a call that ended is gone (`callDoesNotExist`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ...media import quality
from . import xml
from .errors import CiscoError, ParameterError, parameter_errors
from .fields import Field, Invalid, boolean, text
from .forms import read_form
from .profiles import leg_profile_trace
from .resources import Resource

if TYPE_CHECKING:
    from ...conference.dialout import DialOut, DialOuts
    from ...conference.room import ConferenceRoom, ConferenceRooms
    from .app import CiscoApi

LEG_CONTROLS = Resource('callLegs', 'callLegs', 'callLeg', 'callLegDoesNotExist',
                        (Field('rxAudioMute', boolean), Field('txAudioMute', boolean)),
                        listed=(), filter_on=())
_FILTER = text(255)
MIXER = {'rxAudioMute': 'mute', 'txAudioMute': 'deaf'}   # callLeg configuration -> mixer member


@dataclass(frozen=True)
class LegRef:
    """A leg of a call: a member of its room, or a dial-out on its way in (`dialout`)."""
    room: 'ConferenceRoom'
    id: str
    dialout: 'DialOut | None' = None

    def member(self):
        """The room's member (mixed or in the lobby) it is, when not a dial-out."""
        return self.room.member(self.id)

    def remote(self) -> str:
        if self.dialout is not None:
            return self.dialout.remote_party
        return remote_party(self.member().call.leg)

    def name(self) -> str:
        """Who the leg is: the caller as its call shows it, the far end of a dial-out."""
        if self.dialout is not None:
            return self.dialout.remote_party
        call = self.member().call
        return (call.info.get('from') or '') if call.leg.incoming else remote_party(call.leg)

    def present(self) -> bool:
        return self.member() is not None if self.dialout is None else \
            self.dialout.call.leg.state != 'hangup'

    def configure(self, dialouts: 'DialOuts', changes: dict[str, str]) -> None:
        """rxAudioMute/txAudioMute ('true'/'false'): now, or when a dial-out joins."""
        fields = {MIXER[k]: v == 'true' for k, v in changes.items()}
        if self.dialout is not None:
            dialouts.update(self.dialout, fields)
        else:
            self.room.update(self.id, fields)

    def drop(self) -> None:
        """DELETE: a member is kicked (our BYE), a dial-out given up (CANCEL or BYE)."""
        if self.dialout is not None:
            self.dialout.call.leg.hangup()
        else:
            self.room.kick(self.id)


def call_fields(room: 'ConferenceRoom', now: float, full: bool) -> dict:
    """§8.1.1 (a list's) or §8.1.3 (one call's) elements of a room."""
    head = {'name': room.description, 'coSpace': room.call_space(),
            'callCorrelator': room.call_id}
    if not full:
        return head
    n = room.participants()      # the lobby's legs are connected too
    return {**head, 'callType': 'coSpace' if room.cospace else 'adHoc',
            'durationSeconds': int(now - room.started), 'numCallLegs': n,
            'maxCallLegs': room.max_members, 'numParticipantsLocal': n,
            'numParticipantsRemote': 0, 'numDistributedInstances': 0,
            'recording': room.mix.recorder is not None}


def leg_fields(ref: LegRef, now: float, full: bool) -> dict:
    """§8.3.1 (a list's) or §8.3.6 (one leg's) elements of a member or a dial-out."""
    room, d = ref.room, ref.dialout
    if d is not None:
        return _dialout_fields(ref, d, full)
    member = ref.member()
    leg = member.call.leg
    seconds = now - member.joined
    audio = member.audio(now)
    held = quality.alarms(audio)
    head = {'name': ref.name(), 'remoteParty': remote_party(leg),
            'call': room.call_id,
            'call_quality': member.windows.quality(member.endpoint.stats(), now, member.joined),
            'alarms': [f'<alarms>{"".join(f"<{a}/>" for a in held)}</alarms>'] if held else None}
    if not full:
        return head
    direction = 'incoming' if leg.incoming else 'outgoing'
    mute, deaf = member.entry(room.join_mute_override)   # a lobby leg's: once admitted
    config = xml.element('configuration', {'rxAudioMute': mute, 'txAudioMute': deaf})
    status = xml.element('status', {
        'state': 'connected', 'durationSeconds': int(seconds),
        'direction': direction,
        'sipCallId': leg.invite.call_id if leg.invite is not None else None,
        'recording': room.mix.recorder is not None,
        # §8.3.6 `deactivated`: "true only", "only present if it is true" (in the lobby)
        'deactivated': True if member.mix is None else None,
        'rxAudio': [xml.element('rxAudio', audio['rxAudio'])],
        'txAudio': [xml.element('txAudio', audio['txAudio'])],
        'call_quality': head['call_quality']})
    return {**head, 'type': 'sip', 'direction': direction,
            'configuration': [config], 'status': [status]}


def _dialout_fields(ref: LegRef, d: 'DialOut', full: bool) -> dict:
    """A leg not yet in the room: no media figures yet, its state `initial` or `ringing`."""
    head = {'name': ref.name(), 'remoteParty': d.remote_party, 'call': ref.room.call_id}
    if not full:
        return head
    leg = d.call.leg
    config = xml.element('configuration', {'rxAudioMute': d.wanted.get('mute', False),
                                           'txAudioMute': d.wanted.get('deaf', False)})
    status = xml.element('status', {
        'state': d.state, 'direction': 'outgoing',
        'sipCallId': leg.invite.call_id if leg.invite is not None else None})
    return {**head, 'type': 'sip', 'direction': 'outgoing',
            'configuration': [config], 'status': [status]}


class CallsApi:
    """`calls[/<id>[/callLegs|/participants[/*]]]`, `callLegs[/<id>]` and
    `participants[/<id>[/callLegs]]` of one CiscoApi."""

    def __init__(self, api: 'CiscoApi'):
        from .participants import ParticipantsApi
        self.api = api
        self.participants = ParticipantsApi(self)

    @property
    def rooms(self) -> 'ConferenceRooms':
        return self.api.server.conference_rooms

    @property
    def dialouts(self) -> 'DialOuts':
        return self.api.server.dialouts

    def legs(self, rooms: list['ConferenceRoom']) -> list[LegRef]:
        """Every leg of these calls: the members, then the dial-outs on their way in."""
        out = []
        for room in rooms:
            out += [LegRef(room, uuid) for uuid in room.connected()]   # the lobby's too
            out += [LegRef(room, d.id, d) for d in self.dialouts.of_room(room)]
        return out

    def find_leg(self, leg_id: str, missing: str = 'callLegDoesNotExist') -> LegRef:
        leg_id = id_or_404(leg_id, missing).lower()
        found = self.rooms.leg(leg_id)
        if found is not None:
            return LegRef(*found)
        d = self.dialouts.find(leg_id)
        if d is None or self.rooms.rooms.get(d.room.uuid) is not d.room:
            raise CiscoError(404, missing)
        return LegRef(d.room, d.id, d)

    def find_call(self, call_id: str) -> 'ConferenceRoom':
        room = self.rooms.call(id_or_404(call_id, 'callDoesNotExist'))
        if room is None:
            raise CiscoError(404, 'callDoesNotExist')
        return room

    async def handle(self, request: Request, parts: list[str], user: str) -> Response:
        from .app import answer
        method = request.method
        if parts[0] == 'callLegs' and parts[2:] == ['callLegProfileTrace']:   # §8.4.7
            return await leg_profile_trace(self, request, parts[1])
        if parts[0] == 'participants':
            return await self.participants.handle(request, parts, user)
        sub = parts[2:]
        if len(parts) > (5 if parts[0] == 'calls' else 2) or \
                sub not in ([], ['callLegs'], ['participants'], ['participants', '*']):
            raise CiscoError(404, 'unrecognisedObject')
        now = self.rooms.now()
        if len(parts) == 1:
            if parts[0] == 'calls' and method == 'POST':
                return await self.participants.create_call(request, user)
            if method != 'GET':
                raise CiscoError(405, 'invalidOperation', headers={
                    'Allow': 'GET, POST' if parts[0] == 'calls' else 'GET'})
            body = self.list_calls(request, now) if parts[0] == 'calls' else \
                self.list_legs(request, self.legs(self.rooms.running()), now)
            return answer(body=xml.document(body))
        if parts[0] == 'calls':
            room = self.find_call(parts[1])
            if sub:
                return await self.participants.of_call(request, room, sub, user, now)
            if method == 'GET':
                return answer(body=xml.document(xml.element(
                    'call', call_fields(room, now, True), id=room.call_id)))
            if method == 'DELETE':   # ends the call: every leg is hung up, the lobby's too
                self.dialouts.end_call(room)
                self.api.log_change(user, 'delete', 'calls', room.call_id)
                return answer()
            raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, DELETE'})
        ref = self.find_leg(parts[1])
        if method == 'GET':
            return answer(body=xml.document(xml.element(
                'callLeg', leg_fields(ref, now, True), id=ref.id)))
        if method == 'PUT':
            await self.modify(request, ref, user, 'callLegs', 'callLegDoesNotExist')
            return answer()
        if method == 'DELETE':
            ref.drop()
            self.api.log_change(user, 'delete', 'callLegs', ref.id)
            return answer()
        raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, PUT, DELETE'})

    async def changes(self, request: Request) -> dict[str, str]:
        """rxAudioMute/txAudioMute of a PUT body; an empty value changes nothing."""
        from .app import fields_from
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        return {k: v for k, v in fields_from(LEG_CONTROLS, form, creating=False).items()
                if v is not None}

    async def modify(self, request: Request, ref: LegRef, user: str, kind: str,
                     missing: str) -> None:
        changes = await self.changes(request)
        if not ref.present():   # it left while the body arrived
            raise CiscoError(404, missing)
        ref.configure(self.dialouts, changes)
        self.api.log_change(user, 'modify', kind, ref.id, changes)

    def page(self, request: Request, items: list) -> tuple[int, list]:
        offset, limit = self.api.paging(request)
        return len(items), items[offset:offset + limit]

    def list_calls(self, request: Request, now: float) -> str:
        contains = filter_of(request).lower()
        space = request.query_params.get('coSpaceFilter')
        rooms = [r for r in self.rooms.running()
                 if contains in r.description.lower()
                 and (not space or r.call_space() == space.lower())]
        total, page = self.page(request, rooms)
        return xml.collection('calls', total, [
            xml.element('call', call_fields(r, now, False), id=r.call_id) for r in page])

    def list_legs(self, request: Request, legs: list[LegRef], now: float) -> str:
        contains = filter_of(request).lower()
        wanted = _alarms(request)
        shown = []
        for ref in legs:
            if contains not in f'{ref.name()}\n{ref.remote()}'.lower():
                continue
            if wanted is not None and (ref.dialout is not None or not wanted & set(
                    quality.alarms(ref.member().audio(now)))):
                continue
            shown.append(ref)
        total, page = self.page(request, shown)
        return xml.collection('callLegs', total, [
            xml.element('callLeg', leg_fields(r, now, False), id=r.id) for r in page])


def remote_party(leg) -> str:
    """The user part of the far end: who called in, or whom we called."""
    return leg.caller if leg.incoming else leg.callee


def filter_of(request: Request) -> str:
    try:
        return _FILTER(request.query_params.get('filter', ''))
    except Invalid as exc:
        raise parameter_errors([ParameterError('filter', exc.error)]) from None


def _alarms(request: Request) -> set[str] | None:
    """§8.3.1 `alarms`: "all" or alarm names (separated by spaces; `|` too); None: no filter."""
    raw = request.query_params.get('alarms')
    if not raw:
        return None
    names = set(raw.replace('|', ' ').split())
    if names == {'all'}:
        return set(quality.ALARMS)
    if not names or not names <= set(quality.ALARMS):
        raise parameter_errors([ParameterError('alarms')])
    return names


def id_or_404(value: str, missing: str) -> str:
    """An id too long to be one of ours is simply not there."""
    if len(value) > 36:
        raise CiscoError(404, missing)
    return value
