"""The /api/v1 ASGI application, mounted by api/app.py: HTTP Basic for every request, then
the collection (GET list, POST create) or object (GET, PUT, DELETE) of a resource, or
system/status. Every answer is text/xml; a refusal is a 4xx with `<failureDetails>`, and
an unexpected error a 500 with an empty one, never JSON or a traceback."""
from __future__ import annotations

import logging
import time
from importlib import metadata
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ...store.cospaces import Clash
from ...store.dialrules import OUTBOUND, SECRETS, TooMany, hash_inbound_password
from . import xml
from .auth import BasicAuth
from .calls import CallsApi
from .cospaces import IVRS, CoSpaceApi
from .errors import MISSING, CiscoError, ParameterError, parameter_errors
from .fields import Invalid, number, text
from .forms import Form, read_form
from .profiles import ProfilesApi
from .resources import RESOURCES, Resource

if TYPE_CHECKING:
    from ..login_guard import LoginGuard
    from ..services import ApiServices

log = logging.getLogger('telephony.api.cisco')

PREFIX = '/api/v1'
STATUS = 'system/status'
TRUNK_REGISTRATION = ('proxy', 'user', 'state', 'lastStatus', 'lastReason', 'expires')
_OFFSET = number(0)
_FILTER = text(255)


def _version() -> str:
    try:
        return metadata.version('telephony')
    except metadata.PackageNotFoundError:
        return 'unknown'


def answer(status: int = 200, body: str = '', headers: dict | None = None) -> Response:
    return Response(body, status, headers=headers, media_type='text/xml')


def refusal(exc: CiscoError) -> Response:
    return answer(exc.status, xml.failure(exc.reason, exc.params), exc.headers)


def fields_from(resource: Resource, form: Form, creating: bool, require: bool = True) -> dict:
    """The resource's parameters in the form, parsed; unknown names are ignored. An empty
    value unsets a field (§4.4), back to its default if it has one; a required one cannot
    be unset. Creating, absent fields get their defaults and required ones must be there
    (unless not `require`: a CDR receiver made by PUT gets its uri later)."""
    errors: list[ParameterError] = []
    out: dict = {}
    for f in resource.fields:
        if f.name in form.undecodable:
            errors.append(ParameterError(f.name))
            continue
        raw = form.values.get(f.name)
        if raw is None:
            if creating:
                if f.required and require:
                    errors.append(ParameterError(f.name, MISSING))
                out[f.name] = f.default
        elif raw == '':
            if f.required and (not f.may_unset or (creating and require)):
                errors.append(ParameterError(f.name))   # §4.6 invalidValue: "an empty string"
            out[f.name] = f.default
        else:
            try:
                out[f.name] = f.parse(raw)
            except Invalid as exc:
                errors.append(ParameterError(f.name, exc.error))
    if errors:
        raise parameter_errors(errors)
    return out


def _query_number(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == '':
        return None
    try:
        return _OFFSET(raw)
    except Invalid as exc:
        raise parameter_errors([ParameterError(name, exc.error)]) from None


def _shown(row: dict, names) -> dict:
    return {n: row.get(n) for n in names if n not in SECRETS}


class CiscoApi:
    def __init__(self, server: 'ApiServices', guard: 'LoginGuard'):
        self.server = server
        self.auth = BasicAuth(server, guard)
        self.cospaces = CoSpaceApi(self)
        self.calls = CallsApi(self)
        self.profiles = ProfilesApi(self)

    @property
    def store(self):
        return self.server.dial_rules

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] != 'http':
            if scope['type'] == 'websocket':
                await send({'type': 'websocket.close', 'code': 1008})
            return
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except CiscoError as exc:
            response = refusal(exc)
        except Exception:
            log.exception('event=cisco-api-error method=%s path=%s', request.method,
                          request.url.path)
            response = refusal(CiscoError(500))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        user = await self.auth.user(request)
        path, root = request.scope['path'], request.scope.get('root_path', '')
        rest = (path[len(root):] if root and path.startswith(root) else path).strip('/')
        method = request.method
        if rest == STATUS:
            if method != 'GET':
                raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET'})
            return answer(body=xml.document(await self.status()))
        parts = rest.split('/')
        if self.profiles.handles(parts):
            return await self.profiles.handle(request, parts, user.username)
        if parts[0] == 'coSpaces':
            return await self.cospaces.handle(request, parts, user.username)
        if parts[0] == IVRS.path and len(parts) <= 2:   # the coSpaces' store holds IVRs too
            if len(parts) == 1:
                return await self.collection(IVRS, request, user.username, self.server.cospaces)
            return await self.single(IVRS, parts[1], request, user.username, self.server.cospaces)
        if parts[0] in ('calls', 'callLegs', 'participants'):
            return await self.calls.handle(request, parts, user.username)
        if rest in RESOURCES:
            resource, rule_id = RESOURCES[rest], None
        else:
            parent, _, rule_id = rest.rpartition('/')
            resource = RESOURCES.get(parent)
            if resource is None or not rule_id:
                raise CiscoError(404, 'unrecognisedObject')
        if rule_id is None:
            return await self.collection(resource, request, user.username, self.store)
        return await self.single(resource, rule_id, request, user.username, self.store)

    async def collection(self, resource: Resource, request: Request, user: str, store, *,
                         equal: dict | None = None, create=None) -> Response:
        """GET lists, POST creates (`create()` when the resource has its own)."""
        method = request.method
        if method == 'GET':
            return await self.list(resource, request, store, equal)
        if method == 'POST' or (method == 'PUT' and resource.put_creates):
            if create is not None:
                return await create()
            # §10.4.2: a PUT on /system/cdrReceivers creates one too, uri set later
            return await self.create(resource, request, user, store, require=method == 'POST')
        raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, POST'})

    async def single(self, resource: Resource, rule_id: str, request: Request, user: str,
                     store, *, modify=None) -> Response:
        """GET shows, PUT changes (`modify()` when the resource has its own), DELETE removes."""
        method = request.method
        if method == 'GET':
            row = await store.get(resource.kind, rule_id)
            if row is None:
                raise CiscoError(404, resource.missing)
            shown = _shown(row, (f.name for f in resource.fields))
            return answer(body=xml.document(xml.element(resource.element, shown, id=rule_id)))
        if method == 'PUT':
            if modify is not None:
                return await modify()
            return await self.modify(resource, rule_id, request, user, store)
        if method == 'DELETE':
            if not await store.delete(resource.kind, rule_id):
                raise CiscoError(404, resource.missing)
            log.info('event=cisco-change user=%s action=delete kind=%s id=%s', user,
                     resource.kind, rule_id)
            return answer()
        raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, PUT, DELETE'})

    def paging(self, request: Request) -> tuple[int, int]:
        """`offset` and `limit` (§4.2.2), the limit at most cisco_list_limit."""
        offset = _query_number(request, 'offset') or 0
        cap = self.server.settings.cisco_list_limit
        limit = _query_number(request, 'limit')
        return offset, cap if limit is None else min(limit, cap)

    def log_change(self, user: str, action: str, kind: str, obj: str,
                   fields=()) -> None:
        """The change log names the fields changed, never their values."""
        log.info('event=cisco-change user=%s action=%s kind=%s id=%s fields=%s', user, action,
                 kind, obj, ','.join(sorted(fields)))

    async def list(self, resource: Resource, request: Request, store,
                   equal: dict | None = None, options: dict | None = None) -> Response:
        """`options`: the store's own list arguments (a profile's usageFilter)."""
        offset, limit = self.paging(request)
        try:
            contains = _FILTER(request.query_params.get('filter', ''))
        except Invalid as exc:
            raise parameter_errors([ParameterError('filter', exc.error)]) from None
        equal = dict(equal or {})
        tenant = request.query_params.get('tenantFilter')
        if tenant and resource.tenant_filter:
            equal['tenant'] = tenant
        profile = request.query_params.get('callLegProfileFilter')
        if profile and resource.field('callLegProfile') is not None:   # §6.1, §6.5.2
            equal['callLegProfile'] = profile
        total, rows = await store.list(resource.kind, offset=offset, limit=limit,
                                       contains=contains, fields=resource.filter_on,
                                       equal=equal, **(options or {}))
        items = [xml.element(resource.element, _shown(r, resource.listed), id=r['id'])
                 for r in rows]
        return answer(body=xml.document(xml.collection(resource.kind, total, items)))

    async def create(self, resource: Resource, request: Request, user: str, store,
                     require: bool = True, *, form: Form | None = None, extra: dict | None = None,
                     location: str | None = None, guard=None) -> Response:
        """`extra`: fields the request does not give (an access method's coSpace, a generated
        callId); `location`: the collection's path when it is not the resource's; `guard`:
        awaited with (the object as it will be, the changes) before it is written."""
        if form is None:
            form = await read_form(request, self.server.settings.cisco_max_body_bytes)
        fields = {**fields_from(resource, form, creating=True, require=require), **(extra or {})}
        fields = hash_inbound_password(fields, None, self.server.settings.domain)
        errors = resource.check(fields)
        if errors:
            raise parameter_errors(errors)
        await self.refuse_taken_login(resource, fields, None)
        if guard is not None:
            await guard(fields, fields)
        try:
            rule_id = await store.create(resource.kind, fields, resource.max_rows)
        except TooMany:
            raise CiscoError(400, resource.too_many) from None
        except Clash as exc:
            raise CiscoError(400, exc.reason) from None
        log.info('event=cisco-change user=%s action=create kind=%s id=%s fields=%s', user,
                 resource.kind, rule_id, ','.join(sorted(form.values.keys() & fields.keys())))
        return answer(headers={'Location': f'{PREFIX}/{location or resource.path}/{rule_id}'})

    async def modify(self, resource: Resource, rule_id: str, request: Request,
                     user: str, store, *, form: Form | None = None,
                     extra: dict | None = None, guard=None) -> Response:
        if form is None:
            form = await read_form(request, self.server.settings.cisco_max_body_bytes)
        # with the stored password: the check must see the trunk the router will read
        row = await store.get(resource.kind, rule_id, secrets=True)
        if row is None:
            raise CiscoError(404, resource.missing)
        changes = {**fields_from(resource, form, creating=False), **(extra or {})}
        changes = hash_inbound_password(changes, row, self.server.settings.domain)
        errors = resource.check({**row, **changes})
        if errors:
            raise parameter_errors(errors)
        await self.refuse_taken_login(resource, changes, rule_id)
        if guard is not None:
            await guard({**row, **changes}, changes)
        try:
            found = await store.update(resource.kind, rule_id, changes)
        except Clash as exc:
            raise CiscoError(400, exc.reason) from None
        if not found:
            raise CiscoError(404, resource.missing)   # deleted meanwhile
        log.info('event=cisco-change user=%s action=modify kind=%s id=%s fields=%s', user,
                 resource.kind, rule_id, ','.join(sorted(changes)))
        return answer()

    async def refuse_taken_login(self, resource: Resource, changes: dict,
                                 rule_id: str | None) -> None:
        """A trunk's inbound user name is nobody else's: not a SIP account's of our domain
        (digest realms are the same, so one name would stand for two callers), not another
        trunk's. Accounts made later with a trunk's name win at run time (sip/access.py)."""
        user = changes.get('trunkInboundUsername') if resource.kind == OUTBOUND else None
        if not user:
            return
        _, same = await self.store.list(OUTBOUND, equal={'trunkInboundUsername': user}, limit=2)
        if any(r['id'] != rule_id for r in same) or \
                await self.server.db.sip_account(user, self.server.settings.domain) is not None:
            raise CiscoError(400, 'duplicateTrunkInboundUsername')

    async def status(self) -> str:
        server = self.server
        legs = {'callLegsMaxActive': server.cdr.max_active,
                'callLegsCompleted': server.cdr.completed,
                'cdrCorrelatorIndex': await server.cdr_outbox.next_correlator_index()}
        return status_xml(server.status(), server.trunk_registrations.status(), _version(),
                          time.time(), legs)


def status_xml(st: dict, registrations: list[dict], version: str, now: float,
               counts: dict | None = None) -> str:
    """§10.1's fields that mean something here (from the server's status(); `counts` has
    callLegsMaxActive, callLegsCompleted and cdrCorrelatorIndex), and ours: the trunks'
    outbound registrations."""
    trunks = xml.collection('trunkRegistrations', len(registrations), [
        xml.element('trunkRegistration', {k: r.get(k) for k in TRUNK_REGISTRATION},
                    id=str(r.get('id', ''))) for r in registrations])
    return xml.element('status', {
        'softwareVersion': version,
        'uptimeSeconds': int(st['uptime']),
        'clusterEnabled': False,
        'cdrTime': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now)),   # RFC 3339, as CDRs
        'callLegsActive': st['calls'],
        **(counts or {}),
        'trunkRegistrations': [trunks]})
