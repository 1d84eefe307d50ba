"""SIP over UDP and TCP on asyncio: bytes in, bytes out, nothing else.

Each received message is handed to `on_message(data, peer)` whole; TCP
streams are cut into messages by the codec's StreamFramer. A TCP connection
that sends a broken frame gets a 400 where possible and is closed.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from .message import SipParseError, StreamFramer
from .transaction import Peer

log = logging.getLogger('telephony.sip')

MessageHandler = Callable[[bytes, Peer], None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, handler: MessageHandler):
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.handler(data, Peer('UDP', addr[:2]))

    def error_received(self, exc):
        log.debug('event=udp-error error=%s', exc)


class TcpConnection(asyncio.Protocol):
    def __init__(self, handler: MessageHandler, on_bad_frame: Callable[[str, Peer], None],
                 registry: dict):
        self.handler = handler
        self.on_bad_frame = on_bad_frame
        self.registry = registry
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None

    def connection_made(self, transport):
        self.transport = transport
        addr = transport.get_extra_info('peername')[:2]
        self.peer = Peer('TCP', addr, self)
        self.registry[addr] = self

    def data_received(self, data):
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            self.on_bad_frame(exc.reason, self.peer)
            self.transport.close()
            return
        for m in messages:
            self.handler(m, self.peer)

    def connection_lost(self, exc):
        if self.registry.get(self.peer.addr) is self:
            del self.registry[self.peer.addr]

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
                    lambda: TcpConnection(self.handler, self.bad_frame_handler, self.tcp_conns),
                    self.host, port, reuse_address=True)
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
                lambda: TcpConnection(self.handler, self.bad_frame_handler, self.tcp_conns), *addr)
        except OSError as exc:
            log.info('event=tcp-connect-failed addr=%s:%s error=%s', addr[0], addr[1], exc)
            return
        conn.write(data)
