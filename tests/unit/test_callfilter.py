"""Q-loud call filters (§9.1.3), emergency numbers (§9.1.5) and the outgoing policy order."""
import pytest

from telephony.dialplan.callfilter import (MAX_OPERATORS, CallFilterError, evaluate, parse_filter)
from telephony.dialplan.policy import (LIMIT_REACHED, Allowed, Denied, Emergency, EmergencyRoute,
                                       is_emergency, outgoing_policy, user_to_user)

GERMAN = "^(\\+49[2-8][0-9]{3,16})|(\\+499[1-9][0-9]{3,15})|(\\+4990[1-9][0-9]{3,14})$"
# §9.1.3 POST /api/partner/callfilter/(user-uuid), as the document means it: its rendering
# breaks the second inner array across a page (and the first copy of the long pattern across
# a line, with spaces around `|` that the second copy does not have)
EXAMPLE = {
    "callfilter": [
        {"operator": "replace", "key": "^00", "value": "+"},
        {"operator": "replace", "key": "^0", "value": "+49"},
        {"operator": "replace", "key": "^+4911", "value": "11"},
        [
            {"operator": "service", "key": "sip", "reverse": True, "break": True},
            {"operator": "match", "key": "^\\+492216698711$", "pass": False},
            {"operator": "match", "key": "^\\+492216698499$", "pass": False},
            {"operator": "match", "key": GERMAN, "pass": True},
            {"operator": "match", "key": "^[1]{2}[0-7][0-9]{0,3}$", "pass": True},
        ],
        [
            {"operator": "service", "key": "fax", "reverse": True, "break": True},
            {"operator": "match", "key": GERMAN, "pass": True},
        ],
        {"operator": "match", "key": ".*", "pass": False},
    ]
}
FLT = parse_filter(EXAMPLE)


def run(number, service='sip', flt=FLT):
    r = evaluate(flt, number, service)
    return r.allowed, r.number


# ---------------------------------------------------------------- the document's example

def test_example_rewrites_to_international_format():
    assert run('02216698000') == (True, '+492216698000')     # ^0 -> +49
    assert run('00492216698000') == (True, '+492216698000')  # ^00 -> + first
    assert run('+492216698000') == (True, '+492216698000')


def test_example_keeps_the_special_prefix_11():
    # "excluding the special number prefix 11 (used for emergency calls)"
    assert run('0110') == (True, '110')
    assert run('115') == (True, '115')
    assert run('0116') == (True, '116')
    assert run('116116') == (True, '116116')
    assert run('1170') == (True, '1170')


def test_example_denies_the_two_listed_numbers_for_sip():
    assert run('02216698711') == (False, '+492216698711')
    assert run('+492216698499') == (False, '+492216698499')
    assert run('+492216698712') == (True, '+492216698712')


def test_example_allows_german_fixed_and_free_numbers_for_sip():
    assert run('08001234567')[0] is True            # +49800…: free of charge
    assert run('+499112345')[0] is True             # +499[1-9]: fixed network
    assert run('0901234567')[0] is True             # +4990[1-9], the doc's third group


def test_example_denies_the_rest_for_sip():
    assert run('01711234567') == (False, '+491711234567')    # mobile: no group matches
    assert run('+33123456789') == (False, '+33123456789')
    assert run('1190')[0] is False                           # 11[0-7] only
    assert run('119')[0] is False and run('0118') == (False, '118')


def test_example_for_fax_allows_german_numbers_only():
    assert run('02216698711', 'fax') == (True, '+492216698711')   # the sip list does not apply
    assert run('+33123456789', 'fax') == (False, '+33123456789')
    assert run('110', 'fax')[0] is False                          # no 11x group for fax


def test_example_other_services_are_denied_at_the_end():
    for service in ('dialplan', 'call_through', 'callback', 'ivr', 'announcement_call', 'call_api'):
        assert run('02216698000', service) == (False, '+492216698000')


def test_get_example_single_operator_denies_everything():
    flt = parse_filter({"callfilter": {"operator": "match", "key": ".+", "pass": False}})
    assert run('+492216698000', flt=flt)[0] is False
    assert evaluate(flt, '', 'sip').allowed is True     # `.+` needs a character


# ---------------------------------------------------------------- operators one by one

def f(*ops):
    return parse_filter({'callfilter': list(ops)})


def test_nothing_matches_allows():
    assert run('123', flt=f({'operator': 'match', 'key': '^9', 'pass': False})) == (True, '123')


def test_replace_every_occurrence_literally():
    flt = f({'operator': 'replace', 'key': '1', 'value': r'\g<0>$1'})
    assert run('1213', flt=flt) == (True, r'\g<0>$12\g<0>$13')


def test_match_reverse():
    flt = f({'operator': 'match', 'key': '^\\+49', 'reverse': True, 'pass': False})
    assert run('+33', flt=flt)[0] is False and run('+49', flt=flt)[0] is True


def test_service_pass_and_reverse():
    flt = f({'operator': 'service', 'key': 'fax', 'pass': False})
    assert run('1', 'fax', flt)[0] is False and run('1', 'sip', flt)[0] is True
    flt = f({'operator': 'service', 'key': 'fax', 'reverse': True, 'pass': True},
            {'operator': 'match', 'key': '.*', 'pass': False})
    assert run('1', 'sip', flt)[0] is True and run('1', 'fax', flt)[0] is False


def test_break_leaves_only_the_innermost_array():
    flt = f([[{'operator': 'match', 'key': '^1', 'break': True},
              {'operator': 'match', 'key': '.*', 'pass': False}],
             {'operator': 'match', 'key': '^12', 'pass': False}],
            {'operator': 'match', 'key': '.*', 'pass': True})
    assert run('12', flt=flt)[0] is False      # broke out of the inner array, the outer went on
    assert run('13', flt=flt)[0] is True
    assert run('2', flt=flt)[0] is False       # no break: the inner deny decides


def test_break_at_the_top_ends_the_filter_allowing():
    flt = f({'operator': 'match', 'key': '.*', 'break': True},
            {'operator': 'match', 'key': '.*', 'pass': False})
    assert run('1', flt=flt)[0] is True


def test_break_false_does_nothing():
    flt = f({'operator': 'match', 'key': '.*', 'break': False},
            {'operator': 'match', 'key': '^1', 'pass': False})
    assert run('1', flt=flt)[0] is False and run('2', flt=flt)[0] is True


def test_replacements_inside_an_array_stay_for_what_follows():
    flt = f([{'operator': 'replace', 'key': '^0', 'value': '+49'}],
            {'operator': 'match', 'key': '^\\+49', 'pass': False})
    assert run('0221', flt=flt) == (False, '+49221')


def test_a_number_grown_too_long_or_too_long_at_first_is_denied():
    flt = f({'operator': 'replace', 'key': '', 'value': 'xxxxxxxx'},
            {'operator': 'replace', 'key': '', 'value': 'xxxxxxxx'})
    r = evaluate(flt, '12345678', 'sip')
    assert not r.allowed and 'longer' in r.reason
    r = evaluate(f({'operator': 'match', 'key': '^9', 'pass': False}), '1' * 65, 'sip')
    assert not r.allowed


def test_empty_inner_arrays_are_fine():
    assert run('1', flt=f([], {'operator': 'match', 'key': '1', 'pass': False}))[0] is False


def test_deep_nesting_counts_operators():
    flt = f([[[{'operator': 'match', 'key': '^5', 'pass': False}]]])
    assert run('5', flt=flt)[0] is False


# ---------------------------------------------------------------- parse errors

def err(doc) -> CallFilterError:
    with pytest.raises(CallFilterError) as e:
        parse_filter(doc)
    return e.value


def test_the_250_operator_limit_counts_across_nesting():
    op = {'operator': 'match', 'key': '1', 'pass': True}
    parse_filter({'callfilter': [op] * 125 + [[op] * 125]})
    e = err({'callfilter': [op] * 125 + [[op] * 120, [[op] * 6]]})
    assert e.status == 'too-large' and 'limit of 250 operators' in e.message
    assert MAX_OPERATORS == 250


def test_nesting_depth_is_capped():
    doc = [{'operator': 'match', 'key': '1', 'pass': True}]
    for _ in range(20):
        doc = [doc]
    assert err({'callfilter': doc}).status == 'too-large'


@pytest.mark.parametrize('doc, status, path', [
    ({}, 'missing-element', 'callfilter'),
    ({'callfilter': []}, 'missing-element', 'callfilter'),
    ({'callfilter': [[], [[]]]}, 'missing-element', 'callfilter'),
    ({'callfilter': 'match'}, 'wrong-syntax', 'callfilter'),
    ({'callfilter': [1]}, 'wrong-syntax', 'callfilter[0]'),
    ({'callfilter': [{'key': '1', 'pass': True}]}, 'missing-element', 'callfilter[0].operator'),
    ({'callfilter': [{'operator': 'deny', 'key': '1'}]}, 'wrong-syntax', 'callfilter[0].operator'),
    ({'callfilter': [[{'operator': 'match', 'pass': True}]]}, 'missing-element', 'callfilter[0][0].key'),
    ({'callfilter': [{'operator': 'match', 'key': 5, 'pass': True}]}, 'wrong-syntax', 'callfilter[0].key'),
    ({'callfilter': [{'operator': 'match', 'key': '(1+)+', 'pass': True}]}, 'wrong-syntax',
     'callfilter[0].key'),
    ({'callfilter': [{'operator': 'match', 'key': '[1', 'pass': True}]}, 'wrong-syntax',
     'callfilter[0].key'),
    ({'callfilter': [{'operator': 'match', 'key': '1'}]}, 'missing-element', 'callfilter[0]'),
    ({'callfilter': [{'operator': 'match', 'key': '1', 'pass': True, 'break': True}]}, 'wrong-syntax',
     'callfilter[0]'),
    ({'callfilter': [{'operator': 'match', 'key': '1', 'pass': 'no'}]}, 'wrong-syntax',
     'callfilter[0].pass'),
    ({'callfilter': [{'operator': 'match', 'key': '1', 'pas': False}]}, 'wrong-syntax',
     'callfilter[0].pas'),
    ({'callfilter': [{'operator': 'match', 'key': '1', 'pass': True, 'reverse': 1}]}, 'wrong-syntax',
     'callfilter[0].reverse'),
    ({'callfilter': [{'operator': 'service', 'key': 'sms', 'pass': True}]}, 'wrong-syntax',
     'callfilter[0].key'),
    ({'callfilter': [{'operator': 'service', 'key': 'sip'}]}, 'missing-element', 'callfilter[0]'),
    ({'callfilter': [{'operator': 'replace', 'key': '^0'}]}, 'missing-element', 'callfilter[0].value'),
    ({'callfilter': [{'operator': 'replace', 'key': '^0', 'value': 49}]}, 'wrong-syntax',
     'callfilter[0].value'),
    ({'callfilter': [{'operator': 'replace', 'key': '^0', 'value': '+49', 'pass': True}]},
     'wrong-syntax', 'callfilter[0].pass'),
    ({'callfilter': [{'operator': 'replace', 'key': '^0', 'value': '+49', 'break': True}]},
     'wrong-syntax', 'callfilter[0].break'),
])
def test_bad_filters_name_status_and_path(doc, status, path):
    e = err(doc)
    assert (e.status, e.path) == (status, path)


# ---------------------------------------------------------------- emergency and the policy order

def test_is_emergency():
    assert is_emergency('110') and is_emergency('112')
    assert not is_emergency('113') and not is_emergency('0110') and not is_emergency('1120')
    assert is_emergency('911', configured=['911', '999'])
    assert not is_emergency('911')


DENY_ALL = parse_filter({'callfilter': {'operator': 'match', 'key': '.*', 'pass': False}})
ROUTE = EmergencyRoute.from_json({'uui_header': 'x', 'emergency_police': '221CC00',
                                  'emergency_rescue': '221CC02'}, configured=['911'])


def test_emergency_reaches_its_route_whatever_filter_and_limit_say():
    assert outgoing_policy('110', 'sip', ROUTE, DENY_ALL, active=5, limit=0) == \
        Emergency('110', '221CC00', 'x')
    assert outgoing_policy('112', 'call_api', ROUTE, DENY_ALL) == Emergency('112', '221CC02', 'x')
    assert outgoing_policy('911', 'sip', ROUTE, DENY_ALL, limit=0) == Emergency('911', None, 'x')
    # no control centre configured: the emergency number itself
    assert outgoing_policy('112', 'sip', EmergencyRoute(), DENY_ALL) == Emergency('112', None)
    # §9.1.5: an empty value deletes an entry
    assert EmergencyRoute.from_json({'emergency_police': ''}).police is None


def test_uui_header_as_user_to_user():
    # §9.1.5's example is hex already: as it is (RFC 7433's only encoding)
    example = '001D73306138F193FFFF4A6F6C696F742D43757269652D5374722E'
    assert user_to_user(example) == f'{example};encoding=hex'
    # anything else is sent as the hex of its UTF-8: no character of it can reach the header
    assert user_to_user('Jöliot\r\nVia: x') == 'J\u00f6liot\r\nVia: x'.encode().hex().upper() + \
        ';encoding=hex'
    assert user_to_user('ABC') == '414243;encoding=hex'    # odd length: not hex bytes


def test_the_limit_comes_before_the_filter():
    assert outgoing_policy('+4930', 'sip', active=2, limit=2) == LIMIT_REACHED
    assert outgoing_policy('+4930', 'sip', active=1, limit=2) == Allowed('+4930')
    assert outgoing_policy('+4930', 'sip', callfilter=DENY_ALL) == Denied(403, 'Call Filter Denied')


def test_the_filter_rewrites_the_number_that_goes_out():
    assert outgoing_policy('02216698000', 'sip', callfilter=FLT) == Allowed('+492216698000')
    assert outgoing_policy('0110', 'sip', callfilter=FLT) == Allowed('110')   # not dialled as 110
