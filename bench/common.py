"""Shared pieces of the benchmark: processes stopped by PID, ports, /proc readings, statistics.

Everything the benchmark starts binds and sends to 127.0.0.1 only, is registered here, and is
stopped by its PID (SIGTERM, then SIGKILL after a grace period) when its figure is done or the
run ends, however it ends.
"""
from __future__ import annotations

import atexit
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / 'bench'
SCENARIOS = ROOT / 'sipp-scenarios'
HOST = '127.0.0.1'
CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGE = os.sysconf('SC_PAGE_SIZE')


def log(*parts) -> None:
    print(time.strftime('%H:%M:%S'), *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

_live: list[subprocess.Popen] = []
_lock = threading.Lock()


def spawn(cmd: Sequence[str], **kw) -> subprocess.Popen:
    """Start a process and remember it, so that it is stopped by PID at the latest at exit."""
    kw.setdefault('stdin', subprocess.DEVNULL)
    proc = subprocess.Popen(list(map(str, cmd)), **kw)
    with _lock:
        _live.append(proc)
    return proc


def stop(proc: subprocess.Popen | None, grace: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
    """Stop one process by its PID: `sig`, then SIGKILL if it outlives `grace` seconds."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
    with _lock:
        if proc in _live:
            _live.remove(proc)
    return proc.returncode


def stop_all() -> None:
    with _lock:
        procs = list(reversed(_live))
    for p in procs:
        stop(p, grace=5)


def _on_signal(signum, frame):
    stop_all()
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


def wait_for(predicate: Callable[[], object], timeout: float, what: str = 'condition',
             interval: float = 0.05):
    """Poll `predicate` until it returns something truthy, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(interval)


class LineReader:
    """Collects a pipe's lines in a thread (a process's stdout or stderr)."""

    def __init__(self, stream, keep: int = 2000):
        self.lines: list[str] = []
        self.keep = keep
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._t.start()

    def _run(self, stream):
        for line in iter(stream.readline, ''):
            with self._lock:
                self.lines.append(line.rstrip('\n'))
                if len(self.lines) > self.keep * 2:
                    del self.lines[:-self.keep]
        stream.close()

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def find(self, text: str) -> str | None:
        for line in self.snapshot():
            if text in line:
                return line
        return None


# ---------------------------------------------------------------- ports

def free_port(kind: str = 'both') -> int:
    """A port free on 127.0.0.1 (UDP, and TCP too unless kind='udp') at the time of the call."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((HOST, 0))
            port = u.getsockname()[1]
            if kind == 'udp':
                return port
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                    t.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError('no free port')


def free_port_block(n: int = 4) -> int:
    """An even UDP port p with p .. p+n-1 free (SIPp's -mp binds p .. p+3)."""
    for _ in range(200):
        p = free_port('udp')
        p -= p % 2
        socks = []
        try:
            for i in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((HOST, p + i))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return p
    raise RuntimeError('no free port block')


# ---------------------------------------------------------------- /proc

def _tree(pid: int) -> list[int]:
    """pid and all its descendants (for multi-process servers such as Kamailio)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pid: int, tree: bool = False) -> float:
    """User + system CPU time of a process (all its threads; with tree=True its children too)."""
    total = 0
    for p in (_tree(pid) if tree else [pid]):
        try:
            with open(f'/proc/{p}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])    # utime, stime
    return total / CLK_TCK


def rss_bytes(pid: int, tree: bool = False) -> int:
    total = 0
    for p in (_tree(pid) if tree else [pid]):
        try:
            with open(f'/proc/{p}/statm') as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


class CpuMeter:
    """CPU% of a process over a window: start() ... stop() -> percent of one core."""

    def __init__(self, pid: int, tree: bool = False):
        self.pid, self.tree = pid, tree
        self.t0 = self.c0 = None
        self.percent: float | None = None

    def start(self) -> 'CpuMeter':
        self.t0, self.c0 = time.monotonic(), cpu_seconds(self.pid, self.tree)
        return self

    def stop(self) -> float:
        dt = time.monotonic() - self.t0
        self.percent = 100.0 * (cpu_seconds(self.pid, self.tree) - self.c0) / dt if dt > 0 else 0.0
        return self.percent


def socket_inodes(pid: int) -> set[int]:
    out = set()
    try:
        fds = os.listdir(f'/proc/{pid}/fd')
    except OSError:
        return out
    for fd in fds:
        try:
            link = os.readlink(f'/proc/{pid}/fd/{fd}')
        except OSError:
            continue
        if link.startswith('socket:['):
            out.add(int(link[8:-1]))
    return out


def udp_drops(inodes: Iterable[int] | None = None) -> int:
    """Sum of the per-socket `drops` counters in /proc/net/udp (receive-buffer overflows),
    for the sockets with these inodes (all UDP sockets if None)."""
    want = set(inodes) if inodes is not None else None
    total = 0
    try:
        with open('/proc/net/udp') as f:
            next(f)
            for line in f:
                parts = line.split()
                if want is None or int(parts[9]) in want:
                    total += int(parts[-1])
    except OSError:
        pass
    return total


def udp_snmp() -> dict[str, int]:
    """The kernel's global UDP counters (InErrors, RcvbufErrors, ...)."""
    with open('/proc/net/snmp') as f:
        lines = [line.split() for line in f if line.startswith('Udp:')]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def cpu_busy_snapshot() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open('/proc/stat') as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


def loadavg() -> float:
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


def machine() -> dict:
    model = ''
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    mem = ''
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal'):
                mem = f'{int(line.split()[1]) / 1024 / 1024:.1f} GiB'
                break
    info = {'cores': os.cpu_count(), 'cpu': model, 'memory': mem,
            'kernel': os.uname().release, 'python': sys.version.split()[0]}
    try:
        with open('/proc/loadavg') as f:
            info['loadavg_at_start'] = f.read().split()[0]
    except OSError:
        pass
    for name in ('rmem_max', 'wmem_max'):
        try:
            with open(f'/proc/sys/net/core/{name}') as f:
                info[f'net.core.{name}'] = int(f.read())
        except OSError:
            pass
    return info


def git_revision() -> str:
    try:
        rev = subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'], cwd=ROOT, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no', '--',
                                'telephony'], cwd=ROOT, text=True, capture_output=True,
                               timeout=10).stdout.strip()
        return rev + ('+dirty' if dirty else '')
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


# ---------------------------------------------------------------- statistics

def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation; None for no values."""
    if not values:
        return None
    v = sorted(values)
    if len(v) == 1:
        return v[0]
    k = (len(v) - 1) * q / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summary_ms(values_s: Sequence[float]) -> dict:
    """p50/p90/p99/max/mean in milliseconds of a list of seconds."""
    if not values_s:
        return {'n': 0}
    ms = [v * 1000.0 for v in values_s]
    return {'n': len(ms), 'p50': round(percentile(ms, 50), 2), 'p90': round(percentile(ms, 90), 2),
            'p99': round(percentile(ms, 99), 2), 'max': round(max(ms), 2),
            'mean': round(sum(ms) / len(ms), 2), 'min': round(min(ms), 2)}


def nice_rate(r: float) -> int:
    """Round a call rate to two significant digits (5 -> 5, 1234 -> 1200)."""
    if r < 10:
        return max(1, int(round(r)))
    mag = 10 ** (int(math.log10(r)) - 1)
    return int(round(r / mag) * mag)
