"""Cisco outbound (§7.1), inbound (§7.3) and forwarding (§7.4) rules, sans-IO."""
from __future__ import annotations

import ipaddress

import pytest

from telephony.dialplan.fields import FieldError
from telephony.dialplan.rules import (
    ForwardingRule, InboundRule, OutboundRule, match_forwarding, match_inbound, outbound_plan,
    parse_destination, should_continue, wildcard_match,
)
from telephony.sip.uri import UriError


def out(**fields) -> OutboundRule:
    return OutboundRule.from_fields(fields)


def inbound(**fields) -> InboundRule:
    return InboundRule.from_fields(fields)


def fwd(**fields) -> ForwardingRule:
    return ForwardingRule.from_fields(fields)


# --- domains: exact or wildcarded ("example.com" or "*.com", §7.1; "exa*.com", §7.4) -----------

@pytest.mark.parametrize('pattern,domain,expected', [
    ('example.com', 'example.com', True),
    ('example.com', 'www.example.com', False),
    ('example.com', 'example.co', False),
    ('*.com', 'example.com', True),
    ('*.com', 'a.b.example.com', True),
    ('*.com', 'example.org', False),
    ('*.com', 'example.com.org', False),
    ('exa*.com', 'example.com', True),
    ('exa*.com', 'exa.com', True),
    ('exa*.com', 'sample.com', False),
    ('*.example.*', 'sip.example.net', True),
    ('*', 'anything.at.all', True),
    ('a*b*c', 'axxbyyc', True),
    ('a*b*c', 'axxbyy', False),
])
def test_wildcard_match(pattern, domain, expected):
    assert wildcard_match(pattern, domain) is expected


def test_domains_match_case_insensitively():
    rule = out(domain='*.Example.COM')
    assert rule.domain == '*.example.com'
    assert [a.rule for a in outbound_plan([rule], 'sip:bob@SIP.example.com')] == [rule]


# --- outbound rules: parameters --------------------------------------------------------------

def test_outbound_defaults():
    rule = out(domain='example.com')
    assert (rule.priority, rule.sip_proxy, rule.trunk_type, rule.failure_action,
            rule.sip_control_encryption, rule.transport, rule.register, rule.register_expiry,
            rule.credentials, rule.trunk_addresses) == (0, None, 'sip', 'stop', 'auto', 'udp', False,
                                                        3600, None, ())


def test_outbound_all_parameters():
    rule = out(id='r1', domain='trunk.example.net', priority='20', sipProxy='192.0.2.10:5070',
               localContactDomain='pbx.example.org', localFromDomain='example.org', trunkType='sip',
               failureAction='continue', sipControlEncryption='unencrypted', sipProxyUsername='pbx',
               sipProxyPassword='s3cret', sipProxyTransport='tcp', register='true', registerExpiry='600',
               trunkAddresses='192.0.2.0/28, 2001:db8::1', scope='global', tenant='t1')   # unknown: ignored
    assert rule.sip_proxy == ('192.0.2.10', 5070)
    assert (rule.local_contact_domain, rule.local_from_domain) == ('pbx.example.org', 'example.org')
    assert (rule.failure_action, rule.transport, rule.register, rule.register_expiry) == \
        ('continue', 'tcp', True, 600)
    assert rule.credentials.username == 'pbx' and rule.credentials.password == 's3cret'
    assert rule.trunk_addresses == (ipaddress.ip_network('192.0.2.0/28'), ipaddress.ip_network('2001:db8::1'))


def test_trunk_password_never_shows_in_a_repr():
    rule = out(domain='x.net', sipProxy='x.net', sipProxyUsername='pbx', sipProxyPassword='s3cret-pw')
    attempt = outbound_plan([rule], 'sip:bob@x.net')[0]
    for text in (repr(rule), repr(attempt), str(attempt), repr(rule.credentials)):
        assert 's3cret-pw' not in text
    assert attempt.has_credentials


def test_trunk_addresses_default_to_the_proxy_ip():
    assert out(domain='x', sipProxy='192.0.2.7').trunk_addresses == (ipaddress.ip_network('192.0.2.7/32'),)
    assert out(domain='x', sipProxy='[2001:db8::5]:5080').trunk_addresses == \
        (ipaddress.ip_network('2001:db8::5/128'),)
    assert out(domain='x', sipProxy='sip.provider.example').trunk_addresses == ()   # a name: credentials only


@pytest.mark.parametrize('fields,parameter,error', [
    (dict(), 'domain', 'invalidValue'),                                   # domain * is required
    (dict(domain=''), 'domain', 'invalidValue'),
    (dict(domain='bad domain'), 'domain', 'invalidValue'),
    (dict(domain='a' * 256), 'domain', 'valueTooLong'),
    (dict(domain='x', priority='ten'), 'priority', 'invalidValue'),
    (dict(domain='x', sipProxy='host:99999'), 'sipProxy', 'invalidValue'),
    (dict(domain='x', sipProxy='host:port'), 'sipProxy', 'invalidValue'),
    (dict(domain='x', sipProxy='bad host'), 'sipProxy', 'invalidValue'),
    (dict(domain='x', localFromDomain='x.org:5060'), 'localFromDomain', 'invalidValue'),
    (dict(domain='x', trunkType='h323'), 'trunkType', 'invalidValue'),
    (dict(domain='x', failureAction='retry'), 'failureAction', 'invalidValue'),
    (dict(domain='x', sipControlEncryption='tls'), 'sipControlEncryption', 'invalidValue'),
    (dict(domain='x', sipProxyTransport='tls'), 'sipProxyTransport', 'invalidValue'),
    (dict(domain='x', register='yes'), 'register', 'invalidValue'),
    (dict(domain='x', register='true'), 'sipProxy', 'missing'),      # nothing to register to
    (dict(domain='x', sipProxy='h', registerExpiry='10'), 'registerExpiry', 'invalidValue'),
    (dict(domain='x', sipProxyPassword='pw'), 'sipProxyUsername', 'missing'),
    (dict(domain='x', trunkAddresses='192.0.2.1, not-an-ip'), 'trunkAddresses', 'invalidValue'),
    (dict(domain='x', trunkAddresses=','.join(['192.0.2.1'] * 33)), 'trunkAddresses', 'valueTooLong'),
])
def test_outbound_bad_values_name_the_parameter(fields, parameter, error):
    with pytest.raises(FieldError) as exc:
        out(**fields)
    assert (exc.value.parameter, exc.value.error) == (parameter, error)


# --- outbound_plan: priority order, failureAction, what each attempt says -------------------

def test_higher_priority_first_cut_after_stop():
    # §7.1.3: "If a rule is matched, but the call cannot be made, then other lower priority rules
    # may be tried depending on the failureAction parameter"; "stop: no further rules are used".
    rules = [out(id='low', domain='*.com', priority=1, sipProxy='192.0.2.3'),
             out(id='high', domain='example.com', priority=10, sipProxy='192.0.2.1', failureAction='continue'),
             out(id='mid', domain='*.com', priority=5, sipProxy='192.0.2.2'),
             out(id='lowest', domain='*', priority=0, sipProxy='192.0.2.4')]
    plan = outbound_plan(rules, 'sip:bob@example.com')
    assert [a.rule.id for a in plan] == ['high', 'mid']
    assert [a.host for a in plan] == ['192.0.2.1', '192.0.2.2']


def test_wildcard_rules_share_the_priority_order():
    # "the order in which dial plan rules (including rules with wildcarded domains) will be applied"
    rules = [out(id='exact', domain='example.com', priority=1),
             out(id='wild', domain='*.com', priority=2, failureAction='continue')]
    assert [a.rule.id for a in outbound_plan(rules, 'sip:bob@example.com')] == ['wild', 'exact']


def test_equal_priorities_keep_creation_order():
    a = out(id='a', domain='*.com', failureAction='continue')
    b = out(id='b', domain='*.com', failureAction='continue')
    assert [x.rule.id for x in outbound_plan([a, b], 'sip:x@y.com')] == ['a', 'b']
    assert [x.rule.id for x in outbound_plan([b, a], 'sip:x@y.com')] == ['b', 'a']


def test_no_matching_rule_no_attempt():
    assert outbound_plan([out(domain='example.com')], 'sip:bob@example.org') == []


def test_attempt_through_a_proxy():
    rule = out(id='r', domain='example.com', sipProxy='192.0.2.1:5080', sipProxyTransport='tcp',
               localFromDomain='us.example.org', localContactDomain='pbx.example.org',
               sipProxyUsername='pbx', sipProxyPassword='pw')
    [a] = outbound_plan([rule], 'sip:bob@example.com;maddr=203.0.113.9;x=1?Subject=hi')
    assert a.request_uri == 'sip:bob@example.com;x=1'   # maddr and headers never go on
    assert (a.host, a.port, a.transport) == ('192.0.2.1', 5080, 'tcp')
    assert (a.from_domain, a.contact_domain) == ('us.example.org', 'pbx.example.org')
    assert a.credentials.username == 'pbx' and a.failure is None


def test_direct_call_without_proxy_goes_to_the_domain():
    # sipProxy: "If not set, it is a direct call."
    [a] = outbound_plan([out(domain='*.net')], 'sip:bob@sip.example.net:5070')
    assert (a.request_uri, a.host, a.port, a.transport) == ('sip:bob@sip.example.net:5070',
                                                            'sip.example.net', 5070, 'udp')
    assert (a.from_domain, a.credentials) == (None, None)
    [b] = outbound_plan([out(domain='*.net')], 'sip:bob@sip.example.net')
    assert b.port == 5060


def test_numbers_without_domain_go_to_the_trunks():
    rules = [out(id='direct', domain='*', priority=9, failureAction='continue'),     # no proxy: skipped
             out(id='exact', domain='sip.provider.net', priority=5, sipProxy='192.0.2.1',
                 failureAction='continue'),
             out(id='wild', domain='*', priority=1, sipProxy='192.0.2.2:5070')]
    plan = outbound_plan(rules, '+4930123456')
    assert [a.rule.id for a in plan] == ['exact', 'wild']
    assert plan[0].request_uri == 'sip:+4930123456@sip.provider.net;user=phone'
    assert plan[1].request_uri == 'sip:+4930123456@192.0.2.2:5070;user=phone'
    assert outbound_plan(rules, 'tel:+4930123456')[0].request_uri == plan[0].request_uri
    assert outbound_plan(rules, 'alice') == []        # a name is not a number: no trunk takes it


def test_phone_flag_marks_the_request_uri():
    [a] = outbound_plan([out(domain='gw.example.net')], 'sip:+4930123@gw.example.net', phone=True)
    assert a.request_uri == 'sip:+4930123@gw.example.net;user=phone'


def test_encrypted_fails_with_a_reason_auto_and_unencrypted_go_unencrypted():
    rules = [out(id='tls', domain='x.com', priority=3, sipControlEncryption='encrypted',
                 failureAction='continue', sipProxy='192.0.2.1'),
             out(id='auto', domain='x.com', priority=2, sipControlEncryption='auto', failureAction='continue'),
             out(id='plain', domain='x.com', priority=1, sipControlEncryption='unencrypted')]
    plan = outbound_plan(rules, 'sip:bob@x.com')
    assert [(a.rule.id, a.failure, a.transport) for a in plan] == [
        ('tls', 'TLS not available (sipControlEncryption encrypted)', 'udp'),
        ('auto', None, 'udp'), ('plain', None, 'udp')]
    assert should_continue(plan[0], None)             # the runtime moves on as after a failure


def test_sips_destination_is_never_sent_unencrypted():
    [a] = outbound_plan([out(domain='x.com')], 'sips:bob@x.com')
    assert a.failure == 'TLS not available (sips URI)'


@pytest.mark.parametrize('trunk_type', ['lync', 'avaya'])
def test_other_trunk_types_fail_with_a_reason(trunk_type):
    [a] = outbound_plan([out(domain='x.com', trunkType=trunk_type)], 'sip:bob@x.com')
    assert a.failure == f'trunkType {trunk_type} not available'


def test_bad_destination_raises():
    with pytest.raises(UriError):
        outbound_plan([out(domain='*')], 'sip:bob@')
    with pytest.raises(UriError):
        parse_destination('http://example.com/')


# --- should_continue ----------------------------------------------------------------------

@pytest.mark.parametrize('status,expected', [
    (None, True),                      # timeout (or an attempt that could not be sent)
    (500, True), (503, True), (504, True),
    (604, True), (606, True),
    (404, True), (408, True), (480, True), (488, True), (407, True),
    (302, True),                       # a redirect we do not follow is a failed attempt
    (486, False), (600, False),        # busy
    (603, False),                      # decline
    (487, False),                      # our CANCEL: the caller gave up
    (200, False), (202, False),        # success
])
def test_continue_rule(status, expected):
    [a, _] = outbound_plan([out(domain='*', failureAction='continue'), out(domain='*')], 'sip:x@y')
    assert should_continue(a, status) is expected


def test_stop_rule_never_continues():
    [a] = outbound_plan([out(domain='*', failureAction='stop')], 'sip:x@y')
    assert not any(should_continue(a, s) for s in (None, 404, 503, 603))


def test_never_after_the_caller_cancelled():
    [a] = outbound_plan([out(domain='*', failureAction='continue')], 'sip:x@y')
    assert not should_continue(a, None, cancelled=True)
    assert not should_continue(a, 503, cancelled=True)


@pytest.mark.parametrize('status', [100, 180, 183, 700, 0])
def test_not_a_final_status(status):
    [a] = outbound_plan([out(domain='*', failureAction='continue')], 'sip:x@y')
    with pytest.raises(ValueError):
        should_continue(a, status)


# --- inbound rules (§7.3) ------------------------------------------------------------------

def test_inbound_matches_the_domain_exactly():
    # "inbound dial plan rules' configured domain values are always exactly matched"
    rules = [inbound(id='a', domain='example.com')]
    assert match_inbound(rules, 'example.com').rule.id == 'a'
    assert match_inbound(rules, 'EXAMPLE.com').rule.id == 'a'
    assert match_inbound(rules, 'sip.example.com') is None
    assert match_inbound(rules, 'example.co') is None


def test_inbound_priority_and_order():
    rules = [inbound(id='low', domain='x.com', priority=1), inbound(id='high', domain='x.com', priority=9),
             inbound(id='high2', domain='x.com', priority=9)]
    assert match_inbound(rules, 'x.com').rule.id == 'high'


def test_inbound_targets():
    rule = inbound(domain='x.com')
    assert (rule.resolve_to_users, rule.resolve_to_cospaces, rule.resolve_to_ivrs,
            rule.pending_targets) == (True, True, True, ())
    spaces = match_inbound([inbound(domain='x.com', resolveToUsers='false', resolveToIvrs='false',
                                    resolveToCoSpaces='false', resolveToLyncConferences='true')],
                           'x.com')
    # matched, but resolves to nothing in this build: the runtime answers 404
    assert not spaces.resolve_to_users and not spaces.rule.resolve_to_cospaces
    assert not spaces.rule.resolve_to_ivrs
    assert spaces.pending_targets == ('resolveToLyncConferences',)



# --- forwarding rules (§7.4) --------------------------------------------------------------

def test_forwarding_defaults():
    rule = fwd(matchPattern='*.example.com')
    assert (rule.action, rule.caller_id_mode, rule.uri_parameters, rule.destination_domain, rule.priority) \
        == ('reject', 'regenerate', 'discard', None, 0)


def test_forward_rewrites_the_destination_domain():
    # "Calls that are forwarded with this rule will have their destination domain rewritten"
    rule = fwd(id='f', matchPattern='exa*.com', action='forward', destinationDomain='partner.net')
    d = match_forwarding([rule], 'sip:bob@example.com:5070;transport=tcp', 'sip:alice@caller.org')
    assert (d.action, d.destination, d.rule.id) == ('forward', 'sip:bob@partner.net', 'f')


def test_forward_without_destination_domain_keeps_it():
    d = match_forwarding([fwd(matchPattern='*.example.com', action='forward')],
                         'sip:bob@sip.example.com:5070', 'sip:alice@caller.org')
    assert d.destination == 'sip:bob@sip.example.com:5070'


def test_uri_parameters_discard_or_forward():
    uri = 'sip:bob@example.com;x=1;maddr=203.0.113.9;lr?Subject=hi'
    discard = fwd(matchPattern='example.com', action='forward', destinationDomain='p.net')
    keep = fwd(matchPattern='example.com', action='forward', destinationDomain='p.net', uriParameters='forward')
    assert match_forwarding([discard], uri, 'sip:a@b').destination == 'sip:bob@p.net'
    assert match_forwarding([keep], uri, 'sip:a@b').destination == 'sip:bob@p.net;x=1;lr'


def test_reject():
    # "It might be appropriate to catch certain calls and reject them"
    rules = [fwd(id='catch', matchPattern='spam.example.com', priority=10, action='reject'),
             fwd(id='all', matchPattern='*.example.com', priority=1, action='forward', destinationDomain='p.net')]
    caught = match_forwarding(rules, 'sip:bob@spam.example.com', 'sip:a@b')
    assert (caught.action, caught.destination, caught.rule.id) == ('reject', None, 'catch')
    assert match_forwarding(rules, 'sip:bob@ok.example.com', 'sip:a@b').rule.id == 'all'
    assert match_forwarding(rules, 'sip:bob@example.org', 'sip:a@b') is None


def test_caller_id_preserve_or_regenerate():
    preserve = fwd(matchPattern='x.com', action='forward', callerIdMode='preserve')
    regenerate = fwd(matchPattern='x.com', action='forward')
    caller = 'sip:+4930555@caller.example.org'
    assert match_forwarding([preserve], 'sip:bob@x.com', caller).caller('pbx.example.net') == caller
    assert match_forwarding([regenerate], 'sip:bob@x.com', caller).caller('pbx.example.net') \
        == 'sip:+4930555@pbx.example.net'
    assert match_forwarding([regenerate], 'sip:bob@x.com', 'sip:caller.example.org').caller('pbx') == 'sip:pbx'


def test_forwarding_equal_priorities_keep_creation_order():
    a = fwd(id='a', matchPattern='*.com', action='forward')
    b = fwd(id='b', matchPattern='x.com', action='reject')
    assert match_forwarding([a, b], 'sip:u@x.com', 'sip:a@b').rule.id == 'a'
    assert match_forwarding([b, a], 'sip:u@x.com', 'sip:a@b').rule.id == 'b'


@pytest.mark.parametrize('build,fields,parameter', [
    (inbound, dict(), 'domain'),
    (inbound, dict(domain='*.com'), 'domain'),                  # "Must be a complete value"
    (inbound, dict(domain='x.com', resolveToCoSpaces='maybe'), 'resolveToCoSpaces'),
    (inbound, dict(domain='x.com', resolveToUsers='1'), 'resolveToUsers'),
    (inbound, dict(domain='x.com', priority='x'), 'priority'),
    (fwd, dict(), 'matchPattern'),
    (fwd, dict(matchPattern='*'), 'matchPattern'),              # "do not use matchPattern=*": call loops
    (fwd, dict(matchPattern='*.*'), 'matchPattern'),
    (fwd, dict(matchPattern='x.com', action='drop'), 'action'),
    (fwd, dict(matchPattern='x.com', callerIdMode='keep'), 'callerIdMode'),
    (fwd, dict(matchPattern='x.com', uriParameters='keep'), 'uriParameters'),
    (fwd, dict(matchPattern='x.com', destinationDomain='*.net'), 'destinationDomain'),
])
def test_inbound_and_forwarding_bad_values(build, fields, parameter):
    with pytest.raises(FieldError) as exc:
        build(**fields)
    assert exc.value.parameter == parameter
