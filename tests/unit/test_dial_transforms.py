"""Dial transforms (Cisco §7.2): every example of the document, priorities, syntax errors, cost caps."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.dialplan.fields import FieldError
from telephony.dialplan.transforms import (
    MAX_DESTINATION, DialTransform, TransformSyntaxError, apply_transforms, compile_user_regex,
)


def t(**fields) -> DialTransform:
    return DialTransform.from_fields(fields)


def run(destination: str, **fields) -> str | None:
    """The destination after one transform, or None when it does not match."""
    result = apply_transforms([t(**fields)], destination)
    return None if result.action is None else result.destination


# --- §7.2 "Examples" table, one test per row ---------------------------------------------------

def test_row1_us_numbers_use_vcs1_directly():
    # The table prints the match as ($1/01/); the country code component of a US number is '1',
    # which does not contain '01', so the row as printed matches no US number. The intended rule
    # (and what a client means) is "component 1 is 1": ($1/^1$/). docs/decisions.md says so.
    assert run('+12125551234', type='phone', match='($1/^1$/)', transform='$2@vcs1') == '2125551234@vcs1'
    assert run('12125551234', type='phone', match='($1/^1$/)', transform='$2@vcs1') == '2125551234@vcs1'
    assert run('+12125551234', type='phone', match='($1/01/)', transform='$2@vcs1') is None
    assert run('+442079460958', type='phone', match='($1/^1$/)', transform='$2@vcs1') is None


def test_row2_uk_numbers_get_a_prefix_and_use_vcs2():
    assert run('+442079460958', type='phone', match='($1/44/)', transform='90044$2@vcs2') \
        == '900442079460958@vcs2'
    assert run('+12125551234', type='phone', match='($1/44/)', transform='90044$2@vcs2') is None


def test_row3_uk_mobiles_get_prefix_and_suffix():
    fields = dict(type='phone', match='($1/44/)($2/^7/)', transform='90044$2{}123@mobilevcs')
    assert run('+447700900123', **fields) == '900447700900123123@mobilevcs'
    assert run('+442079460958', **fields) is None        # UK, but not a 7...


def test_row4_unrecognised_digit_strings_get_vcs3():
    fields = dict(type='strip', match=r'($1/(\d){6,}/)', transform='$1@vcs3')
    assert run('555-123 4567', **fields) == '5551234567@vcs3'     # strip: dots, dashes, spaces go
    assert run('030.1234.56', **fields) == '030123456@vcs3'
    assert run('12345', **fields) is None                         # five digits are not six


def test_row5_replace_plus_with_00():
    # The table writes the substitution as {/+/00/}: a bare '+' means the character (see
    # compile_user_regex), so the row works as printed; the escaped form does the same.
    for transform in ('$1{/+/00/}', r'$1{/\+/00/}', r'$1{/^\+/00/}'):
        assert run('+44 20 7946 0958', type='strip', match=r'($1/\+(\d)+/)', transform=transform) \
            == '00442079460958'
    assert run('0044207946', type='strip', match=r'($1/\+(\d)+/)', transform='$1{/+/00/}') is None


def test_row6_alphanumeric_regex_with_capture_group():
    # The table prints the replacement as ' .endpoint@vc.example.com' with a space that is the
    # PDF's (as in its " @t.com" elsewhere); a client means no space.
    assert run('alice@example.com', type='raw', match='($1/(.*)@example.com/)',
               transform='$1{/@example.com$/.endpoint@vc.example.com/}') == 'alice.endpoint@vc.example.com'
    # "replace with \1.endpoint@vc.example.com": capture groups in the replacement
    assert run('alice@example.com', type='raw', match='($1/(.*)@example.com/)',
               transform=r'$1{/(.*)@example.com$/\1.endpoint@vc.example.com/}') \
        == 'alice.endpoint@vc.example.com'
    assert run('alice@example.org', type='raw', match='($1/(.*)@example.com/)',
               transform='$1{/@example.com$/.endpoint@vc.example.com/}') is None


# --- the types (§7.2 "A type is applied") --------------------------------------------------------

def test_types_make_their_components():
    assert t(type='raw').components('0.30-12 34') == ('0.30-12 34',)
    assert t(type='strip').components('0.30-12 34') == ('0301234',)
    assert t(type='phone').components('+4930123456') == ('49', '30123456')
    assert t(type='phone').components('030123456') is None        # not international: no match
    assert t().type == 'raw'                                       # "Default is raw"


def test_phone_transform_never_applies_to_a_non_number():
    assert run('alice@example.com', type='phone', transform='x') is None
    assert run('alice@example.com', type='raw', transform='x') == 'x'   # empty match matches all


# --- the match examples of §7.2.2 ---------------------------------------------------------------

@pytest.mark.parametrize('match,components,expected', [
    ('($2/abc/)', ('44', 'xxabcxx'), True),          # component 2 must contain 'abc'
    ('($2/abc/)', ('44', 'xxabxcx'), False),
    ('($1/^0/) ($1/9$/)', ('0129',), True),          # start with 0 and end with 9 (space between)
    ('($1/^0/) ($1/9$/)', ('0123',), False),
    ('($1/^0/) ($1/9$/)', ('1129',), False),
    ('($1/^44$/) ($2/^7/)', ('44', '7700900123'), True),
    ('($1/^44$/) ($2/^7/)', ('441', '7700900123'), False),
    ('($1/^44$/) ($2/^7/)', ('44', '2079460958'), False),
    ('', ('anything',), True),                       # "An empty string means match all"
])
def test_match_examples(match, components, expected):
    kind = 'phone' if len(components) == 2 else 'raw'
    assert t(type=kind, match=match).matches(components) is expected


# --- the transform examples of §7.2.2 -----------------------------------------------------------

@pytest.mark.parametrize('transform,components,expected', [
    ('abc', ('x', 'y'), 'abc'),                                    # replace everything with 'abc'
    ('$1$2@t.com', ('44', '2079460958'), '442079460958@t.com'),
    ('$1{}123@t.com', ('44', '2079460958'), '44123@t.com'),
    ('$1{/999/123/}@t.com', ('1999a999', '0'), '1123a123@t.com'),  # all instances
    (r'$1{/\D//}{/^9//}@example.com', ('9(555) 12-34', '0'), '5551234@example.com'),
    (r'$2{/^(\d{3})(\d+)$/\2-\1/}', ('1', '2125551234'), '5551234-212'),   # capture groups
    (r'$1{/a/\\/}', ('xay', '0'), 'x\\y'),                         # '\\' is a backslash
    (r'$1{/a/\//}', ('xay', '0'), 'x/y'),                          # '\/' is a slash
    (r'$1{/a/\0\0/}', ('xay', '0'), 'xaay'),                       # \0: the whole match
])
def test_transform_examples(transform, components, expected):
    assert t(type='phone', transform=transform).output('dialled', components) == expected


def test_no_transform_string_leaves_the_destination_unchanged():
    assert run('+4930123', match='($1/^\\+49/)') == '+4930123'


# --- priorities and actions ---------------------------------------------------------------------

def test_higher_priority_first_and_first_match_wins():
    low = t(id='low', priority='1', transform='low@x')
    high = t(id='high', priority='10', transform='high@x')
    result = apply_transforms([low, high], '123')
    assert (result.action, result.destination, result.transform.id) == ('accept', 'high@x', 'high')


def test_a_transform_whose_match_fails_is_skipped():
    skipped = t(id='uk', priority=10, type='phone', match='($1/^44$/)', transform='uk@x')
    taken = t(id='any', priority=1, transform='any@x')
    assert apply_transforms([skipped, taken], '+4930123456').transform.id == 'any'


def test_equal_priorities_keep_creation_order():
    first, second = t(id='1', priority=5, transform='first@x'), t(id='2', priority=5, transform='second@x')
    assert apply_transforms([first, second], '1').destination == 'first@x'
    assert apply_transforms([second, first], '1').destination == 'second@x'


def test_deny_stops_the_call():
    deny = t(id='premium', priority=10, type='phone', match='($1/^44$/)($2/^9/)', action='deny')
    accept = t(id='rest', priority=1, transform='$1@trunk')
    result = apply_transforms([deny, accept], '+449012345678')
    assert result.action == 'deny' and result.transform.id == 'premium' and 'premium' in result.reason
    assert apply_transforms([deny, accept], '+442079460958').destination == '+442079460958@trunk'


def test_accept_phone_is_reported():
    result = apply_transforms([t(action='acceptPhone', type='strip', transform='$1')], '030 1234')
    assert (result.action, result.destination) == ('acceptPhone', '0301234')


def test_no_match_leaves_the_destination_unchanged():
    result = apply_transforms([t(match='($1/^9/)', transform='x')], 'alice@example.com')
    assert result == type(result)(None, 'alice@example.com')
    assert apply_transforms([], '123').action is None


# --- bad input: errors name the parameter (the API's parameterError) -----------------------------

@pytest.mark.parametrize('fields,parameter', [
    (dict(match='$1/abc/'), 'match'),                 # no parentheses
    (dict(match='($1/abc)'), 'match'),                # no closing slash
    (dict(match='($1/abc/'), 'match'),                # no closing parenthesis
    (dict(match='($/abc/)'), 'match'),                # no component number
    (dict(match='($2/abc/)'), 'match'),               # raw has only $1
    (dict(type='phone', match='($3/abc/)'), 'match'),
    (dict(match='($1/a(b/)'), 'match'),               # regex does not compile
    (dict(transform='$'), 'transform'),
    (dict(transform='$x@t.com'), 'transform'),
    (dict(transform='$2@t.com'), 'transform'),        # raw has no $2
    (dict(transform='$1{/a/b/'), 'transform'),        # no closing brace
    (dict(transform='$1{/a/b}'), 'transform'),        # no closing slash
    (dict(transform='$1{a/b/}'), 'transform'),        # no opening slash
    (dict(transform='$1{/[/b/}'), 'transform'),       # regex does not compile
    (dict(transform=r'$1{/a/\1/}'), 'transform'),     # group 1 does not exist
])
def test_syntax_errors_name_the_parameter(fields, parameter):
    with pytest.raises(TransformSyntaxError) as exc:
        t(**fields)
    assert exc.value.parameter == parameter and exc.value.error == 'invalidValue'
    assert str(exc.value).startswith(parameter + ':')


@pytest.mark.parametrize('fields,parameter,error', [
    (dict(type='tel'), 'type', 'invalidValue'),
    (dict(action='reject'), 'action', 'invalidValue'),
    (dict(priority='high'), 'priority', 'invalidValue'),
    (dict(priority='1.5'), 'priority', 'invalidValue'),
    (dict(priority=str(2 ** 40)), 'priority', 'invalidValue'),
    (dict(match='($1/a/)' * 200), 'match', 'valueTooLong'),
    (dict(transform='x' * 1001), 'transform', 'valueTooLong'),
])
def test_bad_values_are_field_errors(fields, parameter, error):
    with pytest.raises(FieldError) as exc:
        t(**fields)
    assert (exc.value.parameter, exc.value.error) == (parameter, error)


def test_empty_values_take_the_defaults():
    # a PUT with an empty value unsets the field
    x = t(type='', match='', transform='', priority='', action='')
    assert (x.type, x.match, x.transform, x.priority, x.action) == ('raw', '', '', 0, 'accept')
    assert t(priority=-3).priority == -3


# --- regex cost bounds --------------------------------------------------------------------------

@pytest.mark.parametrize('pattern,why', [
    ('(a+)+', 'repeats a repeat'),
    (r'(\d*)*x', 'repeats a repeat'),
    ('(a|ab)*c', 'repeats an alternative'),
    (r'(a)\1', 'backreference'),
    ('(?P<x>a)(?P=x)', 'backreference'),
    ('.*.*.*x', 'more than 2 repeats'),
    ('a' * 201, 'longer than 200'),
])
def test_costly_regexes_are_refused(pattern, why):
    with pytest.raises(TransformSyntaxError) as exc:
        compile_user_regex(pattern, 'match')
    assert why in str(exc.value)


@pytest.mark.parametrize('pattern', [r'^\+(\d)+$', '(.*)@(.*)', r'(\d){6,}', r'^\d{3}-?\d+$', '(ab)?c', '(?:x|y)z'])
def test_ordinary_regexes_are_accepted(pattern):
    compile_user_regex(pattern, 'match')


def test_destination_and_result_lengths_are_capped():
    everything = t(id='all', transform='$1')
    assert apply_transforms([everything], 'a' * MAX_DESTINATION).action == 'accept'
    too_long = apply_transforms([everything], 'a' * (MAX_DESTINATION + 1))
    assert too_long.action == 'deny' and 'longer' in too_long.reason
    growing = t(id='grow', transform='$1{/a/aaaaaaaaaa/}')
    grown = apply_transforms([growing], 'a' * 20)
    assert grown.action == 'deny' and 'grow' in grown.reason


# --- fuzz: whatever an API user or a caller sends, the answer is a FieldError or a result ------


_SYNTAX = st.text(alphabet='$12(){}/\\^+*?.|[]a9 ', max_size=40)


@settings(max_examples=300, deadline=None)
@given(match=_SYNTAX, transform=_SYNTAX, kind=st.sampled_from(['raw', 'strip', 'phone']),
       destination=st.text(max_size=60))
def test_fuzz_fields_and_destinations(match, transform, kind, destination):
    try:
        rule = t(type=kind, match=match, transform=transform)
    except FieldError:
        return
    result = apply_transforms([rule], destination)
    assert result.action in (None, 'accept', 'deny')
    assert len(result.destination) <= max(MAX_DESTINATION, len(destination))
