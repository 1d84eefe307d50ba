"""SIP messages: sans-IO parsing, serialisation and response building (RFC 3261 §7, §8.2.6, §18).

parse_message() takes one datagram (or one message cut out of a stream by
StreamFramer) and returns a Request or Response. It eagerly validates what the
transaction layer needs (start line, Via, From, To, Call-ID, CSeq,
Max-Forwards, Content-Length) and leaves everything else to lazy properties.

When a request is malformed but still answerable, the SipParseError carries a
partially parsed `request` so the caller can send `status` back with
make_response(); otherwise `request` is None and the datagram is dropped.
"""

from __future__ import annotations

import secrets

from .headers import (CSeq, HeaderError, Via, canonical_name, parse_cseq, parse_params,
                      parse_via, split_comma)
from .uri import (_TOKEN_RE, SUPPORTED_SCHEMES, NameAddr, Uri, UriError, parse_name_addr,
                  parse_uri)

__all__ = [
    'MAX_MESSAGE', 'REASONS', 'SipParseError', 'SipMessage', 'Request', 'Response',
    'parse_message', 'make_response', 'StreamFramer', 'gen_branch', 'gen_tag', 'gen_call_id',
]

MAX_MESSAGE = 65535

REASONS = {
    100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued',
    183: 'Session Progress', 199: 'Early Dialog Terminated',
    200: 'OK', 202: 'Accepted', 204: 'No Notification',
    300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily',
    305: 'Use Proxy', 380: 'Alternative Service',
    400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden',
    404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable',
    407: 'Proxy Authentication Required', 408: 'Request Timeout', 410: 'Gone',
    412: 'Conditional Request Failed', 413: 'Request Entity Too Large',
    414: 'Request-URI Too Long', 415: 'Unsupported Media Type',
    416: 'Unsupported URI Scheme', 417: 'Unknown Resource-Priority', 420: 'Bad Extension',
    421: 'Extension Required', 422: 'Session Interval Too Small', 423: 'Interval Too Brief',
    428: 'Use Identity Header', 429: 'Provide Referrer Identity', 433: 'Anonymity Disallowed',
    436: 'Bad Identity-Info', 437: 'Unsupported Certificate', 438: 'Invalid Identity Header',
    439: 'First Hop Lacks Outbound Support', 470: 'Consent Needed',
    480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist',
    482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete', 485: 'Ambiguous',
    486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here',
    489: 'Bad Event', 491: 'Request Pending', 493: 'Undecipherable',
    494: 'Security Agreement Required',
    500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway',
    503: 'Service Unavailable', 504: 'Server Time-out', 505: 'Version Not Supported',
    513: 'Message Too Large', 580: 'Precondition Failure',
    600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere',
    606: 'Not Acceptable', 607: 'Unwanted',
}
_CLASS_REASONS = {1: 'Trying', 2: 'OK', 3: 'Redirected', 4: 'Request Failure',
                  5: 'Server Failure', 6: 'Global Failure'}

# Headers whose value is a comma-separated list (RFC 3261 §7.3.1); get_all()
# splits these. Never Date or the auth headers, whose values contain commas.
_LIST_HEADERS = frozenset({
    'Via', 'Route', 'Record-Route', 'Contact', 'Allow', 'Supported', 'Require',
    'Proxy-Require', 'Unsupported', 'Accept', 'Allow-Events', 'Accept-Encoding',
    'Accept-Language', 'Content-Encoding', 'Content-Language', 'Path', 'Service-Route',
    'Alert-Info', 'Call-Info', 'Error-Info', 'In-Reply-To', 'Accept-Contact',
    'Reject-Contact', 'P-Asserted-Identity', 'P-Preferred-Identity', 'History-Info',
    'Diversion', 'Reason', 'Warning', 'Security-Client', 'Security-Server',
    'Security-Verify', 'Recv-Info',
})
# Headers that must appear at most once (RFC 4475 §3.3.8 multi01, §3.3.9 mcl01).
_SINGLE = ('From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length')
_MANDATORY = ('Via', 'From', 'To', 'Call-ID', 'CSeq')
_COUNTED = frozenset(_SINGLE + _MANDATORY)


class SipParseError(ValueError):
    """A message could not be parsed.

    reason:  short phrase usable as the reason of an error response.
    status:  the response code to answer with (400, 416, 505, 513).
    request: the partially parsed Request when it can be answered, else None.
    detail:  optional longer explanation for logs.
    """

    def __init__(self, reason: str, request: 'Request | None' = None, status: int = 400,
                 detail: str | None = None):
        super().__init__(f'{reason}: {detail}' if detail else reason)
        self.reason = reason
        self.request = request
        self.status = status
        self.detail = detail


def _check_value(value: str) -> str:
    if '\r' in value or '\n' in value:
        raise ValueError(f'header value contains a line break: {value[:60]!r}')
    return value


class SipMessage:
    """Common part of requests and responses.

    `headers` holds (canonical name, value) pairs in wire order, values
    unfolded and stripped. Change headers with set/add/remove (they keep the
    parse cache coherent). Parsed views (vias, from_, ...) are cached: treat
    them as read-only and write changes back with set()/add().
    """

    def __init__(self, headers=None, body: bytes = b''):
        if headers is None:
            self.headers: list[tuple[str, str]] = []
        else:
            items = headers.items() if isinstance(headers, dict) else headers
            self.headers = [(canonical_name(n), _check_value(str(v))) for n, v in items]
        self.body = body
        self._cache: dict[str, object] = {}

    # --- raw header access -------------------------------------------------------
    def get(self, name: str) -> str | None:
        """First value of a header (compact or any-case name accepted)."""
        name = canonical_name(name)
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """All values, across repeated headers; list headers are comma-split."""
        name = canonical_name(name)
        values = [v for n, v in self.headers if n == name]
        if name not in _LIST_HEADERS:
            return values
        out: list[str] = []
        for v in values:
            if name == 'Contact' and v.strip(' \t') == '*':
                out.append('*')
            else:
                out.extend(split_comma(v))
        return out

    def set(self, name: str, value) -> None:
        """Replace every value of `name` by one value (kept at the first one's place)."""
        name = canonical_name(name)
        value = _check_value(str(value))
        out = []
        placed = False
        for n, v in self.headers:
            if n == name:
                if not placed:
                    out.append((n, value))
                    placed = True
            else:
                out.append((n, v))
        if not placed:
            out.append((name, value))
        self.headers = out
        self._cache.clear()

    def add(self, name: str, value, first: bool = False) -> None:
        """Append a header; with first=True put it above existing ones of that
        name (or at the very top when there are none), e.g. a new top Via."""
        name = canonical_name(name)
        value = _check_value(str(value))
        if first:
            idx = next((i for i, (n, _) in enumerate(self.headers) if n == name), 0)
            self.headers.insert(idx, (name, value))
        else:
            self.headers.append((name, value))
        self._cache.clear()

    def remove(self, name: str) -> None:
        name = canonical_name(name)
        self.headers = [(n, v) for n, v in self.headers if n != name]
        self._cache.clear()

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    # --- serialisation (Request and Response supply start_line) ---------------------
    def to_bytes(self) -> bytes:
        """Wire form with CRLFs and a Content-Length matching the body."""
        body = self.body or b''
        lines = [self.start_line()]
        wrote_cl = False
        for n, v in self.headers:
            if n == 'Content-Length':
                if wrote_cl:
                    continue
                v = str(len(body))
                wrote_cl = True
            lines.append(f'{n}: {v}')
        if not wrote_cl:
            lines.append(f'Content-Length: {len(body)}')
        lines.append('\r\n')
        return '\r\n'.join(lines).encode('utf-8', 'surrogateescape') + body

    __bytes__ = to_bytes

    def copy(self):
        """A copy with its own header list (values are immutable strings)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.headers = list(self.headers)
        new._cache = {}
        if isinstance(self, Request):
            new.uri = self.uri.copy()
        return new

    # --- parsed views ------------------------------------------------------------------
    def _required(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise SipParseError(f'Missing {name}')
        return v

    @property
    def call_id(self) -> str:
        v = self._cache.get('Call-ID')
        if v is None:
            v = self._required('Call-ID')
            if not v or len(v.split()) != 1:
                raise SipParseError('Bad Call-ID')
            self._cache['Call-ID'] = v
        return v

    @property
    def cseq(self) -> CSeq:
        v = self._cache.get('CSeq')
        if v is None:
            try:
                v = parse_cseq(self._required('CSeq'))
            except HeaderError as e:
                raise SipParseError('Bad CSeq', detail=str(e)) from None
            self._cache['CSeq'] = v
        return v

    def _name_addr(self, name: str) -> NameAddr:
        v = self._cache.get(name)
        if v is None:
            try:
                v = parse_name_addr(self._required(name))
            except (UriError, HeaderError) as e:
                raise SipParseError(f'Bad {name}', detail=str(e)) from None
            self._cache[name] = v
        return v

    @property
    def from_(self) -> NameAddr:
        return self._name_addr('From')

    @property
    def to(self) -> NameAddr:
        return self._name_addr('To')

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    @property
    def vias(self) -> list[Via]:
        v = self._cache.get('Via')
        if v is None:
            try:
                v = [parse_via(x) for x in self.get_all('Via')]
            except (HeaderError, UriError) as e:
                raise SipParseError('Bad Via', detail=str(e)) from None
            self._cache['Via'] = v
        return v

    @property
    def contacts(self) -> list[NameAddr]:
        """Parsed Contact values; [] for 'Contact: *' (check get_all('Contact') == ['*'])."""
        v = self._cache.get('Contact')
        if v is None:
            raw = self.get_all('Contact')
            if raw == ['*']:
                v = []
            else:
                try:
                    v = [parse_name_addr(x) for x in raw]
                except (UriError, HeaderError) as e:
                    raise SipParseError('Bad Contact', detail=str(e)) from None
            self._cache['Contact'] = v
        return v

    @property
    def content_type(self) -> str | None:
        """The media type, lowercased and without parameters ('application/sdp')."""
        v = self.get('Content-Type')
        if v is None:
            return None
        return v.split(';', 1)[0].strip(' \t').lower()

    @property
    def content_type_params(self) -> dict[str, str | None]:
        v = self.get('Content-Type')
        if v is None or ';' not in v:
            return {}
        try:
            return parse_params(v[v.index(';'):])
        except HeaderError as e:
            raise SipParseError('Bad Content-Type', detail=str(e)) from None

    @property
    def max_forwards(self) -> int | None:
        v = self._cache.get('Max-Forwards')
        if v is None:
            raw = self.get('Max-Forwards')
            if raw is None:
                return None
            if not (raw.isascii() and raw.isdigit()) or int(raw) > 255:
                raise SipParseError('Bad Max-Forwards')
            v = self._cache['Max-Forwards'] = int(raw)
        return v


class Request(SipMessage):
    def __init__(self, method: str, uri: Uri | str, headers=None, body: bytes = b''):
        super().__init__(headers, body)
        self.method = method
        self.uri = uri if isinstance(uri, Uri) else parse_uri(uri)

    def start_line(self) -> str:
        return f'{self.method} {self.uri} SIP/2.0'

    def __repr__(self) -> str:
        return f'<Request {self.method} {self.uri}>'


class Response(SipMessage):
    def __init__(self, status: int, reason: str, headers=None, body: bytes = b''):
        super().__init__(headers, body)
        self.status = status
        self.reason = reason

    def start_line(self) -> str:
        return f'SIP/2.0 {self.status} {self.reason}'

    def __repr__(self) -> str:
        return f'<Response {self.status} {self.reason}>'


# ---------------------------------------------------------------------------
# parsing

def _request_obj(method: str, uri: Uri, headers, body: bytes) -> Request:
    r = object.__new__(Request)
    r.headers = headers
    r.body = body
    r._cache = {}
    r.method = method
    r.uri = uri
    return r


def _response_obj(status: int, reason: str, headers, body: bytes) -> Response:
    r = object.__new__(Response)
    r.headers = headers
    r.body = body
    r._cache = {}
    r.status = status
    r.reason = reason
    return r


def _is_sip_version(text: str) -> bool:
    """'SIP/<digits>.<digits>' in any case."""
    if len(text) < 7 or text[:4].upper() != 'SIP/':
        return False
    major, dot, minor = text[4:].partition('.')
    return bool(dot) and major.isascii() and major.isdigit() and minor.isascii() and minor.isdigit()


def _split_head(data: bytes):
    """Return (header text lines, body start offset) or raise SipParseError."""
    n = len(data)
    start = 0
    # RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives).
    while start < n and data[start] in (13, 10):
        start += 1
    if start >= n:
        raise SipParseError('Empty message')
    end = data.find(b'\r\n\r\n', start)
    if end >= 0:
        head = data[start:end].decode('utf-8', 'surrogateescape')
        return head.split('\r\n'), end + 4
    # Tolerate bare-LF senders, and a datagram whose headers simply end.
    end = data.find(b'\n\n', start)
    if end >= 0:
        head = data[start:end].decode('utf-8', 'surrogateescape')
        return [ln.rstrip('\r') for ln in head.split('\n')], end + 2
    if data.endswith(b'\n'):
        head = data[start:].decode('utf-8', 'surrogateescape').rstrip('\r\n')
        return [ln.rstrip('\r') for ln in head.split('\n')], n
    raise SipParseError('Truncated message')


# Raw header-name spellings already validated as tokens -> canonical name.
_wire_names: dict[str, str] = {}


def _parse_headers(lines: list[str]) -> tuple[list[tuple[str, str]], str | None]:
    """Unfold and name-normalise header lines. Malformed lines are skipped and
    reported as the second item, so the rest can still be answered."""
    headers: list[tuple[str, str]] = []
    error = None
    cache_get = _wire_names.get
    for line in lines:
        if not line:
            continue
        if line[0] == ' ' or line[0] == '\t':
            # LWS continuation (RFC 3261 §7.3.1): equivalent to a single space.
            if not headers:
                error = error or 'Malformed header'
                continue
            name, value = headers[-1]
            cont = line.strip(' \t')
            headers[-1] = (name, f'{value} {cont}' if value else cont)
            continue
        colon = line.find(':')
        if colon <= 0:
            error = error or 'Malformed header'
            continue
        raw = line[:colon]
        name = cache_get(raw)
        if name is None:
            raw_s = raw.rstrip(' \t')  # HCOLON allows whitespace before ':'
            if not _TOKEN_RE.fullmatch(raw_s):
                error = error or 'Malformed header'
                continue
            name = canonical_name(raw)
            if len(_wire_names) < 2048:
                _wire_names[raw] = name
        headers.append((name, line[colon + 1:].strip(' \t')))
    return headers, error


def _validate(msg: SipMessage, is_request: bool) -> tuple[bool, tuple[str, str | None] | None]:
    """Check the headers the core relies on, filling the parse cache.

    Returns (answerable, problem): answerable means Via and CSeq are present, which
    is all a 400 needs to reach the sender and be matched to its request (RFC 4475
    §3.3.1: ideally 400 even without From, To or Call-ID); problem is the first
    (reason, detail) found, or None.
    """
    counts: dict[str, int] = {}
    for n, v in msg.headers:
        if n in _COUNTED and v:
            counts[n] = counts.get(n, 0) + 1
    answerable = 'Via' in counts and 'CSeq' in counts
    for name in _MANDATORY:
        if name not in counts:
            return answerable, (f'Missing {name}', None)
    for name in _SINGLE:
        if counts.get(name, 0) > 1:
            return answerable, (f'Multiple {name} values', None)
    try:
        if not msg.vias:
            return answerable, ('Missing Via', None)
        msg.from_
        msg.to
        msg.call_id
        msg.cseq
        if is_request:
            msg.max_forwards
    except SipParseError as e:
        return answerable, (e.reason, e.detail)
    return answerable, None


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete SIP message (a UDP datagram or a framed TCP message)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    lines, body_start = _split_head(data)
    start = lines[0]
    if start[:4].upper() == 'SIP/':
        return _parse_response(data, start, lines, body_start)
    return _parse_request(data, start, lines, body_start)


def _body(msg: SipMessage, data: bytes, body_start: int) -> tuple[str, str | None] | None:
    """Cut the body by Content-Length (RFC 3261 §18.3); returns an error or None."""
    avail = len(data) - body_start
    cl = msg.get('Content-Length')
    if cl is None:
        msg.body = data[body_start:]  # datagram: the body is the rest
        return None
    if not (cl.isascii() and cl.isdigit()):
        msg.body = data[body_start:]
        return 'Bad Content-Length', cl[:20]
    length = int(cl)
    if length > avail:
        msg.body = data[body_start:]
        return 'Content-Length exceeds body', f'{length} > {avail}'
    msg.body = data[body_start:body_start + length]  # extra octets are discarded
    return None


def _parse_request(data: bytes, start: str, lines, body_start: int) -> Request:
    # Extra spaces between (or after) the request-line elements are tolerated
    # (RFC 4475 §3.1.2.9/10 permit this); a space inside the URI is not.
    parts = [p for p in start.split(' ') if p]
    if len(parts) < 3 or not _TOKEN_RE.fullmatch(parts[0]) or not _is_sip_version(parts[-1]):
        raise SipParseError('Malformed Request-Line')
    method, version = parts[0], parts[-1]
    errors: list[tuple[int, str, str | None]] = []  # (status, reason, detail)
    uri: Uri | None = None
    if len(parts) == 3:
        try:
            uri = parse_uri(parts[1])
            if uri.headers:
                # RFC 4475 §3.1.2.11: headers are not allowed in a Request-URI
                errors.append((400, 'Bad Request-URI', 'URI headers in Request-URI'))
        except UriError as e:
            errors.append((400, 'Bad Request-URI', str(e)))
    else:
        errors.append((400, 'Malformed Request-Line', 'whitespace inside Request-URI'))
    if uri is None:
        # Best effort so a 400 can still be sent (RFC 4475 ltgtruri, lwsruri).
        try:
            uri = parse_uri(''.join(parts[1:-1]).strip('<>'))
        except UriError:
            uri = None
    if version.upper() != 'SIP/2.0':
        errors.insert(0, (505, 'Version Not Supported', version))

    headers, herr = _parse_headers(lines[1:])
    req = _request_obj(method, uri, headers, b'') if uri is not None else None
    if req is None:
        raise SipParseError(errors[0][1] if errors else 'Malformed Request-Line',
                            detail=errors[0][2] if errors else None)
    if herr:
        errors.append((400, herr, None))

    answerable, problem = _validate(req, True)
    if problem:
        errors.append((400, *problem))
    elif req.cseq.method != method:
        errors.append((400, 'CSeq method mismatch', f'{req.cseq.method} != {method}'))
    body_problem = _body(req, data, body_start)
    if body_problem:
        errors.append((400, *body_problem))
    if len(data) > MAX_MESSAGE:
        errors.insert(0 if not errors or errors[0][0] != 505 else 1,
                      (513, 'Message too large', f'{len(data)} bytes'))
    if uri.scheme not in SUPPORTED_SCHEMES:
        errors.append((416, 'Unsupported URI Scheme', uri.scheme))
    if errors:
        status, reason, detail = errors[0]
        raise SipParseError(reason, req if answerable else None, status, detail)
    return req


def _parse_response(data: bytes, start: str, lines, body_start: int) -> Response:
    # Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2).  Split on
    # SP only: str.split() also splits on Unicode spaces (U+3000, U+0085, ...) that are
    # legal UTF-8 in a Reason-Phrase, and it ate a phrase's leading spaces (found by
    # fuzzing: 'SIP/2.0 100  ' came back with reason '' instead of ' ').
    version, _, rest = start.partition(' ')
    code, sp, reason = rest.lstrip(' ').partition(' ')
    parts = [version, code, reason] if sp else [version, code] if code else [version]
    if len(parts) < 2 or parts[0].upper() != 'SIP/2.0':
        raise SipParseError('Malformed Status-Line')
    code = parts[1]
    if len(code) != 3 or not (code.isascii() and code.isdigit()) or not 100 <= int(code) <= 699:
        raise SipParseError('Bad status code', detail=code[:20])
    headers, herr = _parse_headers(lines[1:])
    resp = _response_obj(int(code), parts[2] if len(parts) > 2 else '', headers, b'')
    if herr:
        raise SipParseError(herr)
    problem = _validate(resp, False)[1] or _body(resp, data, body_start)
    if problem:
        raise SipParseError(problem[0], detail=problem[1])
    if len(data) > MAX_MESSAGE:
        raise SipParseError('Message too large', status=513)
    return resp


# ---------------------------------------------------------------------------
# building responses

def _has_tag(request: Request, to_value: str) -> bool:
    try:
        return request.to.tag is not None
    except SipParseError:
        # Unparseable To (we are answering a bad request): look for the text.
        low = to_value.lower().replace(' ', '').replace('\t', '')
        return ';tag=' in low


def make_response(request: Request, status: int, reason: str | None = None,
                  to_tag: str | None = None, headers=None, body: bytes = b'') -> Response:
    """Build a response per RFC 3261 §8.2.6.2: Via (all, in order), From, To
    (plus ;tag=to_tag if it has none), Call-ID and CSeq copied verbatim."""
    out: list[tuple[str, str]] = [(n, v) for n, v in request.headers if n == 'Via']
    for name in ('From', 'To', 'Call-ID', 'CSeq'):
        v = request.get(name)
        if v is None:
            continue
        if name == 'To' and to_tag and not _has_tag(request, v):
            v = f'{v};tag={to_tag}'
        out.append((name, v))
    if status == 100:
        ts = request.get('Timestamp')  # RFC 3261 §8.2.6.1
        if ts is not None:
            out.append(('Timestamp', ts))
    if reason is None:
        reason = REASONS.get(status) or _CLASS_REASONS.get(status // 100, 'Unknown')
    resp = Response(status, reason, None, body)
    resp.headers = out
    if headers:
        items = headers.items() if isinstance(headers, dict) else headers
        for n, v in items:
            resp.add(n, v)
    return resp


# ---------------------------------------------------------------------------
# stream framing (TCP/TLS)

class StreamFramer:
    """Cuts a byte stream into whole SIP messages using Content-Length
    (RFC 3261 §18.3; a missing Content-Length means an empty body).

    CRLFs between messages are skipped; each double CRLF (RFC 5626 keep-alive
    ping) increments `pings` so the caller can answer with a single CRLF.
    After a SipParseError the framer is unusable: close the connection.
    """

    def __init__(self, max_message: int = MAX_MESSAGE):
        self.max_message = max_message
        self.pings = 0
        self._buf = bytearray()
        self._need: int | None = None   # total length of the message being read
        self._scanned = 0               # header bytes already searched for CRLFCRLF
        self._crlf = 0                  # CRLFs skipped since the last message
        self._dead: str | None = None

    def _fail(self, reason: str) -> SipParseError:
        self._dead = reason
        self._buf.clear()
        return SipParseError(reason)

    def feed(self, data: bytes) -> list[bytes]:
        if self._dead:
            raise SipParseError(self._dead, detail='framer closed after an error')
        buf = self._buf
        buf += data
        out: list[bytes] = []
        while True:
            if self._need is None:
                i = 0
                while buf.startswith(b'\r\n', i):
                    i += 2
                    self._crlf += 1
                    if self._crlf == 2:
                        self.pings += 1
                        self._crlf = 0
                if i:
                    del buf[:i]
                    self._scanned = 0
                if not buf or buf == b'\r':
                    break
                self._crlf = 0
                end = buf.find(b'\r\n\r\n', max(0, self._scanned - 3))
                if end < 0:
                    self._scanned = len(buf)
                    if len(buf) > self.max_message:
                        raise self._fail('Message too large')
                    break
                length = self._content_length(bytes(buf[:end]))
                self._need = end + 4 + length
                if self._need > self.max_message:
                    raise self._fail('Message too large')
            if len(buf) < self._need:
                break
            out.append(bytes(buf[:self._need]))
            del buf[:self._need]
            self._need = None
            self._scanned = 0
        return out

    def _content_length(self, head: bytes) -> int:
        values = []
        in_cl = False
        for line in head.split(b'\r\n')[1:]:
            if line[:1] in (b' ', b'\t'):
                if in_cl:
                    values[-1] += line
                continue
            colon = line.find(b':')
            name = line[:colon].strip(b' \t').lower() if colon > 0 else b''
            in_cl = name in (b'content-length', b'l')
            if in_cl:
                values.append(line[colon + 1:])
        if not values:
            return 0
        lengths = set()
        for v in values:
            v = v.strip(b' \t')
            if not v.isdigit():
                raise self._fail('Bad Content-Length')
            lengths.add(int(v))
        if len(lengths) != 1:
            raise self._fail('Bad Content-Length')
        return lengths.pop()


# ---------------------------------------------------------------------------
# identifiers

def gen_branch() -> str:
    """A fresh RFC 3261 branch (magic cookie + 64 random bits)."""
    return 'z9hG4bK' + secrets.token_hex(8)


def gen_tag() -> str:
    return secrets.token_hex(6)


def gen_call_id(host: str) -> str:
    return f'{secrets.token_hex(12)}@{host}'
