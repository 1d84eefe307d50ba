"""Running SIPp as a load generator, reading its statistics CSV, and the looping capture the
media figure plays."""
from __future__ import annotations

import csv
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import HOST, SCENARIOS, free_port, free_port_block, spawn, stop

BUFF = '4194304'   # SIPp's socket buffers: needed above ~1000 calls/s or drops look like failures


@dataclass
class SippRun:
    cmd: list[str]
    workdir: Path
    returncode: int | None = None
    wall: float = 0.0
    rows: list[dict[str, str]] = field(default_factory=list)

    def last(self, name: str, default: float = 0.0) -> float:
        if not self.rows:
            return default
        v = self.rows[-1].get(name, '')
        try:
            return float(v)
        except ValueError:
            return default

    @property
    def successful(self) -> int:
        return int(self.last('SuccessfulCall(C)'))

    @property
    def failed(self) -> int:
        return int(self.last('FailedCall(C)'))

    @property
    def retransmissions(self) -> int:
        return int(self.last('Retransmissions(C)'))

    def periodic(self, name: str) -> list[float]:
        out = []
        for r in self.rows[1:]:
            try:
                out.append(float(r.get(name, '0') or 0))
            except ValueError:
                out.append(0.0)
        return out

    def response_ms(self) -> float | None:
        """SIPp's cumulative mean INVITE->200 response time (ResponseTime1(C)), ms."""
        if not self.rows:
            return None
        return _hms_ms(self.rows[-1].get('ResponseTime1(C)', ''))

    def tail(self, name: str, n: int = 2000) -> str:
        p = self.workdir / name
        if not p.exists():
            return ''
        return p.read_text(errors='replace')[-n:]


def _hms_ms(v: str) -> float | None:
    """'00:00:00:012000' (h:m:s:us) -> 12.0 ms."""
    try:
        h, m, s, us = (int(x) for x in v.split(':'))
    except ValueError:
        return None
    return ((h * 60 + m) * 60 + s) * 1000.0 + us / 1000.0


def read_stat(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    rows = list(csv.reader(path.read_text(errors='replace').splitlines(), delimiter=';'))
    if len(rows) < 2:
        return []
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:] if len(r) >= len(header) - 1]


def uac_command(target: str, workdir: Path, *, service: str | None = None,
                scenario: Path | None = None, rate: float, calls: int, limit: int | None = None,
                hold_ms: int = 0, recv_timeout_ms: int = 5000, global_timeout_s: int = 120,
                extra: list[str] = ()) -> list[str]:
    cmd = ['sipp']
    cmd += ['-sf', str(scenario)] if scenario else ['-sn', 'uac']
    cmd += [target]
    if service:
        cmd += ['-s', service]
    cmd += ['-i', HOST, '-mi', HOST, '-ci', HOST, '-p', str(free_port('udp')),
            '-mp', str(free_port_block()), '-cp', str(free_port('udp')),
            '-r', str(rate), '-m', str(calls), '-d', str(hold_ms),
            '-buff_size', BUFF, '-max_recv_loops', '10000', '-max_sched_loops', '10000',
            '-recv_timeout', str(recv_timeout_ms), '-timeout', f'{global_timeout_s}s', '-timeout_error',
            '-nostdin', '-trace_stat', '-stf', str(workdir / 'stat.csv'), '-fd', '1',
            '-trace_err', '-error_file', str(workdir / 'errors.log')]
    if limit:
        cmd += ['-l', str(limit)]
    return cmd + list(extra)


def start_uac(target: str, workdir: Path, cwd: Path | None = None, **kw) -> tuple[subprocess.Popen, SippRun]:
    workdir.mkdir(parents=True, exist_ok=True)
    for old in ('stat.csv', 'errors.log'):
        (workdir / old).unlink(missing_ok=True)
    cmd = uac_command(target, workdir, **kw)
    out = open(workdir / 'sipp.out', 'w')
    proc = spawn(cmd, cwd=cwd or SCENARIOS, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    run = SippRun(cmd, workdir)
    run.wall = time.monotonic()
    return proc, run


def finish_uac(proc: subprocess.Popen, run: SippRun, timeout: float) -> SippRun:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop(proc, grace=5)
    stop(proc, grace=1)
    run.returncode = proc.returncode
    run.wall = time.monotonic() - run.wall
    run.rows = read_stat(run.workdir / 'stat.csv')
    return run


def run_uac(target: str, workdir: Path, timeout: float, **kw) -> SippRun:
    proc, run = start_uac(target, workdir, **kw)
    return finish_uac(proc, run, timeout)


# ---------------------------------------------------------------- a long capture

def make_loop_pcap(src: Path, dst: Path, seconds: float) -> Path:
    """Concatenate copies of an RTP capture (e.g. g711a.pcap, 7.08 s) until it lasts `seconds`,
    continuing the RTP sequence numbers and timestamps and the capture times, so that one
    play_pcap_audio plays a call's whole hold time."""
    data = src.read_bytes()
    head, body = data[:24], data[24:]
    (magic,) = struct.unpack('<I', head[:4])
    if magic != 0xa1b2c3d4:
        raise ValueError(f'{src}: not a little-endian microsecond pcap')
    pkts = []
    off = 0
    while off + 16 <= len(body):
        sec, usec, incl, orig = struct.unpack('<IIII', body[off:off + 16])
        pkts.append((sec + usec / 1e6, bytearray(body[off + 16:off + 16 + incl])))
        off += 16 + incl
    if not pkts:
        raise ValueError(f'{src}: no packets')
    t_first = pkts[0][0]
    period = pkts[-1][0] - t_first + (pkts[1][0] - pkts[0][0] if len(pkts) > 1 else 0.02)
    # Ethernet(14) + IPv4 (IHL) + UDP(8) -> RTP
    first = pkts[0][1]
    ihl = (first[14] & 0x0f) * 4
    rtp_off = 14 + ihl + 8
    seq0 = struct.unpack('>H', first[rtp_off + 2:rtp_off + 4])[0]
    seq_last = struct.unpack('>H', pkts[-1][1][rtp_off + 2:rtp_off + 4])[0]
    ts0 = struct.unpack('>I', first[rtp_off + 4:rtp_off + 8])[0]
    ts_last = struct.unpack('>I', pkts[-1][1][rtp_off + 4:rtp_off + 8])[0]
    seq_step = (seq_last - seq0 + 1) & 0xffff
    ts_step = (ts_last - ts0 + (ts_last - ts0) // max(1, len(pkts) - 1)) & 0xffffffff
    loops = max(1, int(seconds / period) + 1)
    out = bytearray(head)
    for k in range(loops):
        for t, pkt in pkts:
            p = bytearray(pkt)
            seq = (struct.unpack('>H', p[rtp_off + 2:rtp_off + 4])[0] + k * seq_step) & 0xffff
            ts = (struct.unpack('>I', p[rtp_off + 4:rtp_off + 8])[0] + k * ts_step) & 0xffffffff
            p[rtp_off + 2:rtp_off + 4] = struct.pack('>H', seq)
            p[rtp_off + 4:rtp_off + 8] = struct.pack('>I', ts)
            p[14 + ihl + 6:14 + ihl + 8] = b'\0\0'          # UDP checksum: none
            us = int(round((t + k * period) * 1e6))
            out += struct.pack('<IIII', us // 1000000, us % 1000000, len(p), len(p))
            out += p
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(bytes(out))
    return dst
