"""Event filter trees (Q-loud §3.27), sans-IO: validate at attach time, evaluate per event.

A filter that fails while evaluating (say, a regex the check could not
catch) passes the event; the caller marks it with `filter_error`.
"""
from __future__ import annotations

import re
import re._parser as sre_parse  # the stdlib's own regex parser, to inspect a pattern's shape
from typing import Any

OPS = {'equal', 'rematch', 'greater', 'lesser', 'contain', 'filter', 'and', 'or', 'not'}
MAX_DEPTH = 32
MAX_PATTERN = 500   # characters, as for dial plan caller patterns
MAX_SUBJECT = 1000  # longer strings never match: bounds the work per event
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT)


class FilterError(ValueError):
    pass


def validate(f: Any, depth: int = 0) -> None:
    """Raise FilterError for a filter that can never work (wrong-syntax / missing-element)."""
    if depth > MAX_DEPTH:
        raise FilterError('filter nested too deeply')
    if not isinstance(f, dict):
        raise FilterError('a filter is a JSON object')
    op = f.get('op')
    if op not in OPS:
        raise FilterError(f'unknown op {op!r}')
    if op in ('and', 'or'):
        args = f.get('args')
        if not isinstance(args, list) or not args:
            raise FilterError(f'{op} needs a non-empty args array')
        for a in args:
            validate(a, depth + 1)
        return
    if op == 'not':
        validate(f.get('arg'), depth + 1)
        return
    if not isinstance(f.get('key'), str):
        raise FilterError(f'{op} needs a key')
    if op == 'filter':
        validate(f.get('arg', f.get('value')), depth + 1)
        return
    if 'value' not in f:
        raise FilterError(f'{op} needs a value')
    value = f['value']
    if op == 'rematch':
        if not isinstance(value, str):
            raise FilterError('rematch value must be a string')
        check_pattern(value)
    if op in ('greater', 'lesser') and (not isinstance(value, (int, float)) or isinstance(value, bool)):
        raise FilterError(f'{op} value must be a number')


def check_pattern(value: str) -> None:
    """Refuse patterns that can backtrack for ever, like (a|a)*b or (a+)+: `re` has no
    time limit, and one such filter on one session would stall the whole event loop."""
    if len(value) > MAX_PATTERN:
        raise FilterError(f'regular expression longer than {MAX_PATTERN} characters')
    try:
        parsed = sre_parse.parse(value)
    except re.error as exc:
        raise FilterError(f'bad regular expression: {exc}') from None
    if _nested_repeat(parsed, inside=False):
        raise FilterError('regular expression repeats a group that itself repeats or '
                          'alternates; write it without nested repetition')


def _nested_repeat(items, inside: bool) -> bool:
    for op, arg in items:
        if op in _REPEATS:
            if inside or _nested_repeat(arg[2], inside=True):
                return True
        elif op is sre_parse.BRANCH:
            if inside or any(_nested_repeat(b, inside) for b in arg[1]):
                return True
        elif op is sre_parse.SUBPATTERN:
            if _nested_repeat(arg[-1], inside):
                return True
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            if _nested_repeat(arg[1], inside):
                return True
    return False


def _same(a: Any, b: Any) -> bool:
    """JSON equality: the type is part of the match (1 is not true, 1 is 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def matches(f: dict, event: dict) -> bool:
    """True if the event passes; raises FilterError if the filter cannot be evaluated."""
    try:
        return _eval(f, event)
    except FilterError:
        raise
    except Exception as exc:  # regex engine errors, odd types: never lose the event
        raise FilterError(str(exc)) from None


def _eval(f: dict, ev: Any) -> bool:
    op = f['op']
    if op == 'and':
        return all(_eval(a, ev) for a in f['args'])
    if op == 'or':
        return any(_eval(a, ev) for a in f['args'])
    if op == 'not':
        return not _eval(f['arg'], ev)
    if not isinstance(ev, dict) or f['key'] not in ev:
        return False
    field = ev[f['key']]
    if op == 'equal':
        return _same(field, f['value'])
    if op == 'rematch':
        return isinstance(field, str) and len(field) <= MAX_SUBJECT \
            and re.fullmatch(f['value'], field) is not None
    if op == 'greater':
        return _number(field) and field > f['value']
    if op == 'lesser':
        return _number(field) and field < f['value']
    if op == 'contain':
        return isinstance(field, list) and any(_same(x, f['value']) for x in field)
    if op == 'filter':
        return isinstance(field, dict) and _eval(f.get('arg', f.get('value')), field)
    raise FilterError(f'unknown op {op!r}')
