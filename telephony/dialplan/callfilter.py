"""Q-loud call filters (§9.1.3): what a partner lets a user dial, checked for every outgoing
call. Pure: `parse_filter` checks a filter once (the partner API calls it to validate), then
`evaluate` runs it against a call's number and service.

The filter is a list of operators and nested lists, run in order:
- `replace` rewrites every occurrence of `key` in the number by `value` (literally);
- `match` tests `key` against the number, `service` compares `key` with the call's service;
  `reverse: true` negates the test. When the test holds, `pass` allows (true) or denies
  (false) the call at once, `break: true` leaves the list it stands in (the evaluation goes on
  after it in the enclosing list).
If nothing decides, the call is allowed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

from .regexes import MAX_SUBJECT, PatternError, compile_pattern, search

MAX_OPERATORS = 250      # §9.1.3 too-large
MAX_DEPTH = 16
SERVICES = ('fax', 'sip', 'dialplan', 'call_through', 'callback', 'ivr', 'announcement_call',
            'call_api')
_FIELDS = {'replace': {'operator', 'key', 'value'},
           'match': {'operator', 'key', 'pass', 'break', 'reverse'},
           'service': {'operator', 'key', 'pass', 'break', 'reverse'}}


class CallFilterError(ValueError):
    """A filter the API must refuse: `status` is the Q-loud status string, `path` where."""
    def __init__(self, status: str, path: str, message: str):
        super().__init__(f'{path}: {message}')
        self.status = status
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Replace:
    pattern: re.Pattern
    value: str


@dataclass(frozen=True)
class Test:
    """A `match` (on the number) or `service` (on the call's service) operator."""
    operator: str
    key: str
    pattern: re.Pattern | None     # match only
    reverse: bool = False
    allow: bool | None = None      # `pass`; None when the operator breaks instead
    breaks: bool = False

    def holds(self, number: str, service: str) -> bool:
        hit = search(self.pattern, number) if self.pattern is not None else service == self.key
        return hit != self.reverse


Operator = Union[Replace, Test, 'Group']


@dataclass(frozen=True)
class Group:
    items: tuple[Operator, ...]


@dataclass(frozen=True)
class CallFilter:
    root: Group


@dataclass(frozen=True)
class FilterResult:
    allowed: bool
    number: str                     # the number after the replace operators that ran
    reason: str = ''                # why it was denied ('' when allowed)


def _count(tree: Any) -> None:
    """Operators across all nesting, counted before anything is parsed (no recursion)."""
    n, stack = 0, [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):
            if depth > MAX_DEPTH:
                raise CallFilterError('too-large', 'callfilter',
                                      f'operators nested deeper than {MAX_DEPTH} arrays')
            stack.extend((x, depth + 1) for x in node)
        else:
            n += 1
            if n > MAX_OPERATORS:
                raise CallFilterError('too-large', 'callfilter',
                                      f'the call filter exceeds the limit of {MAX_OPERATORS} operators')


def parse_filter(doc: Any) -> CallFilter:
    """Check and compile a call filter: the body `{"callfilter": ...}` or its value, which is
    an array of operators and arrays, or one operator (GET's example). Raises CallFilterError."""
    if isinstance(doc, dict) and 'operator' not in doc:
        if 'callfilter' not in doc:
            raise CallFilterError('missing-element', 'callfilter', 'the call filter is missing')
        doc = doc['callfilter']
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise CallFilterError('wrong-syntax', 'callfilter', 'an array of operators')
    _count(doc)
    root = _group(doc, 'callfilter')
    if not _has_operator(root):
        raise CallFilterError('missing-element', 'callfilter', 'at least one operator is needed')
    return CallFilter(root)


def _has_operator(g: Group) -> bool:
    return any(not isinstance(x, Group) or _has_operator(x) for x in g.items)


def _group(items: list, path: str) -> Group:
    out: list[Operator] = []
    for i, x in enumerate(items):
        where = f'{path}[{i}]'
        out.append(_group(x, where) if isinstance(x, list) else _operator(x, where))
    return Group(tuple(out))


def _flag(op: dict, name: str, path: str) -> bool | None:
    v = op.get(name)
    if v is not None and not isinstance(v, bool):
        raise CallFilterError('wrong-syntax', f'{path}.{name}', 'must be true or false')
    return v


def _operator(op: Any, path: str) -> Operator:
    if not isinstance(op, dict):
        raise CallFilterError('wrong-syntax', path, 'an operator is a JSON object or array')
    kind = op.get('operator')
    if kind is None:
        raise CallFilterError('missing-element', f'{path}.operator', 'the operator is missing')
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise CallFilterError('wrong-syntax', f'{path}.operator',
                              f'{kind!r} is not one of replace|match|service')
    extra = sorted(set(op) - _FIELDS[kind])
    if extra:   # a misspelt `pass` would silently allow everything
        raise CallFilterError('wrong-syntax', f'{path}.{extra[0]}',
                              f'{extra[0]!r} may not be used in {kind}')
    key = op.get('key')
    if key is None:
        raise CallFilterError('missing-element', f'{path}.key', 'the key is missing')
    if not isinstance(key, str):
        raise CallFilterError('wrong-syntax', f'{path}.key', 'the key is a string')
    pattern = None
    if kind in ('replace', 'match'):
        try:
            pattern = compile_pattern(key)
        except PatternError as exc:
            raise CallFilterError('wrong-syntax', f'{path}.key', str(exc)) from None
    if kind == 'replace':
        value = op.get('value')
        if value is None:
            raise CallFilterError('missing-element', f'{path}.value', 'the value is missing')
        if not isinstance(value, str) or len(value) > MAX_SUBJECT:
            raise CallFilterError('wrong-syntax', f'{path}.value',
                                  f'a string of at most {MAX_SUBJECT} characters')
        return Replace(pattern, value)
    if kind == 'service' and key not in SERVICES:
        raise CallFilterError('wrong-syntax', f'{path}.key',
                              f'{key!r} is not one of {"|".join(SERVICES)}')
    allow, breaks = _flag(op, 'pass', path), _flag(op, 'break', path)
    if allow is not None and breaks is not None:
        raise CallFilterError('wrong-syntax', path, 'exactly one of break or pass')
    if allow is None and breaks is None:
        raise CallFilterError('missing-element', path, 'exactly one of break or pass is needed')
    return Test(kind, key, pattern, bool(_flag(op, 'reverse', path)), allow, bool(breaks))


def evaluate(flt: CallFilter, number: str, service: str) -> FilterResult:
    """Run the filter for a call to `number` of `service` (one of SERVICES)."""
    if len(number) > MAX_SUBJECT:     # no pattern would look at it: never let it through
        return FilterResult(False, number, f'number longer than {MAX_SUBJECT} characters')
    state = [number]
    verdict = _run(flt.root, state, service)
    if verdict is None or verdict[0]:
        return FilterResult(True, state[0])
    return FilterResult(False, state[0], verdict[1])


def _run(group: Group, state: list[str], service: str) -> tuple[bool, str] | None:
    """(allowed, reason) once a `pass` decides; None when the list ran out or broke off."""
    for op in group.items:
        if isinstance(op, Group):
            verdict = _run(op, state, service)
            if verdict is not None:
                return verdict
        elif isinstance(op, Replace):
            state[0] = op.pattern.sub(lambda _m, v=op.value: v, state[0])
            if len(state[0]) > MAX_SUBJECT:
                return False, f'number longer than {MAX_SUBJECT} characters after replace'
        elif op.holds(state[0], service):
            if op.allow is None:
                if op.breaks:
                    return None
                continue                  # `break: false`: nothing to do
            return op.allow, '' if op.allow else f'{op.operator} {op.key!r} denies the call'
    return None
