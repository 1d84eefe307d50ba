"""Event filter trees (Q-loud §3.27), sans-IO: checked and compiled once when a client posts
one, then run per event as plain closures with precompiled regexes.

A filter's size is capped (operators and regex text): every event of the session runs it,
on the event loop, so its cost per event has to be small whatever a client sends. A
compiled filter that still fails on some event (an odd type no check foresaw) passes the
event; the caller marks it with `filter_error`.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from ..dialplan import regexes

OPS = {'equal', 'rematch', 'greater', 'lesser', 'contain', 'filter', 'and', 'or', 'not'}
MAX_DEPTH = 32
MAX_OPS = 250       # operators in one filter, the document's limit for call filters (§ partner)
MAX_PATTERNS = 2000  # characters of all the filter's regexes together
MAX_SUBJECT = 1000  # longer strings never match: bounds the work per event
# Sequential unbounded repeats backtrack polynomially: `.*a.*a.*a.*x` took 3 s on 200 'a's
# (an event field anyone calling in can choose), len**4 steps. Two cost about 1 ms on
# MAX_SUBJECT characters, three 130 ms: a pattern has at most regexes.MAX_UNBOUNDED.
MAX_TWO_STARS = 10  # patterns with two of them in one filter
_MISSING = object()

Predicate = Callable[[Any], bool]


class FilterError(ValueError):
    pass


class FilterTooLarge(FilterError):
    """More operators or regex text than a filter may have (`too-large`)."""


def compile(tree: Any) -> Predicate:
    """Check a filter tree and return its test: event -> bool. Raises FilterTooLarge or
    FilterError (wrong-syntax / missing-element) for a filter that cannot work. The test
    raises FilterError if an event makes it fail."""
    check_size(tree)
    test = _build(tree, 0)

    def run(event: dict) -> bool:
        try:
            return test(event)
        except Exception as exc:  # odd types in an event: never lose the event
            raise FilterError(str(exc)) from None
    return run


def check_size(tree: Any) -> None:
    """Count operators and regex characters before any parsing, without recursion."""
    ops = chars = two_stars = 0
    stack = [tree]
    while stack:
        f = stack.pop()
        ops += 1
        if ops > MAX_OPS:
            raise FilterTooLarge(f'a filter has at most {MAX_OPS} operators')
        if not isinstance(f, dict):
            continue
        if f.get('op') == 'rematch' and isinstance(f.get('value'), str):
            chars += len(f['value'])
            if chars > MAX_PATTERNS:
                raise FilterTooLarge(f'a filter has at most {MAX_PATTERNS} characters of '
                                     'regular expressions')
            two_stars += regexes.unbounded_repeats(f['value']) >= 2
            if two_stars > MAX_TWO_STARS:
                raise FilterTooLarge(f'a filter has at most {MAX_TWO_STARS} regular '
                                     'expressions with two unbounded repeats')
        args = f.get('args')
        if isinstance(args, list):
            stack.extend(args)
        for k in ('arg', 'value'):
            if isinstance(f.get(k), dict) and f.get('op') in ('not', 'filter'):
                stack.append(f[k])


def _build(f: Any, depth: int) -> Predicate:
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
        parts = tuple(_build(a, depth + 1) for a in args)
        if op == 'and':
            return lambda ev: all(p(ev) for p in parts)
        return lambda ev: any(p(ev) for p in parts)
    if op == 'not':
        inner = _build(f.get('arg'), depth + 1)
        return lambda ev: not inner(ev)
    key = f.get('key')
    if not isinstance(key, str):
        raise FilterError(f'{op} needs a key')
    if op == 'filter':
        test = _build(f.get('arg', f.get('value')), depth + 1)
        return _on_field(key, lambda x: isinstance(x, dict) and test(x))
    if 'value' not in f:
        raise FilterError(f'{op} needs a value')
    value = f['value']
    if op == 'equal':
        return _on_field(key, lambda x: _same(x, value))
    if op == 'contain':
        return _on_field(key, lambda x: isinstance(x, list) and any(_same(y, value) for y in x))
    if op == 'rematch':
        if not isinstance(value, str):
            raise FilterError('rematch value must be a string')
        rx = check_pattern(value)
        return _on_field(key, lambda x: isinstance(x, str) and len(x) <= MAX_SUBJECT
                         and rx.fullmatch(x) is not None)
    if not _number(value):
        raise FilterError(f'{op} value must be a number')
    if op == 'greater':
        return _on_field(key, lambda x: _number(x) and x > value)
    return _on_field(key, lambda x: _number(x) and x < value)


def _on_field(key: str, test: Predicate) -> Predicate:
    """An absent field (or an event that is no object) never matches, not even null."""
    def run(ev: Any) -> bool:
        field = ev.get(key, _MISSING) if isinstance(ev, dict) else _MISSING
        return field is not _MISSING and test(field)
    return run


def check_pattern(value: str) -> re.Pattern:
    """Refuse patterns that can backtrack for ever, like (a|a)*b or (a+)+: `re` has no
    time limit, and one such filter on one session would stall the whole event loop.
    The rules are the dial plan's (dialplan/regexes.py), without its literal-plus reading."""
    try:
        return regexes.check_shape(value)
    except regexes.PatternError as exc:
        raise FilterError(str(exc)) from None


def _same(a: Any, b: Any) -> bool:
    """JSON equality: the type is part of the match (1 is not true, 1 is 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
