"""SIP over UDP and TCP on asyncio: bytes in, bytes out, nothing else.

Each received message is handed to `on_message(data, peer)` whole; TCP
streams are cut into messages by the codec's StreamFramer. A TCP connection
that sends a broken frame gets a 400 where possible and is closed.

Keep-alives: a CRLFCRLF ping on TCP gets a CRLF pong (RFC 5626 §4.4.1); a UDP datagram
of nothing but line ends (what phones send to hold a NAT binding open) is dropped quietly.
Accepted TCP connections are capped, and a connection that sent no whole SIP message for
the idle timeout is closed unless something still needs it (a registration's flow, a dialog).
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Callable

from .message import SipParseError, StreamFramer
from .transaction import Peer

log = logging.getLogger('telephony.sip')

MessageHandler = Callable[[bytes, Peer], None]
_KEEPALIVE_BYTES = b'\r\n'


def resolve(hostports: list[str], default_port: int = 5060) -> set[tuple[str, int]]:
    """The addresses of HOST[:PORT] entries (at start-up: the trunk, an outbound proxy),
    for the registrar to refuse as targets.  A name that does not resolve stays a name."""
    out = set()
    for hp in hostports:
        if not hp:
            continue
        host, sep, port = hp.rpartition(':')
        if not sep or not port.isdigit():
            host, port = hp, str(default_port)
        host = host.strip('[]')
        out.add((host, int(port)))
        try:
            for info in socket.getaddrinfo(host, int(port), proto=socket.IPPROTO_UDP):
                out.add((info[4][0], int(port)))
        except OSError:
            pass
    return out


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, handler: MessageHandler):
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if not data.strip(_KEEPALIVE_BYTES):
            log.debug('event=keepalive transport=UDP peer=%s:%s', addr[0], addr[1])
            return
        self.handler(data, Peer('UDP', addr[:2]))

    def error_received(self, exc):
        log.debug('event=udp-error error=%s', exc)


class TcpConnection(asyncio.Protocol):
    def __init__(self, owner: 'SipTransport', accepted: bool):
        self.owner = owner
        self.accepted = accepted    # the peer connected to us (counts against the cap)
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.last_rx = 0.0
        self.closed = False         # a registration's flow that died (Binding.target looks)
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport):
        self.transport = transport
        addr = transport.get_extra_info('peername')[:2]
        self.peer = Peer('TCP', addr, self)
        owner = self.owner
        if self.accepted and owner.accepted >= owner.max_tcp_connections:
            log.warning('event=tcp-refused peer=%s:%s reason=connection-cap cap=%d',
                        addr[0], addr[1], owner.max_tcp_connections)
            self.peer = None
            transport.abort()
            return
        owner.tcp_conns[addr] = self
        owner.accepted += self.accepted
        self.last_rx = owner.loop_time()
        self._arm(owner.tcp_idle_timeout)

    def data_received(self, data):
        if self.peer is None:
            return
        pings = self.framer.pings
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            self.owner.bad_frame_handler(exc.reason, self.peer)
            self.transport.close()
            return
        if messages:
            # only a whole message is activity: a byte now and then of one that never ends
            # (slowloris), or pings alone, must not hold a connection past the idle timeout
            self.last_rx = self.owner.loop_time()
        if self.framer.pings != pings:
            log.debug('event=keepalive transport=TCP peer=%s:%s', *self.peer.addr)
            self.write(b'\r\n' * (self.framer.pings - pings))
        for m in messages:
            self.owner.handler(m, self.peer)

    def _arm(self, delay: float) -> None:
        if delay > 0:
            self._idle = asyncio.get_running_loop().call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        """Close after the idle timeout without input, unless the flow is still needed."""
        owner = self.owner
        timeout = owner.tcp_idle_timeout
        left = self.last_rx + timeout - owner.loop_time()
        if left > 0:
            return self._arm(left)
        if owner.held(self):
            return self._arm(timeout)
        log.info('event=tcp-idle-close peer=%s:%s idle_timeout=%s', *self.peer.addr, timeout)
        self.transport.close()

    def connection_lost(self, exc):
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        if self.peer is None:
            return
        self.owner.accepted -= self.accepted
        if self.owner.tcp_conns.get(self.peer.addr) is self:
            del self.owner.tcp_conns[self.peer.addr]

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class SipTransport:
    def __init__(self, host: str, port: int, handler: MessageHandler):
        self.host = host
        self.port = port
        self.handler = handler
        self.udp: _Udp | None = None
        self.tcp_server: asyncio.AbstractServer | None = None
        self.tcp_conns: dict[tuple[str, int], TcpConnection] = {}
        self.bad_frame_handler: Callable[[str, Peer], None] = lambda reason, peer: None
        self.max_tcp_connections = 1000
        self.accepted = 0                # accepted TCP connections open now
        self.tcp_idle_timeout = 0.0      # seconds; 0: never
        self.held: Callable[[TcpConnection], bool] = lambda conn: False

    def limit_tcp(self, max_connections: int, idle_timeout: float,
                  held: Callable[[TcpConnection], bool]) -> None:
        """The cap on accepted connections, the idle timeout, and what keeps an idle
        connection open (the server: a registration's flow or a dialog uses it)."""
        self.max_tcp_connections = max_connections
        self.tcp_idle_timeout = idle_timeout
        self.held = held

    @staticmethod
    def loop_time() -> float:
        return asyncio.get_running_loop().time()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # Port 0: UDP picks an ephemeral port and TCP must listen on the same one, which
        # may already be the source port of some outgoing TCP connection (EADDRINUSE even
        # with SO_REUSEADDR); then pick another.
        attempts = 50 if self.port == 0 else 1
        for attempt in range(attempts):
            _, udp = await loop.create_datagram_endpoint(
                lambda: _Udp(self.handler), local_addr=(self.host, self.port))
            port = udp.transport.get_extra_info('sockname')[1]
            try:
                self.tcp_server = await loop.create_server(
                    lambda: TcpConnection(self, accepted=True), self.host, port,
                    reuse_address=True)
            except OSError:
                udp.transport.close()
                if attempt == attempts - 1:
                    raise
                continue
            self.udp, self.port = udp, port
            return

    async def stop(self) -> None:
        if self.udp and self.udp.transport:
            self.udp.transport.close()
        if self.tcp_server:
            self.tcp_server.close()
            for conn in list(self.tcp_conns.values()):
                conn.transport.close()
            await self.tcp_server.wait_closed()

    def send(self, data: bytes, peer: Peer) -> None:
        if peer.transport == 'UDP':
            if self.udp and self.udp.transport:
                self.udp.transport.sendto(data, peer.addr)
            return
        conn = peer.conn if isinstance(peer.conn, TcpConnection) else self.tcp_conns.get(peer.addr)
        if conn is None:
            asyncio.get_running_loop().create_task(self._connect_and_send(data, peer.addr))
        else:
            conn.write(data)

    async def _connect_and_send(self, data: bytes, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                lambda: TcpConnection(self, accepted=False), *addr)
        except OSError as exc:
            log.info('event=tcp-connect-failed addr=%s:%s error=%s', addr[0], addr[1], exc)
            return
        conn.write(data)
