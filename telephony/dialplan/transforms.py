"""Dial transforms (Cisco §7.2): rewrite an outgoing destination before the outbound rules.

Three stages: the `type` makes components from the destination (raw: $1 = as dialled; strip:
$1 = without dots, dashes and spaces; phone: $1 = country code, $2 = national number), `match`
is an AND of regexes on components, `transform` builds the new destination from components.
Higher `priority` first; equal priorities keep the order given (the store's creation order);
the first transform whose match succeeds decides; no match leaves the destination unchanged.

Regexes come from API users, so their cost is bounded (see `_check_cost`): patterns, fields and
destinations have length caps, and patterns that can backtrack exponentially are refused.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from re import _constants as _sre
from re import _parser as _sre_parse
from typing import Any

from telephony.dialplan import fields
from telephony.dialplan.e164 import split_e164

__all__ = ['TransformSyntaxError', 'DialTransform', 'TransformResult', 'apply_transforms',
           'MAX_DESTINATION', 'compile_user_regex']

MAX_DESTINATION = 128   # characters of a destination transforms read or produce (cost ~ n**3)
MAX_FIELD = 1000        # characters of a match or transform string
MAX_PATTERN = 200       # characters of one regex
MAX_REGEXES = 8         # regexes in one match, or substitutions on one component
MAX_REPEATS = 2         # repeats (*, +, {m,n} with n > 1) in one regex: worst case ~ n**3 steps

TYPES = ('raw', 'strip', 'phone')
ACTIONS = ('accept', 'acceptPhone', 'deny')
_COMPONENTS = {'raw': 1, 'strip': 1, 'phone': 2}
_STRIP = str.maketrans('', '', '.- ')
_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT)


class TransformSyntaxError(fields.FieldError):
    """A `match` or `transform` string that cannot be used; `.parameter` names which."""


# ---------------------------------------------------------------------------
# user regexes


def compile_user_regex(pattern: str, parameter: str) -> re.Pattern[str]:
    """Compile a regex an API user wrote, refusing what could cost more than a bounded time.

    A quantifier with nothing before it is taken literally: the document's own example
    `{/+/00/}` ("replace + with 00") means the character '+'.
    """
    if len(pattern) > MAX_PATTERN:
        raise TransformSyntaxError(parameter, f'regex longer than {MAX_PATTERN} characters', 'valueTooLong')
    if pattern[:1] in ('+', '*', '?'):
        pattern = '\\' + pattern
    try:
        parsed = _sre_parse.parse(pattern)
        compiled = re.compile(pattern)
    except re.error as exc:
        raise TransformSyntaxError(parameter, f'bad regex {pattern!r}: {exc.msg}') from None
    repeats = _check_cost(parsed, parameter, pattern, in_repeat=False)
    if repeats > MAX_REPEATS:
        raise TransformSyntaxError(parameter, f'regex {pattern!r} has more than {MAX_REPEATS} repeats')
    return compiled


def _check_cost(parsed: Any, parameter: str, pattern: str, in_repeat: bool) -> int:
    """Count the repeats of a parsed regex; refuse backreferences, and repeats or alternatives
    inside a repeat (the shapes whose backtracking grows exponentially with the input)."""
    count = 0
    for op, av in parsed:
        subs: list[Any] = []
        repeated = in_repeat
        if op in _REPEATS:
            low, high, sub = av
            if high > 1:
                if in_repeat:
                    raise TransformSyntaxError(parameter, f'regex {pattern!r} repeats a repeat')
                count += 1
                repeated = True
            subs = [sub]
        elif op is _sre.SUBPATTERN:
            subs = [av[3]]
        elif op is _sre.BRANCH:
            if in_repeat:
                raise TransformSyntaxError(parameter, f'regex {pattern!r} repeats an alternative')
            subs = list(av[1])
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            subs = [av[1]]
        elif op is _sre.ATOMIC_GROUP:
            subs = [av]
        elif op in (_sre.GROUPREF, _sre.GROUPREF_EXISTS, _sre.GROUPREF_IGNORE,
                    _sre.GROUPREF_LOC_IGNORE, _sre.GROUPREF_UNI_IGNORE):
            raise TransformSyntaxError(parameter, f'regex {pattern!r} has a backreference')
        for sub in subs:
            count += _check_cost(sub, parameter, pattern, repeated)
    return count


# ---------------------------------------------------------------------------
# parsing `match` and `transform`


def _until_slash(s: str, i: int, parameter: str) -> tuple[str, int]:
    """The text from s[i] up to the next '/' not escaped by '\\', and the index after that '/'."""
    j = i
    while j < len(s):
        if s[j] == '\\':
            j += 2
            continue
        if s[j] == '/':
            return s[i:j], j + 1
        j += 1
    raise TransformSyntaxError(parameter, f"missing closing '/' after {s[i:i + 40]!r}")


def _component(s: str, i: int, parameter: str, components: int, kind: str) -> int:
    """The component number after a '$' at s[i]."""
    if i + 1 >= len(s) or not s[i + 1].isdigit() or not s[i + 1].isascii():
        raise TransformSyntaxError(parameter, f"'$' at {i} must be followed by a component number")
    n = int(s[i + 1])
    if not 1 <= n <= components:
        raise TransformSyntaxError(parameter, f'type {kind} has no component ${n} (it has {components})')
    return n


def _parse_match(s: str, components: int, kind: str) -> tuple[tuple[int, re.Pattern[str]], ...]:
    """'($1/^44$/) ($2/^7/)' -> ((1, re'^44$'), (2, re'^7'))."""
    out: list[tuple[int, re.Pattern[str]]] = []
    i = 0
    while i < len(s):
        if s[i].isspace():
            i += 1
            continue
        if not s.startswith('($', i):
            raise TransformSyntaxError('match', f"expected '($N/regex/)' at {i}: {s[i:i + 40]!r}")
        n = _component(s, i + 1, 'match', components, kind)
        if s[i + 3:i + 4] != '/':
            raise TransformSyntaxError('match', f"expected '/' after '(${n}' at {i}")
        pattern, i = _until_slash(s, i + 4, 'match')
        if s[i:i + 1] != ')':
            raise TransformSyntaxError('match', f"expected ')' after the regex {pattern!r}")
        i += 1
        out.append((n, compile_user_regex(pattern, 'match')))
        if len(out) > MAX_REGEXES:
            raise TransformSyntaxError('match', f'more than {MAX_REGEXES} regexes', 'valueTooLong')
    return tuple(out)


@dataclass(frozen=True)
class _Substitution:
    pattern: re.Pattern[str]
    replacement: tuple[str | int, ...]   # literal text, or the number of a capture group

    def apply(self, value: str) -> str:
        return self.pattern.sub(self._expand, value)

    def _expand(self, m: re.Match[str]) -> str:
        return ''.join(p if isinstance(p, str) else (m.group(p) or '') for p in self.replacement)


def _parse_replacement(text: str, pattern: re.Pattern[str]) -> tuple[str | int, ...]:
    """'\\1.x' -> (1, '.x'): '\\N' is capture group N (0: the whole match), '\\/' a slash."""
    out: list[str | int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '\\' and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt.isascii() and nxt.isdigit():
                if int(nxt) > pattern.groups:
                    raise TransformSyntaxError(
                        'transform', f'\\{nxt} refers to a group {pattern.pattern!r} does not have')
                out.append(int(nxt))
            else:
                out.append(nxt if nxt in '/\\' else ch + nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    merged: list[str | int] = []
    for part in out:   # adjacent characters as one string
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return tuple(merged)


@dataclass(frozen=True)
class _Ref:
    component: int
    substitutions: tuple[_Substitution, ...]


def _parse_transform(s: str, components: int, kind: str) -> tuple[str | _Ref, ...]:
    """'90044$2{}123@x' -> ('90044', _Ref(2), '123@x'); '$1{/re/repl/}{/re2//}' chains."""
    out: list[str | _Ref] = []
    literal: list[str] = []
    i = 0
    while i < len(s):
        if s[i] != '$':
            literal.append(s[i])
            i += 1
            continue
        n = _component(s, i, 'transform', components, kind)
        i += 2
        subs: list[_Substitution] = []
        while s.startswith('{', i):
            if s.startswith('{}', i):
                i += 2
                continue
            if s[i + 1:i + 2] != '/':
                raise TransformSyntaxError('transform', f"expected '{{}}' or '{{/regex/replacement/}}' at {i}")
            pattern_text, i = _until_slash(s, i + 2, 'transform')
            replacement, i = _until_slash(s, i, 'transform')
            if s[i:i + 1] != '}':
                raise TransformSyntaxError('transform', f"expected '}}' after {{/{pattern_text}/{replacement}/")
            i += 1
            pattern = compile_user_regex(pattern_text, 'transform')
            subs.append(_Substitution(pattern, _parse_replacement(replacement, pattern)))
            if len(subs) > MAX_REGEXES:
                raise TransformSyntaxError('transform', f'more than {MAX_REGEXES} substitutions',
                                           'valueTooLong')
        if literal:
            out.append(''.join(literal))
            literal = []
        out.append(_Ref(n, tuple(subs)))
    if literal:
        out.append(''.join(literal))
    return tuple(out)


# ---------------------------------------------------------------------------
# transforms


@dataclass(frozen=True)
class DialTransform:
    """One `dialTransforms` object. `match` and `transform` keep the text as written."""
    id: str | None
    type: str
    match: str
    transform: str
    priority: int
    action: str
    _match: tuple[tuple[int, re.Pattern[str]], ...] = field(repr=False)
    _output: tuple[str | _Ref, ...] | None = field(repr=False)   # None: no transform, unchanged

    @classmethod
    def from_fields(cls, d: Mapping[str, Any]) -> 'DialTransform':
        """From the stored parameters; raises FieldError / TransformSyntaxError naming the parameter."""
        kind = fields.choice(d, 'type', TYPES, 'raw')
        match = fields.text(d, 'match', cap=MAX_FIELD) or ''
        transform = fields.text(d, 'transform', cap=MAX_FIELD) or ''
        components = _COMPONENTS[kind]
        return cls(
            id=fields.rule_id(d),
            type=kind,
            match=match,
            transform=transform,
            priority=fields.integer(d, 'priority', 0),
            action=fields.choice(d, 'action', ACTIONS, 'accept'),
            _match=_parse_match(match, components, kind),
            _output=_parse_transform(transform, components, kind) if transform else None,
        )

    def components(self, destination: str) -> tuple[str, ...] | None:
        """The pre-processed components, or None when the type does not apply (phone: no number)."""
        if self.type == 'raw':
            return (destination,)
        if self.type == 'strip':
            return (destination.translate(_STRIP),)
        return split_e164(destination)

    def matches(self, components: Sequence[str]) -> bool:
        return all(pattern.search(components[n - 1]) for n, pattern in self._match)

    def output(self, destination: str, components: Sequence[str]) -> str | None:
        """The new destination; None when a substitution makes it longer than MAX_DESTINATION."""
        if self._output is None:
            return destination
        out: list[str] = []
        for part in self._output:
            if isinstance(part, str):
                out.append(part)
                continue
            value = components[part.component - 1]
            for sub in part.substitutions:
                value = sub.apply(value)
                if len(value) > MAX_DESTINATION:
                    return None
            out.append(value)
        result = ''.join(out)
        return result if len(result) <= MAX_DESTINATION else None


@dataclass(frozen=True)
class TransformResult:
    """What the transforms did to a destination.

    action: the deciding transform's action, or None when none matched (the destination goes
    on unchanged). `deny` stops the call; `reason` says why.
    """
    action: str | None
    destination: str
    transform: DialTransform | None = None
    reason: str | None = None


def apply_transforms(transforms: Iterable[DialTransform], destination: str) -> TransformResult:
    """Run the transforms on `destination` (a number, a name or user@host, no scheme)."""
    if len(destination) > MAX_DESTINATION:
        return TransformResult('deny', destination, None, f'destination longer than {MAX_DESTINATION}')
    for transform in fields.ordered(transforms):
        components = transform.components(destination)
        if components is None or not transform.matches(components):
            continue
        if transform.action == 'deny':
            return TransformResult('deny', destination, transform, f'denied by dial transform {transform.id}')
        result = transform.output(destination, components)
        if result is None:
            return TransformResult('deny', destination, transform,
                                   f'dial transform {transform.id} makes it longer than {MAX_DESTINATION}')
        return TransformResult(transform.action, result, transform)
    return TransformResult(None, destination)
