"""UDPTL (ITU-T T.38 clause 9.1): IFP packets over UDP with redundancy -- sans-IO.

A datagram is the ASN.1 PER encoding of

    UDPTLPacket ::= SEQUENCE {
        seq-number          INTEGER (0..65535),
        primary-ifp-packet  OPEN TYPE,
        error-recovery      CHOICE {
            secondary-ifp-packets  SEQUENCE OF OPEN TYPE,   -- the previous IFPs, newest first
            fec-info               SEQUENCE { ... } } }

that is: two octets of sequence number, a length determinant and the primary IFP, one
octet of choice (0x00 redundancy, 0x80 FEC), a length determinant with the number of
secondaries and each secondary with its own length determinant.  Length determinants
are one octet below 128, two (0x80 | high, low) below 16384; fragmented lengths are not
needed for fax and are refused.

`UdptlEncoder` numbers the IFPs and carries the last `redundancy` of them in every
datagram; `UdptlDecoder` hands out each IFP exactly once and in order, recovering lost
ones from the secondaries of a later datagram, and drops duplicates and old datagrams.
FEC datagrams are accepted for their primary only (we never offer FEC).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ['UdptlError', 'UdptlEncoder', 'UdptlDecoder', 'encode_packet', 'decode_packet',
           'UdptlPacket', 'MAX_IFP', 'MAX_REDUNDANCY']

MAX_IFP = 1024            # octets of one IFP packet: T.38 HDLC frames are ~260, images 300
MAX_REDUNDANCY = 16       # secondaries one datagram may carry (either way)
MAX_DATAGRAM = 8192       # octets of a datagram we parse at all
_CHOICE_REDUNDANCY = 0x00
_CHOICE_FEC = 0x80


class UdptlError(ValueError):
    """A datagram that is not valid UDPTL, or an IFP we will not send."""


@dataclass(frozen=True)
class UdptlPacket:
    seq: int
    primary: bytes
    secondaries: tuple[bytes, ...] = ()   # seq-1, seq-2, ... (newest first)


def _put_length(out: bytearray, n: int) -> None:
    if n < 0x80:
        out.append(n)
    elif n < 0x4000:
        out += bytes((0x80 | (n >> 8), n & 0xFF))
    else:
        raise UdptlError(f'length {n} needs a fragmented PER length')


def _get_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise UdptlError('truncated length determinant')
    b = data[pos]
    if b & 0x80 == 0:
        return b, pos + 1
    if b & 0x40:
        raise UdptlError('fragmented PER length is not supported')
    if pos + 1 >= len(data):
        raise UdptlError('truncated length determinant')
    return ((b & 0x3F) << 8) | data[pos + 1], pos + 2


def _get_open(data: bytes, pos: int) -> tuple[bytes, int]:
    n, pos = _get_length(data, pos)
    if n > MAX_IFP:
        raise UdptlError(f'IFP of {n} octets is larger than {MAX_IFP}')
    end = pos + n
    if end > len(data):
        raise UdptlError('truncated IFP packet')
    return bytes(data[pos:end]), end


def encode_packet(packet: UdptlPacket) -> bytes:
    if not 0 <= packet.seq <= 0xFFFF:
        raise UdptlError('sequence number out of range')
    if len(packet.secondaries) > MAX_REDUNDANCY:
        raise UdptlError('too many secondary IFP packets')
    out = bytearray(packet.seq.to_bytes(2, 'big'))
    for ifp in (packet.primary, *packet.secondaries):
        if not 0 < len(ifp) <= MAX_IFP:
            raise UdptlError(f'an IFP packet must have 1..{MAX_IFP} octets')
    _put_length(out, len(packet.primary))
    out += packet.primary
    out.append(_CHOICE_REDUNDANCY)
    _put_length(out, len(packet.secondaries))
    for ifp in packet.secondaries:
        _put_length(out, len(ifp))
        out += ifp
    return bytes(out)


def decode_packet(data: bytes) -> UdptlPacket:
    if len(data) > MAX_DATAGRAM:
        raise UdptlError('datagram too large')
    if len(data) < 4:
        raise UdptlError('datagram too short for UDPTL')
    seq = int.from_bytes(data[:2], 'big')
    primary, pos = _get_open(data, 2)
    if not primary:
        raise UdptlError('empty primary IFP packet')
    if pos >= len(data):
        raise UdptlError('missing error-recovery field')
    choice = data[pos]
    pos += 1
    if choice & 0x80 == _CHOICE_FEC:
        return UdptlPacket(seq, primary)   # FEC: we never offer it, keep what is sure
    count, pos = _get_length(data, pos)
    if count > MAX_REDUNDANCY:
        raise UdptlError(f'{count} secondary IFP packets (at most {MAX_REDUNDANCY})')
    secondaries = []
    for _ in range(count):
        ifp, pos = _get_open(data, pos)
        if not ifp:
            raise UdptlError('empty secondary IFP packet')
        secondaries.append(ifp)
    if pos != len(data):
        raise UdptlError('trailing octets after the UDPTL packet')
    return UdptlPacket(seq, primary, tuple(secondaries))


class UdptlEncoder:
    """Numbers outgoing IFPs from `first_seq` and carries the last `redundancy` of them,
    as many as fit in the far end's `max_datagram` (its T38FaxMaxDatagram): the primary
    always goes, the oldest secondaries are left out first."""

    def __init__(self, redundancy: int = 3, first_seq: int = 0,
                 max_datagram: int | None = None) -> None:
        if not 0 <= redundancy <= MAX_REDUNDANCY:
            raise ValueError(f'redundancy must be 0..{MAX_REDUNDANCY}')
        self.redundancy = redundancy
        self.max_datagram = max_datagram
        self.seq = first_seq & 0xFFFF
        self._history: deque[bytes] = deque(maxlen=redundancy or 1)
        self.trimmed = 0    # secondaries left out for the datagram size

    def encode(self, ifp: bytes) -> bytes:
        ifp = bytes(ifp)
        secondaries = tuple(reversed(self._history)) if self.redundancy else ()
        data = encode_packet(UdptlPacket(self.seq, ifp, secondaries))
        limit = self.max_datagram
        while limit is not None and len(data) > limit and secondaries:
            secondaries = secondaries[:-1]
            self.trimmed += 1
            data = encode_packet(UdptlPacket(self.seq, ifp, secondaries))
        if self.redundancy:
            self._history.append(ifp)
        self.seq = (self.seq + 1) & 0xFFFF
        return data


class UdptlDecoder:
    """Turns datagrams into (seq, ifp) in order, each IFP once.

    `feed(datagram)` returns the IFPs it makes deliverable: the ones recovered from the
    secondaries for a gap, then the primary.  A datagram older than the next expected
    sequence number (a duplicate, a late one) yields nothing.  A gap larger than the
    secondaries cover is lost (counted): fax rides over it with ECM or T.30 retries."""

    #: a forward jump larger than this is a restarted peer: resynchronise on it
    MAX_JUMP = 1000

    def __init__(self) -> None:
        self.expected: int | None = None
        self.received = 0
        self.recovered = 0
        self.lost = 0
        self.duplicates = 0
        self.malformed = 0

    def feed(self, datagram: bytes) -> list[tuple[int, bytes]]:
        try:
            pkt = decode_packet(datagram)
        except UdptlError:
            self.malformed += 1
            raise
        self.received += 1
        if self.expected is None:
            self.expected = pkt.seq
        ahead = (pkt.seq - self.expected) & 0xFFFF
        if ahead >= 0x8000:            # behind the expected number: seen or given up
            self.duplicates += 1
            return []
        if ahead > self.MAX_JUMP:
            self.lost += 1
            ahead = 0
            self.expected = pkt.seq
        out: list[tuple[int, bytes]] = []
        for back in range(ahead, 0, -1):   # oldest missing first
            seq = (pkt.seq - back) & 0xFFFF
            if back <= len(pkt.secondaries):
                out.append((seq, pkt.secondaries[back - 1]))
                self.recovered += 1
            else:
                self.lost += 1
        out.append((pkt.seq, pkt.primary))
        self.expected = (pkt.seq + 1) & 0xFFFF
        return out
