"""The whole Cisco dial plan as pure decisions: outgoing, forwarded and incoming calls."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.dialplan.router import (
    Denied, Forwarded, Internal, NoRoute, NotFound, Rejected, ToCoSpace, Trunk, route_forwarded, route_incoming,
    route_outgoing,
)
from telephony.dialplan.rules import ForwardingRule, InboundRule, OutboundRule, should_continue
from telephony.dialplan.transforms import DialTransform
from telephony.sip.uri import parse_uri

LOCAL_DOMAINS = frozenset({'localhost', 'pbx.example.org'})
ACCOUNTS = {'alice', 'bob'}
ACCOUNT_DOMAINS = LOCAL_DOMAINS | {'example.org'}   # accounts also live in an inbound rule's domain
NUMBERS = {'+4930555001', '+4930555002'}


def is_local(user: str, domain: str | None) -> bool:
    """What the runtime asks the store: a number at any domain, an account in its domains."""
    return user in NUMBERS or (user in ACCOUNTS and (domain is None or domain in ACCOUNT_DOMAINS))


def transforms(*rows: dict) -> list[DialTransform]:
    return [DialTransform.from_fields(row) for row in rows]


def rules(*rows: dict) -> list[OutboundRule]:
    return [OutboundRule.from_fields(row) for row in rows]


# Two trunks, the first one answers 503 in the integration test (issue 9 "Transforms and failover")
TRUNKS = rules(
    dict(id='first', domain='pstn.example.net', priority=10, sipProxy='127.0.0.1:5071', failureAction='continue'),
    dict(id='second', domain='pstn.example.net', priority=5, sipProxy='127.0.0.1:5072',
         sipProxyUsername='pbx', sipProxyPassword='pw'),
)
TO_PSTN = transforms(
    dict(id='national', priority=10, type='strip', match=r'($1/^0[1-9]/)',
         transform='$1{/^0/+49/}@pstn.example.net', action='acceptPhone'),
    dict(id='international', priority=5, type='strip', match=r'($1/^00/)',
         transform='$1{/^00/+/}@pstn.example.net', action='acceptPhone'),
    dict(id='premium', priority=20, type='strip', match=r'($1/^0900/)', action='deny'),
)


def outgoing(destination, t=TO_PSTN, r=TRUNKS):
    return route_outgoing(destination, t, r, LOCAL_DOMAINS, is_local)


# --- outgoing: transforms, then outbound rules ------------------------------------------------

def test_transform_then_failover_across_trunks():
    decision = outgoing('030 1234 567')
    assert isinstance(decision, Trunk)
    assert decision.transform.transform.id == 'national'
    first, second = decision.attempts
    assert first.request_uri == second.request_uri == 'sip:+49301234567@pstn.example.net;user=phone'
    assert [(a.host, a.port) for a in decision.attempts] == [('127.0.0.1', 5071), ('127.0.0.1', 5072)]
    assert should_continue(first, 503)                  # the first trunk's 503 moves to the second
    assert not second.rule.failure_action == 'continue' and second.has_credentials


def test_priority_decides_between_transforms():
    assert outgoing('0900 123456') == Denied('denied by dial transform premium', TO_PSTN[2])
    decision = outgoing('0044 20 7946 0958')
    assert decision.transform.transform.id == 'international'
    assert decision.attempts[0].request_uri == 'sip:+442079460958@pstn.example.net;user=phone'


def test_no_transform_matches_destination_goes_on_unchanged():
    decision = outgoing('sip:carol@pstn.example.net')
    assert isinstance(decision, Trunk) and decision.transform is None
    assert decision.attempts[0].request_uri == 'sip:carol@pstn.example.net'
    assert outgoing('sip:carol@elsewhere.example') == NoRoute('carol@elsewhere.example')


def test_the_documents_examples_end_to_end():
    table = transforms(
        dict(id='us', priority=6, type='phone', match='($1/^1$/)', transform='$2@vcs1'),
        dict(id='ukmobile', priority=5, type='phone', match='($1/44/)($2/^7/)',
             transform='90044$2{}123@mobilevcs'),
        dict(id='uk', priority=4, type='phone', match='($1/44/)', transform='90044$2@vcs2'),
        dict(id='digits', priority=3, type='strip', match=r'($1/(\d){6,}/)', transform='$1@vcs3'),
        dict(id='endpoint', priority=1, type='raw', match='($1/(.*)@example.com/)',
             transform='$1{/@example.com$/.endpoint@vc.example.com/}'),
    )
    vcs = rules(*(dict(id=name, domain=name, sipProxy=f'192.0.2.{i}')
                  for i, name in enumerate(('vcs1', 'vcs2', 'vcs3', 'mobilevcs', 'vc.example.com'), 1)))
    expected = {
        '+12125551234': ('us', 'sip:2125551234@vcs1', '192.0.2.1'),
        '+447700900123': ('ukmobile', 'sip:900447700900123123@mobilevcs', '192.0.2.4'),
        '+442079460958': ('uk', 'sip:900442079460958@vcs2', '192.0.2.2'),
        '555-1234-56': ('digits', 'sip:555123456@vcs3', '192.0.2.3'),
        'alice@example.com': ('endpoint', 'sip:alice.endpoint@vc.example.com', '192.0.2.5'),
    }
    for dialled, (transform, uri, host) in expected.items():
        decision = outgoing(dialled, table, vcs)
        assert isinstance(decision, Trunk), dialled
        assert (decision.transform.transform.id, decision.attempts[0].request_uri,
                decision.attempts[0].host) == (transform, uri, host)


# --- local destinations never use a trunk --------------------------------------------------

@pytest.mark.parametrize('destination,expected', [
    ('alice', Internal('alice', None)),
    ('sip:alice@localhost', Internal('alice', 'localhost')),
    ('sip:+4930555001@pbx.example.org', Internal('+4930555001', 'pbx.example.org')),
    ('+4930555001', Internal('+4930555001', None)),
    ('tel:+4930555002', Internal('+4930555002', None)),
    ('sip:+4930555001@pstn.example.net', Internal('+4930555001', 'pstn.example.net')),   # our number
    ('sip:nobody@localhost', Internal('nobody', 'localhost')),   # our domain: the runtime answers 404
])
def test_ours_is_routed_internally(destination, expected):
    everything_out = rules(dict(domain='*', sipProxy='127.0.0.1:5071'))
    catch_all = transforms(dict(type='raw', transform='x@pstn.example.net'))
    assert route_outgoing(destination, catch_all, everything_out, LOCAL_DOMAINS, is_local) == expected


def test_a_transform_that_lands_on_our_number_stays_internal():
    to_ours = transforms(dict(type='strip', match='($1/^555001$/)', transform='+4930555001', action='acceptPhone'))
    assert outgoing('555 001', to_ours) == Internal('+4930555001', None)
    to_our_domain = transforms(dict(match='($1/^frontdesk$/)', transform='alice@localhost'))
    assert outgoing('frontdesk', to_our_domain) == Internal('alice', 'localhost')


# --- what the transforms may produce --------------------------------------------------------

def test_accept_phone_needs_a_number():
    name = transforms(dict(id='x', transform='operator@pstn.example.net', action='acceptPhone'))
    assert outgoing('0', name) == Denied("acceptPhone: 'operator' is not a phone number", name[0])


def test_accept_makes_a_sip_address():
    decision = outgoing('help', transforms(dict(match='($1/^help$/)', transform='support@pstn.example.net')))
    assert decision.attempts[0].request_uri == 'sip:support@pstn.example.net'   # no user=phone


def test_bad_transform_result_is_denied():
    broken = transforms(dict(id='b', transform='a b@pstn.example.net'))
    decision = outgoing('x', broken)
    assert isinstance(decision, Denied) and 'b made a bad destination' in decision.reason


def test_dialled_text_only_a_transform_can_use():
    assert outgoing('030 1234', []) == Denied("bad destination '030 1234' and no dial transform matches it")
    assert outgoing('0301234', [], []) == NoRoute('0301234')     # a number, and no rule at all
    bare_trunk = rules(dict(id='t', domain='*', sipProxy='192.0.2.1'))
    assert outgoing('0301234', [], bare_trunk).attempts[0].request_uri == 'sip:0301234@192.0.2.1:5060;user=phone'


@pytest.mark.parametrize('destination', ['', 'x' * 129, 'caf\u00e9', 'a\nb', 'sip:', 'sip:bob@', 'http://x/',
                                         'sip:bob@bad host'])
def test_bad_destinations_are_denied(destination):
    assert isinstance(outgoing(destination), Denied)


def test_uri_objects_are_accepted():
    assert outgoing(parse_uri('sip:alice@localhost')) == Internal('alice', 'localhost')


# --- forwarded calls skip the transforms ---------------------------------------------------

def test_forwarded_calls_skip_transforms():
    deny_all = transforms(dict(type='raw', action='deny'))
    assert isinstance(route_outgoing('sip:carol@pstn.example.net', deny_all, TRUNKS, LOCAL_DOMAINS, is_local),
                      Denied)
    decision = route_forwarded('sip:carol@pstn.example.net', TRUNKS, LOCAL_DOMAINS, is_local)
    assert isinstance(decision, Trunk) and decision.transform is None
    assert [a.rule.id for a in decision.attempts] == ['first', 'second']
    assert route_forwarded('sip:alice@localhost', TRUNKS, LOCAL_DOMAINS, is_local) == Internal('alice', 'localhost')
    assert route_forwarded('sip:x@nowhere.example', TRUNKS, LOCAL_DOMAINS, is_local) == NoRoute('x@nowhere.example')
    assert isinstance(route_forwarded('sip:', TRUNKS, LOCAL_DOMAINS, is_local), Denied)


# --- incoming: inbound rules, then forwarding rules -----------------------------------------

INBOUND = [InboundRule.from_fields(dict(id='users', domain='example.org', resolveToCoSpaces='false',
                                        resolveToIvrs='false')),
           InboundRule.from_fields(dict(id='spaces', domain='meet.example.org', resolveToUsers='false')),
           InboundRule.from_fields(dict(id='both', domain='both.example.org')),
           InboundRule.from_fields(dict(id='ivrs', domain='ivr.example.org', resolveToUsers='false',
                                        resolveToCoSpaces='false')),
           InboundRule.from_fields(dict(id='lync', domain='lync.example.org', resolveToUsers='false',
                                        resolveToCoSpaces='false', resolveToIvrs='false',
                                        resolveToLyncConferences='true'))]
FORWARDING = [
    ForwardingRule.from_fields(dict(id='partner', matchPattern='*.partner.com', priority=5, action='forward',
                                    destinationDomain='pstn.example.net', callerIdMode='preserve')),
    ForwardingRule.from_fields(dict(id='block', matchPattern='spam.partner.com', priority=9, action='reject')),
    ForwardingRule.from_fields(dict(id='loop', matchPattern='*.example.org', action='forward')),
]


def incoming(uri, from_uri='sip:+4930999@caller.example'):
    return route_incoming(uri, from_uri, INBOUND, FORWARDING, TRUNKS, LOCAL_DOMAINS, is_local)


def test_inbound_rule_resolves_to_users():
    assert incoming('sip:alice@example.org') == Internal('alice', 'example.org')
    assert incoming('sip:+4930555001@example.org') == Internal('+4930555001', 'example.org')
    assert isinstance(incoming('sip:nobody@example.org'), NotFound)


def test_inbound_rule_that_resolves_to_nothing_here_is_not_found():
    decision = incoming('sip:alice@lync.example.org')
    assert decision == NotFound('inbound rule lync for lync.example.org resolves to '
                                'resolveToLyncConferences, not available here')


def test_inbound_rule_resolving_to_ivrs_only_asks_for_the_user_parts_ivr():
    assert incoming('sip:alice@ivr.example.org') == ToCoSpace(
        'alice', "inbound rule ivrs for ivr.example.org: no IVR 'alice'", cospaces=False, ivrs=True)


def test_inbound_rule_resolving_to_cospaces_asks_for_the_user_parts_cospace():
    # only coSpaces: even a user of ours is looked for among the coSpaces
    assert incoming('sip:alice@meet.example.org') == ToCoSpace(
        'alice', "inbound rule spaces for meet.example.org: no coSpace or IVR 'alice'", ivrs=True)
    # users first, then coSpaces (the default rule asks for both)
    assert incoming('sip:+4930555001@both.example.org') == Internal('+4930555001', 'both.example.org')
    assert incoming('sip:sales.team@both.example.org') == ToCoSpace(
        'sales.team', "inbound rule both for both.example.org: no account, number, coSpace or IVR "
        "'sales.team'", ivrs=True)
    # without a user part there is nothing to look for
    assert isinstance(incoming('sip:meet.example.org'), NotFound)


def test_our_domains_need_no_inbound_rule():
    assert incoming('sip:bob@localhost') == Internal('bob', 'localhost')
    assert isinstance(incoming('sip:nobody@localhost'), NotFound)
    assert incoming('tel:+4930555002') == Internal('+4930555002', None)


def test_inbound_rules_come_before_forwarding():
    # example.org matches the inbound rule exactly, although '*.example.org' could not match it anyway;
    # sip.example.org matches no inbound rule (exact match only) and is forwarded
    assert incoming('sip:alice@example.org') == Internal('alice', 'example.org')
    forwarded = incoming('sip:alice@sip.example.org')
    assert isinstance(forwarded, Forwarded) and forwarded.forwarding.rule.id == 'loop'


def test_forwarded_to_a_trunk_with_the_callers_id():
    decision = incoming('sip:+4940123@office.partner.com;x=1')
    assert isinstance(decision, Forwarded)
    assert decision.forwarding.destination == 'sip:+4940123@pstn.example.net'
    assert decision.forwarding.caller('pbx.example.org') == 'sip:+4930999@caller.example'   # preserve
    assert isinstance(decision.route, Trunk)
    assert decision.route.attempts[0].request_uri == 'sip:+4940123@pstn.example.net'


def test_forwarding_reject_and_no_match():
    assert incoming('sip:x@spam.partner.com') == Rejected(FORWARDING[1])
    assert incoming('sip:x@unknown.example') == NotFound('no inbound or forwarding rule matches unknown.example')
    assert isinstance(incoming('not a uri'), NotFound)


def test_from_header_never_chooses_the_route():
    # the same Request-URI gives the same route whoever the From claims to be
    claimed_trunk = 'sip:pbx@pstn.example.net'
    assert incoming('sip:x@unknown.example', claimed_trunk) == incoming('sip:x@unknown.example')
    assert incoming('sip:alice@example.org', claimed_trunk) == incoming('sip:alice@example.org')


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.from_regex(r'(sips?|tel):[ -~]{0,40}', fullmatch=True),
                 st.from_regex(r'[ -~]{0,20}@[ -~]{0,20}', fullmatch=True)))
def test_fuzz_destinations_always_get_a_decision(destination):
    decision = outgoing(destination)
    assert isinstance(decision, (Internal, Trunk, Denied, NoRoute))
    assert isinstance(incoming(destination), (Internal, NotFound, Rejected, Forwarded))
