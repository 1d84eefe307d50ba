"""The /api/v1 resources of issue 9: their parameters as the document lists them (§7.1.3,
§7.2.2, §7.3.3, §7.4.3, §10.4.2), defaults, the fields a collection shows, what `filter`
searches, and one `check(fields) -> list[ParameterError]` per resource for what needs more
than one parameter or more than syntax. The checks see the whole object as it would be
stored (a PUT's changes merged into the stored row)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ...store import dialrules as store
from ..filters import FilterError, check_pattern
from .errors import MISSING, ParameterError
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


# --- dial transforms (§7.2) -----------------------------------------------------------------

_MATCH_PART = re.compile(r'\s*\(\$([0-9]+)/(.*?)/\)\s*', re.S)
COMPONENTS = {'raw': 1, 'strip': 1, 'phone': 2}   # $1, or $1 country code and $2 number


def match_parts(match: str) -> list[tuple[int, str]]:
    """`($1/^44$/)($2/^7/)` -> [(1, '^44$'), (2, '^7')]; ValueError if it is not that shape."""
    parts, pos = [], 0
    while pos < len(match):
        m = _MATCH_PART.match(match, pos)
        if m is None:
            raise ValueError(f'not ($N/regex/) at {pos}')
        parts.append((int(m.group(1)), m.group(2)))
        pos = m.end()
    return parts


def check_dial_transform(fields: dict) -> list[ParameterError]:
    """`match` is ($N/regex/)... over the components the type makes, each regex one that
    compiles and cannot backtrack for ever (it runs on the loop against numbers callers
    dial). At merge the pure core (telephony/dialplan/transforms.py) adds its own checks
    of `match` and `transform` here."""
    match = fields.get('match') or ''   # empty: match all
    try:
        for n, regex in match_parts(match):
            if not 1 <= n <= COMPONENTS[fields.get('type') or 'raw']:
                raise ValueError(f'no component ${n}')
            check_pattern(regex)
    except (ValueError, FilterError):
        return [ParameterError('match')]
    return []


DIAL_TRANSFORMS = Resource(
    store.DIAL_TRANSFORMS, 'dialTransforms', 'dialTransform', 'dialTransformDoesNotExist',
    (Field('type', choice('raw', 'strip', 'phone'), default='raw'),
     Field('match', text(500)),
     Field('transform', text(500)),
     Field('priority', PRIORITY, default=0),
     Field('action', choice('accept', 'acceptPhone', 'deny'), default='accept')),
    listed=('type', 'match', 'transform', 'priority', 'action'),
    filter_on=('match', 'transform'), check=check_dial_transform, tenant_filter=False)


# --- outbound rules (§7.1) and our trunk extensions --------------------------------------------

def check_outbound(fields: dict) -> list[ParameterError]:
    """A trunk that registers needs somewhere to register."""
    if fields.get('register') == 'true' and not fields.get('sipProxy'):
        return [ParameterError('sipProxy', MISSING)]
    return []


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
     Field('trunkAddresses', addresses)),
    listed=('domain', 'priority', 'tenant'), filter_on=('domain', 'sipProxy'),
    check=check_outbound)


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
    filter_on=('domain',))


# --- forwarding rules (§7.4) -------------------------------------------------------------------

FORWARDING = Resource(
    store.FORWARDING, 'forwardingDialPlanRules', 'forwardingDialPlanRule',
    'forwardingDialPlanRuleDoesNotExist',
    (Field('matchPattern', domain(wildcard=True)),
     Field('destinationDomain', domain(wildcard=False)),
     Field('action', choice('forward', 'reject'), default='reject'),
     Field('callerIdMode', choice('regenerate', 'preserve'), default='regenerate'),
     Field('priority', PRIORITY, default=0),
     TENANT,
     Field('uriParameters', choice('discard', 'forward'), default='discard')),
    listed=('matchPattern', 'priority', 'tenant'), filter_on=('matchPattern', 'destinationDomain'))


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
