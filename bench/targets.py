"""The systems under test, each started on 127.0.0.1 and stopped by PID:

- `TelephonyServer`: our server (`telephony serve`), with its own data directory;
- `Kamailio`: Debian's kamailio with bench/kamailio.cfg (stateless, tm, or registrar mode);
- `SippUas`: SIPp's built-in `uas` scenario (optionally `-rtp_echo`);
- `PyVoipPhone`: bench/pyvoip_phone.py, a pyVoIP phone registered to a Kamailio registrar.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from .common import BENCH, HOST, ROOT, LineReader, free_port, free_port_block, log, spawn, stop, \
    wait_for

READY_RE = re.compile(r'telephony ready sip=[^:\s]+:(?P<sip>\d+) \(udp\+tcp\) '
                      r'http=[^:\s]+:(?P<http>\d+)')

BENCH_USER = 'bench'
BENCH_PASSWORD = 'bench-secret-12345'
BENCH_NUMBER = '+4930555001'
RTP_RANGE = {'TELEPHONY_RTP_PORT_MIN': '10000', 'TELEPHONY_RTP_PORT_MAX': '19999'}


class TelephonyServer:
    """`telephony serve` on ephemeral ports; its log goes to a file (not a pipe we must read)."""

    def __init__(self, workdir: Path, log_level: str = 'INFO', env: dict | None = None,
                 module: str = 'telephony'):
        self.workdir = Path(workdir)
        self.module = module    # bench.inspect_server: the same server, with memory reports
        self.data = self.workdir / 'data'
        self.log_path = self.workdir / 'server.log'
        self.log_level = log_level
        # RTP ports of their own: a test suite's servers on this host use the default
        # 20000-30000, and a full range makes every new call fail (and scan the range).
        # No call-rate or CPU gate: the benchmark measures the ceiling, not the configured
        # limits (the lag and pending-INVITE gates stay: they protect calls that are up).
        self.env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'TELEPHONY_MAX_CALL_RATE': '0',
                    'TELEPHONY_MAX_LOOP_CPU': '0', **RTP_RANGE, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.sip_port = self.http_port = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, '-m', self.module, *args, '--data', str(self.data)]

    def start(self, timeout: float = 60.0) -> 'TelephonyServer':
        self.data.mkdir(parents=True, exist_ok=True)
        logf = open(self.log_path, 'a')
        self.proc = spawn(self._cli('serve', '--sip', f'{HOST}:0', '--http', f'{HOST}:0',
                                    '--log-level', self.log_level),
                          cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=logf, text=True)
        logf.close()
        out = LineReader(self.proc.stdout)

        def ready():
            for line in out.snapshot():
                m = READY_RE.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                raise RuntimeError(f'server exited ({self.proc.returncode}); see {self.log_path}')
            return None
        m = wait_for(ready, timeout, 'the server ready line')
        self.sip_port, self.http_port = int(m['sip']), int(m['http'])
        log(f'server pid={self.pid} sip={self.sip_port} http={self.http_port}')
        return self

    def stop(self) -> None:
        stop(self.proc, grace=15)

    def cli(self, *args: str) -> str:
        r = subprocess.run(self._cli(*args), cwd=ROOT, env=self.env, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f'telephony {" ".join(args)} failed: {r.stderr.strip()}')
        return r.stdout.strip()

    def provision(self) -> None:
        """The bench user and its number with call_enable (for the call-API figures)."""
        self.cli('user', 'add', BENCH_USER, '--password', BENCH_PASSWORD)
        self.cli('phone', 'add', BENCH_NUMBER, '--user', BENCH_USER, '--call-enable')

    @property
    def base_url(self) -> str:
        return f'http://{HOST}:{self.http_port}'

    @property
    def sip_target(self) -> str:
        return f'{HOST}:{self.sip_port}'

    def health(self) -> dict:
        with urllib.request.urlopen(self.base_url + '/health', timeout=10) as r:
            return json.loads(r.read())

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Until /health reports no call (after a probe); False if calls remain."""
        try:
            wait_for(lambda: self.health().get('calls') == 0, timeout, 'no calls', 0.25)
            return True
        except (TimeoutError, OSError) as e:
            log(f'server not idle: {e}')
            return False


class Kamailio:
    """kamailio -DD -E with bench/kamailio.cfg; `mode` is 'sl' (stateless 200), 'tm'
    (transaction-stateful 200) or 'registrar' (usrloc + lookup + t_relay)."""

    def __init__(self, workdir: Path, mode: str = 'tm', children: int = 2):
        self.workdir = Path(workdir)
        self.mode = mode
        self.children = children
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @staticmethod
    def available() -> bool:
        return shutil.which('kamailio') is not None

    def start(self, timeout: float = 20.0) -> 'Kamailio':
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port('udp')
        defines = {'sl': [], 'tm': ['-A', 'WITH_TM'], 'registrar': ['-A', 'WITH_REGISTRAR']}[self.mode]
        cmd = ['kamailio', '-DD', '-E', '-f', BENCH / 'kamailio.cfg', '-l', f'udp:{HOST}:{self.port}',
               '-n', str(self.children), '-m', '1024', '-M', '16', '-Y', self.workdir,
               '-P', self.workdir / 'kamailio.pid', *defines]
        logf = open(self.workdir / f'kamailio-{self.mode}.log', 'a')
        self.proc = spawn(cmd, cwd=self.workdir, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        # ready when it answers an OPTIONS
        wait_for(lambda: self.proc.poll() is not None or _sip_options(self.port), timeout,
                 'kamailio to answer OPTIONS', 0.2)
        if self.proc.poll() is not None:
            raise RuntimeError(f'kamailio exited ({self.proc.returncode}); see '
                               f'{self.workdir}/kamailio-{self.mode}.log')
        log(f'kamailio mode={self.mode} pid={self.pid} port={self.port}')
        return self

    @property
    def sip_target(self) -> str:
        return f'{HOST}:{self.port}'

    def stop(self) -> None:
        stop(self.proc, grace=10)


def _sip_options(port: int) -> bool:
    import socket
    import uuid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        s.settimeout(0.3)
        lp = s.getsockname()[1]
        msg = (f'OPTIONS sip:ping@{HOST}:{port} SIP/2.0\r\n'
               f'Via: SIP/2.0/UDP {HOST}:{lp};branch=z9hG4bK{uuid.uuid4().hex}\r\n'
               f'From: <sip:bench@{HOST}:{lp}>;tag=1\r\nTo: <sip:ping@{HOST}:{port}>\r\n'
               f'Call-ID: {uuid.uuid4().hex}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n'
               f'Content-Length: 0\r\n\r\n')
        s.sendto(msg.encode(), (HOST, port))
        try:
            data = s.recv(4096)
        except OSError:
            return False
        return data.startswith(b'SIP/2.0 ')


class SippUas:
    """SIPp's built-in uas (answers INVITE with 180 + 200/SDP, ACK, BYE), -rtp_echo optional."""

    def __init__(self, workdir: Path, rtp_echo: bool = False):
        self.workdir = Path(workdir)
        self.rtp_echo = rtp_echo
        self.port = 0
        self.media_port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> 'SippUas':
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port('udp')
        self.media_port = free_port_block()
        cmd = ['sipp', '-sn', 'uas', '-i', HOST, '-mi', HOST, '-ci', HOST, '-p', self.port,
               '-mp', self.media_port, '-cp', free_port('udp'), '-nostdin',
               '-buff_size', '4194304', '-max_recv_loops', '10000', '-timeout', '3600s']
        if self.rtp_echo:
            cmd.append('-rtp_echo')
        out = open(self.workdir / 'sipp-uas.out', 'a')
        self.proc = spawn(cmd, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        wait_for(lambda: self.proc.poll() is not None or _udp_bound(self.port), 10, 'sipp uas')
        if self.proc.poll() is not None:
            raise RuntimeError(f'sipp uas exited: {(self.workdir / "sipp-uas.out").read_text()}')
        log(f'sipp uas pid={self.pid} port={self.port} rtp_echo={self.rtp_echo}')
        return self

    @property
    def sip_target(self) -> str:
        return f'{HOST}:{self.port}'

    def stop(self) -> None:
        stop(self.proc, grace=5)


def _udp_bound(port: int) -> bool:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


class PyVoipPhone:
    """bench/pyvoip_phone.py in its own process: registers to `registrar_port` as `user`."""

    def __init__(self, workdir: Path, registrar_port: int, user: str = 'pyvoip'):
        self.workdir = Path(workdir)
        self.registrar_port = registrar_port
        self.user = user
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    @staticmethod
    def available() -> bool:
        try:
            import pyVoIP  # noqa: F401
        except ImportError:
            return False
        return True

    def start(self, timeout: float = 30.0) -> 'PyVoipPhone':
        self.workdir.mkdir(parents=True, exist_ok=True)
        # RTP below the ephemeral range (32768-) and above the server's (20000-30000)
        cmd = [sys.executable, '-m', 'bench.pyvoip_phone', '--registrar',
               f'{HOST}:{self.registrar_port}', '--user', self.user, '--sip-port',
               free_port('udp'), '--rtp-low', 30100, '--rtp-high', 32700, '--max-seconds', 3600]
        logf = open(self.workdir / 'pyvoip.log', 'a')
        self.proc = spawn(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=logf, text=True)
        logf.close()
        out = LineReader(self.proc.stdout)
        wait_for(lambda: self.proc.poll() is not None or out.find('pyvoip ready'), timeout,
                 'the pyVoIP phone to register')
        if self.proc.poll() is not None:
            raise RuntimeError(f'pyVoIP phone exited ({self.proc.returncode}); see '
                               f'{self.workdir}/pyvoip.log')
        log(f'pyvoip phone pid={self.pid} registered to {self.registrar_port}')
        return self

    def stop(self) -> None:
        stop(self.proc, grace=10)
