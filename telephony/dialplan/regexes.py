"""Regular expressions that API users give the dial plan (v2 `caller`, call filter `key`)
and the event filters (`rematch`, through api/filters.py).

They run on the event loop for every call, and Python's `re` has no time limit, so a pattern
is checked for its shape once, when it is compiled: no repeat of something that repeats or
alternates (`(a+)+`, `(a|a)*`), at most two unbounded repeats, at most 500 characters (the
document's limit for `caller`). Subjects are phone numbers; longer than MAX_SUBJECT they never
match.

Q-loud's own examples write `+49.*` and `^+4911` for a literal plus (§4.1, §9.1.3), which is
"nothing to repeat" to any regex engine. A `+` where nothing precedes it (at the start, after
`^`, `|` or `(`) is read as the literal plus every such client means.
"""
from __future__ import annotations

import re
import re._parser as sre_parse  # the stdlib's own parser, to inspect a pattern's shape

MAX_PATTERN = 500
MAX_SUBJECT = 64
MAX_UNBOUNDED = 2
LONG_REPEAT = 16     # {n,m} with m above this counts as unbounded
_REPEATS = (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT)


class PatternError(ValueError):
    pass


def literal_plus(pattern: str) -> str:
    """Escape each `+` that nothing precedes (so it cannot be a quantifier)."""
    out: list[str] = []
    prev = ''             # the previous unescaped character outside a class, '' at the start
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == '\\':
            out.append(pattern[i:i + 2])
            prev, i = 'x', i + 2
            continue
        if in_class:
            in_class = c != ']'
        elif c == '[':
            in_class = True
        elif c == '+' and prev in ('', '^', '|', '('):
            c = r'\+'
        out.append(c)
        prev, i = (c if not in_class else 'x'), i + 1
    return ''.join(out)


def compile_pattern(pattern: str) -> re.Pattern:
    """Check and compile one pattern, a leading `+` read as a literal plus; PatternError
    says what is wrong with it."""
    if not isinstance(pattern, str):
        raise PatternError('a regular expression is a string')
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f'regular expression longer than {MAX_PATTERN} characters')
    return check_shape(literal_plus(pattern))


def check_shape(pattern: str) -> re.Pattern:
    """Compile a pattern as written, refusing shapes that can backtrack for ever, like
    (a|a)*b or (a+)+, and more than two unbounded repeats: `re` has no time limit, and one
    such pattern stalls the event loop. The event filters (api/filters.py) use it too."""
    if len(pattern) > MAX_PATTERN:
        raise PatternError(f'regular expression longer than {MAX_PATTERN} characters')
    try:
        parsed = sre_parse.parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise PatternError(f'bad regular expression: {exc}') from None
    nested, unbounded = _shape(parsed, inside_repeat=False)
    if nested:
        raise PatternError('regular expression repeats a group that itself repeats or '
                           'alternates; write it without nested repetition')
    if unbounded > MAX_UNBOUNDED:
        raise PatternError(f'regular expression has more than {MAX_UNBOUNDED} unbounded '
                           'repeats (*, +, {n,}); matching it could take very long')
    return compiled


def unbounded_repeats(pattern: str) -> int:
    """How many unbounded repeats the pattern has along its longest alternative (0 for
    one that does not parse: check_shape reports that)."""
    try:
        return _shape(sre_parse.parse(pattern), inside_repeat=False)[1]
    except (re.error, RecursionError, OverflowError):
        return 0


def _shape(items, inside_repeat: bool) -> tuple[bool, int]:
    """(nested repetition anywhere, unbounded repeats along the longest alternative)."""
    count = 0
    for op, arg in items:
        if op in _REPEATS:
            if inside_repeat:
                return True, count
            nested, inner = _shape(arg[2], inside_repeat=True)
            if nested:
                return True, count
            count += inner + (arg[1] > LONG_REPEAT)
        elif op is sre_parse.BRANCH:
            if inside_repeat:
                return True, count
            shapes = [_shape(b, False) for b in arg[1]]
            if any(n for n, _ in shapes):
                return True, count
            count += max(c for _, c in shapes)
        elif op in (sre_parse.SUBPATTERN, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            nested, inner = _shape(arg[-1], inside_repeat)
            if nested:
                return True, count
            count += inner
    return False, count


def fullmatch(rx: re.Pattern, subject: str) -> bool:
    return len(subject) <= MAX_SUBJECT and rx.fullmatch(subject) is not None


def search(rx: re.Pattern, subject: str) -> bool:
    return len(subject) <= MAX_SUBJECT and rx.search(subject) is not None
