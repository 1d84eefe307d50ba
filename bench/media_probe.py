"""Sample calls for the media figure, in their own process: K calls to a target, each sending
20 ms A-law speech and recording when the target's RTP arrives (kernel receive timestamps) and
with which sequence numbers.

    python -m bench.media_probe --target 127.0.0.1:5060 --service +4930555001 --calls 10 \
        --window 20 --out result.json

Prints `measuring` when the measurement window opens and `measured` when it closes (the
bench reads server CPU over exactly that window), then writes per-stream inter-arrival gaps
and loss to --out.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from .common import percentile
from .sipua import RtpStream, SipError, SipUac, g711a_frames, pacing


async def run(args) -> dict:
    loop = asyncio.get_running_loop()
    host, port = args.target.rsplit(':', 1)
    ua = await SipUac.create()
    streams = [RtpStream(loop) for _ in range(args.calls)]
    frames = g711a_frames()
    result: dict = {'calls': args.calls, 'target': args.target, 'service': args.service}

    async def place(i: int):
        await asyncio.sleep(i * args.spacing)    # do not arrive as one burst
        return await ua.call(host, int(port), args.service, streams[i], timeout=args.setup_timeout)

    outcomes = await asyncio.gather(*(place(i) for i in range(args.calls)), return_exceptions=True)
    dialogs = [d for d in outcomes if not isinstance(d, BaseException)]
    result['setup_failures'] = [str(e) for e in outcomes if isinstance(e, BaseException)]
    result['answered'] = len(dialogs)

    # the sender: every stream one 20 ms frame per tick, on a drift-free schedule
    stop = asyncio.Event()
    send_gaps: list[float] = []

    async def sender():
        k = 0
        start = loop.time()
        last = None
        while not stop.is_set():
            payload = frames[k % len(frames)]
            for d in dialogs:
                d.rtp.send_audio(payload)
            now = time.time()
            if last is not None:
                send_gaps.append(now - last)
            last = now
            k += 1
            delay = start + k * 0.020 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
    send_task = loop.create_task(sender())
    await asyncio.sleep(args.warmup)
    t0 = time.time()
    print('measuring', flush=True)
    await asyncio.sleep(args.window)
    t1 = time.time()
    print('measured', flush=True)
    stop.set()
    await send_task
    await asyncio.gather(*(ua.hangup(d) for d in dialogs), return_exceptions=True)
    ua.close()

    all_gaps: list[float] = []
    per_stream = []
    lost = expected = 0
    remote_hangups = 0
    for d in dialogs:
        ts, seqs = d.rtp.window(t0, t1)
        p = pacing(ts, seqs)
        all_gaps += p['gaps']
        lost += p['lost']
        expected += p['expected']
        if d.ended.done() and d.ended.result() == 'remote':
            remote_hangups += 1
        per_stream.append({'received': p['received'], 'expected': p['expected'], 'lost': p['lost'],
                           'foreign_packets': d.rtp.foreign(),
                           'p99_gap_ms': round(1000 * (percentile(p['gaps'], 99) or 0), 2),
                           'max_gap_ms': round(1000 * max(p['gaps'], default=0), 2)})
    result.update({
        'window_s': round(t1 - t0, 3),
        'packets_expected': expected, 'packets_lost': lost,
        'loss_pct': round(100.0 * lost / expected, 4) if expected else None,
        'gap_ms': {q: round(1000 * (percentile(all_gaps, q) or 0), 2) for q in (50, 90, 99, 99.9)},
        'gap_max_ms': round(1000 * max(all_gaps, default=0), 2),
        'gaps': len(all_gaps),
        'send_gap_p99_ms': round(1000 * (percentile(send_gaps, 99) or 0), 2),
        'remote_hangups': remote_hangups,
        'streams': per_stream,
    })
    # a stream that received nothing in the window is total loss, not "no data"
    silent = sum(1 for s in per_stream if s['received'] == 0)
    result['silent_streams'] = silent
    if silent:
        result['loss_pct'] = 100.0 if not expected else result['loss_pct']
    return result


def cli() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--target', required=True)
    p.add_argument('--service', required=True)
    p.add_argument('--calls', type=int, default=10)
    p.add_argument('--warmup', type=float, default=2.0)
    p.add_argument('--window', type=float, default=20.0)
    p.add_argument('--spacing', type=float, default=0.05)
    p.add_argument('--setup-timeout', type=float, default=20.0)
    p.add_argument('--out', required=True)
    args = p.parse_args()
    try:
        result = asyncio.run(asyncio.wait_for(run(args), args.window + 120))
    except (asyncio.TimeoutError, SipError, OSError) as e:
        result = {'error': f'{type(e).__name__}: {e}'}
    with open(args.out, 'w') as f:
        json.dump(result, f)
    return 0


if __name__ == '__main__':
    sys.exit(cli())
