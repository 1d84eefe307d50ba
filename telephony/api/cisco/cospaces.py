"""/api/v1/coSpaces and /coSpaces/<id>/accessMethods (CMS §6.1-6.5), /api/v1/ivrs (§8.9,
whose call IDs lead into coSpaces): the parameters as the
document lists them, in the dialect's conventions (api/cisco/app.py: form bodies, text/xml,
Location, collections with filter/offset/limit, parameterError). The uniqueness rules live
in the store (store/cospaces.py), inside its write transaction; their reasons come back
as `400 <duplicateCoSpaceUri/>` and the like."""
from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ...store import cospaces as store
from .errors import TOO_LONG, CiscoError, ParameterError, parameter_errors
from .fields import Field, Invalid, boolean, choice, no_such, number, text
from .forms import Form, read_form
from .profiles import LAYOUTS, refuse_links, refuse_short_passcode
from .resources import TENANT, Resource

if TYPE_CHECKING:
    from .app import CiscoApi

# §6.2: "alpha numeric characters ... '.', '-', '_' are the only special characters ...
# cannot start or end with '.' and '-'; cannot be used together; cannot be used multiple
# times in a row" (the §6.1 table's '!' is a garbling of '.')
_URI = re.compile(r'(?![.-])(?!.*[.-]{2})(?!.*[.-]$)[A-Za-z0-9._-]+')
_DIGITS = re.compile(r'[0-9]+')
PASSCODE_MIN, PASSCODE_MAX = 8, 63   # release notes 3.13: "0 or between 8 to 63 digits"
CALL_ID_DIGITS = 9                   # an auto-generated callId (§6.2.2)
CALL_ID_TRIES = 5                    # draws of a generated callId that another coSpace has


def uri_part(value: str) -> str:
    """A URI user part a caller dials, at most 200 characters."""
    if len(value) > 200:
        raise Invalid(TOO_LONG)
    if not _URI.fullmatch(value):
        raise Invalid()
    return value


def digits(max_len: int):
    def parse(value: str) -> str:
        if len(value) > max_len:
            raise Invalid(TOO_LONG)
        if not _DIGITS.fullmatch(value):
            raise Invalid()
        return value
    return parse


def passcode(value: str) -> str:
    """Digits, 8 to 63 of them (empty, which unsets, is the other choice)."""
    value = digits(PASSCODE_MAX)(value)
    if len(value) < PASSCODE_MIN:
        raise CiscoError(400, 'passcodeTooShort')   # §4.6
    return value


PROFILE = text(200)   # an ID of a profile; one of ours must exist (api/cisco/profiles.py)

COSPACES = Resource(
    store.COSPACES, 'coSpaces', 'coSpace', 'coSpaceDoesNotExist',
    (Field('name', text(200)),
     Field('uri', uri_part),
     Field('secondaryUri', uri_part),
     Field('callId', digits(200)),
     Field('cdrTag', text(100)),
     Field('passcode', passcode),
     Field('defaultLayout', choice(*LAYOUTS)),
     TENANT,
     Field('callLegProfile', PROFILE),
     Field('callProfile', PROFILE),
     Field('callBrandingProfile', PROFILE),
     Field('lobbyProfile', PROFILE),
     Field('dialInSecurityProfile', PROFILE),
     Field('nonMemberAccess', boolean, default='true'),
     Field('ownerJid', text(200)),
     Field('defaultAccessMethod', text(36))),
    # §6.1's response elements (tenant only when set)
    listed=('name', 'uri', 'secondaryUri', 'callId', 'tenant'),
    filter_on=('name', 'uri', 'secondaryUri', 'callId'))

ACCESS_METHODS = Resource(
    store.ACCESS_METHODS, 'accessMethods', 'accessMethod', 'accessMethodDoesNotExist',
    (Field('uri', uri_part),
     Field('callId', digits(200)),
     Field('passcode', passcode),
     Field('name', text(200)),
     Field('callLegProfile', PROFILE),
     Field('lobbyProfile', PROFILE),
     Field('dialInSecurityProfile', PROFILE),
     Field('scope', choice('public', 'private', 'member', 'directory')),
     Field('importance', number(0, 2**31 - 1))),
    listed=('uri', 'callId', 'passcode', 'callLegProfile'),   # §6.5.2
    filter_on=('uri', 'callId', 'name'), tenant_filter=False)

# §8.9.2; a tenant, tenant group or branding profile does not exist here (no such objects yet)
MAX_IVRS = 100
IVRS = Resource(
    store.IVRS, 'ivrs', 'ivr', 'ivrDoesNotExist',
    (Field('uri', uri_part, required=True),
     TENANT,
     Field('tenantGroup', no_such('tenantGroupDoesNotExist')),
     Field('ivrBrandingProfile', no_such('ivrBrandingProfileDoesNotExist')),
     Field('resolveCoSpaceCallIds', boolean, default='true'),
     Field('resolveLyncConferenceIds', boolean, default='false')),
    listed=('uri', 'tenant'),   # §8.9.1's response element, tenant only when set
    filter_on=('uri',), max_rows=MAX_IVRS, too_many='tooManyIvrs')

for _r in (COSPACES, ACCESS_METHODS, IVRS):   # the API's names are the store's columns
    assert {f.name for f in _r.fields} == set(store.FIELDS[_r.kind]), _r.kind


def new_call_id() -> str:
    return str(secrets.randbelow(9 * 10 ** (CALL_ID_DIGITS - 1)) + 10 ** (CALL_ID_DIGITS - 1))


class CoSpaceApi:
    """The coSpace paths of one CiscoApi: `coSpaces[/<id>[/accessMethods[/<id>]]]`."""

    def __init__(self, api: 'CiscoApi'):
        self.api = api

    @property
    def store(self) -> 'store.CoSpaceStore':
        return self.api.server.cospaces

    async def handle(self, request: Request, parts: list[str], user: str) -> Response:
        api, method = self.api, request.method
        if len(parts) == 1:
            return await api.collection(COSPACES, request, user, self.store,
                                        create=lambda: self.create_cospace(request, user))
        space_id = parts[1]
        if len(parts) == 2:
            return await api.single(COSPACES, space_id, request, user, self.store,
                                    modify=lambda: self.modify_cospace(space_id, request, user))
        if parts[2] != 'accessMethods' or len(parts) > 4:
            raise CiscoError(404, 'unrecognisedObject')
        if await self.store.get(store.COSPACES, space_id) is None:
            raise CiscoError(404, 'coSpaceDoesNotExist')
        prefix = f'coSpaces/{space_id}/accessMethods'
        if len(parts) == 3:
            return await api.collection(
                ACCESS_METHODS, request, user, self.store, equal={store.PARENT: space_id},
                create=lambda: api.create(ACCESS_METHODS, request, user, self.store,
                                          extra={store.PARENT: space_id}, location=prefix,
                                          guard=self._method_guard(space_id)))
        method_id = parts[3]
        row = await self.store.get(store.ACCESS_METHODS, method_id)
        if row is None or row[store.PARENT] != space_id:
            raise CiscoError(404, 'accessMethodDoesNotExist')
        if method == 'PUT':
            return await api.modify(ACCESS_METHODS, method_id, request, user, self.store,
                                    guard=self._method_guard(space_id))
        return await api.single(ACCESS_METHODS, method_id, request, user, self.store)

    async def create_cospace(self, request: Request, user: str) -> Response:
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        return await self._generating(form, None, lambda extra: self.api.create(
            COSPACES, request, user, self.store, form=form, extra=extra,
            guard=self._space_guard))

    async def modify_cospace(self, space_id: str, request: Request, user: str) -> Response:
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        row = await self.store.get(store.COSPACES, space_id)
        if row is None:
            raise CiscoError(404, COSPACES.missing)
        return await self._generating(form, row, lambda extra: self.api.modify(
            COSPACES, space_id, request, user, self.store, form=form, extra=extra,
            guard=self._space_guard))

    async def _space_guard(self, space: dict, changes: dict) -> None:
        """The profiles a coSpace names exist; a passcode it sets meets its policy."""
        profiles = self.api.server.profiles
        await refuse_links(profiles, changes)
        await refuse_short_passcode(profiles, space, None, changes.get('passcode'))

    def _method_guard(self, space_id: str):
        async def guard(method: dict, changes: dict) -> None:
            profiles = self.api.server.profiles
            await refuse_links(profiles, changes)
            if changes.get('passcode'):
                space = await self.store.get(store.COSPACES, space_id, secrets=True)
                await refuse_short_passcode(profiles, space, method, changes['passcode'])
        return guard

    async def _generating(self, form: Form, row: dict | None, write) -> Response:
        """§6.2.2: `requireCallId=true` and no callId (given or stored) writes a generated
        one; a generated one that another coSpace has is drawn again."""
        want = form.values.get('requireCallId')
        if 'requireCallId' in form.undecodable or want not in (None, '', 'true', 'false'):
            raise parameter_errors([ParameterError('requireCallId')])
        given = form.values.get('callId')
        stored = row.get('callId') if row is not None and given is None else None
        if want != 'true' or given or stored:
            return await write(None)
        for attempt in range(CALL_ID_TRIES):
            try:
                return await write({'callId': new_call_id()})
            except CiscoError as exc:
                if exc.reason != 'duplicateCoSpaceId' or attempt == CALL_ID_TRIES - 1:
                    raise
