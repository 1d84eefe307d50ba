"""Event filter trees (§3.27), sans-IO: every operator, validation, and run-time failure."""
from __future__ import annotations

import pytest

from telephony.api import filters
from telephony.api.events import Session

EVENT = {
    'id': 3, 'event': 'object_new', 'time': 2182782732,
    'object': {'owner': 'b4e38072-dcd1-11e2-a597-0024e8f90cc0', 'type': 'box', 'size': 12},
    'type': 'sensor', 'owner': 'b4e38072-dcd1-11e2-a597-0024e8f90cc0',
    'tag': ['be00e8aa', 7, True, None, {'a': 1}], 'count': 5, 'ratio': 0.5, 'flag': True,
    'nothing': None,
}


def passes(f, event=EVENT) -> bool:
    return filters.compile(f)(event)


# --- equal: the JSON type is part of the match ------------------------------------------------

@pytest.mark.parametrize('key,value,expected', [
    ('type', 'sensor', True),
    ('type', 'Sensor', False),
    ('count', 5, True),
    ('count', 5.0, True),          # one JSON number type
    ('count', '5', False),         # a string is not a number
    ('flag', True, True),
    ('flag', 1, False),            # true is not 1
    ('count', True, False),
    ('nothing', None, True),
    ('nothing', False, False),
    ('nothing', 0, False),
    ('tag', ['be00e8aa', 7, True, None, {'a': 1}], True),
    ('object', {'owner': 'b4e38072-dcd1-11e2-a597-0024e8f90cc0', 'type': 'box', 'size': 12}, True),
    ('missing', None, False),      # an absent field is not null
])
def test_equal(key, value, expected):
    assert passes({'op': 'equal', 'key': key, 'value': value}) is expected


# --- rematch -----------------------------------------------------------------------------------

@pytest.mark.parametrize('key,pattern,expected', [
    ('type', 'sensor|box', True),      # the document's example
    ('type', 'sens', False),           # the whole value must match
    ('type', 'sens.*', True),
    ('event', r'object_(new|modify)', True),
    ('count', '5', False),             # not a JSON string
    ('flag', 'True', False),
    ('tag', 'be00e8aa', False),
    ('missing', '.*', False),
])
def test_rematch(key, pattern, expected):
    assert passes({'op': 'rematch', 'key': key, 'value': pattern}) is expected


# --- greater / lesser: numbers only -------------------------------------------------------------

@pytest.mark.parametrize('op,key,value,expected', [
    ('greater', 'count', 4, True),
    ('greater', 'count', 5, False),
    ('greater', 'ratio', 0.25, True),
    ('greater', 'time', 2182782731.5, True),
    ('lesser', 'count', 6, True),
    ('lesser', 'count', 5, False),
    ('lesser', 'ratio', 1, True),
    ('greater', 'type', 0, False),     # a string is never greater
    ('lesser', 'type', 10 ** 9, False),
    ('greater', 'flag', 0, False),     # true is not a number
    ('lesser', 'nothing', 1, False),
    ('greater', 'tag', 0, False),
    ('greater', 'object', 0, False),
    ('lesser', 'missing', 1, False),
])
def test_greater_and_lesser(op, key, value, expected):
    assert passes({'op': op, 'key': key, 'value': value}) is expected


# --- contain: arrays, type-sensitive ------------------------------------------------------------

@pytest.mark.parametrize('value,expected', [
    ('be00e8aa', True),
    (7, True),
    ('7', False),
    (True, True),
    (1, False),                        # true in the array is not 1
    (None, True),
    ({'a': 1}, True),
    ('be00', False),
])
def test_contain(value, expected):
    assert passes({'op': 'contain', 'key': 'tag', 'value': value}) is expected


def test_contain_needs_an_array():
    assert passes({'op': 'contain', 'key': 'type', 'value': 's'}) is False
    assert passes({'op': 'contain', 'key': 'object', 'value': 'owner'}) is False


# --- filter: one level deeper ---------------------------------------------------------------------

def test_nested_filter_by_arg_and_by_value():
    inner = {'op': 'equal', 'key': 'type', 'value': 'box'}
    assert passes({'op': 'filter', 'key': 'object', 'arg': inner}) is True      # §3.27 example
    assert passes({'op': 'filter', 'key': 'object', 'value': inner}) is True    # §3.27 text
    assert passes({'op': 'filter', 'key': 'object', 'arg': {
        'op': 'equal', 'key': 'type', 'value': 'sensor'}}) is False   # the outer `type` is unseen
    assert passes({'op': 'filter', 'key': 'type', 'arg': inner}) is False       # not an object
    assert passes({'op': 'filter', 'key': 'missing', 'arg': inner}) is False


def test_filter_nests_twice():
    event = {'event': 'x', 'a': {'b': {'c': [1, 2]}}}
    f = {'op': 'filter', 'key': 'a', 'arg': {'op': 'filter', 'key': 'b', 'arg': {
        'op': 'contain', 'key': 'c', 'value': 2}}}
    assert passes(f, event) is True
    f['arg']['arg']['value'] = 3
    assert passes(f, event) is False


# --- and / or / not -------------------------------------------------------------------------------

T = {'op': 'equal', 'key': 'type', 'value': 'sensor'}
F = {'op': 'equal', 'key': 'type', 'value': 'box'}


@pytest.mark.parametrize('f,expected', [
    ({'op': 'and', 'args': [T]}, True),
    ({'op': 'and', 'args': [T, T]}, True),
    ({'op': 'and', 'args': [T, F]}, False),
    ({'op': 'or', 'args': [F, T]}, True),
    ({'op': 'or', 'args': [F, F]}, False),
    ({'op': 'not', 'arg': F}, True),
    ({'op': 'not', 'arg': T}, False),
    ({'op': 'not', 'arg': {'op': 'not', 'arg': T}}, True),
    ({'op': 'not', 'arg': {'op': 'equal', 'key': 'missing', 'value': 1}}, True),
])
def test_boolean_operators(f, expected):
    assert passes(f) is expected


def test_the_documents_example():
    owner = 'b4e38072-dcd1-11e2-a597-0024e8f90cc0'
    f = {'op': 'or', 'args': [
        {'op': 'and', 'args': [{'op': 'equal', 'key': 'owner', 'value': owner},
                               {'op': 'rematch', 'key': 'type', 'value': 'sensor|box'}]},
        {'op': 'filter', 'key': 'object', 'arg': {'op': 'equal', 'key': 'owner', 'value': owner}},
    ]}
    assert passes(f, {'event': 'e', 'owner': owner, 'type': 'box'}) is True
    assert passes(f, {'event': 'e', 'owner': owner, 'type': 'contact'}) is False
    assert passes(f, {'event': 'e', 'object': {'owner': owner}}) is True
    assert passes(f, {'event': 'e', 'object': {'owner': 'someone-else'}}) is False


# --- validation -------------------------------------------------------------------------------------

@pytest.mark.parametrize('f', [
    None, [], 'equal', {'op': 'nope', 'key': 'a', 'value': 1},
    {'key': 'a', 'value': 1},
    {'op': 'equal', 'value': 1}, {'op': 'equal', 'key': 1, 'value': 1}, {'op': 'equal', 'key': 'a'},
    {'op': 'rematch', 'key': 'a', 'value': 1}, {'op': 'rematch', 'key': 'a', 'value': '(['},
    {'op': 'greater', 'key': 'a', 'value': '1'}, {'op': 'lesser', 'key': 'a', 'value': None},
    {'op': 'greater', 'key': 'a', 'value': False},
    {'op': 'and', 'args': []}, {'op': 'or'}, {'op': 'or', 'args': T},
    {'op': 'and', 'args': [T, {'op': 'x'}]},
    {'op': 'not'}, {'op': 'not', 'arg': [T]},
    {'op': 'filter', 'key': 'a'}, {'op': 'filter', 'arg': T},
    {'op': 'filter', 'key': 'a', 'arg': {'op': 'equal'}},
])
def test_compile_refuses_broken_filters(f):
    with pytest.raises(filters.FilterError):
        filters.compile(f)


def test_compile_bounds_nesting():
    f = T
    for _ in range(filters.MAX_DEPTH + 2):
        f = {'op': 'not', 'arg': f}
    with pytest.raises(filters.FilterError):
        filters.compile(f)


# --- a filter that fails at run time --------------------------------------------------------------
# compile() refuses everything it can foresee; an event can still hold what no check could (here
# a value whose comparison raises). The event must pass, marked with filter_error.

class Unequal:
    def __eq__(self, other):
        raise TypeError('cannot compare')

    __hash__ = None


def test_a_compiled_filter_raises_filter_error_on_run_time_failure():
    with pytest.raises(filters.FilterError):
        filters.compile({'op': 'equal', 'key': 'odd', 'value': 1})({'odd': Unequal()})


def test_a_filter_failing_at_run_time_passes_the_event_with_filter_error():
    s = Session('sid', 'did', user='u')
    s.filter = filters.compile({'op': 'or', 'args': [F, {'op': 'equal', 'key': 'odd', 'value': 1}]})
    s.push({'event': 'object_new', 'time': 1, 'type': 'sensor', 'odd': Unequal()})
    [ev] = s.pending(0)
    assert ev['event'] == 'object_new' and ev['id'] == 0
    assert isinstance(ev['filter_error'], str) and ev['filter_error']
    # a failing branch after a passing one is never evaluated: no error, plain pass
    s.filter = filters.compile({'op': 'or', 'args': [T, {'op': 'equal', 'key': 'odd', 'value': 1}]})
    s.push({'event': 'object_new', 'time': 1, 'type': 'sensor', 'odd': Unequal()})
    assert 'filter_error' not in s.pending(1)[0]


def test_patterns_that_could_backtrack_for_ever_are_refused():
    for bad in ('(aa|a)*b', '(a+)+', '((a)*)*', '(xy|x)+z', 'a' * 501):
        with pytest.raises(filters.FilterError):
            filters.compile({'op': 'rematch', 'key': 'k', 'value': bad})
    for good in ('sensor|box', r'\+49.*', '(ab)*', '[ab]*c', '(?:x|y)z'):
        filters.compile({'op': 'rematch', 'key': 'k', 'value': good})


def test_rematch_ignores_huge_subjects():
    f = filters.compile({'op': 'rematch', 'key': 'k', 'value': 'a*'})
    assert f({'k': 'a' * 1000})
    assert not f({'k': 'a' * 1001})


# --- cost: compiled once, size capped (issue 8: 10,000 regexes froze the loop per event) ----------

def test_running_a_filter_compiles_nothing(monkeypatch):
    f = filters.compile({'op': 'or', 'args': [
        {'op': 'rematch', 'key': 'type', 'value': f'x{i}|y{i}'} for i in range(200)] + [
        {'op': 'rematch', 'key': 'type', 'value': 'sens.r'}]})

    def no_compiling(*args, **kwargs):
        raise AssertionError('a regex was compiled while running the filter')
    for name in ('compile', 'match', 'fullmatch', 'search', '_compile'):
        monkeypatch.setattr(filters.re, name, no_compiling)
    assert f(EVENT) is True
    assert f({**EVENT, 'type': 'box'}) is False


def test_filters_beyond_the_size_caps_are_too_large():
    many = {'op': 'or', 'args': [{'op': 'equal', 'key': 'a', 'value': i}
                                 for i in range(filters.MAX_OPS)]}      # MAX_OPS + 1 with the or
    with pytest.raises(filters.FilterTooLarge):
        filters.compile(many)
    many['args'].pop()
    filters.compile(many)
    deep_many = {'op': 'not', 'arg': {'op': 'filter', 'key': 'k', 'arg': many}}
    with pytest.raises(filters.FilterTooLarge):
        filters.compile(deep_many)
    regexes = {'op': 'and', 'args': [{'op': 'rematch', 'key': 'a', 'value': 'x' * 400}
                                     for _ in range(filters.MAX_PATTERNS // 400 + 1)]}
    with pytest.raises(filters.FilterTooLarge):
        filters.compile(regexes)
    regexes['args'].pop()
    filters.compile(regexes)
