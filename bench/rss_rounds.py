"""Is memory kept after calls end a leak or a high-water mark?

    python -m bench.rss_rounds [--calls 300] [--rounds 3]

One server and its API application, as in figure (b); each round holds the same number of
media calls (answered, recorded, played to), lets them end and, once the lingering
transactions are gone, reads the server's VmRSS. A leak grows every round by about the same
amount; a high-water mark (pymalloc arenas and glibc heaps keep freed memory for reuse)
grows in the first round and then stays put.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from . import media
from .common import install_cleanup, log, rss_bytes
from .run import ApiApp, fresh_server
from .targets import BENCH_NUMBER

LINGER_S = 35   # answered transactions linger 32 s (RFC 6026): read RSS after they went


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--calls', type=int, default=300)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args()
    install_cleanup()
    work = Path(tempfile.mkdtemp(prefix='rss-rounds-'))
    server = fresh_server(work, 'server', 'WARNING')
    app = ApiApp(server, work / 'app').start()
    try:
        target = media.MediaTarget('telephony', server.sip_target, BENCH_NUMBER, server.pid,
                                   idle=lambda: server.wait_idle(90))
        mb = lambda: round(rss_bytes(server.pid) / 2 ** 20, 1)   # noqa: E731
        rows = [('start', mb(), None)]
        for r in range(1, args.rounds + 1):
            res = media.measure(target, args.calls, work / f'round-{r}', window=8.0, ramp_rate=60.0)
            time.sleep(LINGER_S)
            rows.append((f'round {r}', mb(), res['rss_mb']))
        print(f'| after | idle RSS MB | peak RSS MB ({args.calls} calls) |')
        print('|---|---|---|')
        for name, idle, peak in rows:
            print(f'| {name} | {idle} | {peak if peak is not None else "—"} |')
        log(f'work in {work}')
    finally:
        app.stop()
        server.stop()


if __name__ == '__main__':
    main()
