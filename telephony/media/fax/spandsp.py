"""A typed ctypes binding to spandsp 0.0.6 (Debian libspandsp2): the audio fax terminal
(T.30 over V.21/V.27ter/V.29/V.17 modems, 16-bit linear 8 kHz) and the T.38 terminal.

Only this module touches ctypes.  Every C object belongs to one Python object that frees it
once (`close()`, idempotent); the CFUNCTYPE callbacks live on that object as long as the C
state does, so the library never calls into a collected trampoline.  C errors come back as
`SpandspError`.  The signatures are those of spandsp 0.0.6's fax.h, t30.h, t30_api.h,
t38_core.h and t38_terminal.h (the .so ships no headers).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ['SpandspError', 'T30', 'T30Stats', 'AudioFaxTerminal', 'T38Terminal',
           'ConnectToneDetector', 'completion_text', 'T30_ERR_OK', 'T30_ERR_CALLDROPPED',
           'MODEM_CONNECT_TONES_FAX_CNG', 'MODEM_CONNECT_TONES_FAX_CED', 'available']


class SpandspError(RuntimeError):
    """spandsp refused a call (bad argument, no memory, closed session)."""


def _load() -> ctypes.CDLL | None:
    for name in ('libspandsp.so.2', ctypes.util.find_library('spandsp')):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


_lib = _load()


def available() -> bool:
    return _lib is not None


# --- constants of spandsp 0.0.6 (t30.h, t38_core.h, t38_terminal.h) -----------------------
T30_ERR_OK = 0
T30_ERR_CALLDROPPED = 49          # "The call dropped prematurely"
T30_SUPPORT_T4_1D_COMPRESSION = 0x01
T30_SUPPORT_T4_2D_COMPRESSION = 0x02
T30_SUPPORT_T6_COMPRESSION = 0x04
MODEM_CONNECT_TONES_FAX_CNG = 1     # 1100 Hz, 0.5 s on, 3 s off: a calling fax
MODEM_CONNECT_TONES_FAX_CED = 2     # 2100 Hz: an answering fax (= ANS)
T38_PACKET_CATEGORY_INDICATOR = 0
T38_PACKET_CATEGORY_CONTROL_DATA = 1
T38_PACKET_CATEGORY_CONTROL_DATA_END = 2
T38_PACKET_CATEGORY_IMAGE_DATA = 3
T38_PACKET_CATEGORY_IMAGE_DATA_END = 4

_p = ctypes.c_void_p
_int = ctypes.c_int
_str = ctypes.c_char_p
# typedef int (t30_phase_b_handler_t)(t30_state_t *s, void *user_data, int result); phase D too
_PHASE_BD = ctypes.CFUNCTYPE(_int, _p, _p, _int)
# typedef void (t30_phase_e_handler_t)(t30_state_t *s, void *user_data, int completion_code);
_PHASE_E = ctypes.CFUNCTYPE(None, _p, _p, _int)
# typedef int (t38_tx_packet_handler_t)(t38_core_state_t *s, void *user_data,
#                                       const uint8_t *buf, int len, int count);
_T38_TX = ctypes.CFUNCTYPE(_int, _p, _p, ctypes.POINTER(ctypes.c_uint8), _int, _int)

# typedef void (*message_handler_func_t)(int level, const char *text);  (0.0.6: no user data)
_MESSAGE = ctypes.CFUNCTYPE(None, _int, ctypes.c_char_p)
SPAN_LOG_FLOW = 5
SPAN_LOG_SHOW_TAG = 0x2000
SPAN_LOG_SHOW_PROTOCOL = 0x0800
# typedef void (*tone_report_func_t)(void *user_data, int code, int level, int delay);
_TONE_REPORT = ctypes.CFUNCTYPE(None, _p, _int, _int, _int)


class _Stats(ctypes.Structure):
    """t30_stats_t of 0.0.6; the tail is room for fields a later build may append."""
    _fields_ = [('bit_rate', _int), ('error_correcting_mode', _int), ('pages_tx', _int),
                ('pages_rx', _int), ('pages_in_file', _int), ('x_resolution', _int),
                ('y_resolution', _int), ('width', _int), ('length', _int),
                ('image_size', _int), ('encoding', _int), ('bad_rows', _int),
                ('longest_bad_row_run', _int), ('error_correcting_mode_retries', _int),
                ('current_status', _int), ('_spare', _int * 32)]


_SIGNATURES: dict[str, tuple[object, list]] = {
    'fax_init': (_p, [_p, _int]),
    'fax_free': (_int, [_p]),
    'fax_rx': (_int, [_p, ctypes.POINTER(ctypes.c_int16), _int]),
    'fax_tx': (_int, [_p, ctypes.POINTER(ctypes.c_int16), _int]),
    'fax_get_t30_state': (_p, [_p]),
    'fax_set_transmit_on_idle': (None, [_p, _int]),
    'fax_set_tep_mode': (None, [_p, _int]),
    't30_set_tx_file': (None, [_p, _str, _int, _int]),
    't30_set_rx_file': (None, [_p, _str, _int]),
    't30_set_tx_ident': (_int, [_p, _str]),
    't30_get_rx_ident': (_str, [_p]),
    't30_set_tx_page_header_info': (_int, [_p, _str]),
    't30_set_ecm_capability': (None, [_p, _int]),
    't30_set_supported_compressions': (_int, [_p, _int]),
    't30_set_phase_b_handler': (None, [_p, _PHASE_BD, _p]),
    't30_set_phase_d_handler': (None, [_p, _PHASE_BD, _p]),
    't30_set_phase_e_handler': (None, [_p, _PHASE_E, _p]),
    't30_get_transfer_statistics': (None, [_p, ctypes.POINTER(_Stats)]),
    't30_completion_code_to_str': (_str, [_int]),
    't30_terminate': (None, [_p]),
    't30_call_active': (_int, [_p]),
    't38_terminal_init': (_p, [_p, _int, _T38_TX, _p]),
    't38_terminal_free': (_int, [_p]),
    't38_terminal_send_timeout': (_int, [_p, _int]),
    't38_terminal_get_t30_state': (_p, [_p]),
    't38_terminal_get_t38_core_state': (_p, [_p]),
    't38_terminal_set_config': (None, [_p, _int]),
    't38_terminal_set_tep_mode': (None, [_p, _int]),
    't38_core_rx_ifp_packet': (_int, [_p, ctypes.POINTER(ctypes.c_uint8), _int,
                                      ctypes.c_uint16]),
    't38_set_redundancy_control': (None, [_p, _int, _int]),
    't38_set_max_datagram_size': (None, [_p, _int]),
    't30_get_logging_state': (_p, [_p]),
    'span_log_set_level': (_int, [_p, _int]),
    'span_log_set_tag': (_int, [_p, _str]),
    'span_log_set_message_handler': (None, [_p, _MESSAGE]),
    'modem_connect_tones_rx_init': (_p, [_p, _int, _TONE_REPORT, _p]),
    'modem_connect_tones_rx': (_int, [_p, ctypes.POINTER(ctypes.c_int16), _int]),
    'modem_connect_tones_rx_free': (_int, [_p]),
    't38_set_t38_version': (None, [_p, _int]),
}
if _lib is not None:
    for _name, (_res, _args) in _SIGNATURES.items():
        _f = getattr(_lib, _name)
        _f.restype = _res
        _f.argtypes = _args


_protocol_log = logging.getLogger('telephony.fax.t30')


def _on_message(level: int, text: bytes | None) -> None:
    try:
        if text:
            _protocol_log.debug('%s', text.decode('ascii', 'replace').rstrip())
    except Exception:   # nothing may unwind through C
        pass


_MESSAGE_CB = _MESSAGE(_on_message)   # one for the process: 0.0.6 passes no user data


def protocol_logging() -> bool:
    return _protocol_log.isEnabledFor(logging.DEBUG)


def _need_lib() -> ctypes.CDLL:
    if _lib is None:
        raise SpandspError('libspandsp.so.2 is not installed (Debian package libspandsp2)')
    return _lib


def completion_text(code: int) -> str:
    """spandsp's words for a phase E completion code (T30_ERR_OK: 'OK')."""
    text = _need_lib().t30_completion_code_to_str(int(code))
    return text.decode('ascii', 'replace') if text else f'code {code}'


def _ascii(value: str, limit: int, what: str) -> bytes:
    data = value.encode('ascii', 'strict') if value.isascii() else None
    if data is None or len(data) > limit or any(b < 0x20 or b > 0x7e for b in data):
        raise SpandspError(f'{what} must be at most {limit} printable ASCII characters')
    return data


@dataclass(frozen=True)
class T30Stats:
    """t30_get_transfer_statistics: resolutions in pixels per metre, as spandsp keeps them."""
    bit_rate: int
    ecm: bool
    pages_tx: int
    pages_rx: int
    pages_in_file: int
    x_resolution: int
    y_resolution: int
    width: int
    length: int
    bad_rows: int
    longest_bad_row_run: int
    current_status: int


class T30:
    """The T.30 engine inside a terminal (owned by it: valid while the terminal is open).

    Handlers run inside fax_rx/fax_tx/t38 calls: they must only record what happened, never
    close the terminal."""

    def __init__(self, owner: '_Terminal', ptr: int) -> None:
        self._owner = owner
        self._ptr = ptr
        self._keep: list[object] = []   # the CFUNCTYPE trampolines and the C strings

    def _state(self) -> int:
        if self._owner.closed:
            raise SpandspError('the fax terminal is closed')
        return self._ptr

    def _keep_bytes(self, data: bytes) -> ctypes.Array:
        buf = ctypes.create_string_buffer(data)
        self._keep.append(buf)   # spandsp keeps file names by pointer until the page is opened
        return buf

    def set_tx_file(self, path: str, start_page: int = -1, stop_page: int = -1) -> None:
        _lib.t30_set_tx_file(self._state(), self._keep_bytes(path.encode()), start_page,
                             stop_page)

    def set_rx_file(self, path: str, stop_page: int = -1) -> None:
        _lib.t30_set_rx_file(self._state(), self._keep_bytes(path.encode()), stop_page)

    def set_tx_ident(self, ident: str) -> None:
        """The TSI (sender) or CSI (receiver): up to 20 characters."""
        if _lib.t30_set_tx_ident(self._state(), _ascii(ident, 20, 'fax ident')) < 0:
            raise SpandspError('spandsp refused the fax ident')

    def set_tx_page_header_info(self, text: str) -> None:
        """The header line printed at the top of every sent page: up to 50 characters."""
        if _lib.t30_set_tx_page_header_info(self._state(), _ascii(text, 50, 'fax header')) < 0:
            raise SpandspError('spandsp refused the fax header')

    def remote_ident(self) -> str:
        raw = _lib.t30_get_rx_ident(self._state())
        return raw.decode('ascii', 'replace').strip() if raw else ''

    def set_ecm(self, enabled: bool) -> None:
        _lib.t30_set_ecm_capability(self._state(), int(enabled))
        # T.6 (MMR) is allowed only with ECM
        comp = T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION
        if enabled:
            comp |= T30_SUPPORT_T6_COMPRESSION
        _lib.t30_set_supported_compressions(self._state(), comp)

    def set_phase_b_handler(self, handler: Callable[[int], None]) -> None:
        self._set_bd(_lib.t30_set_phase_b_handler, handler)

    def set_phase_d_handler(self, handler: Callable[[int], None]) -> None:
        self._set_bd(_lib.t30_set_phase_d_handler, handler)

    def _set_bd(self, setter, handler: Callable[[int], None]) -> None:
        def trampoline(_s, _user, result):
            try:
                handler(result)
            except Exception:   # an exception must not unwind through C
                self._owner._callback_errors += 1
            return T30_ERR_OK
        cb = _PHASE_BD(trampoline)
        self._keep.append(cb)
        setter(self._state(), cb, None)

    def set_phase_e_handler(self, handler: Callable[[int], None]) -> None:
        def trampoline(_s, _user, code):
            try:
                handler(code)
            except Exception:
                self._owner._callback_errors += 1
        cb = _PHASE_E(trampoline)
        self._keep.append(cb)
        _lib.t30_set_phase_e_handler(self._state(), cb, None)

    def stats(self) -> T30Stats:
        st = _Stats()
        _lib.t30_get_transfer_statistics(self._state(), ctypes.byref(st))
        return T30Stats(st.bit_rate, bool(st.error_correcting_mode), st.pages_tx, st.pages_rx,
                        st.pages_in_file, st.x_resolution, st.y_resolution, st.width,
                        st.length, st.bad_rows, st.longest_bad_row_run, st.current_status)

    def terminate(self) -> None:
        """The call ended: phase E runs now (T30_ERR_CALLDROPPED unless it was finishing)."""
        _lib.t30_terminate(self._state())

    @property
    def active(self) -> bool:
        return bool(_lib.t30_call_active(self._state()))

    def log_protocol(self, tag: str) -> None:
        """T.30's messages (DIS, DCS, TCF, MCF, ...) as debug lines of the logger
        telephony.fax.t30, each with `tag` (the call it belongs to)."""
        state = _lib.t30_get_logging_state(self._state())
        buf = self._keep_bytes(tag.encode('ascii', 'replace')[:32])
        _lib.span_log_set_tag(state, buf)
        _lib.span_log_set_message_handler(state, _MESSAGE_CB)
        _lib.span_log_set_level(state, SPAN_LOG_FLOW | SPAN_LOG_SHOW_TAG | SPAN_LOG_SHOW_PROTOCOL)


class _Terminal:
    _free_name = ''

    def __init__(self) -> None:
        self._ptr: int | None = None
        self._callback_errors = 0
        self.t30: T30

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def _state(self) -> int:
        if self._ptr is None:
            raise SpandspError('the fax terminal is closed')
        return self._ptr

    def close(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            getattr(_lib, self._free_name)(ptr)

    def __del__(self) -> None:   # a forgotten close still frees the C state
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AudioFaxTerminal(_Terminal):
    """fax_state_t: T.30 over modem audio, 8 kHz signed 16-bit samples."""
    _free_name = 'fax_free'

    def __init__(self, calling_party: bool) -> None:
        super().__init__()
        lib = _need_lib()
        ptr = lib.fax_init(None, int(calling_party))
        if not ptr:
            raise SpandspError('fax_init failed')
        self._ptr = ptr
        self.t30 = T30(self, lib.fax_get_t30_state(ptr))
        # keep sending (silence) between signals: the RTP stream never pauses
        lib.fax_set_transmit_on_idle(ptr, 1)
        self._out = np.zeros(160, np.int16)

    def rx(self, samples: np.ndarray) -> None:
        """Feed received audio (int16, any length). Always a copy: 0.0.6's fax_rx takes a
        non-const pointer and DC-restores the samples in place, and what it is given may be
        shared (SILENCE_FRAME, read-only to numpy but not to C)."""
        buf = np.array(samples, dtype=np.int16, copy=True)
        _lib.fax_rx(self._state(), buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)),
                    len(buf))

    def tx(self, n: int = 160) -> np.ndarray:
        """The next n samples to send (zero-padded when the terminal has nothing more)."""
        out = np.zeros(n, np.int16)
        got = _lib.fax_tx(self._state(), out.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), n)
        if got < 0:
            raise SpandspError('fax_tx failed')
        return out


class T38Terminal(_Terminal):
    """t38_terminal_state_t: T.30 over T.38 IFP packets.  `on_packet(ifp, count)` gets
    every IFP packet to send and how many times spandsp wants it sent."""
    _free_name = 't38_terminal_free'

    def __init__(self, calling_party: bool, on_packet: Callable[[bytes, int], None],
                 *, max_datagram: int = 400, version: int = 0) -> None:
        super().__init__()
        lib = _need_lib()

        def trampoline(_core, _user, buf, length, count):
            try:
                on_packet(ctypes.string_at(buf, length), count)
            except Exception:
                self._callback_errors += 1
                return -1
            return 0
        self._tx_cb = _T38_TX(trampoline)
        ptr = lib.t38_terminal_init(None, int(calling_party), self._tx_cb, None)
        if not ptr:
            raise SpandspError('t38_terminal_init failed')
        self._ptr = ptr
        self.t30 = T30(self, lib.t38_terminal_get_t30_state(ptr))
        self._core = lib.t38_terminal_get_t38_core_state(ptr)
        lib.t38_set_max_datagram_size(self._core, max_datagram)
        lib.t38_set_t38_version(self._core, version)
        # UDPTL's redundancy carries the earlier packets: each is handed out once
        for cat in (T38_PACKET_CATEGORY_INDICATOR, T38_PACKET_CATEGORY_CONTROL_DATA,
                    T38_PACKET_CATEGORY_CONTROL_DATA_END, T38_PACKET_CATEGORY_IMAGE_DATA,
                    T38_PACKET_CATEGORY_IMAGE_DATA_END):
            self.set_redundancy(cat, 1)

    def set_redundancy(self, category: int, copies: int) -> None:
        self._state()
        _lib.t38_set_redundancy_control(self._core, category, copies)

    def send_timeout(self, samples: int = 160) -> bool:
        """Advance the terminal's time by `samples` at 8 kHz; True when the call is over."""
        return bool(_lib.t38_terminal_send_timeout(self._state(), samples))

    def rx_ifp(self, ifp: bytes, seq_no: int) -> None:
        """Hand spandsp one received IFP packet with its UDPTL sequence number."""
        self._state()
        buf = (ctypes.c_uint8 * len(ifp)).from_buffer_copy(ifp)
        if _lib.t38_core_rx_ifp_packet(self._core, buf, len(ifp), seq_no & 0xFFFF) < 0:
            raise SpandspError('spandsp rejected a T.38 IFP packet')


class ConnectToneDetector(_Terminal):
    """modem_connect_tones_rx: reports a fax tone (CNG by default) in received audio."""
    _free_name = 'modem_connect_tones_rx_free'

    def __init__(self, tone: int = MODEM_CONNECT_TONES_FAX_CNG) -> None:
        super().__init__()
        lib = _need_lib()
        self.tone = tone
        self.detected = False

        def trampoline(_user, code, _level, _delay):
            if code == tone:
                self.detected = True
        self._cb = _TONE_REPORT(trampoline)
        ptr = lib.modem_connect_tones_rx_init(None, tone, self._cb, None)
        if not ptr:
            raise SpandspError('modem_connect_tones_rx_init failed')
        self._ptr = ptr

    def feed(self, samples: np.ndarray) -> bool:
        """Feed received audio; True once the tone has been heard."""
        buf = np.ascontiguousarray(samples, dtype=np.int16)
        _lib.modem_connect_tones_rx(self._state(),
                                    buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), len(buf))
        return self.detected
