"""The call-API application the media and API-throughput figures run against, in its own
process: it logs in as the bench user, uploads an announcement, and works every incoming call
to the bench number with one control request:

    answer, record_start (the caller's audio to a recording), play the announcement (5 min)

i.e. the server plays an announcement back and records the incoming audio, through the same
control queue every application uses.

    python -m bench.apiapp --http http://127.0.0.1:PORT --stats FILE [--max-seconds 900]

Prints `apiapp ready announcement=UUID` when it is listening for calls; on SIGTERM (or after
--max-seconds) it writes its counters to --stats and exits.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

from .apiclient import LongPoll, control, login, new_call_uuid, prompt_wav, upload_announcement


def long_prompt(name: str, seconds: float) -> bytes:
    """The prompt repeated (with 0.5 s pauses) for `seconds`, as one WAV: one `play` lasts a
    whole call (a request with dozens of `play` controls costs a lookup per control)."""
    import io
    import wave
    with wave.open(io.BytesIO(prompt_wav(name))) as w:
        rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    one = frames + b'\0' * (width * rate // 2)
    reps = max(1, int(seconds * rate * width / len(one)) + 1)
    out = io.BytesIO()
    with wave.open(out, 'wb') as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(one * reps)
    return out.getvalue()


async def main(args) -> int:
    c = await login(args.http)
    announcement = await upload_announcement(c, long_prompt(args.prompt, args.seconds))
    stats = {'calls': 0, 'answered': 0, 'errors': 0, 'error_samples': [], 'answer_ms': []}
    pending: set[asyncio.Task] = set()
    controls = [{'control': 'answer', 'id': 'answer'}]
    if args.record:
        controls.append({'control': 'record_start', 'limit': 3600, 'id': 'record'})
    controls.append({'control': 'play', 'object': announcement, 'id': 'announcement'})

    async def work(uuid: str, t_event: float) -> None:
        try:
            r = await control(c, uuid, *controls)
        except Exception as e:   # counted, the run goes on
            r = {'status': f'exception {type(e).__name__}: {e}'}
        if r.get('status') == 'ok':
            stats['answered'] += 1
            stats['answer_ms'].append(round((time.time() - t_event) * 1000, 1))
        else:
            stats['errors'] += 1
            if len(stats['error_samples']) < 10:
                stats['error_samples'].append(r)

    def on_event(ev: dict, t: float) -> None:
        uuid = new_call_uuid(ev)
        if uuid:
            stats['calls'] += 1
            task = asyncio.get_running_loop().create_task(work(uuid, t))
            pending.add(task)
            task.add_done_callback(pending.discard)

    reader = LongPoll(c, on_event, timeout=10).start()
    print(f'apiapp ready announcement={announcement}', flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)
    try:
        await asyncio.wait_for(done.wait(), args.max_seconds)
    except asyncio.TimeoutError:
        pass
    await reader.stop()
    for t in list(pending):
        t.cancel()
    await c.aclose()
    ms = sorted(stats.pop('answer_ms'))
    stats['answer_ms_p50'] = ms[len(ms) // 2] if ms else None
    stats['answer_ms_p99'] = ms[min(len(ms) - 1, int(len(ms) * 0.99))] if ms else None
    stats['event_reader_errors'] = reader.errors
    if args.stats:
        with open(args.stats, 'w') as f:
            json.dump(stats, f)
    return 0


def cli() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--http', required=True)
    p.add_argument('--stats', default='')
    p.add_argument('--prompt', default='hello')
    p.add_argument('--seconds', type=float, default=300.0, help='length of the announcement')
    p.add_argument('--no-record', dest='record', action='store_false')
    p.add_argument('--max-seconds', type=float, default=1800)
    args = p.parse_args()
    return asyncio.run(main(args))


if __name__ == '__main__':
    sys.exit(cli())
