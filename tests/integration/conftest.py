"""Fixtures for the integration tests: the real server in a subprocess, and real SIP peers
(SIPp, baresip) on 127.0.0.1 with ephemeral ports.

Rules kept here: every process a test starts is stopped by PID at teardown (SIGTERM, then
SIGKILL after a grace period); nothing waits with a bare sleep -- `wait_for` polls a
condition until a deadline.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / 'sipp-scenarios'
HOST = '127.0.0.1'
READY_RE = re.compile(r'telephony ready sip=(?P<sip_host>[^:\s]+):(?P<sip>\d+) \(udp\+tcp\) '
                      r'http=(?P<http_host>[^:\s]+):(?P<http>\d+) data=(?P<data>.+)$')
KV_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


# ---------------------------------------------------------------- waiting and processes

class WaitTimeout(AssertionError):
    pass


def wait_for(predicate, timeout: float, what: str = 'condition', interval: float = 0.05):
    """Poll `predicate` until it returns something truthy (returned) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f'timed out after {timeout:.0f} s waiting for {what}')
        time.sleep(interval)   # polling interval, not synchronisation


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> int | None:
    """SIGTERM the process by PID, SIGKILL it if it outlives `grace`; returns its exit code."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
    return proc.returncode


class LineCollector:
    """Reads a pipe in a background thread into a list of lines."""

    def __init__(self, stream, sink=None):
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._sink = sink
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream):
        for line in iter(stream.readline, ''):
            line = line.rstrip('\n')
            with self._lock:
                self.lines.append(line)
            if self._sink:
                self._sink(line)
        stream.close()

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def join(self, timeout: float = 5.0):
        self._thread.join(timeout)


def free_port(kind: str = 'both') -> int:
    """A port that is free on 127.0.0.1 for UDP and TCP at the time of the call."""
    for _ in range(50):
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
    """An even UDP port p with p..p+n-1 free: SIPp's -mp binds audio RTP/RTCP at p, p+1 and
    video at p+2, p+3."""
    for _ in range(100):
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


def parse_kv(line: str) -> dict[str, str]:
    return {k: v[1:-1] if v.startswith('"') else v for k, v in KV_RE.findall(line)}


# ---------------------------------------------------------------- the server

def worker_rtp_range() -> dict[str, str]:
    """Under pytest-xdist, each worker's servers take RTP ports from their own slice of the
    default range (20000-30000): a flood on one worker must not leave another worker's calls
    without a port (they answered 503 cause 47 when they shared it)."""
    worker = os.environ.get('PYTEST_XDIST_WORKER', '')
    count = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1') or 1)
    if not worker.startswith('gw') or count <= 1:
        return {}
    size = (10000 // count) & ~1
    low = 20000 + int(worker[2:]) % count * size
    return {'TELEPHONY_RTP_PORT_MIN': str(low), 'TELEPHONY_RTP_PORT_MAX': str(low + size - 1)}


class ServerProcess:
    """`telephony serve` on ephemeral ports, with its stderr log collected as it runs."""

    def __init__(self, data_dir: Path, config: Path | None = None, env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.config = config
        self.env = {**os.environ, 'PYTHONUNBUFFERED': '1', **worker_rtp_range(), **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.sip_port = 0
        self.http_port = 0
        self.ready_line = ''
        self._stdout: LineCollector | None = None
        self._stderr: LineCollector | None = None

    def _cli(self, *args: str) -> list[str]:
        cmd = [sys.executable, '-m', 'telephony', *args, '--data', str(self.data_dir)]
        if self.config:
            cmd += ['--config', str(self.config)]
        return cmd

    def start(self, timeout: float = 30.0) -> 'ServerProcess':
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = self._cli('serve', '--sip', f'{HOST}:0', '--http', f'{HOST}:0')
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     errors='replace', bufsize=1)
        self._stdout = LineCollector(self.proc.stdout)
        self._stderr = LineCollector(self.proc.stderr)

        def ready():
            for line in self._stdout.snapshot():
                m = READY_RE.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                raise AssertionError(f'server exited with {self.proc.returncode} before ready:\n'
                                     + self.log_tail())
            return None
        try:
            m = wait_for(ready, timeout, 'the server ready line')
        except WaitTimeout as e:
            self.stop()
            raise AssertionError(f'{e}\n{self.log_tail()}') from None
        self.ready_line = m.group(0)
        self.sip_port = int(m.group('sip'))
        self.http_port = int(m.group('http'))
        return self

    def stop(self, grace: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        rc = stop_process(self.proc, grace)
        for c in (self._stdout, self._stderr):
            if c:
                c.join()
        return rc

    # -- the log (stderr) ------------------------------------------------------------
    def log_lines(self) -> list[str]:
        return self._stderr.snapshot() if self._stderr else []

    def log(self) -> str:
        return '\n'.join(self.log_lines())

    def log_tail(self, n: int = 60) -> str:
        return '\n'.join(self.log_lines()[-n:])

    def events(self, name: str) -> list[dict[str, str]]:
        """The key=value fields of every `event=<name>` log line so far, in order."""
        out = []
        for line in self.log_lines():
            if f'event={name}' in line:
                kv = parse_kv(line)
                if kv.get('event') == name:
                    out.append(kv)
        return out

    def wait_event(self, name: str, timeout: float = 20.0, count: int = 1, **match):
        """Wait until at least `count` event=<name> lines whose fields include `match`."""
        def found():
            hits = [e for e in self.events(name)
                    if all(e.get(k) == str(v) for k, v in match.items())]
            return hits if len(hits) >= count else None
        try:
            return wait_for(found, timeout, f'event={name} {match}')
        except WaitTimeout as e:
            raise AssertionError(f'{e}\nserver log tail:\n{self.log_tail()}') from None

    # -- provisioning and HTTP -------------------------------------------------------
    def add_account(self, user: str, password: str, domain: str | None = None) -> str:
        args = ['sip', 'add', user, '--password', password]
        if domain:
            args += ['--domain', domain]
        r = subprocess.run(self._cli(*args), cwd=ROOT, env=self.env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, f'sip add {user} failed ({r.returncode}): {r.stderr}'
        return r.stdout.strip()

    def http_get(self, path: str, timeout: float = 10.0):
        with urllib.request.urlopen(f'http://{HOST}:{self.http_port}{path}', timeout=timeout) as r:
            body = r.read()
            ctype = r.headers.get('Content-Type', '')
        return json.loads(body) if 'json' in ctype or body[:1] in (b'{', b'[') else body

    def health(self) -> dict:
        return self.http_get('/health')

    def wait_no_calls(self, timeout: float = 20.0) -> dict:
        """Wait until GET /health reports no call."""
        last = {}

        def idle():
            nonlocal last
            last = self.health()
            return last if last.get('calls') == 0 else None
        try:
            return wait_for(idle, timeout, 'GET /health to report calls=0', interval=0.2)
        except WaitTimeout as e:
            raise AssertionError(f'{e}; last /health: {last}\n{self.log_tail()}') from None

    def recordings(self) -> list[Path]:
        d = self.data_dir / 'recordings'
        return sorted(d.glob('*.wav'), key=lambda p: p.stat().st_mtime) if d.is_dir() else []


# ---------------------------------------------------------------- SIPp

@dataclass
class SippResult:
    returncode: int
    cmd: list[str]
    workdir: Path
    stat: dict[str, str] = field(default_factory=dict)

    def _read(self, pattern: str, limit: int | None = 8000) -> str:
        files = sorted(self.workdir.glob(pattern))
        text = '\n'.join(f.read_text(errors='replace') for f in files)
        return text if limit is None else text[-limit:]

    @property
    def errors(self) -> str:
        """The end of SIPp's error log, for failure messages."""
        return self._read('*errors*.log')

    @property
    def all_errors(self) -> str:
        """All of it, to look for one answer among thousands."""
        return self._read('*errors*.log', None)

    @property
    def messages(self) -> str:
        return self._read('*messages*.log')

    @property
    def screen(self) -> str:
        return self._read('*screen*.log', 4000)

    @property
    def output(self) -> str:
        return self._read('sipp.out', 4000)

    def counter(self, name: str) -> int:
        """A cumulative counter of the last statistics row, e.g. 'FailedCall' or 'SuccessfulCall'."""
        v = self.stat.get(f'{name}(C)')
        return int(v) if v not in (None, '') else -1

    def explain(self) -> str:
        return (f'sipp exit code {self.returncode}: {" ".join(self.cmd)}\n'
                f'stat: successful={self.counter("SuccessfulCall")} failed={self.counter("FailedCall")}\n'
                f'--- errors ---\n{self.errors}\n--- output ---\n{self.output}\n'
                f'--- messages (tail) ---\n{self.messages[-5000:]}')


class Sipp:
    """Runs SIPp with the options every test needs, as a subprocess with a timeout."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen] = []
        self._n = 0

    def command(self, target: str, *, scenario: str | Path | None = None, builtin: str | None = None,
                service: str | None = None, calls: int = 1, rate: float | None = None,
                port: int | None = None, media_port: int | None = None, transport: str = 'u1',
                auth: tuple[str, str] | None = None, keys: dict | None = None,
                extra: list[str] = (), global_timeout: int = 60, workdir: Path) -> list[str]:
        cmd = ['sipp']
        if builtin:
            cmd += ['-sn', builtin]
        else:
            path = Path(scenario)
            cmd += ['-sf', str(path if path.is_absolute() else SCENARIOS / path)]
        if target:
            cmd.append(target)
        if service:
            cmd += ['-s', service]
        cmd += ['-i', HOST, '-mi', HOST, '-ci', HOST,
                '-p', str(port or free_port()), '-mp', str(media_port or free_port_block()),
                '-cp', str(free_port('udp')),
                '-t', transport, '-m', str(calls),
                '-timeout', f'{global_timeout}s', '-timeout_error',
                '-recv_timeout', '20000',
                '-nostdin', '-trace_stat', '-stf', str(workdir / 'stat.csv'), '-fd', '1',
                '-trace_err', '-error_file', str(workdir / 'errors.log'),
                '-trace_msg', '-message_file', str(workdir / 'messages.log'),
                '-trace_screen', '-screen_file', str(workdir / 'screen.log')]
        if rate is not None:
            cmd += ['-r', str(rate)]
        if auth:
            cmd += ['-au', auth[0], '-ap', auth[1]]
        for k, v in (keys or {}).items():
            cmd += ['-key', k, str(v)]
        cmd += list(extra)
        return cmd

    def start(self, target: str, **kw) -> tuple[subprocess.Popen, list[str], Path]:
        """Start SIPp in the background (e.g. a UAS); stopped at teardown."""
        self._n += 1
        workdir = self.tmp_path / f'sipp{self._n}'
        workdir.mkdir()
        cmd = self.command(target, workdir=workdir, **kw)
        out = open(workdir / 'sipp.out', 'w')
        # cwd = the scenarios folder so that play_pcap_audio="pcap/..." resolves.
        proc = subprocess.Popen(cmd, cwd=SCENARIOS, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
        out.close()
        self.procs.append(proc)
        return proc, cmd, workdir

    def wait(self, proc: subprocess.Popen, cmd: list[str], workdir: Path,
             timeout: float = 120.0) -> SippResult:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process(proc)
        return SippResult(proc.returncode, cmd, workdir, read_sipp_stat(workdir / 'stat.csv'))

    def run(self, target: str, timeout: float = 120.0, **kw) -> SippResult:
        """Run SIPp to completion (or `timeout`, then it is stopped)."""
        proc, cmd, workdir = self.start(target, **kw)
        return self.wait(proc, cmd, workdir, timeout)

    def stop_all(self):
        for p in self.procs:
            stop_process(p, grace=5)


def read_sipp_stat(path: Path) -> dict[str, str]:
    """The last row of a SIPp statistics CSV (';'-separated), keyed by column name."""
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors='replace').splitlines(), delimiter=';'))
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    return dict(zip(header, last))


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope='session')
def peer_tools():
    """SIPp and baresip must be installed (`make test` installs sip-tester and baresip)."""
    missing = [t for t in ('sipp', 'baresip') if shutil.which(t) is None]
    if missing:
        pytest.fail(f'missing {", ".join(missing)}: run `make test` (installs sip-tester, baresip)',
                    pytrace=False)
    return {t: shutil.which(t) for t in ('sipp', 'baresip')}


@pytest.fixture
def start_server(tmp_path):
    """Factory: start a server (own data dir under tmp_path); all are stopped at teardown."""
    servers: list[ServerProcess] = []

    def start(name: str = 'server', config_text: str | None = None, env: dict | None = None):
        config = None
        if config_text is not None:
            config = tmp_path / f'{name}.toml'
            config.write_text(config_text)
        s = ServerProcess(tmp_path / name / 'data', config, env)
        servers.append(s)
        return s.start()
    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def server(start_server, peer_tools):
    return start_server()


@pytest.fixture
def sipp(tmp_path, peer_tools):
    runner = Sipp(tmp_path)
    yield runner
    runner.stop_all()


def assert_sipp_ok(result: SippResult, calls: int | None = None,
                   server: ServerProcess | None = None):
    """SIPp exit code 0 (all calls succeeded) and, from the stat CSV, no failed call."""
    def explain():
        text = result.explain()
        if server is not None:
            text += '\n--- server log (tail) ---\n' + server.log_tail(40)
        return text
    assert result.returncode == 0, explain()
    assert result.counter('FailedCall') == 0, explain()
    if calls is not None:
        assert result.counter('SuccessfulCall') == calls, explain()
