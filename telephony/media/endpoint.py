"""RtpEndpoint: the media side of one leg -- an RTP/RTCP port pair on asyncio.

The endpoint never runs a timer of its own: the MediaEngine's one clock calls
`_tick_in()` then `_tick_out()` on every endpoint that has work each 20 ms,
and `_rtcp_tick()` every 5 s.  Inbound packets go through a jitter buffer only
when someone consumes the audio (listener, recorder, in-band detector, echo,
bridge); they are decoded only when someone needs PCM every tick (listener,
detector, transcoding).  A recorder takes the payload and decodes a second of it
at a time; a player hands out slices of its audio encoded once.  Bridged and
echoed audio of the same codec is relayed as payload bytes under our own SSRC,
sequence and timestamp.

Whatever the packet sizes, audio moves as one 20 ms frame per tick: inbound
packets are cut into frames (`_reframe`), and outbound frames are gathered into
packets of the peer's ptime (`_queue_audio`): a 30 ms peer gets a packet on two
ticks of every three, with timestamps exactly 240 apart.  An answered leg that
is not on hold (`transmit_silence`) sends digital silence when nothing plays,
as Asterisk's transmit_silence does: phones and NAT bindings expect a stream.

A conference member (`room.add(endpoint)`, media/mixer.py) leaves its inbound frame for the
engine's mixer, which runs between the two phases and leaves the member's mix for `_tick_out`.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from ..logtext import quoted
from .codecs import CODECS_BY_PT, FRAME_SAMPLES, PCMU, Codec, codec_for
from .dtmf import GoertzelDetector, InbandDtmfGenerator, Rfc4733Receiver, Rfc4733Sender, \
    normalize_digits
from .jitter import JitterBuffer
from .audiofile import file_executor
from .recorder import WavRecorder
from .rtcp import Bye, ReceiverStats, RtcpError, SenderReport, build_compound, build_rr, \
    build_sr, parse_rtcp, round_trip
from .rtp import RtpError, RtpSender, parse_rtp
from .sources import SILENCE_FRAME

if TYPE_CHECKING:
    from .engine import MediaEngine

__all__ = ['RtpEndpoint', 'DIRECTIONS']

log = logging.getLogger('telephony.media')

DIRECTIONS = ('sendrecv', 'sendonly', 'recvonly', 'inactive')
_SENDS = {'sendrecv': True, 'sendonly': True, 'recvonly': False, 'inactive': False}
_RECVS = {'sendrecv': True, 'sendonly': False, 'recvonly': True, 'inactive': False}
PT_CN = 13
MIN_PTIME, MAX_PTIME = 10, 120     # ms we send per packet; 120 ms of G.711 fits any MTU


class _RtpProtocol(asyncio.DatagramProtocol):
    __slots__ = ('ep', 'lost')

    def __init__(self, ep: 'RtpEndpoint') -> None:
        self.ep = ep
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            self.ep._on_rtp(data, addr)
        except Exception:  # never let a datagram kill the listener
            log.exception('event=rtp-receive-error port=%d', self.ep.local_port)

    def error_received(self, exc: Exception) -> None:
        log.debug('event=rtp-socket-error port=%d error=%s', self.ep.local_port, exc)


class _RtcpProtocol(_RtpProtocol):
    __slots__ = ()

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            self.ep._on_rtcp(data, addr)
        except Exception:
            log.exception('event=rtcp-receive-error port=%d', self.ep.rtcp_port)


def _fit(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame, dtype=np.int16).ravel()
    if len(frame) == FRAME_SAMPLES:
        return frame
    out = np.zeros(FRAME_SAMPLES, np.int16)
    n = min(len(frame), FRAME_SAMPLES)
    out[:n] = frame[:n]
    return out


def _mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    s = a.astype(np.int32)
    s += b
    np.clip(s, -32768, 32767, out=s)
    return s.astype(np.int16)


class RtpEndpoint:
    """One leg's RTP endpoint.  Create it with `await MediaEngine.create_endpoint()`."""

    def __init__(self, engine: 'MediaEngine', host: str, port: int) -> None:
        self.engine = engine
        self.local_host = host
        self.local_port = port
        self.rtcp_port = port + 1
        self._rtp_tr: asyncio.DatagramTransport | None = None
        self._rtcp_tr: asyncio.DatagramTransport | None = None
        # the protocols' connection_lost futures, not the protocols: they point back here
        self._lost: tuple[asyncio.Future, ...] = ()
        # negotiated
        self.codec: Codec = PCMU
        self.dtmf_pt: int | None = None
        self.direction = 'sendrecv'
        self.remote: tuple[str, int] | None = None      # as signalled
        self._rtp_addr: tuple[str, int] | None = None   # where RTP goes (latched)
        self._rtcp_addr: tuple[str, int] | None = None
        self._latched = False
        self._rtcp_latched = False
        # streams
        self._sender = RtpSender()
        self._rx: ReceiverStats | None = None
        self._last_sr: tuple[int, int, float] | None = None   # (ssrc, ntp, arrival)
        self._rtt: float | None = None
        self._remote_report = None
        self._jitter = JitterBuffer(2)
        self._rfc_rx = Rfc4733Receiver()
        self._goertzel: GoertzelDetector | None = None
        # consumers and producers
        self._listeners: tuple[Callable[[np.ndarray], None], ...] = ()
        self._recorder: WavRecorder | None = None
        self._carry: bytes | None = None    # G.711 bytes beyond the last 20 ms frame
        self._carry_codec: Codec = PCMU
        self._last_rx = 0.0                     # loop time of the last RTP/RTCP from the peer
        self.on_media_timeout: Callable[[], None] | None = None
        self._record_both = False
        self._source = None
        self._echo = False
        self._peer: RtpEndpoint | None = None
        self._member = None     # the conference mixer's Member while in a room
        self._mix_out: bytes | np.ndarray | None = None   # this tick's mix, left by the mixer
        self._dtmf_jobs: deque[tuple[Iterator, asyncio.Future]] = deque()
        self._dtmf_iter: Iterator | None = None
        self._dtmf_future: asyncio.Future | None = None
        self._event_ts = 0
        self._pending: tuple[bytes, Codec] | None = None   # echoed or bridged 20 ms frame
        self._in_frame: bytes | None = None    # this tick's inbound 20 ms, still encoded
        self._in_codec: Codec = PCMU
        self._transmit_silence = False
        # the send side: timestamps follow the clock (tick n starts at origin + 160 n)
        self.ptime = 20
        self._packet_samples = FRAME_SAMPLES
        self._ts_origin: int | None = None
        self._tx_buf = b''          # audio not sent yet: less than one packet
        self._tx_ts = 0             # timestamp of _tx_buf[0]
        self._tx_marker = False
        self._last_tx_tick: int | None = None
        self._consuming = False
        self._framing = False   # someone wants inbound audio as 20 ms frames
        self._need_pcm = False  # ... and decoded every tick (not only a recorder)
        self._sr_packets = 0          # packets_sent at the last SR
        self._errors = 0
        #: called as on_source_done(source) when the playing source ends by itself
        self.on_source_done: Callable[[object], None] | None = None
        #: called as on_dtmf(digit, duration_ms) for RFC 4733 and in-band digits
        self.on_dtmf: Callable[[str, int], None] | None = None
        #: called as on_rtcp(packets) with each parsed RTCP compound received
        self.on_rtcp: Callable[[list], None] | None = None
        self.closed = False
        # counters
        self.packets_received = 0
        self.octets_received = 0
        self.malformed = 0
        self.foreign = 0
        self.unknown_pt = 0
        self.dtmf_received = 0
        self.rtcp_sent = 0
        self.rtcp_received = 0
        self.rtcp_malformed = 0

    def __repr__(self) -> str:
        return f'<RtpEndpoint {self.local_host}:{self.local_port} remote={self._rtp_addr}>'

    def _attach(self, rtp_tr: asyncio.DatagramTransport, rtcp_tr: asyncio.DatagramTransport) -> None:
        self._rtp_tr = rtp_tr
        self._rtcp_tr = rtcp_tr
        self._lost = (rtp_tr.get_protocol().lost, rtcp_tr.get_protocol().lost)

    # --- negotiation -------------------------------------------------------------------------
    def configure(self, remote: tuple[str, int] | None = None, codec: Codec | str = PCMU,
                  dtmf_pt: int | None = None, direction: str = 'sendrecv',
                  ptime: int | None = None) -> None:
        """Apply (re-)negotiated media: may be called again on re-INVITE / hold.
        `ptime`: the peer's a=ptime, the packet size we send (None: keep; 20 at first)."""
        if direction not in _SENDS:
            raise ValueError(f'bad direction {direction!r}')
        codec = codec_for(codec)
        if ptime is not None:
            self.ptime = min(MAX_PTIME, max(MIN_PTIME, int(ptime)))
            self._packet_samples = codec.clock_rate * self.ptime // 1000
        if codec is not self.codec or not _SENDS[direction]:
            self._tx_buf = b''     # never send old audio in a new codec or after hold
        if remote is not None:
            remote = (remote[0], int(remote[1]))
        if remote != self.remote:
            self.remote = remote
            self._rtp_addr = remote
            self._rtcp_addr = (remote[0], remote[1] + 1) if remote else None
            self._latched = False
            self._rtcp_latched = False
        if codec is not self.codec:
            self._jitter.reset()
        self.codec = codec
        self.dtmf_pt = dtmf_pt
        self.direction = direction
        self._last_rx = self.engine.loop_time()   # the timeout counts from (re)negotiation
        log.debug('event=media-configure port=%d remote=%s codec=%s dtmf_pt=%s direction=%s '
                  'ptime=%d', self.local_port, _fmt(remote), codec.name, dtmf_pt, direction,
                  self.ptime)
        self._refresh()

    @property
    def remote_address(self) -> tuple[str, int] | None:
        """Where RTP is sent now (the signalled address, or the latched source)."""
        return self._rtp_addr

    # --- producer / consumer properties ----------------------------------------------------
    @property
    def source(self):
        return self._source

    @source.setter
    def source(self, src) -> None:
        """Play a source (read() -> 160-sample frame or None).  Replacing a source
        does not call on_source_done for the old one."""
        self._source = src
        self._refresh()

    @property
    def transmit_silence(self) -> bool:
        return self._transmit_silence

    @transmit_silence.setter
    def transmit_silence(self, on: bool) -> None:
        """Send digital silence (a pre-encoded frame) on ticks where nothing else plays."""
        self._transmit_silence = bool(on)
        self._refresh()

    @property
    def echo(self) -> bool:
        return self._echo

    @echo.setter
    def echo(self, on: bool) -> None:
        if on and self._member is not None:
            raise ValueError('endpoint is in a conference room')
        self._echo = bool(on)
        self._refresh()

    @property
    def inband_dtmf(self) -> bool:
        return self._goertzel is not None

    @inband_dtmf.setter
    def inband_dtmf(self, on: bool) -> None:
        if on and self._goertzel is None:
            self._goertzel = GoertzelDetector()
        elif not on:
            self._goertzel = None
        self._refresh()

    @property
    def bridged_to(self) -> 'RtpEndpoint | None':
        return self._peer

    def bridge(self, other: 'RtpEndpoint') -> None:
        """Relay audio both ways between this endpoint and `other` (same engine)."""
        if other is self:
            raise ValueError('cannot bridge an endpoint to itself')
        if other.engine is not self.engine:
            raise ValueError('bridged endpoints must share one MediaEngine')
        if self._member is not None or other._member is not None:
            raise ValueError('an endpoint in a conference room cannot be bridged')
        if self._peer is other:
            return
        self.unbridge()
        other.unbridge()
        self._peer = other
        other._peer = self
        log.info('event=media-bridge a=%d b=%d transcode=%s', self.local_port, other.local_port,
                 self.codec is not other.codec)
        self._refresh()
        other._refresh()

    def unbridge(self) -> None:
        peer = self._peer
        if peer is None:
            return
        self._peer = None
        self._pending = None
        if peer._peer is self:
            peer._peer = None
            peer._pending = None
            peer._refresh()
        log.info('event=media-unbridge a=%d b=%d', self.local_port, peer.local_port)
        self._refresh()

    def add_listener(self, callback: Callable[[np.ndarray], None]) -> None:
        """callback(pcm) gets one decoded inbound 160-sample frame per tick (silence
        when nothing arrived in time).  Frames are shared: do not modify them."""
        if callback not in self._listeners:
            self._listeners = self._listeners + (callback,)
            self._refresh()

    def remove_listener(self, callback: Callable[[np.ndarray], None]) -> None:
        if callback in self._listeners:
            self._listeners = tuple(c for c in self._listeners if c != callback)
            self._refresh()

    # --- conference ----------------------------------------------------------------------------
    @property
    def member(self):
        """The conference Member this endpoint is in a room as (None: not in one)."""
        return self._member

    def _join(self, member) -> None:     # called by Room.add
        self._member = member
        self._refresh()

    def _leave(self, member) -> None:    # called by Room.remove
        if self._member is member:
            self._member = None
            self._mix_out = None
            self._refresh()

    # --- recording ---------------------------------------------------------------------------
    def start_recording(self, path: str, both: bool = False) -> WavRecorder:
        """Record inbound audio (with both=True: inbound mixed with what we send)
        to `path` (written as `path.part`, renamed by stop_recording).  The file is
        opened, written and fsynced on the file thread: the returned recorder's
        `finished` says when it is complete."""
        if self._recorder is not None:
            self.stop_recording()
        self._recorder = WavRecorder(path, executor=file_executor())
        self._record_both = both
        log.info('event=record-start port=%d path=%s both=%s', self.local_port, path, both)
        self._refresh()
        return self._recorder

    def stop_recording(self, discard: bool = False) -> float:
        """Finish the recording (discard: delete it); returns its duration in seconds
        (0.0 without one).  The file is complete when the recorder's `finished` is."""
        rec, self._recorder = self._recorder, None
        if rec is None:
            return 0.0
        self._refresh()
        if discard:
            rec.abort()
            log.info('event=record-discard port=%d path=%s', self.local_port, rec.path)
            return 0.0
        duration = rec.close()
        log.info('event=record-stop port=%d path=%s duration=%.2f', self.local_port, rec.path,
                 duration)
        return duration

    @property
    def recorder(self) -> WavRecorder | None:
        return self._recorder

    # --- DTMF out ----------------------------------------------------------------------------
    def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 60,
                  volume: int = 10) -> asyncio.Future:
        """Queue digits: RFC 4733 events when telephone-event was negotiated
        (dtmf_pt set), in-band tones otherwise.  Returns a future that resolves
        to True once the last packet is sent (False if the endpoint closed first).
        Cancelling it stops the digits: an RFC 4733 event on the wire still gets
        its end packets."""
        digits = normalize_digits(digits)
        fut = asyncio.get_running_loop().create_future()
        if self.dtmf_pt is not None:
            job = self._rfc4733_job(digits, duration_ms, gap_ms, volume, fut)
            how = 'rfc4733'
        else:
            job = self._inband_job(digits, duration_ms, gap_ms, fut)
            how = 'inband'
        self._dtmf_jobs.append((job, fut))
        log.info('event=dtmf-send port=%d keys=%d mode=%s duration_ms=%d', self.local_port,
                 len(digits), how, duration_ms)   # count only: keys relayed may be a PIN
        self._refresh()
        return fut

    @staticmethod
    def _rfc4733_job(digits: str, duration_ms: int, gap_ms: int, volume: int,
                     fut: asyncio.Future) -> Iterator:
        gap_ticks = max(0, round(gap_ms / 20))
        for i, d in enumerate(digits):
            if fut.done():
                return
            if i:
                for _ in range(gap_ticks):
                    yield None
            first = True
            for payload, marker, _end in Rfc4733Sender(d, duration_ms, volume):
                yield ('event', payload, marker, first)
                first = False

    @staticmethod
    def _inband_job(digits: str, duration_ms: int, gap_ms: int, fut: asyncio.Future) -> Iterator:
        for frame in InbandDtmfGenerator(digits, duration_ms, gap_ms):   # a frame at a time
            if fut.done():
                return
            yield ('pcm', frame)

    def _next_dtmf_item(self):
        while True:
            it = self._dtmf_iter
            if it is None:
                if not self._dtmf_jobs:
                    return None
                it, self._dtmf_future = self._dtmf_jobs.popleft()
                self._dtmf_iter = it
            try:
                return next(it)
            except StopIteration:
                fut, self._dtmf_future, self._dtmf_iter = self._dtmf_future, None, None
                if fut is not None and not fut.done():
                    fut.set_result(True)
                if not self._dtmf_jobs:
                    self._refresh()
                    return None

    # --- state -------------------------------------------------------------------------------
    def _refresh(self) -> None:
        self._need_pcm = bool(self._listeners) or self._goertzel is not None
        self._framing = self._need_pcm or self._recorder is not None or self._member is not None
        consuming = self._framing or self._echo or self._peer is not None
        if consuming and not self._consuming:
            self._jitter.reset()
        self._consuming = consuming
        active = consuming or self._source is not None or self._dtmf_iter is not None \
            or bool(self._dtmf_jobs) or (self._transmit_silence and _SENDS[self.direction])
        self.engine._set_active(self, active and not self.closed)

    def _latch(self, addr) -> None:
        addr = (addr[0], addr[1])
        log.info('event=rtp-latch port=%d signalled=%s source=%s', self.local_port,
                 _fmt(self.remote), _fmt(addr))
        self._rtp_addr = addr
        self._latched = True
        if not self._rtcp_latched:
            self._rtcp_addr = (addr[0], addr[1] + 1)

    # --- receive path ------------------------------------------------------------------------
    def _on_rtp(self, data: bytes, addr) -> None:
        if self.closed:
            return
        try:
            pkt = parse_rtp(data)
        except RtpError as e:
            self.malformed += 1
            log.debug('event=rtp-malformed port=%d source=%s error=%s', self.local_port,
                      _fmt(addr), e)
            return
        if addr != self._rtp_addr:
            if self._latched and (addr[0], addr[1]) != self._rtp_addr:
                self.foreign += 1
                if self.foreign == 1 or self.foreign % 1000 == 0:
                    log.debug('event=rtp-foreign port=%d source=%s count=%d', self.local_port,
                              _fmt(addr), self.foreign)
                return
            self._latch(addr)
        elif not self._latched:
            self._latched = True
        self.packets_received += 1
        self._last_rx = now = self.engine.loop_time()
        self.octets_received += len(pkt.payload)
        rx = self._rx
        if rx is None or rx.ssrc != pkt.ssrc:
            rx = self._new_rx(pkt.ssrc)
        pt = pkt.payload_type
        is_event = pt == self.dtmf_pt
        rx.update(pkt.sequence, pkt.timestamp, now, not is_event)
        if not _RECVS[self.direction]:
            return
        if is_event:
            for digit, ms in self._rfc_rx.feed(pkt, now):
                self._emit_dtmf(digit, ms, 'rfc4733')
        elif pt == self.codec.payload_type or pt in CODECS_BY_PT:
            if self._rfc_rx.pending:
                for digit, ms in self._rfc_rx.expire(now):
                    self._emit_dtmf(digit, ms, 'rfc4733-expired')
            if self._consuming:
                self._jitter.push(pkt)
        elif pt != PT_CN:
            self.unknown_pt += 1
            if self.unknown_pt == 1:
                log.debug('event=rtp-unknown-pt port=%d pt=%d', self.local_port, pt)

    def _new_rx(self, ssrc: int) -> ReceiverStats:
        if self._rx is not None:
            log.info('event=rtp-ssrc-change port=%d old=%08x new=%08x', self.local_port,
                     self._rx.ssrc, ssrc)
        rx = self._rx = ReceiverStats(ssrc, self.codec.clock_rate)
        if self._last_sr is not None and self._last_sr[0] == ssrc:
            rx.on_sender_report(self._last_sr[1], self._last_sr[2])
        return rx

    def _emit_dtmf(self, digit: str, duration_ms: int, how: str) -> None:
        self.dtmf_received += 1
        log.info('event=dtmf-received port=%d n=%d duration_ms=%d mode=%s', self.local_port,
                 self.dtmf_received, duration_ms, how)   # never the digit: it may be a PIN
        cb = self.on_dtmf
        if cb is not None:
            try:
                cb(digit, duration_ms)
            except Exception:
                log.exception('event=dtmf-callback-error port=%d', self.local_port)

    def _on_rtcp(self, data: bytes, addr) -> None:
        if self.closed:
            return
        try:
            packets = parse_rtcp(data)
        except RtcpError as e:
            self.rtcp_malformed += 1
            log.debug('event=rtcp-malformed port=%d source=%s error=%s', self.rtcp_port,
                      _fmt(addr), e)
            return
        self.rtcp_received += 1
        if not self._rtcp_latched:
            self._rtcp_addr = (addr[0], addr[1])
            self._rtcp_latched = True
        self._last_rx = now = self.engine.loop_time()   # a muted phone still sends RTCP
        arrival_ntp = self.engine.ntp(now)
        my_ssrc = self._sender.ssrc
        for p in packets:
            if isinstance(p, SenderReport):
                self._last_sr = (p.ssrc, p.ntp_timestamp, now)
                if self._rx is not None and self._rx.ssrc == p.ssrc:
                    self._rx.on_sender_report(p.ntp_timestamp, now)
            elif isinstance(p, Bye):
                log.info('event=rtcp-bye port=%d reason=%s', self.rtcp_port, quoted(p.reason or ''))
                continue
            reports = getattr(p, 'reports', ())
            for block in reports:
                if block.ssrc == my_ssrc:
                    self._remote_report = block
                    rtt = round_trip(block, arrival_ntp)
                    if rtt is not None:
                        self._rtt = rtt
        cb = self.on_rtcp
        if cb is not None:
            try:
                cb(packets)
            except Exception:
                log.exception('event=rtcp-callback-error port=%d', self.rtcp_port)

    # --- the clock's work --------------------------------------------------------------------
    def _tick_in(self, tick: int) -> None:
        if not self._consuming or self.closed:
            return
        carry = self._carry
        pkt = None if carry is not None and len(carry) >= FRAME_SAMPLES else self._jitter.pop()
        payload = None
        codec = self.codec
        if pkt is not None:
            payload = pkt.payload
            if pkt.payload_type != codec.payload_type:
                codec = CODECS_BY_PT.get(pkt.payload_type, codec)
        # relayed and echoed audio moves as 20 ms frames too, re-packetised for the receiver
        frame, codec = self._reframe(payload, codec)
        if frame is not None:
            if self._echo:
                self._pending = (frame, codec)
            peer = self._peer
            if peer is not None:
                peer._pending = (frame, codec)
        if not self._framing:
            return
        self._in_frame, self._in_codec = frame, codec   # for the recorder, in _tick_out
        if self._need_pcm:
            pcm = SILENCE_FRAME if frame is None else codec.decode(frame)
            g = self._goertzel
            if g is not None:
                for digit in g.feed(pcm):
                    self._emit_dtmf(digit, g.on_frames * 20, 'inband')
            for cb in self._listeners:
                try:
                    cb(pcm)
                except Exception:
                    self._error('listener')

    def _reframe(self, payload: bytes | None, codec: Codec) -> tuple[bytes | None, Codec]:
        """One 20 ms frame (None: silence) whatever the peer's ptime.  G.711 has a byte
        per sample, so this works on the payload and nothing is decoded for it.

        A 30 ms packet leaves 10 ms over for the next tick; when the carry holds a whole
        frame, the next packet is left in the jitter buffer for a later tick.
        """
        carry = self._carry
        if payload is None:
            if carry is None:
                return None, codec
            codec = self._carry_codec
            if len(carry) >= FRAME_SAMPLES:
                self._carry = carry[FRAME_SAMPLES:] or None
                return carry[:FRAME_SAMPLES], codec
            self._carry = None   # the peer paused: flush what is left, padded
            return carry + codec.silence[len(carry):], codec
        if carry is not None and self._carry_codec is codec:
            payload = carry + payload
        n = len(payload)
        if n == FRAME_SAMPLES:
            self._carry = None
            return payload, codec
        self._carry_codec = codec
        if n < FRAME_SAMPLES:
            self._carry = payload     # 10 ms packets: wait for the rest of the frame
            return None, codec
        self._carry = payload[FRAME_SAMPLES:]
        return payload[:FRAME_SAMPLES], codec

    def _tick_out(self, tick: int) -> None:
        send_ok = _SENDS[self.direction] and self._rtp_addr is not None and not self.closed
        out = None      # this tick's 20 ms in self.codec (b'': an RFC 4733 event went instead)
        if self._dtmf_iter is not None or self._dtmf_jobs:
            item = self._next_dtmf_item()
            if item is not None:
                if item[0] == 'event':
                    out = b''
                    if send_ok:
                        self._send_event(item[1], item[2], item[3], tick)
                else:
                    out = self.codec.encode(item[1])
        mix = self._mix_out
        if mix is not None:
            self._mix_out = None
        src = self._source
        if src is not None:
            payload = self._read_source(src)
            if payload is not None and out is None:
                out = payload
                if isinstance(mix, np.ndarray):   # a private prompt over the conference
                    out = self.codec.encode(_mix(self.codec.decode(payload), mix))
        if out is None and mix is not None:
            out = mix if isinstance(mix, bytes) else self.codec.encode(mix)
        pending = self._pending
        if pending is not None:
            self._pending = None
            if out is None:
                out, codec = pending
                if codec is not self.codec:
                    out = self.codec.encode(codec.decode(out))
        if out is None and self._transmit_silence:
            out = self.codec.silence
        if not send_ok:
            self._tx_buf = b''
        elif out:
            self._queue_audio(out, tick)
        elif self._tx_buf:
            self._flush_audio()   # a pause: the last short packet goes now
        rec = self._recorder
        if rec is not None:
            frame, codec = self._in_frame, self._in_codec
            try:
                if self._record_both and out:
                    pcm = SILENCE_FRAME if frame is None else codec.decode(frame)
                    rec.write(_mix(pcm, self.codec.decode(out)))
                else:
                    rec.write_encoded(codec.silence if frame is None else frame, codec.decode)
            except OSError:
                log.exception('event=record-error port=%d path=%s', self.local_port, rec.path)
                rec.error = rec.error or OSError('write failed')
            if rec.error is not None:   # the file thread failed: stop buffering for it
                self._recorder = None
                rec.abort()
                self._refresh()
        self._in_frame = None

    def _next_payload(self, src) -> bytes | None:
        """A source's next frame in our codec.  A player hands out slices of its audio
        encoded once; other sources give samples, encoded here."""
        read_payload = getattr(src, 'read_payload', None)
        if read_payload is not None:
            return read_payload(self.codec)
        frame = src.read()
        if frame is None:
            return None
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            frame = _fit(frame)
        return self.codec.encode(frame)

    def _read_source(self, src) -> bytes | None:
        for _ in range(3):
            try:
                payload = self._next_payload(src)
            except Exception:
                log.exception('event=source-error port=%d source=%r', self.local_port, src)
                payload = None
            if payload is not None:
                return payload
            if self._source is not src:
                return None
            self._source = None
            log.debug('event=source-done port=%d source=%r', self.local_port, src)
            cb = self.on_source_done
            if cb is not None:
                try:
                    cb(src)
                except Exception:
                    log.exception('event=source-done-callback-error port=%d', self.local_port)
            if self._source is None:
                self._refresh()
                return None
            src = self._source   # the callback queued the next one: no gap
        return None

    def _ts_at(self, tick: int) -> int:
        """RTP timestamp of the start of `tick` on our stream."""
        if self._ts_origin is None:
            self._ts_origin = self._sender.timestamp - tick * FRAME_SAMPLES
        return (self._ts_origin + tick * FRAME_SAMPLES) & 0xFFFFFFFF

    def _queue_audio(self, payload: bytes, tick: int) -> None:
        """Add this tick's frame; send every whole packet of our ptime it completes."""
        last = self._last_tx_tick
        self._last_tx_tick = tick
        if last is None or tick - last > 1:
            self._flush_audio()
            self._tx_marker = True        # a talkspurt begins (RFC 3551 §4.1)
        if not self._tx_buf:
            self._tx_ts = self._ts_at(tick)
            buf = payload
        else:
            buf = self._tx_buf + payload
        n = self._packet_samples
        while len(buf) >= n:
            self._send_packet(buf[:n] if len(buf) > n else buf)
            buf = buf[n:]
        self._tx_buf = buf

    def _flush_audio(self) -> None:
        if self._tx_buf:
            buf, self._tx_buf = self._tx_buf, b''
            self._send_packet(buf)

    def _send_packet(self, payload: bytes) -> None:
        s = self._sender
        data = s.packet_at(payload, self.codec.payload_type, self._tx_ts, self._tx_marker)
        self._tx_marker = False
        self._tx_ts = (self._tx_ts + len(payload)) & 0xFFFFFFFF   # G.711: a byte per sample
        s.timestamp = self._tx_ts
        self._rtp_tr.sendto(data, self._rtp_addr)

    def _send_event(self, payload: bytes, marker: bool, first: bool, tick: int) -> None:
        self._flush_audio()
        self._last_tx_tick = tick
        if first:
            self._event_ts = self._ts_at(tick)
        data = self._sender.packet_at(payload, self.dtmf_pt, self._event_ts, marker)
        self._sender.timestamp = self._ts_at(tick + 1)
        self._rtp_tr.sendto(data, self._rtp_addr)

    def _check_media_timeout(self, now: float) -> None:
        """A peer that should be sending and has sent nothing for media_timeout seconds is
        gone (crashed phone, lost BYE): report it so the call does not live for ever."""
        limit = self.engine.media_timeout
        if not limit or self.closed or self.remote is None or not _RECVS[self.direction]:
            return
        if now - self._last_rx > limit and self.on_media_timeout is not None:
            self._last_rx = now   # report once per timeout period
            log.info('event=media-timeout port=%d seconds=%d', self.local_port, limit)
            self.on_media_timeout()

    def _rtcp_tick(self, now: float) -> None:
        self._check_media_timeout(now)
        if self.closed or self._rtcp_addr is None or self._rtcp_tr is None:
            return
        self._rtcp_tr.sendto(self._rtcp_report(now), self._rtcp_addr)
        self.rtcp_sent += 1

    def _rtcp_report(self, now: float, bye: str | None = None) -> bytes:
        rx = self._rx
        blocks = [rx.report_block(now)] if rx is not None and rx.received else []
        s = self._sender
        if s.packets_sent > self._sr_packets:
            self._sr_packets = s.packets_sent
            first = build_sr(s.ssrc, self.engine.ntp(now), s.timestamp, s.packets_sent,
                             s.octets_sent, blocks)
        else:
            first = build_rr(s.ssrc, blocks)
        return build_compound(first, self.engine.cname, s.ssrc, bye)

    def _error(self, what: str) -> None:
        self._errors += 1
        if self._errors <= 10 or self._errors % 1000 == 0:
            log.exception('event=media-%s-error port=%d count=%d', what, self.local_port,
                          self._errors)

    # --- status and teardown -----------------------------------------------------------------
    def stats(self) -> dict:
        rx = self._rx.stats() if self._rx is not None else None
        rr = self._remote_report
        return {
            'local': f'{self.local_host}:{self.local_port}',
            'remote': _fmt(self._rtp_addr),
            'codec': self.codec.name,
            'direction': self.direction,
            'ssrc': self._sender.ssrc,
            'packets_sent': self._sender.packets_sent,
            'octets_sent': self._sender.octets_sent,
            'packets_received': self.packets_received,
            'octets_received': self.octets_received,
            'lost': rx['lost'] if rx else 0,
            'fraction_lost': rx['fraction_lost'] if rx else 0.0,
            'jitter_ms': rx['jitter_ms'] if rx else 0.0,
            'rtt_ms': None if self._rtt is None else round(self._rtt * 1000.0, 3),
            'remote_lost': rr.cumulative_lost if rr else None,
            'remote_fraction_lost': rr.fraction_lost / 256.0 if rr else None,
            'remote_jitter_ms': round(rr.jitter * 1000.0 / self.codec.clock_rate, 3) if rr else None,
            'late': self._jitter.late,
            'duplicates': self._jitter.duplicates,
            'malformed': self.malformed,
            'foreign': self.foreign,
            'unknown_pt': self.unknown_pt,
            'dtmf_received': self.dtmf_received,
            'rtcp_sent': self.rtcp_sent,
            'rtcp_received': self.rtcp_received,
        }

    async def wait_closed(self) -> None:
        """After close(): until both sockets are really closed (the ports are free)."""
        for lost in self._lost:
            await lost

    async def aclose(self) -> None:
        self.close()
        await self.wait_closed()

    def close(self) -> None:
        """Stop everything: RTCP BYE, unbridge, finish a recording, release the ports."""
        if self.closed:
            return
        if self._rtcp_addr is not None and self._rtcp_tr is not None:
            try:
                self._rtcp_tr.sendto(self._rtcp_report(self.engine.loop_time(), bye=''),
                                     self._rtcp_addr)
            except Exception:
                log.debug('event=rtcp-bye-failed port=%d', self.local_port)
        self.unbridge()
        if self._member is not None:
            self._member.room.remove(self._member)
        if self._recorder is not None:
            try:
                self.stop_recording()
            except OSError:
                log.exception('event=record-error port=%d', self.local_port)
        self.closed = True
        self._source = None
        self._listeners = ()
        # a closed endpoint calls nobody back: dropping the callbacks (bound to the leg and
        # the control queue) frees an ended call by reference counting (issue 8)
        self.on_dtmf = self.on_media_timeout = self.on_source_done = None
        for _it, fut in self._dtmf_jobs:
            if not fut.done():
                fut.set_result(False)
        if self._dtmf_future is not None and not self._dtmf_future.done():
            self._dtmf_future.set_result(False)
        self._dtmf_jobs.clear()
        self._dtmf_iter = None
        self._dtmf_future = None
        for tr in (self._rtp_tr, self._rtcp_tr):
            if tr is not None:
                tr.close()
        self.engine._remove(self)
        s = self.stats()
        log.debug('event=endpoint-close port=%d sent=%d received=%d lost=%d jitter_ms=%s',
                 self.local_port, s['packets_sent'], s['packets_received'], s['lost'],
                 s['jitter_ms'])


def _fmt(addr) -> str:
    if not addr:
        return '-'
    return f'{addr[0]}:{addr[1]}'
