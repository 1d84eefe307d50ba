"""Is memory kept after calls end a leak or a high-water mark?

    python -m bench.rss_rounds [--calls 300] [--rounds 3] [--service echo] [--no-record]
                               [--env NAME=VALUE ...]

One server and its API application, as in figure (b); each round holds the same number of
media calls (answered, recorded, played to), lets them end and, once the lingering
transactions are gone, reads the server's VmRSS. A leak grows every round by about the same
amount; a high-water mark (pymalloc arenas and glibc heaps keep freed memory for reuse)
grows in the first round and then stays put.

Each row also splits the resident memory by mapping (/proc/PID/smaps: the main heap, glibc's
thread arenas, thread stacks, other anonymous maps, files) and counts threads and file
descriptors, so a growth points at its owner. To bisect, `--service echo` calls the demo
echo instead (no API application, no recording, no announcement), `--no-record` leaves out
the recording, and `--env` sets server environment (e.g. MALLOC_ARENA_MAX=2, or a
TELEPHONY_* setting).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

from . import media
from .common import install_cleanup, log, wait_for
from .run import ApiApp, fresh_server
from .targets import BENCH_NUMBER

LINGER_S = 35   # answered transactions linger 32 s (RFC 6026): read RSS after they went
ARENA_ALIGN = 64 << 20          # glibc's thread arenas: heaps of 64 MiB, aligned to 64 MiB


def memory(pid: int) -> dict:
    """Resident KiB by kind of mapping, plus thread and descriptor counts."""
    kinds = dict.fromkeys(('heap', 'arenas', 'stacks', 'anon', 'files'), 0)
    prev_guard_end = None
    maps = 0
    with open(f'/proc/{pid}/smaps') as f:
        head = None
        for line in f:
            first = line.split(None, 1)[0]
            if '-' in first and not first.endswith(':'):
                parts = line.split()
                lo, hi = (int(x, 16) for x in parts[0].split('-'))
                head = (lo, hi, parts[1], parts[5] if len(parts) > 5 else '')
                maps += 1
                continue
            if first != 'Rss:' or head is None:
                continue
            lo, hi, perms, path = head
            rss = int(line.split()[1])
            if path == '[heap]':
                kinds['heap'] += rss
            elif path and not path.startswith('['):
                kinds['files'] += rss
            elif path:
                kinds['anon'] += rss          # [stack], [vdso], ...
            elif lo % ARENA_ALIGN == 0 and perms.startswith('rw'):
                kinds['arenas'] += rss
            elif prev_guard_end == lo:        # right above a ---p guard page: a thread stack
                kinds['stacks'] += rss
            else:
                kinds['anon'] += rss
            prev_guard_end = hi if perms == '---p' and hi - lo == 4096 else None
    out = {k: round(v / 1024, 1) for k, v in kinds.items()}
    with open(f'/proc/{pid}/status') as f:
        st = dict(line.split(':', 1) for line in f)
    out['rss'] = round(int(st['VmRSS'].split()[0]) / 1024, 1)
    out['threads'] = int(st['Threads'])
    out['fds'] = len(os.listdir(f'/proc/{pid}/fd'))
    out['maps'] = maps
    return out


COLUMNS = ('rss', 'heap', 'arenas', 'stacks', 'anon', 'files', 'threads', 'fds', 'maps')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--calls', type=int, default=300)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--service', default=BENCH_NUMBER,
                    help='number called (default: the bench number worked by the API app; '
                         '"echo": the demo echo, no API app)')
    ap.add_argument('--no-record', dest='record', action='store_false')
    ap.add_argument('--env', action='append', default=[], metavar='NAME=VALUE')
    ap.add_argument('--inspect', action='store_true',
                    help='run the server under bench.inspect_server and have it write a memory '
                         'report (malloc totals, objects by type) after each reading')
    args = ap.parse_args()
    install_cleanup()
    work = Path(tempfile.mkdtemp(prefix='rss-rounds-'))
    env = dict(e.split('=', 1) for e in args.env)
    if args.inspect:
        env['INSPECT_OUT'] = str(work)
    server = fresh_server(work, 'server', 'WARNING', env=env,
                          module='bench.inspect_server' if args.inspect else 'telephony')

    def inspect(n: int) -> None:
        if args.inspect:
            os.kill(server.pid, signal.SIGUSR1)
            wait_for(lambda: (work / f'report-{n}.txt').exists(), 300, 'the memory report')

    app = None
    if args.service == BENCH_NUMBER:
        app = ApiApp(server, work / 'app', record=args.record).start()
    try:
        log(f'server pid={server.pid}')
        target = media.MediaTarget('telephony', server.sip_target, args.service, server.pid,
                                   idle=lambda: server.wait_idle(90))
        rows = [('start', memory(server.pid), None)]
        inspect(1)
        for r in range(1, args.rounds + 1):
            res = media.measure(target, args.calls, work / f'round-{r}', window=8.0, ramp_rate=60.0)
            time.sleep(LINGER_S)
            rows.append((f'round {r}', memory(server.pid), res['rss_mb']))
            shutil.copyfile(f'/proc/{server.pid}/smaps', work / f'round-{r}' / 'smaps')
            inspect(r + 1)
            log(f'round {r}: ' + ' '.join(f'{k}={rows[-1][1][k]}' for k in COLUMNS))
        print(f'service={args.service} record={args.record} env={env or "-"} '
              f'calls/round={args.calls}')
        print('| after | idle RSS MB | heap | arenas | stacks | anon | files | threads | fds '
              '| maps | peak RSS MB |')
        print('|---|' + '---|' * 10)
        for name, m, peak in rows:
            print(f'| {name} | ' + ' | '.join(str(m[k]) for k in COLUMNS)
                  + f' | {peak if peak is not None else "—"} |')
        log(f'work in {work}')
    finally:
        if app:
            app.stop()
        server.stop()


if __name__ == '__main__':
    main()
