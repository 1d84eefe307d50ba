"""An independent fax peer: a spandsp audio terminal on its own minimal ctypes binding and
its own RTP (struct-packed headers, audioop's G.711), sharing no code with the server's
fax module or media engine.  The test calls `tick()` once per 20 ms of line time."""
from __future__ import annotations

import asyncio
import ctypes
import random
import struct
import warnings
from collections import deque

with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import audioop

_lib = ctypes.CDLL('libspandsp.so.2')
_p, _i = ctypes.c_void_p, ctypes.c_int
_lib.fax_init.restype = _p
_lib.fax_init.argtypes = [_p, _i]
_lib.fax_free.argtypes = [_p]
_lib.fax_get_t30_state.restype = _p
_lib.fax_get_t30_state.argtypes = [_p]
_lib.fax_set_transmit_on_idle.argtypes = [_p, _i]
_lib.fax_rx.argtypes = _lib.fax_tx.argtypes = [_p, ctypes.c_char_p, _i]
_lib.t30_set_tx_file.argtypes = [_p, ctypes.c_char_p, _i, _i]
_lib.t30_set_rx_file.argtypes = [_p, ctypes.c_char_p, _i]
_lib.t30_set_ecm_capability.argtypes = [_p, _i]
_lib.t30_set_supported_compressions.argtypes = [_p, _i]
_PHASE_E = ctypes.CFUNCTYPE(None, _p, _p, _i)
_lib.t30_set_phase_e_handler.argtypes = [_p, _PHASE_E, _p]
_lib.t30_terminate.argtypes = [_p]

SAMPLES = 160


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, peer: 'RtpFaxPeer') -> None:
        self.peer = peer

    def datagram_received(self, data, addr):
        if len(data) >= 12 and data[1] & 0x7F == 0:   # PCMU
            self.peer.inbox.append(data[12:])
            self.peer.received += 1


class RtpFaxPeer:
    def __init__(self, *, send_file: str | None = None, receive_file: str | None = None,
                 ecm: bool = True) -> None:
        self.state = _lib.fax_init(None, int(send_file is not None))
        t30 = _lib.fax_get_t30_state(self.state)
        _lib.fax_set_transmit_on_idle(self.state, 1)
        self._names = []
        if send_file is not None:
            self._names.append(ctypes.create_string_buffer(send_file.encode()))
            _lib.t30_set_tx_file(t30, self._names[-1], -1, -1)
        else:
            self._names.append(ctypes.create_string_buffer(receive_file.encode()))
            _lib.t30_set_rx_file(t30, self._names[-1], -1)
        _lib.t30_set_ecm_capability(t30, int(ecm))
        _lib.t30_set_supported_compressions(t30, 0x07 if ecm else 0x03)
        self.code: int | None = None
        self._phase_e = _PHASE_E(self._on_phase_e)
        _lib.t30_set_phase_e_handler(t30, self._phase_e, None)
        self.inbox: deque[bytes] = deque()
        self.sent = self.received = 0
        self._seq = random.randrange(65536)
        self._ts = random.randrange(1 << 32)
        self._ssrc = random.randrange(1 << 32)
        self.transport = None
        self.remote = None

    def _on_phase_e(self, _s, _u, code):
        if self.code is None:
            self.code = code

    async def open(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(self), local_addr=('127.0.0.1', 0))
        return self.transport.get_extra_info('sockname')[:2]

    @property
    def done(self) -> bool:
        return self.code is not None

    def tick(self) -> None:
        if self.done:
            return
        payload = self.inbox.popleft() if self.inbox else b'\xff' * SAMPLES   # μ-law 0
        pcm = audioop.ulaw2lin(payload, 2)
        _lib.fax_rx(self.state, pcm, len(pcm) // 2)
        out = ctypes.create_string_buffer(SAMPLES * 2)
        _lib.fax_tx(self.state, out, SAMPLES)
        header = struct.pack('!BBHII', 0x80, 0, self._seq, self._ts, self._ssrc)
        self.transport.sendto(header + audioop.lin2ulaw(out.raw, 2), self.remote)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + SAMPLES) & 0xFFFFFFFF
        self.sent += 1

    def close(self) -> None:
        if self.state:
            if self.code is None:
                _lib.t30_terminate(_lib.fax_get_t30_state(self.state))
            _lib.fax_free(self.state)
            self.state = None
        if self.transport is not None:
            self.transport.close()


# --- the same peer over T.38: spandsp's T.38 terminal, UDPTL packed here by hand ---------
_T38_TX = ctypes.CFUNCTYPE(_i, _p, _p, ctypes.POINTER(ctypes.c_uint8), _i, _i)
_lib.t38_terminal_init.restype = _p
_lib.t38_terminal_init.argtypes = [_p, _i, _T38_TX, _p]
_lib.t38_terminal_free.argtypes = [_p]
_lib.t38_terminal_get_t30_state.restype = _p
_lib.t38_terminal_get_t30_state.argtypes = [_p]
_lib.t38_terminal_get_t38_core_state.restype = _p
_lib.t38_terminal_get_t38_core_state.argtypes = [_p]
_lib.t38_terminal_send_timeout.argtypes = [_p, _i]
_lib.t38_core_rx_ifp_packet.argtypes = [_p, ctypes.c_char_p, _i, ctypes.c_uint16]


def _udptl(seq: int, ifp: bytes) -> bytes:
    """seq, PER length, IFP, then the redundancy choice with no secondaries."""
    n = len(ifp)
    length = bytes([n]) if n < 128 else bytes([0x80 | n >> 8, n & 0xFF])
    return struct.pack('!H', seq) + length + ifp + b'\x00\x00'


class _UdptlProto(asyncio.DatagramProtocol):
    def __init__(self, peer: 'T38FaxPeer') -> None:
        self.peer = peer

    def datagram_received(self, data, addr):
        self.peer.received += 1
        seq, n = struct.unpack('!HB', data[:3])
        if n & 0x80:                       # a two-octet length: larger IFP
            n = ((n & 0x3F) << 8) | data[3]
            ifp = data[4:4 + n]
        else:
            ifp = data[3:3 + n]
        if self.peer.state and seq not in self.peer.seen:
            self.peer.seen.add(seq)
            _lib.t38_core_rx_ifp_packet(self.peer.core, ifp, len(ifp), seq)


class T38FaxPeer:
    """Sends a TIFF over T.38 (calling party), no redundancy: fine on 127.0.0.1."""

    def __init__(self, send_file: str) -> None:
        self._tx = _T38_TX(self._on_packet)
        self.state = _lib.t38_terminal_init(None, 1, self._tx, None)
        self.core = _lib.t38_terminal_get_t38_core_state(self.state)
        t30 = _lib.t38_terminal_get_t30_state(self.state)
        self._name = ctypes.create_string_buffer(send_file.encode())
        _lib.t30_set_tx_file(t30, self._name, -1, -1)
        _lib.t30_set_ecm_capability(t30, 1)
        _lib.t30_set_supported_compressions(t30, 0x07)
        self.code: int | None = None
        self._phase_e = _PHASE_E(self._on_phase_e)
        _lib.t30_set_phase_e_handler(t30, self._phase_e, None)
        self.seq = 0
        self.seen: set[int] = set()
        self.sent = self.received = 0
        self.transport = None
        self.remote = None

    _on_phase_e = RtpFaxPeer._on_phase_e
    done = RtpFaxPeer.done

    def _on_packet(self, _core, _user, buf, length, count):
        data = _udptl(self.seq, ctypes.string_at(buf, length))
        self.seq = (self.seq + 1) & 0xFFFF
        self.transport.sendto(data, self.remote)
        self.sent += 1
        return 0

    async def open(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdptlProto(self), local_addr=('127.0.0.1', 0))
        return self.transport.get_extra_info('sockname')[:2]

    def tick(self) -> None:
        if not self.done:
            _lib.t38_terminal_send_timeout(self.state, SAMPLES)

    def close(self) -> None:
        if self.state:
            _lib.t38_terminal_free(self.state)
            self.state = None
        if self.transport is not None:
            self.transport.close()
