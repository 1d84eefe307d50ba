"""Header names and the structured header values the core needs: Via, CSeq,
comma-separated lists and generic parameters (RFC 3261 §7.3, §20, §25)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .uri import _TOKEN_RE, _parse_params, format_params, split_hostport

__all__ = [
    'COMPACT', 'HeaderError', 'canonical_name', 'split_comma', 'parse_params',
    'Via', 'parse_via', 'parse_vias', 'CSeq', 'parse_cseq', 'format_params',
]


class HeaderError(ValueError):
    """A header value is malformed."""


COMPACT = {
    'v': 'Via', 'f': 'From', 't': 'To', 'i': 'Call-ID', 'm': 'Contact',
    'l': 'Content-Length', 'c': 'Content-Type', 'e': 'Content-Encoding',
    'k': 'Supported', 's': 'Subject', 'o': 'Event', 'r': 'Refer-To',
    'u': 'Allow-Events', 'b': 'Referred-By', 'x': 'Session-Expires',
}
# Other registered compact forms (RFC 3841, RFC 4474).
_MORE_COMPACT = {
    'a': 'Accept-Contact', 'j': 'Reject-Contact', 'd': 'Request-Disposition',
    'y': 'Identity', 'n': 'Identity-Info',
}

# Headers whose conventional spelling is not plain Title-Case.
_KNOWN = (
    'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language',
    'Accept-Resource-Priority', 'Alert-Info', 'Allow', 'Allow-Events', 'Answer-Mode',
    'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact',
    'Content-Disposition', 'Content-Encoding', 'Content-ID', 'Content-Language',
    'Content-Length', 'Content-Transfer-Encoding', 'Content-Type', 'CSeq', 'Date',
    'Diversion', 'Error-Info', 'Event', 'Expires', 'Flow-Timer', 'From', 'History-Info',
    'Identity', 'Identity-Info', 'In-Reply-To', 'Join', 'Max-Breadth', 'Max-Forwards',
    'MIME-Version', 'Min-Expires', 'Min-SE', 'Organization', 'P-Access-Network-Info',
    'P-Asserted-Identity', 'P-Associated-URI', 'P-Called-Party-ID', 'P-Charging-Vector',
    'P-Early-Media', 'P-Preferred-Identity', 'Path', 'Priority', 'Privacy',
    'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason',
    'Record-Route', 'Recv-Info', 'Refer-Sub', 'Refer-To', 'Referred-By', 'Reject-Contact',
    'Remote-Party-ID', 'Replaces', 'Reply-To', 'Request-Disposition', 'Require',
    'Resource-Priority', 'Retry-After', 'Route', 'RSeq', 'Security-Client',
    'Security-Server', 'Security-Verify', 'Server', 'Service-Route', 'Session-Expires',
    'Session-ID', 'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State', 'Supported',
    'Target-Dialog', 'Timestamp', 'To', 'Unsupported', 'User-Agent', 'User-to-User', 'Via',
    'Warning', 'WWW-Authenticate',
)
_CANON: dict[str, str] = {n.lower(): n for n in _KNOWN}
_CANON.update(_MORE_COMPACT)
_CANON.update(COMPACT)

# Raw spelling -> canonical. Bounded so hostile peers cannot grow it forever.
_name_cache: dict[str, str] = {}
_NAME_CACHE_MAX = 2048


def canonical_name(name: str) -> str:
    """'v' -> 'Via', 'call-id' -> 'Call-ID', 'x-foo-bar' -> 'X-Foo-Bar'."""
    c = _name_cache.get(name)
    if c is not None:
        return c
    low = name.strip(' \t').lower()
    c = _CANON.get(low)
    if c is None:
        c = '-'.join(p[:1].upper() + p[1:] for p in low.split('-'))
    if len(_name_cache) < _NAME_CACHE_MAX:
        _name_cache[name] = c
    return c


# ---------------------------------------------------------------------------
# lists and parameters

_COMMA_SPECIAL_RE = re.compile(r'[",<>\\]')


def split_comma(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas inside quoted
    strings (with \\" escapes) and <...>. Elements are stripped; empty
    elements are dropped."""
    if ',' not in value:
        v = value.strip(' \t')
        return [v] if v else []
    out = []
    start = 0
    pos = 0
    in_quote = False
    in_angle = False
    search = _COMMA_SPECIAL_RE.search
    while True:
        m = search(value, pos)
        if m is None:
            break
        ch = m.group()
        pos = m.end()
        if in_quote:
            if ch == '\\':
                pos += 1  # skip the escaped character
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == '<':
            in_angle = True
        elif ch == '>':
            in_angle = False
        elif ch == ',' and not in_angle:
            piece = value[start:m.start()].strip(' \t')
            if piece:
                out.append(piece)
            start = pos
    piece = value[start:].strip(' \t')
    if piece:
        out.append(piece)
    return out


def parse_params(text: str) -> dict[str, str | None]:
    """Parse ';a=b;c;d="quoted"' generic parameters; keys lowercased, values as
    written (quoted values keep their quotes). Raises HeaderError."""
    return _parse_params(text, HeaderError)


# ---------------------------------------------------------------------------
# Via

@dataclass
class Via:
    protocol: str                 # 'SIP/2.0'
    transport: str                # upper-case: 'UDP', 'TCP', 'TLS', ...
    host: str                     # IPv6 keeps its brackets
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get('branch')

    @property
    def received(self) -> str | None:
        return self.params.get('received')

    @received.setter
    def received(self, value: str | None) -> None:
        if value is None:
            self.params.pop('received', None)
        else:
            self.params['received'] = value

    @property
    def has_rport(self) -> bool:
        """The rport parameter is present, with or without a value (RFC 3581)."""
        return 'rport' in self.params

    @property
    def rport(self) -> int | None:
        """The rport value, or None when absent or present without a value."""
        v = self.params.get('rport')
        if v and v.isascii() and v.isdigit():
            return int(v)
        return None

    @rport.setter
    def rport(self, value: int | None) -> None:
        self.params['rport'] = None if value is None else str(value)

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f'{self.host}:{self.port}'

    def __str__(self) -> str:
        return f'{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}'


def parse_via(text: str) -> Via:
    """Parse one via-parm: 'SIP / 2.0 / UDP host:port ;branch=...'."""
    head, semi, ptext = text.partition(';')
    parts = head.split('/', 2)
    if len(parts) != 3:
        raise HeaderError(f'bad Via protocol {text[:60]!r}')
    name = parts[0].strip(' \t')
    version = parts[1].strip(' \t')
    words = parts[2].split()
    if len(words) < 2:
        raise HeaderError(f'Via without sent-by {text[:60]!r}')
    transport = words[0]
    if not (_TOKEN_RE.fullmatch(name) and _TOKEN_RE.fullmatch(version)
            and _TOKEN_RE.fullmatch(transport)):
        raise HeaderError(f'bad Via protocol {text[:60]!r}')
    if len(words) == 2:
        sent_by = words[1]
    else:
        # 'host : port' is legal (COLON = SWS ":" SWS); any other space is not.
        sent_by = ' '.join(words[1:]).replace(' :', ':').replace(': ', ':')
        if ' ' in sent_by:
            raise HeaderError(f'bad Via sent-by {text[:60]!r}')
    host, port = split_hostport(sent_by, HeaderError)
    params = _parse_params(';' + ptext, HeaderError) if semi else {}
    return Via(f'{name.upper()}/{version}', transport.upper(), host, port, params)


def parse_vias(header_value: str) -> list[Via]:
    """Parse a (possibly comma-separated) Via header value."""
    return [parse_via(v) for v in split_comma(header_value)]


# ---------------------------------------------------------------------------
# CSeq

_MAX_CSEQ = 2 ** 31 - 1


@dataclass
class CSeq:
    seq: int
    method: str

    def __str__(self) -> str:
        return f'{self.seq} {self.method}'


def parse_cseq(text: str) -> CSeq:
    """'4711 INVITE' -> CSeq(4711, 'INVITE'); seq must be 0..2**31-1 (RFC 3261 §8.1.1.5)."""
    parts = text.split()
    if len(parts) != 2:
        raise HeaderError(f'bad CSeq {text[:60]!r}')
    num, method = parts
    if not (num.isascii() and num.isdigit()) or len(num) > 10:
        raise HeaderError(f'bad CSeq number {num[:30]!r}')
    seq = int(num)
    if seq > _MAX_CSEQ:
        raise HeaderError(f'CSeq number out of range: {num}')
    if not _TOKEN_RE.fullmatch(method):
        raise HeaderError(f'bad CSeq method {method[:30]!r}')
    return CSeq(seq, method)
