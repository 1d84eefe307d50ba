"""Keep-alives on the transport: a UDP datagram of line ends is a NAT keep-alive (DEBUG, not
handed on); a TCP CRLFCRLF ping gets a CRLF pong (RFC 5626 §4.4.1)."""
from __future__ import annotations

import asyncio
import logging

from telephony.sip.transport import SipTransport, _Udp


def test_udp_keepalive_is_debug_and_not_a_message(caplog):
    got = []
    udp = _Udp(lambda data, peer: got.append(data))
    with caplog.at_level(logging.DEBUG, logger='telephony.sip'):
        udp.datagram_received(b'\r\n\r\n', ('127.0.0.1', 5080))
        udp.datagram_received(b'\r\n', ('127.0.0.1', 5080))
        udp.datagram_received(b'\x00' * 4, ('127.0.0.1', 5080))   # junk, for the parser
    assert got == [b'\x00' * 4]
    lines = [r for r in caplog.records if 'event=keepalive' in r.getMessage()]
    assert len(lines) == 2 and all(r.levelno == logging.DEBUG for r in lines)


async def test_tcp_ping_gets_pong_and_messages_still_flow():
    got = asyncio.Queue()
    t = SipTransport('127.0.0.1', 0, lambda data, peer: got.put_nowait(data))
    await t.start()
    try:
        reader, writer = await asyncio.open_connection('127.0.0.1', t.port)
        writer.write(b'\r\n\r\n')
        assert await asyncio.wait_for(reader.readexactly(2), 10) == b'\r\n'
        writer.write(b'OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n\r\n\r\n')
        assert (await asyncio.wait_for(got.get(), 10)).startswith(b'OPTIONS')
        assert await asyncio.wait_for(reader.readexactly(2), 10) == b'\r\n'
        writer.close()
    finally:
        await t.stop()
