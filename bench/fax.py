"""Figure (g): concurrent fax sessions at real-time pacing (issue 11).

A child process runs a MediaEngine on uvloop, as the server would, with N fax calls: each is
two RTP endpoints on 127.0.0.1 sending to each other, a sender AudioFaxSession (a two-page
TIFF-F) on one and a receiver on the other, so 2N spandsp terminals run on the one 20 ms
clock. Per point: the process's own CPU over the window (% of one core) and per session, the
CPU time the sessions take per tick, the clock's skipped ticks and lag, and how many calls
got through phase B (the terminals agreed) and how many finished their pages within the
window. A point holds when the clock skipped no tick and every call reached phase B.

    python -m bench.fax --pairs 10,50 --window 20
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import HOST, log, percentile, spawn, stop


async def _serve(pairs: int, window: float, out: Path) -> None:
    from telephony.media.engine import MediaEngine
    from telephony.media.fax.session import AudioFaxSession
    from tests.fax.documents import make_tiff

    work = Path(tempfile.mkdtemp(prefix='bench-fax-'))
    doc = str(make_tiff(work / 'sent.tif', pages=2))
    engine = MediaEngine(HOST)
    await engine.start()
    spent: list[float] = []
    agreed = [0]
    done: list = []
    sessions = []
    for k in range(pairs):
        a, b = await engine.create_endpoint(), await engine.create_endpoint()
        a.configure((HOST, b.local_port), 'PCMA')
        b.configure((HOST, a.local_port), 'PCMA')
        tx = AudioFaxSession(send_file=doc, on_done=done.append)
        rx = AudioFaxSession(receive_file=str(work / f'got-{k}.tif'), on_done=done.append,
                             on_progress=lambda pages: agreed.__setitem__(0, agreed[0] + (not pages)))
        tx.attach(a)
        rx.attach(b)
        sessions += [tx, rx]
    tick = engine._on_tick

    def timed(t: int) -> None:      # CPU time of the whole tick: RTP in, fax, RTP out
        t0 = time.thread_time()
        tick(t)
        spent.append(time.thread_time() - t0)
    engine.clock.remove(tick)
    engine.clock.add(timed)
    print('ready', flush=True)
    skipped0 = engine.clock.skipped
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(window)
    cpu_pct = 100.0 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
    ticks = sorted(spent)
    out.write_text(json.dumps({
        'cpu_pct': round(cpu_pct, 1),
        'ticks': len(ticks), 'ticks_skipped': engine.clock.skipped - skipped0,
        'clock_lag_ms': round(1000 * engine.clock.lag, 2),
        'tick_ms': {str(q): round(1000 * (percentile(ticks, q) or 0), 3) for q in (50, 99)},
        'tick_us_per_session': round(1e6 * sum(ticks) / max(1, len(ticks)) / (2 * pairs), 2),
        'agreed': agreed[0], 'finished_ok': sum(1 for r in done if r.ok and not r.t38) // 2}))
    for s in sessions:
        s.hangup()
    await engine.stop()


def serve_cli(argv) -> int:
    p = argparse.ArgumentParser(prog='python -m bench.fax serve')
    p.add_argument('--pairs', type=int, required=True)
    p.add_argument('--window', type=float, required=True)
    p.add_argument('--out', type=Path, required=True)
    a = p.parse_args(argv)
    import uvloop
    uvloop.install()
    asyncio.run(_serve(a.pairs, a.window, a.out))
    return 0


def measure(pairs: int, workdir: Path, window: float) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f'fax-{pairs}.json'
    proc = spawn([sys.executable, '-m', 'bench.fax', 'serve', '--pairs', pairs,
                  '--window', window, '--out', out], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith('ready'):
            raise RuntimeError(f'fax process did not start: {line!r}')
        proc.wait(timeout=window + 60)
    finally:
        stop(proc)
    res = json.loads(out.read_text()) if out.exists() else {'error': 'no fax stats'}
    res.update({'pairs': pairs, 'sessions': 2 * pairs,
                'cpu_pct_per_session': round(res.get('cpu_pct', 0) / (2 * pairs), 3)})
    res['held'] = res.get('ticks_skipped') == 0 and res.get('agreed') == pairs
    log(f'fax pairs={pairs}: cpu {res["cpu_pct"]} % ({res["cpu_pct_per_session"]} %/session), '
        f'tick {res.get("tick_us_per_session")} us/session, skipped {res.get("ticks_skipped")}, '
        f'agreed {res.get("agreed")}/{pairs}, finished {res.get("finished_ok")}, '
        f'held {res["held"]}')
    return res


def figure(workdir: Path, pairs: list[int], window: float = 20.0) -> dict:
    rows = [measure(n, workdir, window) for n in pairs]
    return {'rows': rows,
            'max_held_pairs': max((r['pairs'] for r in rows if r['held']), default=0)}


def cli(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['serve']:
        return serve_cli(argv[1:])
    p = argparse.ArgumentParser(prog='python -m bench.fax', description=__doc__.split('\n')[0])
    p.add_argument('--pairs', default='10,50')
    p.add_argument('--window', type=float, default=20.0)
    a = p.parse_args(argv)
    work = Path('/tmp') / f'bench-fax-{int(time.time())}'
    print(json.dumps(figure(work, [int(x) for x in a.pairs.split(',')], a.window), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(cli())
