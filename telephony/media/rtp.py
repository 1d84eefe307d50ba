"""RTP packets (RFC 3550 section 5) -- sans-IO: bytes in, bytes out."""
from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

__all__ = ['RtpError', 'RtpPacket', 'parse_rtp', 'RtpSender', 'seq_diff', 'is_rtcp']

_HDR = struct.Struct('!BBHII')
_EXT = struct.Struct('!HH')


class RtpError(ValueError):
    """A datagram that is not a valid RTP packet."""


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b between two 16-bit sequence numbers (-32768..32767)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 demultiplexing: RTCP packet types 192..223 in the second octet."""
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    #: (profile, data) of the header extension, data a multiple of 4 octets
    extension: tuple[int, bytes] | None = None

    def serialize(self) -> bytes:
        cc = len(self.csrcs)
        if cc > 15:
            raise RtpError('too many CSRCs')
        b0 = 0x80 | cc | (0x10 if self.extension is not None else 0)
        head = _HDR.pack(b0, (self.payload_type & 0x7F) | (0x80 if self.marker else 0),
                         self.sequence & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                         self.ssrc & 0xFFFFFFFF)
        if not cc and self.extension is None:
            return head + self.payload
        parts = [head]
        if cc:
            parts.append(struct.pack(f'!{cc}I', *self.csrcs))
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise RtpError('extension length must be a multiple of 4')
            parts.append(_EXT.pack(profile, len(data) // 4))
            parts.append(data)
        parts.append(self.payload)
        return b''.join(parts)


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP datagram.  Raises RtpError (and only RtpError) when malformed."""
    n = len(data)
    if n < 12:
        raise RtpError(f'short packet ({n} bytes)')
    b0, b1, seq, ts, ssrc = _HDR.unpack_from(data)
    if b0 >> 6 != 2:
        raise RtpError(f'bad version {b0 >> 6}')
    pt = b1 & 0x7F
    if 72 <= pt <= 76:  # RTCP SR/RR/SDES/BYE/APP with the marker bit read as RTP
        raise RtpError('RTCP packet on the RTP port')
    offset = 12
    end = n
    if b0 & 0x20:  # padding
        pad = data[-1]
        if pad == 0:
            raise RtpError('padding count zero')
        end -= pad
    cc = b0 & 0x0F
    csrcs: tuple[int, ...] = ()
    if cc:
        if offset + 4 * cc > end:
            raise RtpError('truncated CSRC list')
        csrcs = struct.unpack_from(f'!{cc}I', data, offset)
        offset += 4 * cc
    extension = None
    if b0 & 0x10:
        if offset + 4 > end:
            raise RtpError('truncated extension header')
        profile, words = _EXT.unpack_from(data, offset)
        offset += 4
        if offset + 4 * words > end:
            raise RtpError('truncated extension')
        extension = (profile, bytes(data[offset:offset + 4 * words]))
        offset += 4 * words
    if offset > end:
        raise RtpError('padding longer than packet')
    return RtpPacket(pt, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80), csrcs, extension)


class RtpSender:
    """Numbers outgoing packets of one stream: SSRC, sequence and timestamp.

    `packet()` builds an audio packet and advances sequence and timestamp.
    RFC 4733 events keep the timestamp of the event start: build them with
    `packet_at()` (advances the sequence only) and move the media timeline on
    with `advance_ts()`.
    """

    __slots__ = ('ssrc', 'sequence', 'timestamp', 'packets_sent', 'octets_sent',
                 'last_timestamp')

    def __init__(self, ssrc: int | None = None, sequence: int | None = None,
                 timestamp: int | None = None) -> None:
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc & 0xFFFFFFFF
        self.sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp & 0xFFFFFFFF
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets, as RFC 3550 counts them for SR
        self.last_timestamp = self.timestamp  # timestamp of the last packet sent

    def packet(self, payload: bytes, payload_type: int, samples: int = 160,
               marker: bool = False) -> bytes:
        data = self.packet_at(payload, payload_type, self.timestamp, marker)
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        return data

    def packet_at(self, payload: bytes, payload_type: int, timestamp: int,
                  marker: bool = False) -> bytes:
        seq = self.sequence
        self.sequence = (seq + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        self.last_timestamp = timestamp & 0xFFFFFFFF
        return _HDR.pack(0x80, payload_type | (0x80 if marker else 0), seq,
                         self.last_timestamp, self.ssrc) + payload

    def advance_ts(self, samples: int) -> None:
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
