"""Audio helpers for the integration tests: a tiny pcap/RTP reader, G.711 decoding and
measurements (energy, active span, envelope correlation, dominant frequency).

Everything here reads files; nothing talks to the server.
"""
from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import audioop  # built in on 3.11; the reference G.711 decoder

RATE = 8000
FRAME = 160  # 20 ms at 8 kHz


@dataclass
class RtpPacket:
    time: float          # capture time, seconds
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


def read_pcap_rtp(path: str | Path) -> list[RtpPacket]:
    """The RTP packets of a classic libpcap file (Ethernet or Linux cooked capture, IPv4/UDP)."""
    data = Path(path).read_bytes()
    magic = data[:4]
    if magic == b'\xd4\xc3\xb2\xa1':
        endian = '<'
    elif magic == b'\xa1\xb2\xc3\xd4':
        endian = '>'
    else:
        raise ValueError(f'{path}: not a libpcap file')
    linktype = struct.unpack(endian + 'I', data[20:24])[0]
    link_header = {1: 14, 113: 16, 101: 0}[linktype]
    packets: list[RtpPacket] = []
    off = 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack(endian + 'IIII', data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        ip = frame[link_header:]
        if not ip or ip[0] >> 4 != 4 or ip[9] != 17:   # IPv4 + UDP only
            continue
        udp = ip[(ip[0] & 15) * 4:]
        rtp = udp[8:]
        if len(rtp) < 12 or rtp[0] >> 6 != 2:
            continue
        csrc = rtp[0] & 15
        seq, ts, ssrc = struct.unpack('>HII', rtp[2:12])
        body = rtp[12 + 4 * csrc:]
        if rtp[0] & 0x20 and body:              # padding
            body = body[:-body[-1]]
        packets.append(RtpPacket(sec + usec / 1e6, rtp[1] & 0x7F, bool(rtp[1] & 0x80),
                                 seq, ts, ssrc, body))
    return packets


def write_rtp_pcap(path: str | Path, pcm: np.ndarray, *, seq: int = 20000, timestamp: int = 200000,
                   ssrc: int = 0x7A1E5EED, start: float = 1.0e9) -> None:
    """A classic pcap (Ethernet/IPv4/UDP) of `pcm` (float samples in [-1, 1), 8 kHz) as G.711
    A-law RTP (PT 8), 20 ms a packet: sequence numbers and timestamps count on from `seq` and
    `timestamp`, capture times 20 ms apart (SIPp's play_pcap_audio paces by them). The
    defaults start above those of the sip-tester DTMF captures, which come first in a call."""
    lin = (np.clip(pcm, -1.0, 32767 / 32768) * 32768).astype('<i2').tobytes()
    out = bytearray(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for k in range(len(pcm) // FRAME):
        payload = audioop.lin2alaw(lin[2 * FRAME * k:2 * FRAME * (k + 1)], 2)
        rtp = struct.pack('!BBHII', 0x80, 8, (seq + k) & 0xFFFF,
                          (timestamp + FRAME * k) & 0xFFFFFFFF, ssrc) + payload
        udp = struct.pack('!HHHH', 6000, 6000, 8 + len(rtp), 0) + rtp   # checksum 0: none
        ip = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), k & 0xFFFF, 0, 64, 17,
                                   0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])))
        words = struct.unpack('!10H', ip)
        total = sum(words)
        total = (total & 0xFFFF) + (total >> 16)
        ip[10:12] = struct.pack('!H', ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF)
        frame = b'\0' * 12 + b'\x08\x00' + bytes(ip) + udp
        t = start + k * FRAME / RATE
        out += struct.pack('<IIII', int(t), round((t % 1) * 1e6) % 1000000, len(frame), len(frame))
        out += frame
    Path(path).write_bytes(bytes(out))


def tone(freq: float, seconds: float, level: float = 0.2, rate: int = RATE) -> np.ndarray:
    """A sine tone as float samples."""
    return level * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def tone_level(x: np.ndarray, freq: float, rate: int = RATE) -> float:
    """Amplitude (full scale 1.0) of the `freq` component of `x` (one Goertzel bin, Hann)."""
    if len(x) < 2:
        return 0.0
    w = np.hanning(len(x))
    phase = np.exp(-2j * np.pi * freq * np.arange(len(x)) / rate)
    return float(2 * abs(np.dot(x * w, phase)) / w.sum())


def pcap_audio(path: str | Path) -> np.ndarray:
    """Decode the G.711 audio (PT 0 or 8) of a pcap into float samples in [-1, 1), 8 kHz,
    placing each packet at its RTP timestamp so gaps stay gaps."""
    pkts = [p for p in read_pcap_rtp(path) if p.payload_type in (0, 8)]
    if not pkts:
        raise ValueError(f'{path}: no G.711 RTP')
    base = pkts[0].timestamp
    end = max((p.timestamp - base) % 2**32 + len(p.payload) for p in pkts)
    out = np.zeros(end, dtype=np.float64)
    for p in pkts:
        lin = audioop.alaw2lin(p.payload, 2) if p.payload_type == 8 else audioop.ulaw2lin(p.payload, 2)
        pcm = np.frombuffer(lin, dtype='<i2') / 32768.0
        start = (p.timestamp - base) % 2**32
        out[start:start + len(pcm)] = pcm
    return out


def rtp_events(path: str | Path, payload_type: int = 101) -> list[tuple[int, bool, int, int]]:
    """(event, end bit, duration, rtp timestamp) of each RFC 4733 packet in a pcap."""
    out = []
    for p in read_pcap_rtp(path):
        if p.payload_type == payload_type and len(p.payload) >= 4:
            out.append((p.payload[0], bool(p.payload[1] & 0x80),
                        struct.unpack('>H', p.payload[2:4])[0], p.timestamp))
    return out


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Mono float samples and rate of a sound file."""
    import soundfile
    x, rate = soundfile.read(str(path), dtype='float64', always_2d=True)
    return x.mean(axis=1), rate


def write_tone(path: str | Path, freq: float, seconds: float, rate: int = RATE,
               level: float = 0.3) -> None:
    """A 16-bit mono WAV with a sine tone: the aufile source of a baresip peer."""
    import soundfile
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(str(path), (level * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16),
                    rate, subtype='PCM_16')


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0


def frame_energy(x: np.ndarray, frame: int = FRAME) -> np.ndarray:
    """RMS per 20 ms frame."""
    n = len(x) // frame
    if n == 0:
        return np.zeros(0)
    return np.sqrt(np.mean(np.square(x[:n * frame].reshape(n, frame)), axis=1))


def active_span(x: np.ndarray, threshold: float, frame: int = FRAME, rate: int = RATE) -> float:
    """Seconds from the first to the last frame whose RMS exceeds `threshold`."""
    e = frame_energy(x, frame)
    idx = np.flatnonzero(e > threshold)
    if len(idx) == 0:
        return 0.0
    return (idx[-1] - idx[0] + 1) * frame / rate


def envelope_correlation(a: np.ndarray, b: np.ndarray, frame: int = FRAME) -> tuple[float, int]:
    """Best Pearson correlation of the two frame-energy envelopes over all alignments
    (b shifted against a), and the shift in frames where it is reached."""
    ea, eb = frame_energy(a, frame), frame_energy(b, frame)
    if len(ea) < 5 or len(eb) < 5:
        return 0.0, 0
    best, best_shift = -1.0, 0
    for shift in range(-len(eb) + 5, len(ea) - 4):
        lo_a, lo_b = max(0, shift), max(0, -shift)
        n = min(len(ea) - lo_a, len(eb) - lo_b)
        if n < min(len(ea), len(eb)) // 2:
            continue
        xa, xb = ea[lo_a:lo_a + n], eb[lo_b:lo_b + n]
        if xa.std() == 0 or xb.std() == 0:
            continue
        c = float(np.corrcoef(xa, xb)[0, 1])
        if c > best:
            best, best_shift = c, shift
    return best, best_shift


def dominant_frequency(x: np.ndarray, rate: int = RATE) -> float:
    """Frequency of the strongest FFT bin (DC excluded)."""
    if len(x) < 2:
        return 0.0
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    spec[freqs < 50] = 0
    return float(freqs[int(spec.argmax())])


def band_energy_ratio(x: np.ndarray, freq: float, rate: int = RATE, width: float = 50.0) -> float:
    """Share of the signal's spectral energy within `width` Hz of `freq`."""
    if len(x) < 2:
        return 0.0
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    total = spec[freqs >= 50].sum()
    if total == 0:
        return 0.0
    return float(spec[np.abs(freqs - freq) <= width].sum() / total)
