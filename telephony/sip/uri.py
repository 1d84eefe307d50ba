"""SIP/SIPS/tel URIs and name-addr values (RFC 3261 §19.1, §20.10, §25; RFC 3966).

Sans-IO and allocation-light: parsing is done with str methods, and regexes
are only used to validate whole tokens at C speed.

The parser is deliberately tolerant of characters real user agents put in user
parts (e.g. '#'), but rejects anything that would make the URI ambiguous:
whitespace, control characters, quotes and angle brackets.
"""

from __future__ import annotations

import copy as _copy
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = [
    'UriError', 'Uri', 'NameAddr', 'parse_uri', 'parse_name_addr',
    'is_token', 'quote_string', 'unquote_string', 'format_params',
]


class UriError(ValueError):
    """A URI or name-addr value is malformed."""


_SCHEME_RE = re.compile(r'[A-Za-z][A-Za-z0-9+.\-]*')
# Characters that can never appear raw in a URI, whatever the scheme.
_FORBIDDEN_RE = re.compile(r'[\x00-\x20"<>\x7f]')
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_HOSTNAME_RE = re.compile(r'[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*)')
_IPV6_RE = re.compile(r'\[[0-9A-Fa-f:.]+\]')
# Splits a param string at ';' or quotes, so quoted values may contain ';'.
_PARAM_SPECIAL_RE = re.compile(r'[;"\\]')

SUPPORTED_SCHEMES = frozenset({'sip', 'sips', 'tel'})


def is_token(text: str) -> bool:
    """True if `text` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.fullmatch(text) is not None


# ---------------------------------------------------------------------------
# quoted strings and generic parameters (shared with headers.py)

def _quoted_end(text: str, start: int, err: type[Exception] = UriError) -> int:
    """Index just past the closing quote of the quoted-string at text[start]."""
    i = start + 1
    n = len(text)
    while True:
        q = text.find('"', i)
        b = text.find('\\', i)
        if q < 0:
            raise err('unterminated quoted string')
        if 0 <= b < q:
            i = b + 2  # quoted-pair: skip the escaped character, whatever it is
            if i > n:
                raise err('unterminated quoted string')
            continue
        return q + 1


def unquote_string(text: str) -> str:
    """'"a \\"b\\""' -> 'a "b"'. Text that is not quoted is returned unchanged."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    inner = text[1:-1]
    if '\\' not in inner:
        return inner
    out = []
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch == '\\' and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return ''.join(out)


# quoted-pair can carry any octet except CR and LF (RFC 3261 §25.1); control
# characters are not legal raw qdtext, so they are escaped too.
_QUOTE_TABLE = {c: '\\' + chr(c) for c in (*range(0x00, 0x20), 0x22, 0x5C, 0x7F)}
_QUOTE_TABLE[0x0A] = _QUOTE_TABLE[0x0D] = ' '


def quote_string(text: str) -> str:
    """Make a quoted-string, escaping '"', '\\' and control characters."""
    return '"' + text.translate(_QUOTE_TABLE) + '"'


def _split_params(text: str, err: type[Exception]) -> list[str]:
    """Split 'a=1;b="x;y";c' at ';' outside quoted strings."""
    if '"' not in text:
        return text.split(';')
    parts = []
    start = 0
    pos = 0
    while True:
        m = _PARAM_SPECIAL_RE.search(text, pos)
        if m is None:
            break
        ch = m.group()
        if ch == ';':
            parts.append(text[start:m.start()])
            start = pos = m.end()
        elif ch == '"':
            pos = _quoted_end(text, m.start(), err)
        else:  # a backslash outside quotes is just a (bad) character
            pos = m.end()
    parts.append(text[start:])
    return parts


def _parse_params(text: str, err: type[Exception] = UriError) -> dict[str, str | None]:
    """Parse generic header parameters ';a=b ; c ; d="q v"' (RFC 3261 generic-param).

    Keys are lowercased; values are kept as written (quoted values keep their
    quotes so they serialise back unchanged — use unquote_string() to read).
    SWS is allowed around ';' and '='.
    """
    params: dict[str, str | None] = {}
    text = text.strip(' \t')
    if not text:
        return params
    if text[0] != ';':
        raise err(f'expected ";" before parameters: {text[:40]!r}')
    parts = _split_params(text, err)
    for part in parts[1:]:
        part = part.strip(' \t')
        if not part:
            raise err('empty parameter')
        name, eq, value = part.partition('=')
        name = name.rstrip(' \t')
        if not _TOKEN_RE.fullmatch(name):
            raise err(f'bad parameter name {name[:40]!r}')
        if eq:
            value = value.lstrip(' \t')
            if not value:
                raise err(f'parameter {name!r} has an empty value')
            if value[0] == '"':
                if _quoted_end(value, 0, err) != len(value):
                    raise err(f'junk after quoted value of {name!r}')
            elif ' ' in value or '\t' in value or '"' in value:
                raise err(f'bad value for parameter {name!r}')
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """{'tag': 'x', 'lr': None} -> ';tag=x;lr'."""
    if not params:
        return ''
    return ''.join(f';{k}' if v is None else f';{k}={v}' for k, v in params.items())


# ---------------------------------------------------------------------------
# host[:port]

def split_hostport(text: str, err: type[Exception] = UriError) -> tuple[str, int | None]:
    """'host:5060' -> ('host', 5060); '[::1]' -> ('[::1]', None)."""
    if text.startswith('['):
        end = text.find(']')
        if end < 0:
            raise err(f'unterminated IPv6 reference {text[:60]!r}')
        host = text[:end + 1]
        if not _IPV6_RE.fullmatch(host):
            raise err(f'bad IPv6 reference {host[:60]!r}')
        rest = text[end + 1:]
        if not rest:
            return host, None
        if rest[0] != ':':
            raise err(f'junk after IPv6 reference {text[:60]!r}')
        port_text = rest[1:]
    else:
        host, colon, port_text = text.partition(':')
        if not _HOSTNAME_RE.fullmatch(host):
            raise err(f'bad host {host[:60]!r}')
        if not colon:
            return host, None
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise err(f'bad port {port_text[:20]!r}')
    port = int(port_text)
    if port > 65535:
        raise err(f'port out of range: {port}')
    return host, port


# ---------------------------------------------------------------------------
# URIs

@dataclass
class Uri:
    """A parsed URI.

    sip/sips: user/password as written (still %-escaped), host (IPv6 with
    brackets), port, params (keys lowercased and unescaped, values as written),
    headers. tel: `user` is the number, host is ''. Any other scheme keeps its
    scheme-specific part in `opaque` (e.g. Contact: <urn:...> or To: isbn:...).
    """
    scheme: str
    user: str | None = None
    password: str | None = None
    host: str = ''
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    opaque: str | None = None

    def __str__(self) -> str:
        if self.opaque is not None:
            return f'{self.scheme}:{self.opaque}'
        if self.scheme == 'tel':
            return f'tel:{self.user or ""}{format_params(self.params)}'
        out = [self.scheme, ':']
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(':')
                out.append(self.password)
            out.append('@')
        out.append(self.host)
        if self.port is not None:
            out.append(f':{self.port}')
        if self.params:
            out.append(format_params(self.params))
        if self.headers:
            out.append('?')
            out.append('&'.join(f'{k}={v}' for k, v in self.headers.items()))
        return ''.join(out)

    def copy(self) -> 'Uri':
        return _copy.deepcopy(self)

    @property
    def user_unescaped(self) -> str | None:
        """The user part with %xx escapes decoded (e.g. '%75ser' -> 'user')."""
        if self.user is None or '%' not in self.user:
            return self.user
        return unquote(self.user, errors='surrogateescape')

    @property
    def transport(self) -> str | None:
        """The ;transport= parameter, lowercased, or None."""
        t = self.params.get('transport')
        return t.lower() if t else None

    @property
    def is_sip(self) -> bool:
        return self.scheme in ('sip', 'sips')


def parse_uri(text: str) -> Uri:
    """Parse a URI; raises UriError. Unknown schemes are accepted (opaque)."""
    colon = text.find(':')
    if colon <= 0:
        raise UriError(f'no scheme in URI {text[:60]!r}')
    scheme = text[:colon]
    if not _SCHEME_RE.fullmatch(scheme):
        raise UriError(f'bad URI scheme {scheme[:30]!r}')
    if _FORBIDDEN_RE.search(text):
        raise UriError(f'illegal character in URI {text[:60]!r}')
    scheme = scheme.lower()
    rest = text[colon + 1:]
    if not rest:
        raise UriError('empty URI')
    if scheme == 'sip' or scheme == 'sips':
        if not rest.isascii():
            raise UriError(f'non-ASCII character in URI {text[:60]!r}')
        return _parse_sip(scheme, rest)
    if scheme == 'tel':
        return _parse_tel(rest)
    return Uri(scheme, opaque=rest)


def _parse_sip(scheme: str, rest: str) -> Uri:
    # The user part may legally contain ';', '?' and '/' (RFC 4475 intmeth,
    # semiuri) but never a raw '@', so the first '@' ends the userinfo.
    at = rest.find('@')
    if at >= 0:
        userinfo = rest[:at]
        hostpart = rest[at + 1:]
        user, colon, password = userinfo.partition(':')
        if not user:
            raise UriError('empty user part')
        password_v = password if colon else None
    else:
        user = None
        password_v = None
        hostpart = rest
    headers: dict[str, str] = {}
    q = hostpart.find('?')
    if q >= 0:
        for item in hostpart[q + 1:].split('&'):
            name, _, value = item.partition('=')
            if not name:
                raise UriError('empty URI header name')
            headers[name] = value
        hostpart = hostpart[:q]
    hostport, semi, paramtext = hostpart.partition(';')
    host, port = split_hostport(hostport)
    params: dict[str, str | None] = {}
    if semi:
        for p in paramtext.split(';'):
            name, eq, value = p.partition('=')
            if not name:
                raise UriError('empty URI parameter')
            # RFC 3261 §19.1.4: escaped and unescaped names are equivalent,
            # so ';%6C%72' must be found as 'lr' (RFC 4475 esc01).
            key = unquote(name).lower() if '%' in name else name.lower()
            params[key] = value if eq else None
    return Uri(scheme, user, password_v, host, port, params, headers)


def _parse_tel(rest: str) -> Uri:
    number, semi, paramtext = rest.partition(';')
    if not number:
        raise UriError('empty telephone number')
    params: dict[str, str | None] = {}
    if semi:
        for p in paramtext.split(';'):
            name, eq, value = p.partition('=')
            if not name:
                raise UriError('empty tel parameter')
            params[name.lower()] = value if eq else None
    return Uri('tel', number, None, '', None, params, {})


# ---------------------------------------------------------------------------
# name-addr / addr-spec

@dataclass
class NameAddr:
    """A From/To/Contact/Route style value: display name, URI and header params."""
    display: str | None
    uri: Uri
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get('tag')

    @tag.setter
    def tag(self, value: str | None) -> None:
        if value is None:
            self.params.pop('tag', None)
        else:
            self.params['tag'] = value

    def __str__(self) -> str:
        # Always the <uri> form: it is unambiguous whatever the URI contains.
        shown = f'{quote_string(self.display)} ' if self.display else ''
        return f'{shown}<{self.uri}>{format_params(self.params)}'

    def copy(self) -> 'NameAddr':
        return _copy.deepcopy(self)


def parse_name_addr(text: str) -> NameAddr:
    """Parse `"Name" <uri>;p=v`, `Name <uri>;p=v` or addr-spec `uri;p=v`.

    In the addr-spec form the parameters belong to the header, not the URI
    (RFC 3261 §20.10), and a URI containing '?' must be bracketed.
    """
    s = text.strip(' \t')
    if not s:
        raise UriError('empty address')
    display: str | None = None
    if s[0] == '"':
        end = _quoted_end(s, 0)
        display = unquote_string(s[:end])
        rest = s[end:].lstrip(' \t')
        if not rest.startswith('<'):
            raise UriError('quoted display name not followed by <URI>')
    else:
        lt = s.find('<')
        semi = s.find(';')
        if lt < 0 or (0 <= semi < lt):
            return _parse_addr_spec(s)
        words = s[:lt].split()
        for w in words:
            if not _TOKEN_RE.fullmatch(w):
                raise UriError(f'unquoted display name is not a token: {w[:40]!r}')
        display = ' '.join(words) if words else None
        rest = s[lt:]
    gt = rest.find('>')
    if gt < 0:
        raise UriError('missing ">"')
    uri = parse_uri(rest[1:gt])
    params = _parse_params(rest[gt + 1:])
    return NameAddr(display, uri, params)


def _parse_addr_spec(s: str) -> NameAddr:
    uri_text, semi, ptext = s.partition(';')
    uri_text = uri_text.rstrip(' \t')
    if '?' in uri_text or ',' in uri_text:
        raise UriError('URI with headers must be enclosed in <> (RFC 3261 §20.10)')
    uri = parse_uri(uri_text)
    params = _parse_params(';' + ptext) if semi else {}
    return NameAddr(None, uri, params)
