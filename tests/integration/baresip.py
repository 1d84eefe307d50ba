"""A headless baresip 1.0 peer for the integration tests.

Each instance gets its own config directory (config + accounts), plays a WAV file as its
microphone (`aufile`), records both directions (`sndfile`: dump-*-enc.wav is what it sent,
dump-*-dec.wav what it received) and is driven through `ctrl_tcp`: netstring-framed JSON
commands in, command responses and events (REGISTER_OK, CALL_ESTABLISHED, CALL_CLOSED, ...)
out.  Only the g711 codec is loaded; no video, no NAT helpers, no sound card.
"""
from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

from .conftest import HOST, LineCollector, WaitTimeout, free_port, stop_process, wait_for

def _sip_port() -> int:
    """A port p free for UDP and TCP with p+1 free for TCP too: baresip binds its TLS
    listener on the SIP port + 1 whatever sip_trans_def says."""
    for _ in range(50):
        p = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind((HOST, p + 1))
        except OSError:
            continue
        return p
    raise RuntimeError('no free port pair for baresip')


CONFIG = """\
poll_method         epoll
sip_listen          {host}:{sip_port}
sip_trans_def       udp
call_local_timeout  120
call_max_calls      4
audio_player        aufile,/dev/null
audio_source        aufile,{source}
audio_alert         aufile,/dev/null
ausrc_srate         8000
auplay_srate        8000
ausrc_channels      1
auplay_channels     1
audio_level         no
rtp_ports           {rtp_min}-{rtp_max}
rtcp_mux            no
jitter_buffer_delay 5-10
module_path         /usr/lib/baresip/modules
module              g711.so
module              aufile.so
module              sndfile.so
snd_path            {record_dir}
module_app          account.so
module_app          menu.so
module_app          ctrl_tcp.so
ctrl_tcp_listen     {host}:{ctrl_port}
"""


class Baresip:
    def __init__(self, name: str, workdir: Path, source_wav: Path):
        self.name = name
        self.dir = Path(workdir)
        self.config_dir = self.dir / 'config'
        self.record_dir = self.dir / 'records'
        self.source_wav = Path(source_wav)
        self.sip_port = _sip_port()
        self.ctrl_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.events: list[dict] = []
        self.responses: list[dict] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._out: LineCollector | None = None
        self._token = 0

    # -- lifecycle -------------------------------------------------------------------
    def start(self, accounts: list[str] = (), rtp_range: tuple[int, int] | None = None,
              timeout: float = 20.0) -> 'Baresip':
        """Start baresip and connect to its ctrl_tcp port.  The accounts are created after the
        connection (`uanew`), so their REGISTER_OK/REGISTER_FAIL events are not missed."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.record_dir.mkdir(parents=True, exist_ok=True)
        rtp_min, rtp_max = rtp_range or (40000, 49999)   # baresip picks a free port inside
        (self.config_dir / 'config').write_text(CONFIG.format(
            host=HOST, sip_port=self.sip_port, source=self.source_wav, rtp_min=rtp_min,
            rtp_max=rtp_max, record_dir=self.record_dir, ctrl_port=self.ctrl_port))
        (self.config_dir / 'accounts').write_text('')
        self.proc = subprocess.Popen(
            ['baresip', '-4', '-n', HOST, '-f', str(self.config_dir)],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors='replace', bufsize=1)
        self._out = LineCollector(self.proc.stdout)

        def connect():
            if self.proc.poll() is not None:
                raise AssertionError(f'baresip {self.name} exited with {self.proc.returncode}:\n'
                                     + self.output())
            try:
                return socket.create_connection((HOST, self.ctrl_port), timeout=1)
            except OSError:
                return None
        self._sock = wait_for(connect, timeout, f'baresip {self.name} ctrl_tcp on {self.ctrl_port}')
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        for line in accounts:
            self.add_account(line)
        return self

    def add_account(self, line: str) -> None:
        """Create a user agent from an accounts line; it registers when it has a regint."""
        r = self.command('uanew', line)
        assert r.get('ok'), f'baresip {self.name}: uanew {line!r} failed: {r}\n{self.output()}'


    def stop(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        if self.proc is not None:
            stop_process(self.proc, grace=10)
        if self._out is not None:
            self._out.join()

    def output(self) -> str:
        return '\n'.join(self._out.snapshot()[-80:]) if self._out else ''

    # -- ctrl_tcp --------------------------------------------------------------------
    def _read_loop(self) -> None:
        buf = b''
        sock = self._sock
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while True:
                colon = buf.find(b':')
                if colon < 0:
                    break
                n = int(buf[:colon])
                if len(buf) < colon + 1 + n + 1:
                    break
                payload = buf[colon + 1:colon + 1 + n]
                buf = buf[colon + 1 + n + 1:]          # drop the trailing ','
                try:
                    msg = json.loads(payload)
                except ValueError:
                    continue
                with self._lock:
                    if msg.get('event'):
                        self.events.append(msg)
                    elif msg.get('response'):
                        self.responses.append(msg)

    def command(self, command: str, params: str = '', timeout: float = 10.0) -> dict:
        """Run a baresip command (e.g. 'dial', 'hangup') and return its response."""
        self._token += 1
        token = f'{self.name}-{self._token}'
        body = json.dumps({'command': command, 'params': params, 'token': token}).encode()
        self._sock.sendall(b'%d:%s,' % (len(body), body))

        def response():
            with self._lock:
                for r in self.responses:
                    if r.get('token') == token:
                        return r
            return None
        try:
            return wait_for(response, timeout, f'baresip {self.name} response to {command}')
        except WaitTimeout as e:
            raise AssertionError(f'{e}\n{self.output()}') from None

    def event_list(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def wait_event(self, type_: str, timeout: float = 20.0, after: int = 0, fail_on=()) -> dict:
        """Wait for an event of `type_` (index >= `after`); fail early on any of `fail_on`."""
        def seen():
            evs = self.event_list()[after:]
            for e in evs:
                if e.get('type') in fail_on:
                    raise AssertionError(f'baresip {self.name}: {e} while waiting for {type_}\n'
                                         + self.output())
                if e.get('type') == type_:
                    return e
            return None
        try:
            return wait_for(seen, timeout, f'baresip {self.name} event {type_}')
        except WaitTimeout as e:
            raise AssertionError(f'{e}; events: {self.event_list()}\n{self.output()}') from None

    # -- recordings ------------------------------------------------------------------
    def recording(self, direction: str) -> Path:
        """The sndfile dump of the last call: 'dec' = received audio, 'enc' = sent audio."""
        files = sorted(self.record_dir.glob(f'dump-*-{direction}.wav'),
                       key=lambda p: p.stat().st_mtime)
        assert files, f'baresip {self.name}: no {direction} recording in {self.record_dir}'
        return files[-1]


def account_line(user: str, password: str, domain: str, proxy_port: int, *,
                 answer_auto: bool = False, regint: int = 600) -> str:
    """A baresip 1.0 accounts line registering user@domain through the server at proxy_port."""
    line = (f'<sip:{user}@{domain};transport=udp>;auth_user={user};auth_pass={password}'
            f';outbound="sip:{HOST}:{proxy_port};transport=udp";regint={regint}')
    if answer_auto:
        line += ';answermode=auto'
    return line

