"""POST /api/v1/calls (§8.1.2), dial-out (§8.1.6 participants, §8.3.2 callLegs), the
participants of a call (§8.1.5) and of the server (§8.11), and the bulk PUT on
`/calls/<id>/participants/*` (§8.1.7). A participant is one leg here: its id is its leg's.
The calls and legs themselves are conference/dialout.py's and api/cisco/calls.py's."""
from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ...calls.outgoing import DialFailed
from ...conference.dialout import Refused
from ...store.cospaces import COSPACES
from . import xml
from .calls import LEG_CONTROLS, LegRef, leg_fields
from .errors import MISSING, TOO_LONG, CiscoError, ParameterError, parameter_errors
from .fields import Field, Invalid, choice, text
from .forms import read_form
from .profiles import refuse_links
from .resources import Resource

if TYPE_CHECKING:
    from ...conference.room import ConferenceRoom
    from .calls import CallsApi

NEW_CALL = Resource('calls', 'calls', 'call', 'callDoesNotExist',
                    (Field('coSpace', text(36)), Field('name', text(200))),
                    listed=(), filter_on=())
# §8.1.6/§8.3.2: remoteParty (required; movedParticipant is not done), the call leg profile
# (callLegProfileDoesNotExist; the leg level of its profiles) and the mute overrides applied
# on joining
DIAL = Resource('participants', 'participants', 'participant', 'participantDoesNotExist',
                (Field('remoteParty', text(200), required=True), Field('callLegProfile', text(200)),
                 *LEG_CONTROLS.fields), listed=(), filter_on=())
FILTER_IDS_MAX = 20    # §8.1.7: "up to 20 participant ids"
_MODE = choice('exclude', 'selected')
_ID = text(36)
DEFAULT_CALLER = 'conference'   # the From user of an ad hoc call's dial-outs


def participant_fields(ref: LegRef, now: float, full: bool) -> dict:
    """§8.11.1 (a list's) or §8.11.3 (one participant's) elements: its one leg's."""
    leg = leg_fields(ref, now, full)
    state = ref.dialout.state if ref.dialout is not None else 'connected'
    head = {'name': leg['name'], 'call': leg['call'], 'uri': ref.remote(), 'numCallLegs': 1,
            'status': [xml.element('status', {'state': state})]}
    if not full:
        return head
    return {**head, 'configuration': leg['configuration']}


class ParticipantsApi:
    def __init__(self, calls: 'CallsApi'):
        self.calls = calls
        self.api = calls.api

    # --- POST /calls ----------------------------------------------------------------------
    async def create_call(self, request: Request, user: str) -> Response:
        from .app import answer, fields_from
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        fields = fields_from(NEW_CALL, form, creating=True)
        space, name = fields['coSpace'], fields['name']
        if not space and not name:   # §8.1.2: "If not set then name must be set"
            raise parameter_errors([ParameterError('coSpace', MISSING)])
        if space:
            row = await self.api.server.cospaces.get(COSPACES, space)
            if row is None:
                raise CiscoError(400, 'coSpaceDoesNotExist')
            space, name = row['id'], name or row.get('name') or ''
        try:
            room = await self.calls.dialouts.create_call(space, name or '')
        except Refused as exc:
            raise CiscoError(400, exc.reason) from None
        self.api.log_change(user, 'create', 'calls', room.call_id, form.values.keys() & fields.keys())
        return answer(headers={'Location': f'/api/v1/calls/{room.call_id}'})

    # --- /calls/<id>/callLegs, /participants, /participants/* -------------------------------
    async def of_call(self, request: Request, room: 'ConferenceRoom', sub: list[str], user: str,
                      now: float) -> Response:
        from .app import answer
        method = request.method
        if sub == ['participants', '*']:
            if method != 'PUT':
                raise CiscoError(405, 'invalidOperation', headers={'Allow': 'PUT'})
            await self.bulk(request, room, user)
            return answer()
        if method == 'POST':
            return await self.dial(request, room, user, sub[0])
        if method != 'GET':
            raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, POST'})
        legs = self.calls.legs([room])
        if sub == ['callLegs']:
            return answer(body=xml.document(self.calls.list_legs(request, legs, now)))
        return answer(body=xml.document(self.list(request, legs, now)))

    async def dial(self, request: Request, room: 'ConferenceRoom', user: str,
                   kind: str) -> Response:
        """Dial `remoteParty` into the call; 200 with Location at once (state `initial`)."""
        from .app import answer, fields_from
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        fields = fields_from(DIAL, form, creating=True)
        if self.calls.rooms.rooms.get(room.uuid) is not room:   # ended while the body came
            raise CiscoError(404, 'callDoesNotExist')
        await refuse_links(self.api.server.profiles, {'callLegProfile': fields['callLegProfile']})
        wanted = {m: fields[k] == 'true' for k, m in (('rxAudioMute', 'mute'),
                                                      ('txAudioMute', 'deaf')) if fields[k]}
        try:
            d = await self.calls.dialouts.dial(room, fields['remoteParty'],
                                               await self._caller(room), wanted,
                                               fields['callLegProfile'] or None)
        except Refused as exc:
            raise CiscoError(400, exc.reason) from None
        except DialFailed:   # no outbound rule, a transform's deny, no trunk could be tried
            raise parameter_errors([ParameterError('remoteParty')]) from None
        self.api.log_change(user, 'create', kind, d.id, form.values.keys() & fields.keys())
        return answer(headers={'Location': f'/api/v1/{kind}/{d.id}'})

    async def _caller(self, room: 'ConferenceRoom') -> str:
        """Our From user: the coSpace's uri, as a Meeting Server dials from the space."""
        space = room.call_space()
        row = await self.api.server.cospaces.get(COSPACES, space) if space else None
        return (row or {}).get('uri') or DEFAULT_CALLER

    async def bulk(self, request: Request, room: 'ConferenceRoom', user: str) -> None:
        """§8.1.7: rxAudioMute/txAudioMute for every participant but `filterIds` (mode
        exclude, the default) or for those only (selected). Per-participant outcomes are
        not returned."""
        from .app import fields_from
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        changes = {k: v for k, v in fields_from(LEG_CONTROLS, form, creating=False).items()
                   if v is not None}
        raw_ids = form.values.get('filterIds', request.query_params.get('filterIds', ''))
        raw_mode = form.values.get('mode', request.query_params.get('mode', '')) or 'exclude'
        errors = []
        ids = {i.strip().lower() for i in raw_ids.split(',') if i.strip()}
        if len(ids) > FILTER_IDS_MAX:
            errors.append(ParameterError('filterIds', TOO_LONG))
        elif any(_bad_id(i) for i in ids):
            errors.append(ParameterError('filterIds'))
        try:
            mode = _MODE(raw_mode)
        except Invalid as exc:
            errors.append(ParameterError('mode', exc.error))
        if errors:
            raise parameter_errors(errors)
        chosen = [ref for ref in self.calls.legs([room])
                  if (ref.id in ids) == (mode == 'selected')]
        for ref in chosen:
            ref.configure(self.calls.dialouts, changes)
        self.api.log_change(user, 'modify', 'participants', f'{room.call_id}/*', changes)

    # --- /participants[/<id>[/callLegs]] ----------------------------------------------------
    async def handle(self, request: Request, parts: list[str], user: str) -> Response:
        from .app import answer
        method = request.method
        if len(parts) > 3 or parts[2:] not in ([], ['callLegs']):
            raise CiscoError(404, 'unrecognisedObject')
        now = self.calls.rooms.now()
        if len(parts) == 1:
            if method != 'GET':
                raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET'})
            legs = self.calls.legs(self.calls.rooms.running())
            return answer(body=xml.document(self.list(request, legs, now)))
        ref = self.calls.find_leg(parts[1], 'participantDoesNotExist')
        if len(parts) == 3:
            if method != 'GET':
                raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET'})
            return answer(body=xml.document(self.calls.list_legs(request, [ref], now)))
        if method == 'GET':
            return answer(body=xml.document(xml.element(
                'participant', participant_fields(ref, now, True), id=ref.id)))
        if method == 'PUT':
            await self.calls.modify(request, ref, user, 'participants', 'participantDoesNotExist')
            return answer()
        if method == 'DELETE':
            ref.drop()
            self.api.log_change(user, 'delete', 'participants', ref.id)
            return answer()
        raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, PUT, DELETE'})

    def list(self, request: Request, legs: list[LegRef], now: float) -> str:
        from .calls import filter_of
        contains = filter_of(request).lower()
        shown = [ref for ref in legs if contains in f'{ref.name()}\n{ref.remote()}'.lower()]
        total, page = self.calls.page(request, shown)
        return xml.collection('participants', total, [
            xml.element('participant', participant_fields(r, now, False), id=r.id)
            for r in page])


def _bad_id(value: str) -> bool:
    try:
        _ID(value)
    except Invalid:
        return True
    return False
