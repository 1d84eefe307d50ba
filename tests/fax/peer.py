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
