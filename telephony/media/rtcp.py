"""RTCP (RFC 3550 section 6 and appendix A) -- sans-IO.

Building and parsing SR, RR, SDES (CNAME) and BYE packets and compounds, and
`ReceiverStats`: the receiver side bookkeeping of appendix A.1 (sequence
validation, extended highest sequence), A.3 (cumulative and fractional loss)
and A.8 (interarrival jitter), plus the round trip from LSR/DLSR.  Times are
passed in as arguments (seconds; NTP values as 64-bit fixed point integers).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = [
    'RtcpError', 'ReportBlock', 'SenderReport', 'ReceiverReport', 'SourceDescription', 'Bye',
    'build_sr', 'build_rr', 'build_sdes', 'build_bye', 'build_compound', 'parse_rtcp',
    'ntp_from_seconds', 'ntp_compact', 'round_trip', 'ReceiverStats', 'NTP_EPOCH_OFFSET',
]

SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_HEAD = struct.Struct('!BBH')
_BLOCK = struct.Struct('!IIIIII')
_SR_INFO = struct.Struct('!QIII')
RTP_SEQ_MOD = 1 << 16


class RtcpError(ValueError):
    """A datagram that is not a valid RTCP compound packet."""


@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int      # 0..255, fixed point /256
    cumulative_lost: int    # signed 24-bit
    highest_seq: int        # extended highest sequence number received
    jitter: int             # timestamp units
    lsr: int = 0            # middle 32 bits of the last SR's NTP timestamp
    dlsr: int = 0           # delay since that SR, 1/65536 s

    def pack(self) -> bytes:
        lost = self.cumulative_lost
        lost = max(-0x800000, min(0x7FFFFF, lost)) & 0xFFFFFF
        return _BLOCK.pack(self.ssrc & 0xFFFFFFFF,
                           (max(0, min(255, self.fraction_lost)) << 24) | lost,
                           self.highest_seq & 0xFFFFFFFF, max(0, min(0xFFFFFFFF, self.jitter)),
                           self.lsr & 0xFFFFFFFF, self.dlsr & 0xFFFFFFFF)

    @classmethod
    def unpack(cls, data: bytes, offset: int) -> 'ReportBlock':
        ssrc, fl, high, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = fl & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, fl >> 24, lost, high, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int      # 64-bit fixed point
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)


@dataclass(slots=True)
class SourceDescription:
    #: (ssrc, {item type: text}); item 1 is CNAME
    chunks: list[tuple[int, dict[int, str]]] = field(default_factory=list)

    def cname(self, ssrc: int) -> str | None:
        for s, items in self.chunks:
            if s == ssrc:
                return items.get(1)
        return None


@dataclass(slots=True)
class Bye:
    ssrcs: list[int] = field(default_factory=list)
    reason: str = ''


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye


# --- time helpers ---------------------------------------------------------------------------

def ntp_from_seconds(unix_seconds: float) -> int:
    """Unix time (seconds) -> 64-bit NTP timestamp."""
    return int(round((unix_seconds + NTP_EPOCH_OFFSET) * (1 << 32))) & 0xFFFFFFFFFFFFFFFF


def ntp_compact(ntp: int) -> int:
    """The middle 32 bits of a 64-bit NTP timestamp (the unit of LSR and DLSR: 1/65536 s)."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip(block: ReportBlock, arrival_ntp: int) -> float | None:
    """RFC 3550 6.4.1: RTT = A - LSR - DLSR, in seconds; None without an SR to refer to."""
    if block.lsr == 0:
        return None
    rtt = (ntp_compact(arrival_ntp) - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt & 0x80000000:  # negative: clock trouble at the peer, ignore
        return None
    return rtt / 65536.0


# --- building -------------------------------------------------------------------------------

def _header(count: int, ptype: int, body_len: int, padding: bool = False) -> bytes:
    return _HEAD.pack(0x80 | (0x20 if padding else 0) | count, ptype, (body_len + 4) // 4 - 1)


def build_sr(ssrc: int, ntp_timestamp: int, rtp_timestamp: int, packet_count: int,
             octet_count: int, reports: list[ReportBlock] = ()) -> bytes:
    reports = list(reports)[:31]
    body = struct.pack('!I', ssrc & 0xFFFFFFFF) + _SR_INFO.pack(
        ntp_timestamp & 0xFFFFFFFFFFFFFFFF, rtp_timestamp & 0xFFFFFFFF,
        packet_count & 0xFFFFFFFF, octet_count & 0xFFFFFFFF) + b''.join(r.pack() for r in reports)
    return _header(len(reports), SR, len(body)) + body


def build_rr(ssrc: int, reports: list[ReportBlock] = ()) -> bytes:
    reports = list(reports)[:31]
    body = struct.pack('!I', ssrc & 0xFFFFFFFF) + b''.join(r.pack() for r in reports)
    return _header(len(reports), RR, len(body)) + body


def build_sdes(ssrc: int, cname: str) -> bytes:
    text = cname.encode('utf-8')[:255]
    chunk = struct.pack('!IBB', ssrc & 0xFFFFFFFF, 1, len(text)) + text + b'\x00'
    chunk += b'\x00' * (-len(chunk) % 4)
    return _header(1, SDES, len(chunk)) + chunk


def build_bye(ssrc: int, reason: str = '') -> bytes:
    body = struct.pack('!I', ssrc & 0xFFFFFFFF)
    if reason:
        text = reason.encode('utf-8')[:255]
        body += bytes([len(text)]) + text
        body += b'\x00' * (-len(body) % 4)
    return _header(1, BYE, len(body)) + body


def build_compound(first: bytes, cname: str, ssrc: int, bye: str | None = None) -> bytes:
    """SR or RR, then SDES CNAME (RFC 3550 6.1), optionally a BYE."""
    out = first + build_sdes(ssrc, cname)
    if bye is not None:
        out += build_bye(ssrc, bye)
    return out


# --- parsing --------------------------------------------------------------------------------

def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP datagram.  Unknown packet types (APP, XR, feedback) are
    skipped.  Raises RtcpError (and only RtcpError) when the framing is invalid."""
    out: list[RtcpPacket] = []
    n = len(data)
    if n < 4:
        raise RtcpError('short packet')
    off = 0
    while off < n:
        if off + 4 > n:
            raise RtcpError('truncated header')
        b0, ptype, words = _HEAD.unpack_from(data, off)
        if b0 >> 6 != 2:
            raise RtcpError(f'bad version {b0 >> 6}')
        length = (words + 1) * 4
        end = off + length
        if end > n:
            raise RtcpError('length beyond datagram')
        body_end = end
        if b0 & 0x20:
            if end != n:
                raise RtcpError('padding only allowed in the last packet')
            pad = data[end - 1]
            if pad == 0 or pad > length - 4:
                raise RtcpError('bad padding')
            body_end -= pad
        count = b0 & 0x1F
        p = off + 4
        if ptype == SR or ptype == RR:
            need = 4 + (20 if ptype == SR else 0) + 24 * count
            if p + need > body_end:
                raise RtcpError('truncated report')
            (ssrc,) = struct.unpack_from('!I', data, p)
            p += 4
            if ptype == SR:
                ntp, rtp_ts, pc, oc = _SR_INFO.unpack_from(data, p)
                p += 20
            blocks = [ReportBlock.unpack(data, p + 24 * i) for i in range(count)]
            if ptype == SR:
                out.append(SenderReport(ssrc, ntp, rtp_ts, pc, oc, blocks))
            else:
                out.append(ReceiverReport(ssrc, blocks))
        elif ptype == SDES:
            sdes = SourceDescription()
            for _ in range(count):
                if p + 4 > body_end:
                    raise RtcpError('truncated SDES chunk')
                (ssrc,) = struct.unpack_from('!I', data, p)
                p += 4
                items: dict[int, str] = {}
                while True:
                    if p >= body_end:
                        raise RtcpError('unterminated SDES chunk')
                    itype = data[p]
                    if itype == 0:
                        p += 1
                        p += -(p - off) % 4  # chunks end on a 32-bit boundary
                        break
                    if p + 2 > body_end or p + 2 + data[p + 1] > body_end:
                        raise RtcpError('truncated SDES item')
                    ln = data[p + 1]
                    items[itype] = bytes(data[p + 2:p + 2 + ln]).decode('utf-8', 'replace')
                    p += 2 + ln
                sdes.chunks.append((ssrc, items))
            out.append(sdes)
        elif ptype == BYE:
            if p + 4 * count > body_end:
                raise RtcpError('truncated BYE')
            ssrcs = list(struct.unpack_from(f'!{count}I', data, p))
            p += 4 * count
            reason = ''
            if p < body_end:
                ln = data[p]
                if p + 1 + ln > body_end:
                    raise RtcpError('truncated BYE reason')
                reason = bytes(data[p + 1:p + 1 + ln]).decode('utf-8', 'replace')
            out.append(Bye(ssrcs, reason))
        off = end
    return out


# --- receiver statistics --------------------------------------------------------------------

class ReceiverStats:
    """Per-source reception statistics, RFC 3550 A.1, A.3 and A.8.

    Feed every RTP packet of one SSRC with `update(seq, rtp_timestamp, arrival)`
    (arrival in seconds on any steady clock), SRs from that source with
    `on_sender_report(ntp, arrival)` and report blocks about our own stream
    with `on_report_block(block, arrival_ntp)`.
    """

    MAX_DROPOUT = 3000
    MAX_MISORDER = 100

    def __init__(self, ssrc: int, clock_rate: int = 8000, min_sequential: int = 2) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.min_sequential = min_sequential
        self.probation = min_sequential
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0
        self.jitter = 0.0          # timestamp units (A.8 keeps it as a float here)
        self._transit: float | None = None
        self._started = False
        self.last_fraction = 0     # fraction lost in the last report interval, /256
        # SRs from this source, for LSR/DLSR
        self.last_sr_ntp = 0
        self.last_sr_arrival: float | None = None
        # what the peer reports about our stream
        self.rtt: float | None = None
        self.remote: ReportBlock | None = None

    # A.1
    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update(self, seq: int, rtp_timestamp: int, arrival: float, jitter: bool = True) -> bool:
        """Account one packet.  Returns False when the sequence is not (yet) valid.
        `jitter=False` leaves the jitter estimate alone (RFC 4733 packets repeat
        their timestamp and would inflate it)."""
        if not self._started:
            self._started = True
            self._init_seq(seq)
            self.max_seq = (seq - 1) & 0xFFFF
            self.probation = self.min_sequential
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    self._jitter(rtp_timestamp, arrival, jitter)
                    return True
            else:
                self.probation = self.min_sequential - 1
                self.max_seq = seq
            return False
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < self.MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - self.MAX_MISORDER:
            if seq == self.bad_seq:
                # two sequential packets after a big jump: the source restarted
                self._init_seq(seq)
                self._transit = None
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else duplicate or reordered: counted, max_seq unchanged
        self.received += 1
        self._jitter(rtp_timestamp, arrival, jitter)
        return True

    # A.8
    def _jitter(self, rtp_timestamp: int, arrival: float, enabled: bool) -> None:
        if not enabled:
            return
        transit = arrival * self.clock_rate - rtp_timestamp
        if self._transit is not None:
            d = transit - self._transit
            # timestamps wrap at 2**32
            d = (d + 2 ** 31) % 2 ** 32 - 2 ** 31
            self.jitter += (abs(d) - self.jitter) / 16.0
        self._transit = transit

    # A.3
    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        if self.received == 0 and self.probation:
            return 0
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        lost = self.expected - self.received
        return max(-0x800000, min(0x7FFFFF, lost))

    def _fraction(self) -> int:
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return min(255, (lost_interval << 8) // expected_interval)

    def report_block(self, now: float) -> ReportBlock:
        """A report block about this source; starts a new fraction-lost interval."""
        self.last_fraction = self._fraction()
        if self.last_sr_arrival is not None:
            lsr = ntp_compact(self.last_sr_ntp)
            dlsr = int((now - self.last_sr_arrival) * 65536) & 0xFFFFFFFF
        else:
            lsr = dlsr = 0
        return ReportBlock(self.ssrc, self.last_fraction, self.lost, self.extended_max & 0xFFFFFFFF,
                           int(self.jitter), lsr, dlsr)

    def on_sender_report(self, ntp_timestamp: int, arrival: float) -> None:
        self.last_sr_ntp = ntp_timestamp
        self.last_sr_arrival = arrival

    def on_report_block(self, block: ReportBlock, arrival_ntp: int) -> None:
        """A report block the peer sent about our stream."""
        self.remote = block
        rtt = round_trip(block, arrival_ntp)
        if rtt is not None:
            self.rtt = rtt

    def stats(self) -> dict:
        return {
            'packets_received': self.received,
            'lost': self.lost,
            'fraction_lost': self.last_fraction / 256.0,
            'jitter_ms': round(self.jitter * 1000.0 / self.clock_rate, 3),
            'rtt_ms': None if self.rtt is None else round(self.rtt * 1000.0, 3),
        }
