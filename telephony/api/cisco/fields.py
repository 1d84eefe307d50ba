"""Parameter syntax of the /api/v1 resources: one parser per document type (String,
Number, an enumeration such as `stop|continue`, a domain, host[:port], ...). A parser turns
the form text into what the store keeps, or raises Invalid with the parameterError's
`error` value. Pure."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from .errors import INVALID, TOO_LONG, CiscoError


class Invalid(ValueError):
    def __init__(self, error: str = INVALID):
        super().__init__(error)
        self.error = error


Parser = Callable[[str], Any]


@dataclass(frozen=True)
class Field:
    name: str
    parse: Parser
    default: Any = None        # stored on create when absent, and when a PUT empties it
    required: bool = False     # marked * in the document: a create must give it
    may_unset: bool = False    # a required field that a PUT may still empty (a CDR uri)


_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_LABEL = r'[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOSTNAME = re.compile(rf'{_LABEL}(?:\.{_LABEL})*\.?')
_WILDCARD = re.compile(r'[A-Za-z0-9*](?:[A-Za-z0-9*-]*[A-Za-z0-9*])?'
                       r'(?:\.[A-Za-z0-9*](?:[A-Za-z0-9*-]*[A-Za-z0-9*])?)*')
_NUMBER = re.compile(r'[+-]?[0-9]{1,10}')


def text(max_len: int = 255) -> Parser:
    """A String: no control characters (the values end up in SIP headers and logs)."""
    def parse(value: str) -> str:
        if len(value) > max_len:
            raise Invalid(TOO_LONG)
        if _CONTROL.search(value):
            raise Invalid()
        return value
    return parse


def number(lo: int = -2**31, hi: int = 2**31 - 1) -> Parser:
    def parse(value: str) -> int:
        if not _NUMBER.fullmatch(value.strip()):
            raise Invalid()
        n = int(value)
        if not lo <= n <= hi:
            raise Invalid()
        return n
    return parse


def choice(*values: str) -> Parser:
    """One of the document's values, exactly as it spells them."""
    def parse(value: str) -> str:
        if value not in values:
            raise Invalid()
        return value
    return parse


boolean = choice('true', 'false')


def _host(value: str) -> bool:
    if value.startswith('[') and value.endswith(']'):
        try:
            return ipaddress.ip_address(value[1:-1]).version == 6
        except ValueError:
            return False
    return len(value) <= 253 and _HOSTNAME.fullmatch(value) is not None


def domain(wildcard: bool) -> Parser:
    """A complete domain (example.com), or with wildcard=True one with `*` in it (*.com)."""
    def parse(value: str) -> str:
        if len(value) > 255:
            raise Invalid(TOO_LONG)
        if not (_host(value) or (wildcard and _WILDCARD.fullmatch(value))):
            raise Invalid()
        return value
    return parse


def host_port(value: str) -> str:
    """host, host:port, IPv4 or [IPv6] with an optional port (1-65535)."""
    if len(value) > 261:
        raise Invalid(TOO_LONG)
    host, port = value, None
    if value.startswith('['):
        if ']:' in value:
            host, port = value.rsplit(':', 1)
    elif ':' in value:
        host, port = value.rsplit(':', 1)
    if not _host(host):
        raise Invalid()
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise Invalid()
    return value


MAX_ADDRESSES = 32


def addresses(value: str) -> str:
    """Comma-separated IP addresses or CIDR networks, stored as given (spaces dropped)."""
    items = [a.strip() for a in value.split(',') if a.strip()]
    if not items:
        raise Invalid()
    if len(items) > MAX_ADDRESSES:
        raise Invalid(TOO_LONG)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise Invalid() from None
    return ','.join(items)


def url(value: str) -> str:
    """An http or https URL with a host (a CDR receiver)."""
    if len(value) > 1000:
        raise Invalid(TOO_LONG)
    if _CONTROL.search(value) or ' ' in value:
        raise Invalid()
    try:
        parts = urlsplit(value)
        parts.port   # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        raise Invalid() from None
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise Invalid()
    return value


def no_such(reason: str) -> Parser:
    """An ID of an object kind we do not have (tenants, Call Bridges): any value names
    an object that does not exist; only the empty value (unset) passes."""
    def parse(value: str) -> str:
        raise CiscoError(400, reason)
    return parse
