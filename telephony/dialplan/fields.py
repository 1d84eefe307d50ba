"""Reading Cisco /api/v1 parameters from the stored dict of a rule, with parameterError answers.

Rules arrive as dicts keyed by the document's parameter names with the values the API stores
(strings, or ints/bools). An absent key, None or '' means "not set" (a PUT with an empty value
unsets a field), so the document's default applies.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from telephony.sip.uri import UriError, split_hostport

__all__ = ['FieldError', 'rule_id', 'text', 'choice', 'integer', 'boolean', 'hostname', 'hostport', 'ordered']

MAX_TEXT = 255   # a domain name is at most 253 characters; every other free text field shares the cap
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1


class FieldError(ValueError):
    """A parameter value the rule cannot use: the API answers
    `<parameterError parameter="{parameter}" error="{error}"/>` (error: invalidValue|valueTooLong,
    or missing for a parameter another one needs)."""

    def __init__(self, parameter: str, detail: str, error: str = 'invalidValue') -> None:
        super().__init__(f'{parameter}: {detail}')
        self.parameter = parameter
        self.error = error
        self.detail = detail


def _raw(d: Mapping[str, Any], name: str) -> Any:
    value = d.get(name)
    return None if value is None or value == '' else value


def rule_id(d: Mapping[str, Any]) -> str | None:
    """The stored object's `id`, if the dict has one (rules built in tests may not)."""
    value = d.get('id')
    return None if value is None else str(value)


def text(d: Mapping[str, Any], name: str, *, required: bool = False, cap: int = MAX_TEXT) -> str | None:
    value = _raw(d, name)
    if value is None:
        if required:
            raise FieldError(name, 'required')
        return None
    value = str(value)
    if len(value) > cap:
        raise FieldError(name, f'longer than {cap} characters', 'valueTooLong')
    return value


def choice(d: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = text(d, name)
    if value is None:
        return default
    if value not in allowed:
        raise FieldError(name, f'must be one of {"|".join(allowed)}')
    return value


def integer(d: Mapping[str, Any], name: str, default: int, lo: int = INT_MIN, hi: int = INT_MAX) -> int:
    value = _raw(d, name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FieldError(name, 'must be a whole number')
    try:
        number = int(value) if isinstance(value, int) else int(value.strip(), 10)
    except ValueError:
        raise FieldError(name, 'must be a whole number') from None
    if not lo <= number <= hi:
        raise FieldError(name, f'must be between {lo} and {hi}')
    return number


def boolean(d: Mapping[str, Any], name: str, default: bool) -> bool:
    value = _raw(d, name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ('true', 'false'):
        return value == 'true'
    raise FieldError(name, 'must be true or false')


def hostname(d: Mapping[str, Any], name: str) -> str | None:
    """An optional host name or IP address (lowercased)."""
    value = text(d, name)
    if value is None:
        return None
    host, port = hostport(value, name)
    if port is not None:
        raise FieldError(name, 'a domain takes no port')
    return host


def hostport(value: str, name: str) -> tuple[str, int | None]:
    try:
        host, port = split_hostport(value)
    except UriError as exc:
        raise FieldError(name, str(exc)) from None
    return host.lower(), port


class _Prioritised(Protocol):
    @property
    def priority(self) -> int: ...


P = TypeVar('P', bound=_Prioritised)


def ordered(items: Iterable[P]) -> list[P]:
    """Higher `priority` first; equal priorities keep the order given (sorted() is stable),
    which the store gives as creation order."""
    return sorted(items, key=lambda item: -item.priority)
