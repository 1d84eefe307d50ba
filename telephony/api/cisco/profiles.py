"""/api/v1/callProfiles (CMS §8.2), /callLegProfiles (§8.4), /dtmfProfiles (§8.8),
/dialInSecurityProfiles (§14) and /system/profiles (§10.5): every parameter the document
lists is accepted; the ones that change audio or dial-in here are held to their documented
values, the video/presentation ones to their documented enumeration or type. Collections
list with filter (on `name`), offset/limit and usageFilter=referenced|unreferenced.

`refuse_links` is what a coSpace, access method or system/profiles write asks before it
names a profile (`callLegProfileDoesNotExist`, ...); `refuse_short_passcode` checks a passcode
being set against the dial-in security profile in force where it is set (§14:
passcodeTooShort)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from starlette.requests import Request
from starlette.responses import Response

from ...dialplan.confprofiles import LEG, LINKS, PasscodePolicy, Resolved
from ...store import profiles as store
from . import xml
from .errors import TOO_LONG, CiscoError, ParameterError, parameter_errors
from .fields import Field, Invalid, boolean, choice, no_such, text
from .forms import read_form
from .resources import Resource

if TYPE_CHECKING:
    from .app import CiscoApi
    from .calls import CallsApi

# §8.4.3 defaultLayout, a coSpace's too (§6.2)
LAYOUTS = ('allEqual', 'speakerOnly', 'telepresence', 'stacked', 'allEqualQuarters',
           'allEqualNinths', 'allEqualSixteenths', 'allEqualTwentyFifths', 'onePlusFive',
           'onePlusSeven', 'onePlusNine', 'automatic', 'onePlusN')
_INTEGER = re.compile(r'[+-]?[0-9]{1,10}')
_DTMF = re.compile(r'[0-9*#A-Da-d]+')
MAX_PROFILES = 1000   # per kind (ours: tooManyProfiles)
NAME = text(200)      # §14.2: "a maximum length of 200 characters"


def count(lo: int, hi: int, step: int = 1):
    """A Number kept as the text the store holds ('20', not 20), within [lo, hi]."""
    def parse(value: str) -> str:
        if not _INTEGER.fullmatch(value.strip()):
            raise Invalid()
        n = int(value)
        if not lo <= n <= hi or n % step:
            raise Invalid()
        return str(n)
    return parse


def min_passcode_length(value: str) -> str:
    """§14.2: "0 or between 8 to 63 digits in length (inclusive)"."""
    n = count(0, 63)(value)
    if 0 < int(n) < 8:
        raise Invalid()
    return n


def dtmf_sequence(value: str) -> str:
    """A DTMF string (§8.8: *6 and the like): keys a phone can send, at most 32."""
    if len(value) > 32:
        raise Invalid(TOO_LONG)
    if not _DTMF.fullmatch(value):
        raise Invalid()
    return value


def _fields(kind: str, parsers: dict[str, object], defaults: dict[str, str] | None = None,
            fallback=None) -> tuple[Field, ...]:
    """The store's columns of `kind`, each with its parser (`fallback` for the rest)."""
    defaults = defaults or {}
    return tuple(Field(name, parsers.get(name, fallback), default=defaults.get(name))
                 for name in store.FIELDS[kind])


NUMBER = count(0, 2**31 - 1)
ON_OFF = ('disabled', 'manual', 'automatic')

CALL_PROFILES = Resource(
    store.CALL_PROFILES, 'callProfiles', 'callProfile', 'callProfileDoesNotExist',
    _fields(store.CALL_PROFILES, {
        'participantLimit': count(1, 10000), 'recordingMode': choice(*ON_OFF),
        'lockMode': choice('all', 'needsActivation'), 'sipRecorderUri': text(255),
        'sipStreamerUri': text(255), 'streamingMode': choice(*ON_OFF),
        'passcodeMode': choice('required', 'timeout'), 'passcodeTimeout': count(1, 300),
        'lyncConferenceMode': choice('dualHomeCluster', 'dualHomeCallBridge', 'gateway'),
        'muteBehavior': choice('linked', 'separate'), 'messageBannerText': text(255),
        'logoFileName': text(128),
        'logoPosition': choice('leftTop', 'leftBottom', 'rightTop', 'rightBottom'),
        'name': NAME},
        # §8.2.2: "If this parameter is not supplied in a create (POST) operation, it
        # defaults to manual"
        defaults={'recordingMode': 'manual', 'streamingMode': 'manual'}, fallback=boolean),
    listed=('name', 'participantLimit', 'passcodeMode'), filter_on=('name',),
    tenant_filter=False,
    max_rows=MAX_PROFILES, too_many='tooManyProfiles')

CALL_LEG_PROFILES = Resource(
    store.CALL_LEG_PROFILES, 'callLegProfiles', 'callLegProfile', 'callLegProfileDoesNotExist',
    _fields(store.CALL_LEG_PROFILES, {
        'defaultLayout': choice(*LAYOUTS),
        'presentationDisplayMode': choice('dualStream', 'singleStream'),
        'joinToneParticipantThreshold': count(0, 100),
        'leaveToneParticipantThreshold': count(0, 100),
        'videoMode': choice('auto', 'disabled'),
        'sipMediaEncryption': choice('optional', 'required', 'prohibited'),
        'audioPacketSizeMs': count(10, 60, 10),   # what G.711 RTP here sends: 10 ms steps
        'deactivationMode': choice('deactivate', 'disconnect', 'remainActivated'),
        'deactivationModeTime': count(0, 86400),
        'bfcpMode': choice('serverOnly', 'serverAndClient'),
        'name': NAME, 'maxCallDurationTime': count(1, 2**31 - 1),
        'qualityMain': choice('unrestricted', 'max1080p30', 'max720p30', 'max480p30',
                              'max1080p60'),
        'qualityPresentation': choice('unrestricted', 'max1080p30', 'max720p5', 'max720p30'),
        'participantCounter': choice('never', 'auto', 'always'),
        'layoutTemplate': no_such('layoutTemplateDoesNotExist'),
        'audioGainMode': choice('disabled', 'agc'),
        'meetingTitlePosition': choice('disabled', 'top', 'middle', 'bottom'),
        'renameParticipantAllowed': choice('none', 'self', 'participants'),
        'audioGainDb': count(-60, 60, 10)}, fallback=boolean),
    listed=('name', 'needsActivation', 'rxAudioMute', 'txAudioMute'), filter_on=('name',),
    tenant_filter=False,
    max_rows=MAX_PROFILES, too_many='tooManyProfiles')

DTMF_PROFILES = Resource(
    store.DTMF_PROFILES, 'dtmfProfiles', 'dtmfProfile', 'dtmfProfileDoesNotExist',
    _fields(store.DTMF_PROFILES, {}, fallback=dtmf_sequence),
    listed=('muteSelfAudio', 'unmuteSelfAudio', 'toggleMuteSelfAudio'),
    filter_on=('muteSelfAudio', 'unmuteSelfAudio', 'toggleMuteSelfAudio'), tenant_filter=False,
    max_rows=MAX_PROFILES, too_many='tooManyProfiles')

SECURITY_PROFILES = Resource(
    store.SECURITY_PROFILES, 'dialInSecurityProfiles', 'dialInSecurityProfile',
    'dialInSecurityProfileDoesNotExist',
    _fields(store.SECURITY_PROFILES, {'name': NAME, 'minPasscodeLength': min_passcode_length,
                                      'allowOutOfPolicy': boolean},
            defaults={'allowOutOfPolicy': 'true'}),   # §14.3: defaults to "true" on POST
    listed=('name', 'minPasscodeLength', 'allowOutOfPolicy'), filter_on=('name',),
    tenant_filter=False,
    max_rows=MAX_PROFILES, too_many='tooManyProfiles')

PROFILES = {r.path: r for r in (CALL_PROFILES, CALL_LEG_PROFILES, DTMF_PROFILES,
                                SECURITY_PROFILES)}
BY_LINK = {LINKS[k]: PROFILES[store.KIND_OF[k]] for k in LINKS}   # 'callProfile' -> its kind

SYSTEM = Resource(
    store.SYSTEM, 'system/profiles', 'profiles', 'unrecognisedObject',
    _fields(store.SYSTEM, {'userProfile': no_such('userProfileDoesNotExist'),
                           'ivrBrandingProfile': no_such('ivrBrandingProfileDoesNotExist'),
                           'webBridgeProfile': no_such('webBridgeProfileDoesNotExist')},
            fallback=text(200)),
    listed=(), filter_on=(), tenant_filter=False)

for _r in (*PROFILES.values(), SYSTEM):
    assert all(f.parse is not None for f in _r.fields), _r.kind
    assert {f.name for f in _r.fields} == set(store.FIELDS[_r.kind]), _r.kind


async def refuse_links(profiles: 'store.ProfileStore', changes: dict) -> None:
    """A profile a write names must exist: `<kind>DoesNotExist` (§4.6)."""
    for link, resource in BY_LINK.items():
        value = changes.get(link)
        if value and not await profiles.exists(resource.kind, value):
            raise CiscoError(400, resource.missing)


async def refuse_short_passcode(profiles: 'store.ProfileStore', space: dict | None,
                                method: dict | None, passcode: str | None) -> None:
    """A passcode being set (coSpace or access method, as the rows will be) shorter than the
    minPasscodeLength in force there: passcodeTooShort (§4.6, §14.1.1)."""
    if not passcode:
        return
    policy = PasscodePolicy.from_resolved(await profiles.resolve_rows(space, method))
    if policy.too_short(passcode):
        raise CiscoError(400, 'passcodeTooShort')


class ProfilesApi:
    """The four profile collections and system/profiles of one CiscoApi."""

    def __init__(self, api: 'CiscoApi'):
        self.api = api

    @property
    def store(self) -> 'store.ProfileStore':
        return self.api.server.profiles

    def handles(self, parts: list[str]) -> bool:
        return (parts[0] in PROFILES and len(parts) <= 2) or parts == ['system', 'profiles']

    async def handle(self, request: Request, parts: list[str], user: str) -> Response:
        if parts == ['system', 'profiles']:
            return await self.system(request, user)
        resource, api = PROFILES[parts[0]], self.api
        if len(parts) == 1:
            if request.method == 'GET':
                return await api.list(resource, request, self.store,
                                      options=_usage(request))
            return await api.collection(resource, request, user, self.store)
        return await api.single(resource, parts[1], request, user, self.store)

    async def system(self, request: Request, user: str) -> Response:
        """§10.5: GET shows the global links, PUT sets or (empty) unsets them. POST is
        invalidOperation (§4.6 names it as its example; docs/decisions.md)."""
        from .app import answer, fields_from
        if request.method == 'GET':
            shown = await self.store.system()
            return answer(body=xml.document(xml.element(
                SYSTEM.element, {n: shown.get(n) for n in store.FIELDS[store.SYSTEM]})))
        if request.method != 'PUT':
            raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET, PUT'})
        form = await read_form(request, self.api.server.settings.cisco_max_body_bytes)
        changes = fields_from(SYSTEM, form, creating=False)
        await refuse_links(self.store, changes)
        await self.store.set_system(changes)
        self.api.log_change(user, 'modify', store.SYSTEM, store.SYSTEM_ID, changes)
        return answer()


def _usage(request: Request) -> dict:
    """§8.2.1 `usageFilter`: referenced or unreferenced."""
    usage = request.query_params.get('usageFilter')
    if not usage:
        return {}
    if usage not in ('referenced', 'unreferenced'):
        raise parameter_errors([ParameterError('usageFilter')])
    return {'usage': usage}


def trace_xml(resolved: 'Resolved | None') -> str:
    """§8.4.7: one <callLegProfile scope=... id=...> per level whose call leg profile set
    something, top first, with the parameters it set."""
    steps = [s for s in (resolved.trace if resolved is not None else ()) if s.kind == LEG]
    items = []
    for s in steps:
        attrs = f' scope={quoteattr(s.scope)}' + (f' id={quoteattr(s.id)}' if s.id else '')
        items.append(xml.element('callLegProfile', s.applied).replace(
            '<callLegProfile', f'<callLegProfile{attrs}', 1))
    inner = ''.join(items)
    return f'<callLegProfileTrace>{inner}</callLegProfileTrace>' if inner \
        else '<callLegProfileTrace/>'


async def leg_profile_trace(calls: 'CallsApi', request: Request, leg_id: str) -> Response:
    """GET /callLegs/<id>/callLegProfileTrace for a member of a running room (the profiles
    its room member keeps: `profiles`, a dialplan/confprofiles.py Resolved)."""
    from .app import answer
    if request.method != 'GET':
        raise CiscoError(405, 'invalidOperation', headers={'Allow': 'GET'})
    found = calls.rooms.leg(leg_id) if len(leg_id) <= 36 else None
    if found is None:
        raise CiscoError(404, 'callLegDoesNotExist')
    room, uuid = found
    member = room.member(uuid)      # mixed or waiting in the lobby
    if member is None:
        raise CiscoError(404, 'callLegDoesNotExist')
    return answer(body=xml.document(trace_xml(getattr(member, 'profiles', None))))
