"""Figure (f): conference members mixed per tick (issue 10).

A mixer process (`python -m bench.mixer serve`) runs a MediaEngine on uvloop with N endpoints
in rooms (one room of N, or rooms of 5), as the server would; this process is the N members,
every one sending 20 ms A-law speech (SIPp's g711a.pcap, so every member talks: the worst
case, each hears its own mix). 20 sampled members have a socket each and record when their
mix arrives (kernel receive timestamps); the others share one sending socket whose mix nobody
reads, so the load generator does not starve the mixer of the box's two cores. Per point: the
mixer process's CPU over the window (% of one core) / N, the time of `mixer.tick` itself per
tick and per member, the clock's skipped ticks, and the pooled p99 inter-arrival gap of the
sampled mixes; a point holds when their p99 gap is <= 30 ms, loss under 1 % and the clock
skipped no tick.

    python -m bench.mixer --members 100,300 --room-sizes 0,5 --window 10
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from .common import HOST, CpuMeter, log, percentile, spawn, stop
from .sipua import PT_PCMA, RtpStream, g711a_frames, pacing

GAP_LIMIT_MS = 30.0
LOSS_LIMIT_PCT = 1.0
QUIET = bytes([0xD5]) * 160   # A-law digital silence: a member who says nothing
SAMPLES = 20           # members whose received mix is timed; the others' mix is not read


# ---------------------------------------------------------------- the mixer process

async def _serve(n: int, room_size: int, base: int, out: Path) -> None:
    from telephony.media.codecs import PCMA
    from telephony.media.engine import MediaEngine

    engine = MediaEngine(HOST, base, base + 2 * n + 20)
    await engine.start()
    eps = [await engine.create_endpoint() for _ in range(n)]
    for i, ep in enumerate(eps):
        ep.configure(codec=PCMA)           # remote latched from the member's first packet
        if room_size < 0:
            ep.echo = True                 # the control: the same streams, no mixer
        else:
            engine.mixer.room(i // room_size if room_size else 0).add(ep)
    spent: list[float] = []
    tick = engine.mixer.tick

    def timed(t: int) -> None:     # CPU time, so a busy box's scheduling does not count
        t0 = time.thread_time()
        tick(t)
        spent.append(time.thread_time() - t0)
    engine.mixer.tick = timed
    print('ready ' + json.dumps([ep.local_port for ep in eps]), flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    skipped0 = [0]

    def window_opens() -> None:
        spent.clear()
        skipped0[0] = engine.clock.skipped
    loop.add_signal_handler(signal.SIGUSR1, window_opens)
    await done.wait()
    ticks = sorted(spent)
    out.write_text(json.dumps({
        'ticks': len(ticks), 'ticks_skipped': engine.clock.skipped - skipped0[0],
        'mixer_stats': engine.mixer.stats(), 'engine': engine.stats(),
        'tick_ms': {str(q): round(1000 * (percentile(ticks, q) or 0), 3) for q in (50, 99)},
        'tick_us_per_member': round(1e6 * sum(ticks) / max(1, len(ticks)) / n, 2)}))
    await engine.stop()


def serve_cli(argv) -> int:
    p = argparse.ArgumentParser(prog='python -m bench.mixer serve')
    p.add_argument('--members', type=int, required=True)
    p.add_argument('--room-size', type=int, default=0)
    p.add_argument('--base', type=int, required=True)
    p.add_argument('--out', type=Path, required=True)
    a = p.parse_args(argv)
    import uvloop
    uvloop.install()
    asyncio.run(_serve(a.members, a.room_size, a.base, a.out))
    return 0


# ---------------------------------------------------------------- the members

class _Bulk:
    """One socket sending the streams of the members that are not sampled (each endpoint
    latches to it and sends its mix back there, where nobody reads: the kernel drops it), so
    the load generator's CPU goes to the sampled members."""

    def __init__(self, ports: list[int], speaks: list[bool]):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.ports = ports
        self.speaks = speaks
        self.seq = self.ts = 0

    def send(self, frames: list[bytes], k: int) -> None:
        self.seq = (self.seq + 1) & 0xffff
        self.ts = (self.ts + 160) & 0xffffffff
        for i, (port, speaks) in enumerate(zip(self.ports, self.speaks)):
            head = struct.pack('!BBHII', 0x80, PT_PCMA, self.seq, self.ts, 0x10000 + i)
            try:
                self.sock.sendto(head + (frames[(k + 7 * i) % len(frames)] if speaks else QUIET),
                                 (HOST, port))
            except (BlockingIOError, InterruptedError):
                pass       # the kernel's send queue is full this tick: a lost packet

    def close(self) -> None:
        self.sock.close()


async def _members(ports: list[int], pid: int, warmup: float, window: float,
                   samples: int, speaks: list[bool]) -> dict:
    loop = asyncio.get_running_loop()
    streams = [RtpStream(loop) for _ in ports[:samples]]
    for s, port in zip(streams, ports):
        s.remote = (HOST, port)
    bulk = _Bulk(ports[samples:], speaks[samples:])
    frames = g711a_frames()
    stop_send = asyncio.Event()

    async def sender():
        k, start = 0, loop.time()
        while not stop_send.is_set():
            for i, s in enumerate(streams):     # members at different points of the speech
                s.send_audio(frames[(k + 7 * i) % len(frames)] if speaks[i] else QUIET)
            bulk.send(frames, k)
            k += 1
            delay = start + k * 0.020 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
    task = loop.create_task(sender())
    await asyncio.sleep(warmup)
    os.kill(pid, signal.SIGUSR1)
    cpu, own = CpuMeter(pid).start(), CpuMeter(os.getpid()).start()
    t0 = time.time()
    await asyncio.sleep(window)
    t1 = time.time()
    percent, driver = cpu.stop(), own.stop()
    stop_send.set()
    await task
    bulk.close()
    gaps: list[float] = []
    lost = expected = silent = 0
    for s in streams:
        ts, seqs = s.window(t0, t1)
        pc = pacing(ts, seqs)
        gaps += pc['gaps']
        lost += pc['lost']
        expected += pc['expected']
        silent += pc['received'] == 0
        s.close()
    return {'cpu_pct': round(percent, 1), 'driver_cpu_pct': round(driver, 1),
            'window_s': round(t1 - t0, 2), 'sampled_members': len(streams),
            'gap_ms': {str(q): round(1000 * (percentile(gaps, q) or 0), 2) for q in (50, 99)},
            'loss_pct': round(100.0 * lost / expected, 3) if expected else 100.0,
            'silent_streams': silent}


def measure(n: int, room_size: int, workdir: Path, base: int, *, warmup: float = 3.0,
            window: float = 10.0, samples: int = SAMPLES, talkers: int = 0) -> dict:
    """talkers: how many members of each room speak (the others send silence); 0: all."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f'mixer-{n}-{room_size}.json'
    proc = spawn([sys.executable, '-m', 'bench.mixer', 'serve', '--members', n,
                  '--room-size', room_size, '--base', base, '--out', out],
                 stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith('ready '):
            raise RuntimeError(f'mixer process did not start: {line!r}')
        ports = json.loads(line[6:])
        speaks = [not talkers or (i % room_size if room_size > 0 else i) < talkers
                  for i in range(n)]
        res = asyncio.run(_members(ports, proc.pid, warmup, window, samples, speaks))
    finally:
        stop(proc)
    res.update(json.loads(out.read_text()) if out.exists() else {'error': 'no mixer stats'})
    res.update({'members': n, 'layout': layout(room_size), 'talkers_per_room': talkers or 'all',
                'cpu_pct_per_member': round(res['cpu_pct'] / n, 3)})
    res['held'] = (res['gap_ms']['99'] <= GAP_LIMIT_MS and res['loss_pct'] < LOSS_LIMIT_PCT
                   and not res['silent_streams'] and not res.get('ticks_skipped'))
    log(f'mixer n={n} {layout(room_size)} talkers {talkers or "all"}: cpu {res["cpu_pct"]} % '
        f'({res["cpu_pct_per_member"]} %/member), tick {res.get("tick_us_per_member")} us/member, '
        f'p99 gap {res["gap_ms"]["99"]} ms, loss {res["loss_pct"]} %, '
        f'skipped {res.get("ticks_skipped")} ticks, driver cpu {res["driver_cpu_pct"]} %, '
        f'held {res["held"]}')
    return res


def figure(workdir: Path, members: list[int], room_sizes: list[int], base: int = 32000,
           warmup: float = 3.0, window: float = 10.0, talkers: int = 0) -> dict:
    rows = [measure(n, rs, workdir, base, warmup=warmup, window=window, talkers=talkers)
            for rs in room_sizes for n in members]
    held = {layout(rs): max((r['members'] for r in rows if r['layout'] == layout(rs) and r['held']),
                            default=0) for rs in room_sizes}
    return {'rows': rows, 'max_held': held}


def layout(room_size: int) -> str:
    return 'echo, no mixer' if room_size < 0 else 'one room' if room_size == 0 \
        else f'rooms of {room_size}'


def cli(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['serve']:
        return serve_cli(argv[1:])
    p = argparse.ArgumentParser(prog='python -m bench.mixer', description=__doc__.split('\n')[0])
    p.add_argument('--members', default='100,300')
    p.add_argument('--room-sizes', default='0,5,-1',
                   help='0: one room of all members; -1: echo instead of a mix (the control)')
    p.add_argument('--window', type=float, default=10.0)
    p.add_argument('--warmup', type=float, default=3.0)
    p.add_argument('--talkers', type=int, default=0,
                   help='members of each room who speak, the others send silence (0: all)')
    p.add_argument('--out', type=Path, default=None, help='write the result JSON here')
    a = p.parse_args(argv)
    work = Path('/tmp') / f'bench-mixer-{int(time.time())}'
    res = figure(work, [int(x) for x in a.members.split(',')],
                 [int(x) for x in a.room_sizes.split(',')], warmup=a.warmup, window=a.window,
                 talkers=a.talkers)
    text = json.dumps(res, indent=1)
    if a.out:
        a.out.write_text(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(cli())
