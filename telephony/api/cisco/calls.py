"""/api/v1/calls and /callLegs (CMS §8.1, §8.3) over the conference rooms running now: a
running room is a call (its id new for each run of the room), its members are the call's
legs. GET lists and shows them with the leg's media figures (media/quality.py), PUT sets
`rxAudioMute` (the others do not hear the leg: the mixer's mute) and `txAudioMute` (the leg
hears nothing: deaf), DELETE disconnects the leg (its call is hung up). Nothing is stored:
a call that ended is gone (`callDoesNotExist`)."""
from __future__ import annotations

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
    from ...conference.room import ConferenceRoom, ConferenceRooms
    from .app import CiscoApi

LEG_CONTROLS = Resource('callLegs', 'callLegs', 'callLeg', 'callLegDoesNotExist',
                        (Field('rxAudioMute', boolean), Field('txAudioMute', boolean)),
                        listed=(), filter_on=())
_FILTER = text(255)


def call_fields(room: 'ConferenceRoom', now: float, full: bool) -> dict:
    """§8.1.1 (a list's) or §8.1.3 (one call's) elements of a room."""
    head = {'name': room.description, 'coSpace': room.call_space(),
            'callCorrelator': room.call_id}
    if not full:
        return head
    n = len(room.legs)
    return {**head, 'callType': 'coSpace' if room.cospace else 'adHoc',
            'durationSeconds': int(now - room.started), 'numCallLegs': n,
            'maxCallLegs': room.max_members, 'numParticipantsLocal': n,
            'numParticipantsRemote': 0, 'numDistributedInstances': 0,
            'recording': room.mix.recorder is not None}


def leg_fields(room: 'ConferenceRoom', uuid: str, now: float, full: bool) -> dict:
    """§8.3.1 (a list's) or §8.3.6 (one leg's) elements of a member."""
    member = room.legs[uuid]
    leg = member.call.leg
    seconds = now - member.joined
    audio = member.audio(now)
    held = quality.alarms(audio)
    head = {'name': member.call.info.get('from') or '', 'remoteParty': remote_party(leg),
            'call': room.call_id,
            'call_quality': member.windows.quality(member.mix.endpoint.stats(), now, member.joined),
            'alarms': [f'<alarms>{"".join(f"<{a}/>" for a in held)}</alarms>'] if held else None}
    if not full:
        return head
    direction = 'incoming' if leg.incoming else 'outgoing'
    config = xml.element('configuration', {'rxAudioMute': member.mix.mute,
                                           'txAudioMute': member.mix.deaf})
    status = xml.element('status', {
        'state': 'connected', 'durationSeconds': int(seconds),
        'direction': direction,
        'sipCallId': leg.invite.call_id if leg.invite is not None else None,
        'recording': room.mix.recorder is not None,
        'rxAudio': [xml.element('rxAudio', audio['rxAudio'])],
        'txAudio': [xml.element('txAudio', audio['txAudio'])],
        'call_quality': head['call_quality']})
    return {**head, 'type': 'sip', 'direction': direction,
            'configuration': [config], 'status': [status]}


class CallsApi:
    """`calls[/<id>[/callLegs]]` and `callLegs[/<id>]` of one CiscoApi."""

    def __init__(self, api: 'CiscoApi'):
        self.api = api

    @property
    def rooms(self) -> 'ConferenceRooms':
        return self.api.server.conference_rooms

    async def handle(self, request: Request, parts: list[str], user: str) -> Response:
        from .app import answer
        method = request.method
        if parts[0] == 'callLegs' and parts[2:] == ['callLegProfileTrace']:   # §8.4.7
            return await leg_profile_trace(self, request, parts[1])
        if len(parts) > (3 if parts[0] == 'calls' else 2) or parts[2:] not in ([], ['callLegs']):
            raise CiscoError(404, 'unrecognisedObject')
        if len(parts) != 2 and method != 'GET':   # POST (§8.1.2, §8.3.2: dial out): not here
            raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET'})
        now = self.rooms.now()
        if len(parts) == 1:
            body = self.list_calls(request, now) if parts[0] == 'calls' else \
                self.list_legs(request, self.rooms.running(), now)
            return answer(body=xml.document(body))
        if parts[0] == 'calls':
            room = self.rooms.call(_ID_or_404(parts[1], 'callDoesNotExist'))
            if room is None:
                raise CiscoError(404, 'callDoesNotExist')
            if len(parts) == 3:
                return answer(body=xml.document(self.list_legs(request, [room], now)))
            if method == 'GET':
                return answer(body=xml.document(xml.element(
                    'call', call_fields(room, now, True), id=room.call_id)))
            if method == 'DELETE':   # ends the call: every leg is hung up, the lobby's too
                room.end()
                self.api.log_change(user, 'delete', 'calls', room.call_id)
                return answer()
            raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, DELETE'})
        found = self.rooms.leg(_ID_or_404(parts[1], 'callLegDoesNotExist'))
        if found is None:
            raise CiscoError(404, 'callLegDoesNotExist')
        room, uuid = found
        if method == 'GET':
            return answer(body=xml.document(xml.element(
                'callLeg', leg_fields(room, uuid, now, True), id=uuid)))
        if method == 'PUT':
            await self.modify(request, room, uuid, user)
            return answer()
        if method == 'DELETE':
            room.kick(uuid)
            self.api.log_change(user, 'delete', 'callLegs', uuid)
            return answer()
        raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, PUT, DELETE'})

    async def modify(self, request: Request, room: 'ConferenceRoom', uuid: str,
                     user: str) -> None:
        from .app import fields_from
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        if uuid not in room.legs:   # it left while the body arrived
            raise CiscoError(404, 'callLegDoesNotExist')
        changes = {k: v for k, v in fields_from(LEG_CONTROLS, form, creating=False).items()
                   if v is not None}
        mix = {'rxAudioMute': 'mute', 'txAudioMute': 'deaf'}
        room.update(uuid, {mix[k]: v == 'true' for k, v in changes.items()})
        self.api.log_change(user, 'modify', 'callLegs', uuid, changes)

    def _page(self, request: Request, items: list) -> tuple[int, list]:
        offset, limit = self.api.paging(request)
        return len(items), items[offset:offset + limit]

    def list_calls(self, request: Request, now: float) -> str:
        contains = _filter(request).lower()
        space = request.query_params.get('coSpaceFilter')
        rooms = [r for r in self.rooms.running()
                 if contains in r.description.lower()
                 and (not space or r.call_space() == space.lower())]
        total, page = self._page(request, rooms)
        return xml.collection('calls', total, [
            xml.element('call', call_fields(r, now, False), id=r.call_id) for r in page])

    def list_legs(self, request: Request, rooms: list['ConferenceRoom'], now: float) -> str:
        contains = _filter(request).lower()
        wanted = _alarms(request)
        legs = []
        for room in rooms:
            for uuid, member in room.legs.items():
                seen = f'{member.call.info.get("from") or ""}\n{remote_party(member.call.leg)}'
                if contains in seen.lower() and \
                        (wanted is None or wanted & set(quality.alarms(member.audio(now)))):
                    legs.append((room, uuid))
        total, page = self._page(request, legs)
        return xml.collection('callLegs', total, [
            xml.element('callLeg', leg_fields(r, u, now, False), id=u) for r, u in page])


def remote_party(leg) -> str:
    """The user part of the far end: who called in, or whom we called."""
    return leg.caller if leg.incoming else leg.callee


def _filter(request: Request) -> str:
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


def _ID_or_404(value: str, missing: str) -> str:
    """An id too long to be one of ours is simply not there."""
    if len(value) > 36:
        raise CiscoError(404, missing)
    return value
