"""The Cisco Meeting Server provisioning dialect under /api/v1 (issue 9, item 1) against the
real server: the four dial plan resources, CDR receivers and system/status, with the
document's wire format (form bodies in, text/xml out, Location on create, failureDetails
with parameterError, collections with total/offset/limit/filter)."""
from __future__ import annotations

import sqlite3

import pytest

from telephony.api.cisco.resources import MAX_DIAL_TRANSFORMS
from telephony.sip.trunks import inbound_secret
from tests.integration.conftest import ServerProcess
from tests.integration.rawsip import UdpPeer, new_call_id, request

from .cisco import (ADMIN, PASSWORD, basic_client, create, failure, fields, get_object, is_xml,
                    listing, parsed)
from .conftest import Api

SECRET = 'Trunk-Pa55-zq81'


@pytest.fixture(scope='module')
def cisco(tmp_path_factory):
    """One server for the module, an administrator's client, and a plain user joe."""
    server = ServerProcess(tmp_path_factory.mktemp('cisco') / 'data').start()
    api = Api(server)
    try:
        api.add_user(ADMIN, PASSWORD, '--admin')
        api.add_user('joe', PASSWORD)
        api.cisco = basic_client(api)
        yield api
    finally:
        api.close()
        server.stop()


@pytest.fixture
def c(cisco):
    return cisco.cisco


# --- create, read, update, unset, delete: every resource -------------------------------------

LIFECYCLES = {
    'dialTransforms': dict(
        element='dialTransform', missing='dialTransformDoesNotExist',
        full={'type': 'phone', 'match': '($1/44/)($2/^7/)', 'transform': '90044$2{}123@mobilevcs',
              'priority': '5', 'action': 'acceptPhone'},
        defaults={'type': 'raw', 'priority': '0', 'action': 'accept'},
        change={'priority': '-7', 'transform': '$1$2@vcs2'},
        unset=('match', None)),
    'outboundDialPlanRules': dict(
        element='outboundDialPlanRule', missing='outboundDialPlanRuleDoesNotExist',
        full={'domain': '*.example.com', 'priority': '10', 'sipProxy': '192.0.2.10:5070',
              'localFromDomain': 'pbx.example.com', 'localContactDomain': '198.51.100.1',
              'trunkType': 'avaya', 'failureAction': 'continue',
              'sipControlEncryption': 'unencrypted', 'scope': 'global', 'callRouting': 'traversal',
              'sipProxyUsername': 'pbx1', 'sipProxyTransport': 'tcp', 'register': 'true',
              'registerExpiry': '600', 'trunkAddresses': '192.0.2.10,192.0.2.0/28'},
        defaults={'priority': '0', 'trunkType': 'sip', 'failureAction': 'stop',
                  'sipControlEncryption': 'auto', 'scope': 'global', 'callRouting': 'default',
                  'sipProxyTransport': 'udp', 'register': 'false', 'registerExpiry': '3600'},
        change={'failureAction': 'stop', 'sipProxy': 'trunk.example.net'},
        unset=('trunkType', 'sip')),
    'inboundDialPlanRules': dict(
        element='inboundDialPlanRule', missing='inboundDialPlanRuleDoesNotExist',
        full={'domain': 'example.com', 'priority': '3', 'resolveToCoSpaces': 'false',
              'resolveToIvrs': 'true', 'resolveToLyncConferences': 'true',
              'resolveToLyncSimplejoin': 'false'},
        defaults={'priority': '0', 'resolveToCoSpaces': 'true', 'resolveToIvrs': 'true',
                  'resolveToLyncConferences': 'false', 'resolveToLyncSimplejoin': 'false'},
        change={'domain': 'example.org', 'resolveToIvrs': 'false'},
        unset=('resolveToCoSpaces', 'true')),
    'forwardingDialPlanRules': dict(
        element='forwardingDialPlanRule', missing='forwardingDialPlanRuleDoesNotExist',
        full={'matchPattern': 'exa*.com', 'destinationDomain': 'example.org', 'action': 'forward',
              'callerIdMode': 'preserve', 'priority': '2', 'uriParameters': 'forward'},
        defaults={'action': 'reject', 'callerIdMode': 'regenerate', 'priority': '0',
                  'uriParameters': 'discard'},
        change={'matchPattern': '*.example.net', 'action': 'reject'},
        unset=('destinationDomain', None)),
}
MINIMAL = {'outboundDialPlanRules': {'domain': 'minimal.example.com'},
           'inboundDialPlanRules': {'domain': 'minimal.example.com'},
           'forwardingDialPlanRules': {'matchPattern': 'minimal.example.com'}}


@pytest.mark.parametrize('path', list(LIFECYCLES))
def test_create_read_update_unset_delete(c, path):
    case = LIFECYCLES[path]
    rule = create(c, path, **case['full'])
    tag, got = get_object(c, path, rule)
    assert tag == case['element'] and got == case['full']

    assert is_xml(c.put(f'/{path}/{rule}', data=case['change'])).status_code == 200
    assert get_object(c, path, rule)[1] == {**case['full'], **case['change']}

    name, after = case['unset']   # §4.4: an empty value unsets; a field with a default gets it
    assert is_xml(c.put(f'/{path}/{rule}', data={name: ''})).status_code == 200
    got = get_object(c, path, rule)[1]
    assert got.get(name) == after
    assert {k: v for k, v in got.items() if k != name} == \
        {k: v for k, v in {**case['full'], **case['change']}.items() if k != name}

    minimal = create(c, path, **MINIMAL.get(path, {}))
    assert get_object(c, path, minimal)[1] == {**MINIMAL.get(path, {}), **case['defaults']}

    for gone in (rule, minimal):
        r = is_xml(c.delete(f'/{path}/{gone}'))
        assert r.status_code == 200 and r.content == b''
        r = c.get(f'/{path}/{gone}')
        assert r.status_code == 404 and failure(r) == ([case['missing']], {})
        for method in ('put', 'delete'):
            r = getattr(c, method)(f'/{path}/{gone}', **({'data': {'priority': '1'}}
                                                         if method == 'put' else {}))
            assert r.status_code == 404 and failure(r) == ([case['missing']], {})


def test_unknown_parameters_are_ignored(c):
    rule = create(c, 'inboundDialPlanRules', domain='ignore.example.com', colour='blue',
                  Domain='other.example.com', resolveToIVRs='false')
    assert get_object(c, 'inboundDialPlanRules', rule)[1] == {
        **LIFECYCLES['inboundDialPlanRules']['defaults'], 'domain': 'ignore.example.com'}
    assert c.put(f'/inboundDialPlanRules/{rule}', data={'bogus': '1'}).status_code == 200
    assert get_object(c, 'inboundDialPlanRules', rule)[1]['domain'] == 'ignore.example.com'
    c.delete(f'/inboundDialPlanRules/{rule}')


# --- bad values: every enum, every number, the required ones ---------------------------------

BAD_VALUES = [
    ('dialTransforms', 'type', 'Phone'), ('dialTransforms', 'action', 'reject'),
    ('dialTransforms', 'priority', 'high'), ('dialTransforms', 'priority', '1.5'),
    ('dialTransforms', 'priority', '99999999999'),
    ('dialTransforms', 'match', '($1/(/)'), ('dialTransforms', 'match', '($2/^7/)'),
    ('dialTransforms', 'match', '$1/44/'), ('dialTransforms', 'match', '($1/(a+)+b/)'),
    ('outboundDialPlanRules', 'trunkType', 'h323'),
    ('outboundDialPlanRules', 'failureAction', 'retry'),
    ('outboundDialPlanRules', 'sipControlEncryption', 'tls'),
    ('outboundDialPlanRules', 'scope', 'local'),
    ('outboundDialPlanRules', 'callRouting', 'turn'),
    ('outboundDialPlanRules', 'sipProxyTransport', 'tls'),
    ('outboundDialPlanRules', 'register', 'yes'),
    ('outboundDialPlanRules', 'priority', '1e3'),
    ('outboundDialPlanRules', 'registerExpiry', '59'),
    ('outboundDialPlanRules', 'registerExpiry', 'hourly'),
    ('outboundDialPlanRules', 'sipProxy', 'proxy.example.com:99999'),
    ('outboundDialPlanRules', 'sipProxy', 'bad host'),
    ('outboundDialPlanRules', 'domain', 'exa mple.com'),
    ('outboundDialPlanRules', 'trunkAddresses', '192.0.2.1,not-an-address'),
    ('outboundDialPlanRules', 'sipProxyUsername', 'pbx\r\nX-Injected: 1'),
    ('inboundDialPlanRules', 'domain', '*.example.com'),   # "must be a complete value"
    ('inboundDialPlanRules', 'resolveToCoSpaces', 'TRUE'),
    ('inboundDialPlanRules', 'resolveToIvrs', '1'),
    ('inboundDialPlanRules', 'resolveToLyncConferences', 'no'),
    ('inboundDialPlanRules', 'resolveToLyncSimplejoin', 'maybe'),
    ('inboundDialPlanRules', 'priority', 'first'),
    ('forwardingDialPlanRules', 'action', 'accept'),
    ('forwardingDialPlanRules', 'callerIdMode', 'keep'),
    ('forwardingDialPlanRules', 'uriParameters', 'drop'),
    ('forwardingDialPlanRules', 'priority', '--1'),
    ('forwardingDialPlanRules', 'destinationDomain', '*.example.com'),
    ('system/cdrReceivers', 'uri', 'ftp://cdr.example.com/'),
    ('system/cdrReceivers', 'uri', 'not a url'),
]
VALID = {'outboundDialPlanRules': {'domain': 'valid.example.com'},
         'inboundDialPlanRules': {'domain': 'valid.example.com'},
         'forwardingDialPlanRules': {'matchPattern': 'valid.example.com'},
         'system/cdrReceivers': {'uri': 'http://127.0.0.1:9/cdr'}}


@pytest.mark.parametrize('path,name,value', BAD_VALUES)
def test_a_bad_value_is_a_parameter_error_on_create_and_on_update(c, path, name, value):
    r = c.post(f'/{path}', data={**VALID.get(path, {}), name: value})
    assert r.status_code == 400 and failure(r) == ([], {name: 'invalidValue'}), r.text
    rule = create(c, path, **VALID.get(path, {}))
    before = get_object(c, path, rule)[1]
    r = c.put(f'/{path}/{rule}', data={'priority': '9', name: value})
    assert r.status_code == 400 and failure(r) == ([], {name: 'invalidValue'}), r.text
    assert get_object(c, path, rule)[1] == before   # nothing of a refused PUT is applied
    c.delete(f'/{path}/{rule}')


def test_every_bad_parameter_of_a_request_is_named(c):
    r = c.post('/outboundDialPlanRules', data={'failureAction': 'x', 'trunkType': 'y',
                                                'domain': 'd' * 300})
    assert r.status_code == 400
    assert failure(r) == ([], {'failureAction': 'invalidValue', 'trunkType': 'invalidValue',
                               'domain': 'valueTooLong'})


@pytest.mark.parametrize('path,name', [('outboundDialPlanRules', 'domain'),
                                       ('inboundDialPlanRules', 'domain'),
                                       ('forwardingDialPlanRules', 'matchPattern'),
                                       ('system/cdrReceivers', 'uri')])
def test_required_parameters(c, path, name):
    r = c.post(f'/{path}', data={'priority': '1'})
    assert r.status_code == 400 and failure(r) == ([], {name: 'missing'})
    r = c.post(f'/{path}', data={name: ''})
    assert r.status_code == 400 and failure(r) == ([], {name: 'invalidValue'})


def test_a_required_field_cannot_be_unset_but_a_cdr_uri_can(c):
    rule = create(c, 'outboundDialPlanRules', domain='keep.example.com')
    r = c.put(f'/outboundDialPlanRules/{rule}', data={'domain': ''})
    assert r.status_code == 400 and failure(r) == ([], {'domain': 'invalidValue'})
    c.delete(f'/outboundDialPlanRules/{rule}')
    # §10.4.2: the receiver stays, with the same id, and no uri
    receiver = create(c, 'system/cdrReceivers', uri='http://127.0.0.1:9/cdr')
    assert c.put(f'/system/cdrReceivers/{receiver}', data={'uri': ''}).status_code == 200
    assert get_object(c, 'system/cdrReceivers', receiver) == ('cdrReceiver', {})
    c.delete(f'/system/cdrReceivers/{receiver}')


def test_a_registering_trunk_needs_a_proxy(c):
    r = c.post('/outboundDialPlanRules', data={'domain': 'reg.example.com', 'register': 'true'})
    assert r.status_code == 400 and failure(r) == ([], {'sipProxy': 'missing'})
    rule = create(c, 'outboundDialPlanRules', domain='reg.example.com', register='true',
                  sipProxy='192.0.2.20')
    r = c.put(f'/outboundDialPlanRules/{rule}', data={'sipProxy': ''})
    assert r.status_code == 400 and failure(r) == ([], {'sipProxy': 'missing'})
    assert c.put(f'/outboundDialPlanRules/{rule}', data={'register': 'false', 'sipProxy': ''}) \
        .status_code == 200
    c.delete(f'/outboundDialPlanRules/{rule}')


# --- what the router cannot run is refused when written (the pure core's own checks) ------

CORE_REFUSALS = [
    # dial transforms (telephony/dialplan/transforms.py)
    ('dialTransforms', {'match': '($1/(a|ab)*c/)'}, 'match', 'invalidValue'),   # alternative repeated
    ('dialTransforms', {'match': r'($1/(a)\1/)'}, 'match', 'invalidValue'),      # backreference
    ('dialTransforms', {'match': '($1/a*b*c*/)'}, 'match', 'invalidValue'),     # three repeats
    ('dialTransforms', {'match': '($1/^4/)' * 9}, 'match', 'valueTooLong'),     # nine regexes
    ('dialTransforms', {'match': f'($1/{"a" * 201}/)'}, 'match', 'valueTooLong'),
    ('dialTransforms', {'transform': '$2@vcs'}, 'transform', 'invalidValue'),   # raw has $1 only
    ('dialTransforms', {'transform': '$1{/(/x/}'}, 'transform', 'invalidValue'),
    ('dialTransforms', {'transform': r'$1{/a/\2/}'}, 'transform', 'invalidValue'),  # no group 2
    ('dialTransforms', {'transform': '$1{/a/b'}, 'transform', 'invalidValue'),  # unclosed
    ('dialTransforms', {'transform': '$1' + '{/a/b/}' * 9}, 'transform', 'valueTooLong'),
    ('dialTransforms', {'type': 'phone', 'transform': '$3'}, 'transform', 'invalidValue'),
    # rules (telephony/dialplan/rules.py, telephony/sip/trunks.py)
    ('outboundDialPlanRules', {'domain': 'example.com.'}, 'domain', 'invalidValue'),
    ('outboundDialPlanRules', {'domain': 'x.example.com', 'sipProxyPassword': 'pw'},
     'sipProxyUsername', 'missing'),
    ('outboundDialPlanRules', {'domain': 'in.example.com', 'trunkInboundPassword': 'pw'},
     'trunkInboundUsername', 'missing'),
    ('outboundDialPlanRules', {'domain': 'in.example.com', 'trunkInboundUsername': 'in1'},
     'trunkInboundPassword', 'missing'),
    ('outboundDialPlanRules', {'domain': 'in.example.com', 'trunkInboundUsername': 'in 1',
                               'trunkInboundPassword': 'pw'}, 'trunkInboundUsername', 'invalidValue'),
    ('outboundDialPlanRules', {'domain': 'in.example.com', 'trunkInboundUsername': 'i' * 65,
                               'trunkInboundPassword': 'pw'}, 'trunkInboundUsername', 'valueTooLong'),
    ('inboundDialPlanRules', {'domain': '[2001:db8::1]'}, 'domain', 'invalidValue'),
    ('forwardingDialPlanRules', {'matchPattern': '*'}, 'matchPattern', 'invalidValue'),  # loops
    ('forwardingDialPlanRules', {'matchPattern': '*.*'}, 'matchPattern', 'invalidValue'),
]


@pytest.mark.parametrize('path,form,name,error', CORE_REFUSALS)
def test_what_the_router_cannot_run_is_a_parameter_error(c, path, form, name, error):
    r = c.post(f'/{path}', data=form)
    assert r.status_code == 400 and failure(r) == ([], {name: error}), r.text
    rule = create(c, path, **VALID.get(path, {}))
    before = get_object(c, path, rule)[1]
    r = c.put(f'/{path}/{rule}', data=form)
    assert r.status_code == 400 and failure(r) == ([], {name: error}), r.text
    assert get_object(c, path, rule)[1] == before
    c.delete(f'/{path}/{rule}')


def test_a_put_is_checked_against_the_stored_password(c):
    """The row the check sees holds the (write-only) password: removing the user name it
    goes with would store a trunk the router cannot read."""
    rule = create(c, 'outboundDialPlanRules', domain='pw.example.com', sipProxy='192.0.2.30',
                  sipProxyUsername='pbx', sipProxyPassword=SECRET)
    r = c.put(f'/outboundDialPlanRules/{rule}', data={'sipProxyUsername': ''})
    assert r.status_code == 400 and failure(r) == ([], {'sipProxyUsername': 'missing'})
    assert c.put(f'/outboundDialPlanRules/{rule}',
                 data={'sipProxyUsername': '', 'sipProxyPassword': ''}).status_code == 200
    c.delete(f'/outboundDialPlanRules/{rule}')


def test_dial_transforms_are_capped(c):
    total, _ = listing(c, 'dialTransforms')
    made = [create(c, 'dialTransforms', match=f'($1/^{i}/)')
            for i in range(MAX_DIAL_TRANSFORMS - total)]
    assert listing(c, 'dialTransforms')[0] == MAX_DIAL_TRANSFORMS
    r = c.post('/dialTransforms', data={'match': '($1/^9/)'})
    assert r.status_code == 400 and failure(r) == (['tooManyDialTransforms'], {})
    assert listing(c, 'dialTransforms')[0] == MAX_DIAL_TRANSFORMS
    for rule in made:
        c.delete(f'/dialTransforms/{rule}')
    c.delete(f'/dialTransforms/{create(c, "dialTransforms", match="($1/^9/)")}')


@pytest.mark.parametrize('path,name,reason', [
    ('outboundDialPlanRules', 'tenant', 'tenantDoesNotExist'),
    ('outboundDialPlanRules', 'callBridge', 'callBridgeDoesNotExist'),
    ('outboundDialPlanRules', 'callBridgeGroup', 'callBridgeGroupDoesNotExist'),
    ('inboundDialPlanRules', 'tenant', 'tenantDoesNotExist'),
    ('forwardingDialPlanRules', 'tenant', 'tenantDoesNotExist')])
def test_tenants_and_call_bridges_do_not_exist_here(c, path, name, reason):
    value = '9f1c4a2e-3b5d-11ef-8000-000000000001'
    r = c.post(f'/{path}', data={**VALID.get(path, {}), name: value})
    assert r.status_code == 400 and failure(r) == ([reason], {})
    rule = create(c, path, **VALID.get(path, {}), **{name: ''})   # unset is fine
    assert name not in get_object(c, path, rule)[1]
    c.delete(f'/{path}/{rule}')


def test_a_value_that_is_not_utf8_is_an_invalid_value(c):
    r = c.post('/outboundDialPlanRules', content=b'domain=%ff%fe.example.com',
               headers={'content-type': 'application/x-www-form-urlencoded'})
    assert r.status_code == 400 and failure(r) == ([], {'domain': 'invalidValue'})


def test_the_document_examples_of_dial_transforms_are_accepted(c):
    """§7.2's table, with the document's `\\$` read as `$`."""
    examples = [('phone', '($1/01/)', '$2@vcs1'), ('phone', '($1/44/)', '90044$2@vcs2'),
                ('phone', '($1/44/)($2/^7/)', '90044$2{}123@mobilevcs'),
                ('strip', r'($1/(\d){6,}/)', '$1@vcs3'), ('strip', r'($1/\+(\d)+/)', '$1{/+/00/}'),
                ('raw', '($1/(.*)@example.com/)', '$1{/@example.com$/.endpoint@vc.example.com/}'),
                ('raw', '($1/^0/) ($1/9$/)', 'abc'), ('raw', '', r'$1{/\D//}{/^9//}@example.com')]
    ids = [create(c, 'dialTransforms', type=t, match=m, transform=x) for t, m, x in examples]
    for rule, (t, m, x) in zip(ids, examples):
        got = get_object(c, 'dialTransforms', rule)[1]
        assert (got['type'], got.get('match', ''), got['transform']) == (t, m, x)
        c.delete(f'/dialTransforms/{rule}')


# --- collections -----------------------------------------------------------------------------

def test_collections_total_offset_limit_filter_and_the_servers_cap(start_api):
    api = start_api(TELEPHONY_CISCO_LIST_LIMIT='5')
    api.add_user(ADMIN, PASSWORD, '--admin')
    c = basic_client(api)
    assert listing(c, 'outboundDialPlanRules') == (0, [])
    domains = [f'd{i}.example.com' for i in range(7)]
    ids = [create(c, 'outboundDialPlanRules', domain=d, priority=str(i % 3), sipProxy=f'10.0.0.{i}')
           for i, d in enumerate(domains)]
    # higher priority first, then creation order
    order = [ids[i] for i in (2, 5, 1, 4, 0, 3, 6)]
    total, page = listing(c, 'outboundDialPlanRules')
    assert total == 7 and [i for i, _ in page] == order[:5]           # the cap: 5
    assert page[0][1] == {'domain': 'd2.example.com', 'priority': '2'}  # §7.1.2's elements
    assert [i for i, _ in listing(c, 'outboundDialPlanRules', limit=100)[1]] == order[:5]
    assert [i for i, _ in listing(c, 'outboundDialPlanRules', limit=1)[1]] == order[:1]
    assert listing(c, 'outboundDialPlanRules', offset=4, limit=10) == \
        (7, [(i, f) for i, f in listing(c, 'outboundDialPlanRules', offset=4)[1]])
    assert [i for i, _ in listing(c, 'outboundDialPlanRules', offset=4, limit=10)[1]] == order[4:]
    assert listing(c, 'outboundDialPlanRules', offset=20) == (7, [])
    assert listing(c, 'outboundDialPlanRules', limit=0) == (7, [])
    # filter: a substring of the domain (or the proxy), any case; total counts the matches
    assert listing(c, 'outboundDialPlanRules', filter='D3.EXAMPLE') == \
        (1, [(ids[3], {'domain': 'd3.example.com', 'priority': '0'})])
    assert listing(c, 'outboundDialPlanRules', filter='10.0.0.6')[0] == 1
    assert listing(c, 'outboundDialPlanRules', filter='%')[0] == 0     # no SQL wildcards
    assert listing(c, 'outboundDialPlanRules', filter='example', offset=6)[0] == 7
    assert listing(c, 'outboundDialPlanRules', tenantFilter='00000000-0000-1000-8000-0000000000aa') \
        == (0, [])
    for name, value in (('offset', '-1'), ('limit', 'ten'), ('filter', 'x' * 300)):
        r = c.get('/outboundDialPlanRules', params={name: value})
        error = 'valueTooLong' if name == 'filter' else 'invalidValue'
        assert r.status_code == 400 and failure(r) == ([], {name: error})
    # the other collections have their own element names
    create(c, 'dialTransforms', match='($1/^0/)')
    total, [(rule, got)] = listing(c, 'dialTransforms')
    assert total == 1 and got == {'type': 'raw', 'match': '($1/^0/)', 'priority': '0',
                                  'action': 'accept'}
    root = parsed(c.get('/dialTransforms'))
    assert root.tag == 'dialTransforms' and root[0].tag == 'dialTransform'
    create(c, 'forwardingDialPlanRules', matchPattern='*.fwd.example', action='forward')
    assert listing(c, 'forwardingDialPlanRules', filter='FWD')[1][0][1] == \
        {'matchPattern': '*.fwd.example', 'priority': '0'}


def test_cdr_receivers_hold_two_at_most(c):
    first = create(c, 'system/cdrReceivers', uri='http://127.0.0.1:9001/cdr')
    r = is_xml(c.put('/system/cdrReceivers', data={}))   # §10.4.2: PUT creates one, uri later
    assert r.status_code == 200
    second = r.headers['location'].rsplit('/', 1)[1]
    r = c.post('/system/cdrReceivers', data={'uri': 'https://cdr.example.com/x'})
    assert r.status_code == 400 and failure(r) == (['tooManyCdrReceivers'], {})
    total, items = listing(c, 'system/cdrReceivers')
    assert total == 2 and items == [(first, {'uri': 'http://127.0.0.1:9001/cdr'}), (second, {})]
    assert parsed(c.get('/system/cdrReceivers')).tag == 'cdrReceivers'
    c.put(f'/system/cdrReceivers/{second}', data={'uri': 'https://cdr.example.com/x?a=1&b=2'})
    assert get_object(c, 'system/cdrReceivers', second) == \
        ('cdrReceiver', {'uri': 'https://cdr.example.com/x?a=1&b=2'})
    for rule in (first, second):
        c.delete(f'/system/cdrReceivers/{rule}')
    r = c.get(f'/system/cdrReceivers/{first}')
    assert r.status_code == 404 and failure(r) == (['cdrReceiverDoesNotExist'], {})


def test_system_status(c):
    r = c.get('/system/status')
    root = parsed(r)
    assert r.status_code == 200 and root.tag == 'status'
    got = fields(root)
    assert got['softwareVersion'] and int(got['uptimeSeconds']) >= 0
    assert got['callLegsActive'] == '0' and got['clusterEnabled'] == 'false'
    # no call yet, no CDR receiver: nothing counted, no record queued
    assert (got['callLegsMaxActive'], got['callLegsCompleted'], got['cdrCorrelatorIndex']) == \
        ('0', '0', '0')
    assert got['cdrTime'].endswith('Z')
    trunks = root.find('trunkRegistrations')
    assert trunks is not None and trunks.get('total') == '0' and len(trunks) == 0
    r = c.post('/system/status', data={'x': '1'})
    assert r.status_code == 405 and failure(r) == (['invalidOperation'], {})


# --- the wire: paths, methods, bodies --------------------------------------------------------

def test_unknown_paths_and_methods_answer_xml(cisco, c):
    for path in ('/coSpaceTemplates', '/system/profile', '/dialTransforms/a/b', '/', '/system',
                 '/system/cdrReceiver', f'{cisco.base}/api/v1'):
        r = c.get(path)
        assert r.status_code == 404 and failure(r) == (['unrecognisedObject'], {}), path
    r = c.delete('/dialTransforms')
    assert r.status_code == 405 and failure(r) == (['invalidOperation'], {})
    r = c.post('/dialTransforms/9f1c4a2e-3b5d-11ef-8000-000000000001')
    assert r.status_code == 405 and failure(r) == (['invalidOperation'], {})
    r = c.get('/dialTransforms/')       # §7.1.2 writes the node with a trailing slash
    assert r.status_code == 200 and parsed(r).tag == 'dialTransforms'


def test_oversized_bodies_are_refused(cisco, c):
    r = c.post('/dialTransforms', content=b'match=' + b'a' * 70000,
               headers={'content-type': 'application/x-www-form-urlencoded'})
    assert r.status_code == 413 and failure(r) == (['valueTooLong'], {})
    # chunked, no length declared: counted as it arrives
    r = c.post('/dialTransforms', content=(b'x' * 8192 for _ in range(20)),
               headers={'content-type': 'application/x-www-form-urlencoded'})
    assert r.status_code == 413 and failure(r) == (['valueTooLong'], {})
    assert listing(c, 'dialTransforms', filter='aaaa')[0] == 0
    assert c.get('/system/status').status_code == 200


def test_a_long_value_is_value_too_long(c):
    r = c.post('/dialTransforms', data={'transform': 'x' * 501})
    assert r.status_code == 400 and failure(r) == ([], {'transform': 'valueTooLong'})


# --- secrets ---------------------------------------------------------------------------------

def test_the_trunk_password_is_write_only_and_never_logged(cisco, c):
    rule = create(c, 'outboundDialPlanRules', domain='secret.example.com', sipProxy='192.0.2.30',
                  sipProxyUsername='pbx7', sipProxyPassword=SECRET)
    c.put(f'/outboundDialPlanRules/{rule}', data={'sipProxyPassword': SECRET + '2'})
    c.put(f'/outboundDialPlanRules/{rule}', data={'sipProxyPassword': 'bad\x01value'})
    got = get_object(c, 'outboundDialPlanRules', rule)[1]
    assert got['sipProxyUsername'] == 'pbx7' and 'sipProxyPassword' not in got
    for r in (c.get(f'/outboundDialPlanRules/{rule}'), c.get('/outboundDialPlanRules'),
              c.get('/outboundDialPlanRules', params={'filter': SECRET})):
        assert SECRET not in r.text
    cisco.server.wait_event('cisco-change', action='modify', id=rule)   # changes are logged
    assert SECRET not in cisco.server.log()
    c.delete(f'/outboundDialPlanRules/{rule}')


def stored_inbound_password(cisco, rule: str) -> str | None:
    """What the SQLite file holds for a rule's trunkInboundPassword."""
    with sqlite3.connect(cisco.server.data_dir / 'telephony.db') as db:
        row = db.execute('SELECT "trunkInboundPassword" FROM outbound_dial_plan_rules '
                         'WHERE id = ?', (rule,)).fetchone()
    return row[0]


def test_the_trunks_inbound_password_is_write_only_kept_as_ha1s_and_never_logged(cisco, c):
    rule = create(c, 'outboundDialPlanRules', domain='in.example.com', sipProxy='192.0.2.40',
                  trunkInboundUsername='carrier7', trunkInboundPassword=SECRET)
    got = get_object(c, 'outboundDialPlanRules', rule)[1]
    assert got['trunkInboundUsername'] == 'carrier7' and 'trunkInboundPassword' not in got
    for r in (c.get(f'/outboundDialPlanRules/{rule}'), c.get('/outboundDialPlanRules'),
              c.get('/outboundDialPlanRules', params={'filter': SECRET})):
        assert SECRET not in r.text
    # kept as an account's secret is: the HA1s of user:realm:password (realm = the domain)
    assert stored_inbound_password(cisco, rule) == inbound_secret('carrier7', 'localhost', SECRET)
    # the HA1s bind the name: a new name needs the password again
    r = c.put(f'/outboundDialPlanRules/{rule}', data={'trunkInboundUsername': 'carrier8'})
    assert r.status_code == 400 and failure(r) == ([], {'trunkInboundPassword': 'missing'})
    assert c.put(f'/outboundDialPlanRules/{rule}', data={
        'trunkInboundUsername': 'carrier8', 'trunkInboundPassword': SECRET + '2'}).status_code == 200
    assert stored_inbound_password(cisco, rule) == \
        inbound_secret('carrier8', 'localhost', SECRET + '2')
    # a new password alone is hashed for the stored name
    assert c.put(f'/outboundDialPlanRules/{rule}',
                 data={'trunkInboundPassword': SECRET + '3'}).status_code == 200
    assert stored_inbound_password(cisco, rule) == \
        inbound_secret('carrier8', 'localhost', SECRET + '3')
    # unset: the password alone cannot go, both can
    r = c.put(f'/outboundDialPlanRules/{rule}', data={'trunkInboundPassword': ''})
    assert r.status_code == 400 and failure(r) == ([], {'trunkInboundPassword': 'missing'})
    assert c.put(f'/outboundDialPlanRules/{rule}', data={
        'trunkInboundUsername': '', 'trunkInboundPassword': ''}).status_code == 200
    assert 'trunkInboundUsername' not in get_object(c, 'outboundDialPlanRules', rule)[1]
    assert stored_inbound_password(cisco, rule) is None
    cisco.server.wait_event('cisco-change', action='modify', id=rule, count=3)
    assert SECRET not in cisco.server.log()
    c.delete(f'/outboundDialPlanRules/{rule}')


def test_a_trunks_inbound_user_name_is_nobody_elses(cisco, c):
    first = create(c, 'outboundDialPlanRules', domain='dup.example.com',
                   trunkInboundUsername='dupname', trunkInboundPassword=SECRET)
    r = c.post('/outboundDialPlanRules', data={'domain': 'dup2.example.com',
                                               'trunkInboundUsername': 'dupname',
                                               'trunkInboundPassword': SECRET})
    assert r.status_code == 400 and failure(r) == (['duplicateTrunkInboundUsername'], {})
    other = create(c, 'outboundDialPlanRules', domain='dup2.example.com')
    r = c.put(f'/outboundDialPlanRules/{other}', data={'trunkInboundUsername': 'dupname',
                                                      'trunkInboundPassword': SECRET})
    assert r.status_code == 400 and failure(r) == (['duplicateTrunkInboundUsername'], {})
    # its own name again is no clash
    assert c.put(f'/outboundDialPlanRules/{first}', data={
        'trunkInboundUsername': 'dupname', 'trunkInboundPassword': SECRET + '2'}).status_code == 200
    # a SIP account's name either: the digest realm is the same
    cisco.server.add_account('acct5', 'Acct-pw-12345')
    r = c.post('/outboundDialPlanRules', data={'domain': 'dup3.example.com',
                                               'trunkInboundUsername': 'acct5',
                                               'trunkInboundPassword': SECRET})
    assert r.status_code == 400 and failure(r) == (['duplicateTrunkInboundUsername'], {})
    for rule in (first, other):
        c.delete(f'/outboundDialPlanRules/{rule}')


class DebugServer(ServerProcess):
    """The server with `--log-level debug`: everything that could log a request logs."""

    def _cli(self, *args: str) -> list[str]:
        cmd = super()._cli(*args)
        return cmd + ['--log-level', 'debug'] if args[:1] == ('serve',) else cmd


def test_the_trunk_password_is_not_logged_at_debug_level_either(tmp_path):
    server = DebugServer(tmp_path / 'data').start()
    api = Api(server)
    try:
        api.add_user(ADMIN, PASSWORD, '--admin')
        c = basic_client(api)
        rule = create(c, 'outboundDialPlanRules', domain='debug.example.com',
                      sipProxy='192.0.2.31', sipProxyUsername='pbx9', sipProxyPassword=SECRET)
        assert c.put(f'/outboundDialPlanRules/{rule}', data={'sipProxyPassword': SECRET * 2}) \
            .status_code == 200
        r = c.put(f'/outboundDialPlanRules/{rule}', data={'sipProxyPassword': SECRET,
                                                         'registerExpiry': '1'})
        assert r.status_code == 400
        server.wait_event('cisco-change', count=2)
        sip = UdpPeer(server.sip_port)   # something that surely logs at debug level
        try:
            sip.send(request('OPTIONS', 'sip:echo@localhost', port=sip.port,
                             call_id=new_call_id()))
            server.wait_event('sip-in')
        finally:
            sip.close()
        assert SECRET not in server.log()
    finally:
        api.close()
        server.stop()
