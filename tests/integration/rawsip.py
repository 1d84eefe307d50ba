"""A deliberately small SIP client on plain sockets, for the tests that need exact control
over the bytes on the wire: malformed messages and digest authentication with a wrong
password.  It parses only what the tests assert on (status, reason, headers)."""
from __future__ import annotations

import hashlib
import re
import secrets
import socket
import time
from dataclasses import dataclass, field

HOST = '127.0.0.1'


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b''
    raw: bytes = b''

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __str__(self):
        return f'{self.status} {self.reason}'


COMPACT = {'i': 'call-id', 'v': 'via', 'f': 'from', 't': 'to', 'l': 'content-length',
           'c': 'content-type', 'm': 'contact'}


def parse_message(data: bytes) -> Response | None:
    """Parse one response (None if `data` is not a SIP response)."""
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode('utf-8', 'replace').split('\r\n')
    m = re.match(r'SIP/2\.0 (\d{3}) ?(.*)$', lines[0])
    if not m:
        return None
    headers = []
    for line in lines[1:]:
        if line[:1] in (' ', '\t') and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + ' ' + line.strip())
            continue
        name, _, value = line.partition(':')
        name = name.strip()
        headers.append((COMPACT.get(name.lower(), name), value.strip()))
    return Response(int(m.group(1)), m.group(2), headers, body, data)


class UdpPeer:
    """One UDP socket on 127.0.0.1 (or `host`, any address of 127/8) talking to the server."""

    def __init__(self, server_port: int, host: str = HOST):
        self.server = (HOST, server_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()

    def send(self, data: bytes | str):
        self.sock.sendto(data.encode() if isinstance(data, str) else data, self.server)

    def recv_raw(self, timeout: float) -> tuple[bytes, tuple] | None:
        """The next datagram (request, response or junk) and its source within `timeout`."""
        self.sock.settimeout(max(timeout, 1e-6))
        try:
            return self.sock.recvfrom(70000)
        except (socket.timeout, TimeoutError):
            return None

    def wait(self, predicate, timeout: float = 20.0) -> bytes | None:
        """The first datagram within `timeout` for which `predicate(data)` holds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.recv_raw(left)
            if got is None:
                return None
            if predicate(got[0]):
                return got[0]
        return None

    def drain(self) -> list[bytes]:
        """Every datagram that arrived and was not read (without waiting)."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(70000))
        except BlockingIOError:
            return out
        finally:
            self.sock.setblocking(True)

    def recv(self, timeout: float) -> Response | None:
        """The next SIP response within `timeout` (None when nothing arrives)."""
        data = self.wait(lambda d: parse_message(d) is not None, timeout)
        return None if data is None else parse_message(data)

    def final(self, call_id: str, timeout: float = 10.0) -> tuple[Response | None, list[Response]]:
        """Wait for the final response of the transaction with `call_id`; also returns all
        responses seen for it (provisional ones included)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            r = self.recv(max(0.0, deadline - time.monotonic()))
            if r is None:
                return None, seen
            if r.header('call-id') != call_id:
                continue
            seen.append(r)
            if r.status >= 200:
                return r, seen


class TcpPeer:
    """One TCP connection to the server; responses are framed by Content-Length."""

    def __init__(self, server_port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((HOST, server_port), timeout=timeout)
        self.port = self.sock.getsockname()[1]
        self.buf = b''
        self.closed = False

    def close(self):
        self.sock.close()

    def send(self, data: bytes | str):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def recv(self, timeout: float) -> Response | None:
        """Next response; None on timeout or when the server closed the connection
        (then `self.closed` is True)."""
        deadline = time.monotonic() + timeout
        while True:
            end = self.buf.find(b'\r\n\r\n')
            if end >= 0:
                head = self.buf[:end].decode('utf-8', 'replace')
                m = re.search(r'(?im)^(?:content-length|l)\s*:\s*(\d+)', head)
                n = int(m.group(1)) if m else 0
                if len(self.buf) >= end + 4 + n:
                    msg, self.buf = self.buf[:end + 4 + n], self.buf[end + 4 + n:]
                    r = parse_message(msg)
                    if r is not None:
                        return r
                    continue
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            except (ConnectionResetError, BrokenPipeError):
                chunk = b''
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk

    def wait_closed(self, timeout: float) -> bool:
        """True when the server closes the connection within `timeout` (responses on the
        way are kept in the buffer)."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return False
            except (ConnectionResetError, BrokenPipeError):
                chunk = b''
            if not chunk:
                self.closed = True
            self.buf += chunk
        return True


def new_call_id() -> str:
    return secrets.token_hex(8) + '@test'


def request(method: str, ruri: str, *, transport: str = 'UDP', port: int, call_id: str,
            cseq: int = 1, from_user: str = 'tester', to: str | None = None,
            domain: str = 'localhost', extra: list[str] = (), body: bytes | str = b'',
            content_type: str | None = None, omit: tuple[str, ...] = (),
            branch: str | None = None, from_tag: str = 'ft1') -> bytes:
    """Build a request; `omit` drops headers by name (to make it invalid on purpose)."""
    if isinstance(body, str):
        body = body.encode()
    headers = [
        ('Via', f'SIP/2.0/{transport} {HOST}:{port};branch={branch or "z9hG4bK" + secrets.token_hex(6)};rport'),
        ('Max-Forwards', '70'),
        ('From', f'<sip:{from_user}@{domain}>;tag={from_tag}'),
        ('To', to or f'<{ruri}>'),
        ('Call-ID', call_id),
        ('CSeq', f'{cseq} {method}'),
        ('Contact', f'<sip:{from_user}@{HOST}:{port};transport={transport.lower()}>'),
    ]
    lines = [f'{method} {ruri} SIP/2.0']
    lines += [f'{k}: {v}' for k, v in headers if k not in omit]
    lines += list(extra)
    if content_type:
        lines.append(f'Content-Type: {content_type}')
    if 'Content-Length' not in omit:
        lines.append(f'Content-Length: {len(body)}')
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body


def sdp_offer(rtp_port: int) -> str:
    return ('v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
            f'm=audio {rtp_port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n'
            'a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n')


# ---------------------------------------------------------------- digest (RFC 7616)

def parse_challenge(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(' ')
    assert scheme.lower() == 'digest', value
    params = {}
    for m in re.finditer(r'(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)', rest):
        v = m.group(2)
        params[m.group(1).lower()] = v[1:-1] if v.startswith('"') else v
    return params


def digest_authorization(challenge: dict[str, str], method: str, uri: str, user: str,
                         password: str, nc: int = 1) -> str:
    algorithm = challenge.get('algorithm', 'MD5')
    h = {'MD5': hashlib.md5, 'SHA-256': hashlib.sha256}[algorithm.upper().replace('-SESS', '')]

    def H(s: str) -> str:
        return h(s.encode()).hexdigest()
    realm, nonce = challenge['realm'], challenge['nonce']
    ha1 = H(f'{user}:{realm}:{password}')
    ha2 = H(f'{method}:{uri}')
    cnonce = secrets.token_hex(8)
    ncs = f'{nc:08x}'
    if 'auth' in [q.strip() for q in challenge.get('qop', '').split(',')]:
        resp = H(f'{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}')
        qop = f', qop=auth, nc={ncs}, cnonce="{cnonce}"'
    else:
        resp = H(f'{ha1}:{nonce}:{ha2}')
        qop = ''
    opaque = f', opaque="{challenge["opaque"]}"' if 'opaque' in challenge else ''
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm={algorithm}{qop}{opaque}')


def challenges(resp: Response, header: str) -> dict[str, dict[str, str]]:
    """The digest challenges of a 401/407 keyed by algorithm."""
    out = {}
    for v in resp.all(header):
        c = parse_challenge(v)
        out[c.get('algorithm', 'MD5').upper()] = c
    return out


def echo_call(sip: UdpPeer, rtp_port: int) -> tuple[str, str, tuple[str, int]]:
    """An answered, ACKed call to echo@ offering `rtp_port`: (Call-ID, To, the server's RTP
    address)."""
    from telephony.sdp import parse_sdp
    cid = new_call_id()
    sip.send(request('INVITE', f'sip:echo@{HOST}', port=sip.port, call_id=cid,
                     body=sdp_offer(rtp_port), content_type='application/sdp'))
    ok, _ = sip.final(cid)
    assert ok is not None and ok.status == 200, ok
    to = ok.header('To')
    sip.send(request('ACK', f'sip:echo@{HOST}', port=sip.port, call_id=cid, to=to))
    answer = parse_sdp(ok.body)
    m = answer.media[0]
    return cid, to, (answer.connection or m.connection, m.port)


def closed_by_server(sock: socket.socket, timeout: float, trickle: bytes = b'') -> bool:
    """True once the server closes `sock` within `timeout`. Meanwhile `trickle` goes out a
    byte at a time (one per half second of silence from the server), over and over: a
    slowloris that keeps a connection busy but never ends a request, or CRLF pings."""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    sent = 0
    while time.monotonic() < deadline:
        try:
            if trickle:
                i = sent % len(trickle)
                sock.sendall(trickle[i:i + 1])
                sent += 1
            if sock.recv(4096) == b'':
                return True
        except (socket.timeout, TimeoutError):
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False
