"""A small SIP user agent for the latency and media probes: UDP, one asyncio loop.

It places calls (INVITE with a PCMA + telephone-event offer, ACK, BYE), answers the
in-dialog requests a server may send (BYE, OPTIONS, INFO, NOTIFY), and owns one RTP socket per
call. The RTP socket asks the kernel for receive timestamps (SO_TIMESTAMPNS), so arrival times
are when the packet reached the socket, not when this process got round to reading it: a busy
probe does not add jitter to what it measures.

Only 127.0.0.1 is ever bound or addressed.
"""
from __future__ import annotations

import asyncio
import random
import socket
import struct
import time
import uuid
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from .common import HOST, SCENARIOS

SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)
T1 = 0.5
PT_PCMA, PT_PCMU, PT_EVENT = 8, 0, 101
DIGIT_EVENTS = {**{str(i): i for i in range(10)}, '*': 10, '#': 11}


# ---------------------------------------------------------------- G.711 loudness

def _alaw_to_linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0x0f) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _ulaw_to_linear(u: int) -> int:
    u = ~u & 0xff
    t = ((u & 0x0f) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return (0x84 - t) if u & 0x80 else (t - 0x84)


def loud_table(decode, threshold: int = 300) -> bytes:
    """bytes.translate table: a G.711 byte -> b'\\x01' if louder than threshold, else b'\\x00'."""
    return bytes(1 if abs(decode(b)) > threshold else 0 for b in range(256))


LOUD = {PT_PCMA: loud_table(_alaw_to_linear), PT_PCMU: loud_table(_ulaw_to_linear)}


def is_loud(pt: int, payload: bytes) -> bool:
    table = LOUD.get(pt)
    return table is not None and b'\x01' in payload.translate(table)


def g711a_frames(pcap: Path = SCENARIOS / 'pcap' / 'g711a.pcap', frame: int = 160) -> list[bytes]:
    """The A-law speech of SIPp's g711a.pcap, re-cut into 20 ms payloads."""
    data = pcap.read_bytes()
    off, audio = 24, bytearray()
    while off + 16 <= len(data):
        incl = struct.unpack('<I', data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        ihl = (pkt[14] & 0x0f) * 4
        rtp = pkt[14 + ihl + 8:]
        cc = rtp[0] & 0x0f
        audio += rtp[12 + 4 * cc:]
        off += 16 + incl
    return [bytes(audio[i:i + frame]) for i in range(0, len(audio) - frame + 1, frame)]


# ---------------------------------------------------------------- RTP

class RtpStream:
    """One call's RTP socket: sends what it is told, records what arrives (kernel time, seq,
    payload type, and whether the payload is louder than silence)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, keep_loudness: bool = False):
        self.loop = loop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.remote: tuple[str, int] | None = None
        self.keep_loudness = keep_loudness
        # received
        self.t = array('d')
        self.seq = array('l')
        self.pt = array('b')
        self.ssrc_of = array('L')
        self.loud = array('b')
        self.on_packet = None          # callback(t, seq, pt, payload)
        # sending
        self.ssrc = random.getrandbits(32)
        self.tx_seq = random.getrandbits(15)
        self.tx_ts = random.getrandbits(31)
        self.sent = 0
        self.sent_t = array('d')
        self.sent_seq = array('l')
        self.closed = False
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        sock = self.sock
        while True:
            try:
                data, anc, _flags, _addr = sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            t = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = struct.unpack('qq', cdata[:16])
                    t = sec + nsec * 1e-9
            if t is None:
                t = time.time()
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            cc = data[0] & 0x0f
            pt = data[1] & 0x7f
            seq = (data[2] << 8) | data[3]
            payload = data[12 + 4 * cc:]
            self.t.append(t)
            self.seq.append(seq)
            self.pt.append(pt)
            self.ssrc_of.append(int.from_bytes(data[8:12], 'big'))
            if self.keep_loudness:
                self.loud.append(1 if is_loud(pt, payload) else 0)
            cb = self.on_packet
            if cb is not None:
                cb(t, seq, pt, payload)

    def _header(self, pt: int, marker: bool, ts: int) -> bytes:
        self.tx_seq = (self.tx_seq + 1) & 0xffff
        return struct.pack('!BBHII', 0x80, pt | (0x80 if marker else 0), self.tx_seq,
                           ts & 0xffffffff, self.ssrc)

    def send_audio(self, payload: bytes, pt: int = PT_PCMA, marker: bool = False) -> float:
        """Send one audio frame (timestamp advances by its length); returns the send time."""
        if self.remote is None or self.closed:
            return 0.0
        pkt = self._header(pt, marker, self.tx_ts) + payload
        self.tx_ts += len(payload)
        self.sock.sendto(pkt, self.remote)
        t = time.time()
        self.sent += 1
        self.sent_t.append(t)
        self.sent_seq.append(self.tx_seq)
        return t

    def send_event(self, digit: str, duration: int, end: bool, marker: bool, ts: int,
                   volume: int = 10) -> float:
        """One RFC 4733 packet (event timestamp `ts` fixed for the whole event)."""
        if self.remote is None or self.closed:
            return 0.0
        body = struct.pack('!BBH', DIGIT_EVENTS[digit], (0x80 if end else 0) | (volume & 0x3f),
                           duration & 0xffff)
        self.sock.sendto(self._header(PT_EVENT, marker, ts) + body, self.remote)
        t = time.time()
        self.sent += 1
        return t

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.loop.remove_reader(self.sock.fileno())
        except (ValueError, OSError):
            pass
        self.sock.close()

    # -- analysis ----------------------------------------------------------------------------
    def stream_ssrc(self) -> int | None:
        """The SSRC of the stream we measure: our own if it comes back (an echo), else the
        most frequent one. Anything else that reaches the socket (a load generator's packets
        aimed at a port it did not bind, that we happen to hold) is foreign and not counted."""
        if not self.ssrc_of:
            return None
        if self.ssrc in self.ssrc_of:
            return self.ssrc
        counts: dict[int, int] = {}
        for x in self.ssrc_of:
            counts[x] = counts.get(x, 0) + 1
        return max(counts, key=counts.get)

    def foreign(self) -> int:
        want = self.stream_ssrc()
        return sum(1 for x in self.ssrc_of if x != want)

    def window(self, t0: float, t1: float, pts: tuple[int, ...] = (PT_PCMA, PT_PCMU)):
        """(arrival times, unwrapped sequence numbers) of the stream's audio packets arriving
        in [t0, t1]."""
        ts, seqs = [], []
        base = None
        last = None
        want = self.stream_ssrc()
        for t, s, p, x in zip(self.t, self.seq, self.pt, self.ssrc_of):
            if p not in pts or x != want:
                continue
            if base is None:
                base, last = 0, s
            else:
                d = (s - last) & 0xffff
                if d > 0x8000:
                    d -= 0x10000
                base += d
                last = s
            if t0 <= t <= t1:
                ts.append(t)
                seqs.append(base)
        return ts, seqs


def pacing(ts: list[float], seqs: list[int]) -> dict:
    """Inter-arrival gaps and loss of one stream's packets in a window."""
    gaps = [b - a for a, b in zip(ts, ts[1:])]
    if not seqs:
        return {'received': 0, 'expected': 0, 'lost': 0, 'gaps': gaps}
    expected = max(seqs) - min(seqs) + 1
    unique = len(set(seqs))
    return {'received': unique, 'expected': expected, 'lost': max(0, expected - unique),
            'duplicates': len(seqs) - unique, 'gaps': gaps}


# ---------------------------------------------------------------- SIP

COMPACT = {'v': 'via', 'f': 'from', 't': 'to', 'i': 'call-id', 'm': 'contact',
           'l': 'content-length', 'c': 'content-type'}


@dataclass
class Message:
    first: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def is_response(self) -> bool:
        return self.first.startswith('SIP/2.0 ')

    @property
    def status(self) -> int:
        return int(self.first.split()[1]) if self.is_response else 0

    @property
    def method(self) -> str:
        return self.first.split()[0] if not self.is_response else self.cseq[1]

    def get(self, name: str, default: str = '') -> str:
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    @property
    def cseq(self) -> tuple[int, str]:
        n, m = self.get('cseq').split()
        return int(n), m.upper()

    @property
    def call_id(self) -> str:
        return self.get('call-id')


def parse(data: bytes) -> Message | None:
    head, sep, body = data.partition(b'\r\n\r\n')
    if not sep:
        return None
    lines = head.decode('utf-8', 'replace').split('\r\n')
    headers = []
    for line in lines[1:]:
        if line[:1] in (' ', '\t') and headers:
            k, v = headers[-1]
            headers[-1] = (k, v + ' ' + line.strip())
            continue
        name, _, value = line.partition(':')
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    return Message(lines[0], headers, body)


def _tag(header: str) -> str:
    for part in header.split(';')[1:]:
        k, _, v = part.strip().partition('=')
        if k.lower() == 'tag':
            return v
    return ''


def _uri(header: str) -> str:
    if '<' in header:
        return header[header.index('<') + 1:header.index('>')]
    return header.split(';')[0].strip()


def parse_sdp(body: bytes) -> tuple[str, int, dict[int, str]]:
    addr, port, maps = HOST, 0, {}
    for line in body.decode('utf-8', 'replace').splitlines():
        if line.startswith('c=') and port == 0:
            addr = line.split()[-1]
        elif line.startswith('m=audio'):
            port = int(line.split()[1])
        elif line.startswith('a=rtpmap:'):
            pt, _, enc = line[9:].partition(' ')
            maps[int(pt)] = enc
    return addr, port, maps


class SipError(Exception):
    def __init__(self, status: int, text: str = ''):
        super().__init__(f'SIP {status} {text}'.strip())
        self.status = status


@dataclass
class Dialog:
    call_id: str
    from_hdr: str
    to_hdr: str                 # with the remote tag, once answered
    request_uri: str
    remote: tuple[str, int]     # where requests go (the server's SIP address)
    rtp: RtpStream
    cseq: int = 1
    answered: float = 0.0
    ended: asyncio.Future | None = None
    ack: bytes = b''
    payload_types: dict[int, str] = field(default_factory=dict)


class SipUac(asyncio.DatagramProtocol):
    def __init__(self):
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._waiters: dict[tuple[str, int, str], asyncio.Queue] = {}
        self.dialogs: dict[str, Dialog] = {}

    @classmethod
    async def create(cls) -> 'SipUac':
        loop = asyncio.get_running_loop()
        ua = cls()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        sock.bind((HOST, 0))
        await loop.create_datagram_endpoint(lambda: ua, sock=sock)
        return ua

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.port = transport.get_extra_info('sockname')[1]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr) -> None:
        msg = parse(data)
        if msg is None:
            return
        try:
            if msg.is_response:
                n, m = msg.cseq
                q = self._waiters.get((msg.call_id, n, m))
                if q is not None:
                    q.put_nowait(msg)
                elif m == 'INVITE' and 200 <= msg.status < 300:
                    d = self.dialogs.get(msg.call_id)
                    if d is not None and d.ack:
                        self.transport.sendto(d.ack, addr)      # 200 retransmitted: ACK again
            else:
                self._on_request(msg, addr)
        except (ValueError, IndexError):
            pass

    def _on_request(self, msg: Message, addr) -> None:
        method = msg.first.split()[0]
        if method == 'ACK':
            return
        code = '200 OK' if method in ('BYE', 'OPTIONS', 'INFO', 'NOTIFY', 'CANCEL') \
            else '501 Not Implemented'
        lines = [f'SIP/2.0 {code}']
        for k in ('via',):
            lines += [f'Via: {v}' for v in msg.all(k)]
        to = msg.get('to')
        lines += [f'From: {msg.get("from")}', f'To: {to}', f'Call-ID: {msg.call_id}',
                  f'CSeq: {msg.get("cseq")}', 'Content-Length: 0', '', '']
        self.transport.sendto('\r\n'.join(lines).encode(), addr)
        if method == 'BYE':
            d = self.dialogs.get(msg.call_id)
            if d is not None and d.ended is not None and not d.ended.done():
                d.ended.set_result('remote')

    def _sdp(self, rtp_port: int) -> str:
        return ('v=0\r\n'
                f'o=bench {random.getrandbits(31)} 1 IN IP4 {HOST}\r\n'
                's=bench\r\n'
                f'c=IN IP4 {HOST}\r\n'
                't=0 0\r\n'
                f'm=audio {rtp_port} RTP/AVP {PT_PCMA} {PT_EVENT}\r\n'
                f'a=rtpmap:{PT_PCMA} PCMA/8000\r\n'
                f'a=rtpmap:{PT_EVENT} telephone-event/8000\r\n'
                f'a=fmtp:{PT_EVENT} 0-15\r\n'
                'a=ptime:20\r\n'
                'a=sendrecv\r\n')

    def _request(self, method: str, d: Dialog, cseq: int, branch: str, body: str = '',
                 to_hdr: str | None = None) -> bytes:
        lines = [f'{method} {d.request_uri} SIP/2.0',
                 f'Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport',
                 'Max-Forwards: 70',
                 f'From: {d.from_hdr}',
                 f'To: {to_hdr if to_hdr is not None else d.to_hdr}',
                 f'Call-ID: {d.call_id}',
                 f'CSeq: {cseq} {method}',
                 f'Contact: <sip:bench@{HOST}:{self.port}>',
                 'User-Agent: telephony-bench']
        if body:
            lines.append('Content-Type: application/sdp')
        lines += [f'Content-Length: {len(body.encode())}', '', '']
        return ('\r\n'.join(lines) + body).encode()

    async def _transaction(self, data: bytes, d: Dialog, cseq: int, method: str,
                           timeout: float, on_provisional=None) -> Message:
        """Send (and retransmit, RFC 3261 timer A/E) until a final response."""
        key = (d.call_id, cseq, method)
        q: asyncio.Queue = asyncio.Queue()
        self._waiters[key] = q
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        interval, retrans = T1, True
        try:
            self.transport.sendto(data, d.remote)
            while True:
                now = loop.time()
                if now >= deadline:
                    raise SipError(408, f'no final response to {method} in {timeout:.0f} s')
                wait = min(interval, deadline - now) if retrans else deadline - now
                try:
                    msg = await asyncio.wait_for(q.get(), wait)
                except asyncio.TimeoutError:
                    if retrans:
                        self.transport.sendto(data, d.remote)
                        interval = min(interval * 2, 4.0)
                    continue
                if msg.status < 200:
                    if method == 'INVITE':
                        retrans = False
                        if on_provisional:
                            on_provisional(msg)
                    continue
                return msg
        finally:
            self._waiters.pop(key, None)

    async def call(self, host: str, port: int, user: str, rtp: RtpStream,
                   timeout: float = 30.0) -> Dialog:
        """INVITE sip:user@host:port; returns the answered dialog (ACK sent), or raises SipError."""
        tag = uuid.uuid4().hex[:10]
        d = Dialog(call_id=f'{uuid.uuid4().hex}@{HOST}',
                   from_hdr=f'<sip:+4922100077@{HOST}:{self.port}>;tag={tag}',
                   to_hdr=f'<sip:{user}@{host}:{port}>',
                   request_uri=f'sip:{user}@{host}:{port}', remote=(host, port), rtp=rtp,
                   ended=asyncio.get_running_loop().create_future())
        self.dialogs[d.call_id] = d
        branch = 'z9hG4bK' + uuid.uuid4().hex
        invite = self._request('INVITE', d, 1, branch, self._sdp(rtp.port))
        msg = await self._transaction(invite, d, 1, 'INVITE', timeout)
        to_tagged = msg.get('to')
        if msg.status >= 300:
            self.transport.sendto(self._request('ACK', d, 1, branch, to_hdr=to_tagged), d.remote)
            self.dialogs.pop(d.call_id, None)
            raise SipError(msg.status, msg.first)
        d.to_hdr = to_tagged
        contact = msg.get('contact')
        if contact:
            d.request_uri = _uri(contact)
        addr, mport, maps = parse_sdp(msg.body)
        d.payload_types = maps
        rtp.remote = (addr, mport)
        d.ack = self._request('ACK', d, 1, 'z9hG4bK' + uuid.uuid4().hex)
        self.transport.sendto(d.ack, d.remote)
        d.answered = time.time()
        return d

    async def hangup(self, d: Dialog, timeout: float = 8.0) -> int:
        """BYE (unless the other side already hung up); returns its final status (0 = none)."""
        status = 0
        if d.ended is not None and not d.ended.done():
            d.cseq += 1
            bye = self._request('BYE', d, d.cseq, 'z9hG4bK' + uuid.uuid4().hex)
            try:
                status = (await self._transaction(bye, d, d.cseq, 'BYE', timeout)).status
            except SipError as e:
                status = e.status
            if not d.ended.done():
                d.ended.set_result('local')
        d.rtp.close()
        self.dialogs.pop(d.call_id, None)
        return status
