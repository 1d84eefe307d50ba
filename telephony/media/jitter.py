"""A small fixed-depth jitter buffer -- sans-IO.

`push()` each arriving packet; `pop()` once per 20 ms tick.  Packets are
ordered by sequence number (16-bit wrap aware).  Playout starts once
`depth_frames` packets are buffered and pops one sequence number per tick from
then on: a missing packet yields None for its slot (the caller conceals it).
When the buffer runs dry (the peer paused, hold, DTX) playout stops and
prebuffers again, so a pause never turns the following packets into "late" ones.
"""
from __future__ import annotations

from .rtp import RtpPacket, seq_diff

__all__ = ['JitterBuffer']


class JitterBuffer:
    #: a packet further than this from the playout point (either way) is a jump
    MAX_JUMP = 100

    def __init__(self, depth_frames: int = 2, max_frames: int | None = None) -> None:
        if depth_frames < 1:
            raise ValueError('depth_frames must be >= 1')
        self.depth = depth_frames
        self.max_frames = max_frames if max_frames is not None else depth_frames + 6
        self._buf: dict[int, RtpPacket] = {}
        self._next: int | None = None   # next sequence number to play
        self._playing = False
        self._ssrc: int | None = None
        self._jump_seq: int | None = None
        self._jump_pkt: RtpPacket | None = None
        # counters
        self.pushed = 0
        self.played = 0
        self.late = 0
        self.duplicates = 0
        self.missing = 0      # slots played out as None while playing
        self.overflow = 0     # packets discarded because the buffer grew too deep
        self.resyncs = 0
        self.underruns = 0

    def __len__(self) -> int:
        return len(self._buf)

    def reset(self) -> None:
        self._buf.clear()
        self._next = None
        self._playing = False
        self._ssrc = None
        self._jump_seq = None
        self._jump_pkt = None

    def _resync(self, packet: RtpPacket) -> None:
        self._buf.clear()
        self._next = None
        self._playing = False
        self._jump_seq = None
        self._jump_pkt = None
        self._ssrc = packet.ssrc
        self.resyncs += 1

    def push(self, packet: RtpPacket) -> None:
        self.pushed += 1
        seq = packet.sequence
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self._resync(packet)
            self._ssrc = packet.ssrc
        ref = self._next
        if ref is None and self._buf:
            ref = self._lowest()
        if ref is not None:
            d = seq_diff(seq, ref)
            if d < -self.MAX_JUMP or d > self.MAX_JUMP:
                # a far packet: resync only when the next one follows it (a stray
                # old packet must not throw the stream away)
                if self._jump_seq is not None and seq == (self._jump_seq + 1) & 0xFFFF:
                    first = self._jump_pkt
                    self._resync(packet)
                    if first is not None:
                        self._buf[first.sequence] = first
                    self._buf[seq] = packet
                else:
                    self._jump_seq = seq
                    self._jump_pkt = packet
                return
            if self._next is not None and d < 0:
                self.late += 1
                return
        self._jump_seq = None
        self._jump_pkt = None
        if seq in self._buf:
            self.duplicates += 1
            return
        self._buf[seq] = packet

    def _lowest(self) -> int:
        it = iter(self._buf)
        ref = next(it)
        for s in it:
            if seq_diff(s, ref) < 0:
                ref = s
        return ref

    def pop(self) -> RtpPacket | None:
        buf = self._buf
        if not buf:
            if self._playing:
                self._playing = False
                self.underruns += 1
            return None
        if not self._playing:
            if len(buf) < self.depth:
                return None
            self._playing = True
            low = self._lowest()
            if self._next is None or seq_diff(low, self._next) > 0:
                self._next = low
        while len(buf) > self.max_frames:
            # the sender runs fast or a burst arrived: drop the oldest slots
            if buf.pop(self._next, None) is not None:
                self.overflow += 1
            self._next = (self._next + 1) & 0xFFFF
        seq = self._next
        self._next = (seq + 1) & 0xFFFF
        pkt = buf.pop(seq, None)
        if pkt is None:
            self.missing += 1
        else:
            self.played += 1
        return pkt

    def stats(self) -> dict:
        return {'late': self.late, 'duplicates': self.duplicates, 'missing': self.missing,
                'overflow': self.overflow, 'resyncs': self.resyncs, 'underruns': self.underruns,
                'buffered': len(self._buf)}
