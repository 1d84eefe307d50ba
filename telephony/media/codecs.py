"""G.711 codecs by numpy lookup table (bit-exact with the ITU reference / audioop).

Encoding a 160-sample frame is one fancy-index into a 65536-entry table, decoding
one into a 256-entry table.  Tables are built once at import, vectorised.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES_PCM16 = FRAME_SAMPLES * 2

__all__ = [
    'Codec', 'PCMU', 'PCMA', 'CODECS_BY_NAME', 'CODECS_BY_PT', 'FRAME_SAMPLES', 'FRAME_MS',
    'SAMPLE_RATE', 'ulaw_encode', 'ulaw_decode', 'alaw_encode', 'alaw_decode', 'codec_for',
    'decode_rows', 'encode_rows',
]


def _build_ulaw_tables() -> tuple[np.ndarray, np.ndarray]:
    # encode: index = int16 sample viewed as uint16 (0..65535)
    lin = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    pcm = lin >> 2                                   # 14-bit, arithmetic shift
    neg = pcm < 0
    mag = np.where(neg, -pcm, pcm)
    mag = np.minimum(mag, 8159) + 33                 # clip, add bias (0x84 >> 2)
    seg_end = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    seg = np.searchsorted(seg_end, mag, side='left')  # first seg with mag <= seg_end
    mask = np.where(neg, 0x7F, 0xFF)
    uval = (seg << 4) | ((mag >> (seg + 1)) & 0xF)
    enc = np.where(seg >= 8, 0x7F ^ mask, uval ^ mask).astype(np.uint8)

    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t = t << ((u & 0x70) >> 4)
    dec = np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)
    return enc, dec


def _build_alaw_tables() -> tuple[np.ndarray, np.ndarray]:
    lin = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    pcm = lin >> 3                                   # 13-bit
    neg = pcm < 0
    mag = np.where(neg, -pcm - 1, pcm)
    mask = np.where(neg, 0x55, 0xD5)
    seg_end = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    seg = np.searchsorted(seg_end, mag, side='left')
    quant = np.where(seg < 2, mag >> 1, mag >> np.maximum(seg, 1)) & 0x0F
    aval = (seg << 4) | quant
    enc = np.where(seg >= 8, 0x7F ^ mask, aval ^ mask).astype(np.uint8)

    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << np.maximum(seg - 1, 0)))
    dec = np.where(a & 0x80, t, -t).astype(np.int16)
    return enc, dec


_ULAW_ENC, _ULAW_DEC = _build_ulaw_tables()
_ALAW_ENC, _ALAW_DEC = _build_alaw_tables()
for _t in (_ULAW_ENC, _ULAW_DEC, _ALAW_ENC, _ALAW_DEC):
    _t.flags.writeable = False


def _as_index(pcm: np.ndarray) -> np.ndarray:
    if pcm.dtype != np.int16:
        pcm = np.asarray(pcm, dtype=np.int16)
    return pcm.view(np.uint16)


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> mu-law bytes."""
    return _ULAW_ENC[_as_index(pcm)].tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """mu-law bytes -> int16 samples (a new array)."""
    return _ULAW_DEC[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: np.ndarray) -> bytes:
    """int16 samples -> A-law bytes."""
    return _ALAW_ENC[_as_index(pcm)].tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes -> int16 samples (a new array)."""
    return _ALAW_DEC[np.frombuffer(data, dtype=np.uint8)]


_DEC_BOTH = np.concatenate([_ULAW_DEC, _ALAW_DEC])   # index: byte, + 256 for A-law
_DEC_BOTH.flags.writeable = False
_ENC_BY_NAME = {'PCMU': _ULAW_ENC, 'PCMA': _ALAW_ENC}


def decode_rows(data: bytes, rows: int, alaw: np.ndarray | None = None) -> np.ndarray:
    """`rows` frames of G.711 bytes, back to back, decoded at once into (rows, n) int16;
    `alaw[i]` says row i is A-law (None: all mu-law)."""
    u8 = np.frombuffer(data, dtype=np.uint8).reshape(rows, -1)
    if alaw is None:
        return _ULAW_DEC[u8]
    return _DEC_BOTH[u8 + (alaw.astype(np.int16) << 8)[:, None]]


def encode_rows(pcm: np.ndarray, codec: 'Codec') -> np.ndarray:
    """(K, n) int16 frames encoded at once: (K, n) uint8, a row per frame."""
    return _ENC_BY_NAME[codec.name][_as_index(pcm)]


@dataclass(frozen=True, eq=False)
class Codec:
    name: str
    payload_type: int
    clock_rate: int = SAMPLE_RATE
    encode: Callable[[np.ndarray], bytes] = field(default=None, repr=False)  # type: ignore[assignment]
    decode: Callable[[bytes], np.ndarray] = field(default=None, repr=False)  # type: ignore[assignment]
    #: encoded payload of one frame of digital silence (handy for comfort/keepalive)
    silence: bytes = field(default=b'', repr=False)

    @property
    def samples_per_frame(self) -> int:
        return self.clock_rate * FRAME_MS // 1000


PCMU = Codec('PCMU', 0, SAMPLE_RATE, ulaw_encode, ulaw_decode,
             ulaw_encode(np.zeros(FRAME_SAMPLES, np.int16)))
PCMA = Codec('PCMA', 8, SAMPLE_RATE, alaw_encode, alaw_decode,
             alaw_encode(np.zeros(FRAME_SAMPLES, np.int16)))

CODECS_BY_NAME: dict[str, Codec] = {'PCMU': PCMU, 'PCMA': PCMA}
CODECS_BY_PT: dict[int, Codec] = {c.payload_type: c for c in CODECS_BY_NAME.values()}


def codec_for(value: 'Codec | str | int') -> Codec:
    """Accept a Codec, a name ('PCMU', case-insensitive) or a static payload type."""
    if isinstance(value, Codec):
        return value
    if isinstance(value, str):
        try:
            return CODECS_BY_NAME[value.upper()]
        except KeyError:
            raise ValueError(f'unknown codec {value!r}') from None
    try:
        return CODECS_BY_PT[int(value)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f'unknown codec {value!r}') from None
