"""The UDP socket a T.38 session's UDPTL datagrams travel on.

It sends to the address the SDP signalled and takes datagrams only from there (symmetric:
a NATed peer's first datagram from elsewhere is not followed, so no one else can feed the
fax).  What arrives goes straight to the session; the session's sends go out at once.
"""
from __future__ import annotations

import asyncio
import logging
import socket

__all__ = ['UdptlSocket']

log = logging.getLogger('telephony.fax')


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: 'UdptlSocket') -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            self.owner._on_datagram(data, addr)
        except Exception:   # never let a datagram kill the listener
            log.exception('event=udptl-receive-error')

    def error_received(self, exc: Exception) -> None:
        log.debug('event=udptl-socket-error error=%s', exc)


class UdptlSocket:
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.session = None        # has receive(datagram)
        self.sent = self.received = self.foreign = 0

    @classmethod
    async def open(cls, host: str = '127.0.0.1', port: int = 0,
                   sock: socket.socket | None = None) -> 'UdptlSocket':
        """Bind host:port (0: any free port), or take over a bound UDP socket."""
        self = cls()
        loop = asyncio.get_running_loop()
        if sock is None:
            self.transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=(host, port))
        else:
            self.transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), sock=sock)
        return self

    @property
    def local_address(self) -> tuple[str, int]:
        return self.transport.get_extra_info('sockname')[:2]

    def connect(self, remote: tuple[str, int], session) -> None:
        self.remote = (remote[0], int(remote[1]))
        self.session = session

    def send(self, datagram: bytes) -> None:
        if self.transport is not None and self.remote is not None:
            self.transport.sendto(datagram, self.remote)
            self.sent += 1

    def _on_datagram(self, data: bytes, addr) -> None:
        if self.remote is None or (addr[0], addr[1]) != self.remote:
            self.foreign += 1
            return
        self.received += 1
        if self.session is not None:
            self.session.receive(data)

    def close(self) -> None:
        tr, self.transport = self.transport, None
        self.session = None
        if tr is not None:
            tr.close()
