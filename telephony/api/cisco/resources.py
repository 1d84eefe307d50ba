"""The /api/v1 resources of issue 9: their parameters as the document lists them (§7.1.3,
§7.2.2, §7.3.3, §7.4.3, §10.4.2), defaults, the fields a collection shows, what `filter`
searches, and one `check(fields) -> list[ParameterError]` per resource: the pure core's own
reading of the object (`from_fields`), so the API stores only what the router can run. The
checks see the whole object as it would be stored (a PUT's changes merged into the row)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ...dialplan.fields import FieldError
from ...dialplan.rules import ForwardingRule, InboundRule, OutboundRule
from ...dialplan.transforms import DialTransform
from ...sip.trunks import TrunkAccount, TrunkFieldError
from ...store import dialrules as store
from .errors import ParameterError
from .fields import (Field, addresses, boolean, choice, domain, host_port, no_such, number, text,
                     url)

Check = Callable[[dict], list[ParameterError]]

PRIORITY = number()
TENANT = Field('tenant', no_such('tenantDoesNotExist'))


@dataclass(frozen=True)
class Resource:
    kind: str                    # the store's kind
    path: str                    # under /api/v1
    element: str                 # one object's element; the collection's is `kind`
    missing: str                 # failure reason for an unknown id
    fields: tuple[Field, ...]
    listed: tuple[str, ...]      # the fields a collection GET shows (§7.x "Response elements")
    filter_on: tuple[str, ...]   # what `filter=` searches (a substring, any case)
    check: Check = lambda fields: []
    tenant_filter: bool = True   # `tenantFilter=` (§7.1.2, §7.3.2, §7.4.2)
    max_rows: int | None = None
    too_many: str | None = None  # failure reason past max_rows
    put_creates: bool = False    # a PUT on the collection creates an object (§10.4.2)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


# --- the router's own reading -------------------------------------------------------------

def core_check(*builds: Callable[[dict], object]) -> Check:
    """What the router cannot run is refused when it is written: the object as it would be
    stored goes through the pure core's `from_fields`, whose FieldError names the parameter
    (and says invalidValue, valueTooLong or missing). The API's parsers check only the wire
    syntax; every rule beyond it lives once, in the core."""
    def check(fields: dict) -> list[ParameterError]:
        try:
            for build in builds:
                build(fields)
        except FieldError as exc:
            return [ParameterError(exc.parameter, exc.error)]
        return []
    return check


# --- dial transforms (§7.2) -----------------------------------------------------------------

# Every outgoing call runs the transforms in order until one matches. The core bounds each
# regex (the worst shape it lets through costs about 2.5 ms on a 128-character destination),
# so the count bounds the whole: 32 such transforms took about 90 ms here.
MAX_DIAL_TRANSFORMS = 32

DIAL_TRANSFORMS = Resource(
    store.DIAL_TRANSFORMS, 'dialTransforms', 'dialTransform', 'dialTransformDoesNotExist',
    (Field('type', choice('raw', 'strip', 'phone'), default='raw'),
     Field('match', text(500)),
     Field('transform', text(500)),
     Field('priority', PRIORITY, default=0),
     Field('action', choice('accept', 'acceptPhone', 'deny'), default='accept')),
    listed=('type', 'match', 'transform', 'priority', 'action'),
    filter_on=('match', 'transform'), check=core_check(DialTransform.from_fields),
    tenant_filter=False, max_rows=MAX_DIAL_TRANSFORMS, too_many='tooManyDialTransforms')


# --- outbound rules (§7.1) and our trunk extensions --------------------------------------------

def check_trunk(fields: dict) -> None:
    """A rule with a sipProxy is a trunk account too (registration, inbound source)."""
    if fields.get('sipProxy'):
        try:
            TrunkAccount.from_fields(fields)
        except TrunkFieldError as exc:
            raise FieldError(exc.parameter, exc.detail) from None


OUTBOUND = Resource(
    store.OUTBOUND, 'outboundDialPlanRules', 'outboundDialPlanRule',
    'outboundDialPlanRuleDoesNotExist',
    (Field('domain', domain(wildcard=True), required=True),
     Field('priority', PRIORITY, default=0),
     Field('localContactDomain', host_port),
     Field('localFromDomain', host_port),
     Field('sipProxy', host_port),
     Field('trunkType', choice('sip', 'lync', 'avaya'), default='sip'),
     Field('failureAction', choice('stop', 'continue'), default='stop'),
     Field('sipControlEncryption', choice('auto', 'encrypted', 'unencrypted'), default='auto'),
     Field('scope', choice('global', 'callBridge', 'callBridgeGroup'), default='global'),
     Field('callBridge', no_such('callBridgeDoesNotExist')),
     Field('callBridgeGroup', no_such('callBridgeGroupDoesNotExist')),
     TENANT,
     Field('callRouting', choice('default', 'traversal'), default='default'),
     Field('sipProxyUsername', text(128)),
     Field('sipProxyPassword', text(128)),
     Field('sipProxyTransport', choice('udp', 'tcp'), default='udp'),
     Field('register', boolean, default='false'),
     Field('registerExpiry', number(60, 86400), default=3600),
     Field('trunkAddresses', addresses),
     Field('trunkInboundUsername', text(64)),
     Field('trunkInboundPassword', text(128))),
    listed=('domain', 'priority', 'tenant'), filter_on=('domain', 'sipProxy'),
    check=core_check(OutboundRule.from_fields, check_trunk))


# --- inbound rules (§7.3) ----------------------------------------------------------------------

INBOUND = Resource(
    store.INBOUND, 'inboundDialPlanRules', 'inboundDialPlanRule', 'inboundDialPlanRuleDoesNotExist',
    (Field('domain', domain(wildcard=False), required=True),
     Field('priority', PRIORITY, default=0),
     Field('resolveToCoSpaces', boolean, default='true'),
     Field('resolveToIvrs', boolean, default='true'),
     Field('resolveToLyncConferences', boolean, default='false'),
     Field('resolveToLyncSimplejoin', boolean, default='false'),
     TENANT),
    listed=('domain', 'priority', 'resolveToCoSpaces', 'resolveToIvrs', 'resolveToLyncConferences',
            'resolveToLyncSimplejoin', 'tenant'),
    filter_on=('domain',), check=core_check(InboundRule.from_fields))


# --- forwarding rules (§7.4) -------------------------------------------------------------------

FORWARDING = Resource(
    store.FORWARDING, 'forwardingDialPlanRules', 'forwardingDialPlanRule',
    'forwardingDialPlanRuleDoesNotExist',
    (Field('matchPattern', domain(wildcard=True), required=True),
     Field('destinationDomain', domain(wildcard=False)),
     Field('action', choice('forward', 'reject'), default='reject'),
     Field('callerIdMode', choice('regenerate', 'preserve'), default='regenerate'),
     Field('priority', PRIORITY, default=0),
     TENANT,
     Field('uriParameters', choice('discard', 'forward'), default='discard')),
    listed=('matchPattern', 'priority', 'tenant'), filter_on=('matchPattern', 'destinationDomain'),
    check=core_check(ForwardingRule.from_fields))


# --- CDR receivers (§10.4) ---------------------------------------------------------------------

CDR_RECEIVERS = Resource(
    store.CDR_RECEIVERS, 'system/cdrReceivers', 'cdrReceiver', 'cdrReceiverDoesNotExist',
    # §10.4.2: "use PUT to initially create the CDR receiver but configure the url separately
    # later"; a PUT with an empty one leaves the receiver without a uri
    (Field('uri', url, required=True, may_unset=True),),
    listed=('uri',), filter_on=('uri',), tenant_filter=False, put_creates=True,
    max_rows=2, too_many='tooManyCdrReceivers')   # §4.6: "up to 2 CDR receivers are supported"

RESOURCES = {r.path: r for r in (DIAL_TRANSFORMS, OUTBOUND, INBOUND, FORWARDING, CDR_RECEIVERS)}

for _r in RESOURCES.values():   # the API's names are the store's columns
    assert {f.name for f in _r.fields} == set(store.FIELDS[_r.kind]), _r.kind
