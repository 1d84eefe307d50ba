"""MediaEngine: RTP port allocation and the one clock that drives every endpoint."""
from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import socket
import time

from .clock import MediaClock
from .fax.session import T38Sessions
from .endpoint import RtpEndpoint, _RtcpProtocol, _RtpProtocol
from .mixer import ConferenceMixer
from .rtcp import ntp_from_seconds

__all__ = ['MediaEngine']

log = logging.getLogger('telephony.media')

_RETRY_ERRNOS = {errno.EADDRINUSE, errno.EACCES}


def _bind(host: str, port: int) -> socket.socket:
    """A bound non-blocking UDP socket (bound here so the errno is exact on any loop)."""
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
        sock.setblocking(False)
        if family == socket.AF_INET:
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xB8)  # DSCP EF
            except OSError:
                pass
    except BaseException:
        sock.close()
        raise
    return sock


class MediaEngine:
    def __init__(self, host: str = '127.0.0.1', port_min: int = 20000, port_max: int = 30000,
                 *, max_catchup: int = 5, cname: str | None = None,
                 rtcp_interval: float = 5.0, media_timeout: float = 0.0) -> None:
        if port_min & 1:
            port_min += 1
        if port_max - port_min < 1:
            raise ValueError('port range too small for one RTP/RTCP pair')
        self.host = host
        self.port_min = port_min
        self.port_max = port_max
        self.clock = MediaClock(max_catchup=max_catchup, busy=lambda: bool(self._active))
        self.media_timeout = media_timeout   # seconds without RTP/RTCP before a call is dead; 0: off
        self.cname = cname or f'{secrets.token_hex(8)}@{host}'
        self.endpoints: set[RtpEndpoint] = set()
        self._active: set[RtpEndpoint] = set()
        #: every conference room's mix, run once per tick between the inbound and outbound phases
        self.mixer = ConferenceMixer(self)
        #: every call's T.38 fax session, advanced by one clock callback (issue 11)
        self.t38 = T38Sessions(self.clock)
        self._snapshot: tuple[RtpEndpoint, ...] = ()
        self._dirty = False
        #: RTCP reports every rtcp_interval seconds, endpoints spread over the interval
        self.rtcp_ticks = max(1, round(rtcp_interval / self.clock.period))
        self._buckets: list[set[RtpEndpoint]] = [set() for _ in range(self.rtcp_ticks)]
        self._bucket_of: dict[RtpEndpoint, int] = {}
        self._next_bucket = 0
        self._pairs = (port_max - port_min + 1) // 2
        self._cursor = secrets.randbelow(self._pairs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_offset = 0.0
        self.started = False

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self.started:
            return
        self._loop = asyncio.get_running_loop()
        self._wall_offset = time.time() - self._loop.time()
        self.clock.add(self._on_tick)
        self.clock.start()
        self.started = True
        log.info('event=media-engine-start host=%s ports=%d-%d', self.host, self.port_min,
                 self.port_max)

    async def stop(self) -> None:
        closing = list(self.endpoints)
        for ep in closing:
            ep.close()
        for ep in closing:
            await ep.wait_closed()
        self.clock.remove(self._on_tick)
        await self.clock.stop()
        self.started = False
        log.info('event=media-engine-stop')

    async def __aenter__(self) -> 'MediaEngine':
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # --- time ------------------------------------------------------------------------------
    def loop_time(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    def ntp(self, loop_time: float) -> int:
        """64-bit NTP timestamp (wall clock) of a loop.time() value."""
        return ntp_from_seconds(loop_time + self._wall_offset)

    # --- endpoints ---------------------------------------------------------------------------
    @property
    def free_pairs(self) -> int:
        """Port pairs not held by our endpoints (another process may still hold some)."""
        return self._pairs - len(self.endpoints)

    async def create_endpoint(self) -> RtpEndpoint:
        """Bind an even RTP port and the odd RTCP port above it."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._wall_offset = time.time() - loop.time()
        last_error: OSError | None = None
        # every pair ours and taken: say so at once rather than try 5000 binds on the loop
        for _ in range(self._pairs if self.free_pairs > 0 else 0):
            port = self.port_min + 2 * self._cursor
            self._cursor = (self._cursor + 1) % self._pairs
            try:
                rtp_sock = _bind(self.host, port)
            except OSError as e:
                if e.errno in _RETRY_ERRNOS:
                    last_error = e
                    continue
                raise
            try:
                rtcp_sock = _bind(self.host, port + 1)
            except OSError as e:
                rtp_sock.close()
                if e.errno in _RETRY_ERRNOS:
                    last_error = e
                    continue
                raise
            ep = RtpEndpoint(self, self.host, port)
            try:
                rtp_tr, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(ep),
                                                                sock=rtp_sock)
            except BaseException:
                rtp_sock.close()
                rtcp_sock.close()
                raise
            try:
                rtcp_tr, _ = await loop.create_datagram_endpoint(lambda: _RtcpProtocol(ep),
                                                                 sock=rtcp_sock)
            except BaseException:
                rtp_tr.close()
                rtcp_sock.close()
                raise
            ep._attach(rtp_tr, rtcp_tr)
            self.endpoints.add(ep)
            b = self._next_bucket
            self._next_bucket = (b + 37) % self.rtcp_ticks  # spread the reports
            self._buckets[b].add(ep)
            self._bucket_of[ep] = b
            log.debug('event=endpoint-create host=%s port=%d', self.host, port)
            return ep
        raise OSError(errno.EADDRINUSE,
                      f'no free RTP port pair in {self.port_min}-{self.port_max}') from last_error

    def _set_active(self, ep: RtpEndpoint, active: bool) -> None:
        if active:
            if ep not in self._active:
                self._active.add(ep)
                self._dirty = True
        elif ep in self._active:
            self._active.discard(ep)
            self._dirty = True

    def _remove(self, ep: RtpEndpoint) -> None:
        self._set_active(ep, False)
        self.endpoints.discard(ep)
        b = self._bucket_of.pop(ep, None)
        if b is not None:
            self._buckets[b].discard(ep)

    # --- the tick ----------------------------------------------------------------------------
    def _on_tick(self, tick: int) -> None:
        if self._dirty:
            self._snapshot = tuple(self._active)
            self._dirty = False
        eps = self._snapshot
        # inbound first (fills relays and the mixer's inputs), the mix, then outbound, so
        # bridged and conference audio crosses in one tick
        for ep in eps:
            try:
                ep._tick_in(tick)
            except Exception:
                ep._error('tick-in')
        mixer = self.mixer
        if mixer.active:
            try:
                mixer.tick(tick)
            except Exception:
                mixer.errors += 1
                if mixer.errors <= 10 or mixer.errors % 1000 == 0:
                    log.exception('event=media-mixer-error count=%d', mixer.errors)
        for ep in eps:
            try:
                ep._tick_out(tick)
            except Exception:
                ep._error('tick-out')
        bucket = self._buckets[tick % self.rtcp_ticks]
        if bucket:
            now = self.loop_time()
            for ep in tuple(bucket):
                try:
                    ep._rtcp_tick(now)
                except Exception:
                    ep._error('rtcp')

    def stats(self) -> dict:
        return {'endpoints': len(self.endpoints), 'active': len(self._active),
                'ticks': self.clock.ticks, 'ticks_skipped': self.clock.skipped,
                'late_runs': self.clock.late_runs}
