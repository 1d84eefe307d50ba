"""Figures (c) DTMF to event and (d) control to audio, each one call from the bench UA
(bench/sipua.py) to the bench number, worked through the call API.

(c) The UA sends RFC 4733 digits (5 packets of 20 ms, then the end packet three times, as a
    phone does; 20 ms A-law between digits). The time of a digit is when its first end packet
    left the UA's socket. A long-polling client (GET /api/event) and a WebSocket client
    (/api/event/ws), each with its own session, timestamp the `call_dtmf` event when it arrives.
    The next digit goes once both have it (or after 3 s).
(d) The call is answered and left without audio (the server sends no RTP). The bench POSTs a
    `tone` (1000 Hz, 200 ms) or a `play` (a 300 ms, 800 Hz announcement), alternately, at a
    random phase; the time is from just before the POST to the kernel arrival time of the first
    RTP packet whose payload is not silence. The next trial starts once the audio has stopped.
"""
from __future__ import annotations

import asyncio
import random
import time

from .apiclient import LongPoll, WebSocketEvents, control, login, new_call_uuid, tone_wav, \
    upload_announcement
from .common import log, summary_ms
from .sipua import RtpStream, SipUac, g711a_frames
from .targets import BENCH_NUMBER

SILENT_PCMA = b'\xd5' * 160


class _Call:
    """One UA call to the bench number, answered by `c` with `controls`."""

    def __init__(self, base: str, sip_host: str, sip_port: int):
        self.base, self.sip_host, self.sip_port = base, sip_host, sip_port
        self.uuid: str | None = None
        self.answered = asyncio.Event()

    async def open(self, c, reader_events: list, controls: list[dict], keep_loudness=False):
        loop = asyncio.get_running_loop()
        self.ua = await SipUac.create()
        self.rtp = RtpStream(loop, keep_loudness=keep_loudness)
        self.c = c

        async def answer(uuid):
            r = await control(c, uuid, *controls)
            if r.get('status') != 'ok':
                log(f'answer failed: {r}')

        def on_event(ev, t):
            reader_events.append((ev, t))
            uuid = new_call_uuid(ev)
            if uuid and self.uuid is None:
                self.uuid = uuid
                loop.create_task(answer(uuid))
        self.on_event = on_event
        self.dialog = await self.ua.call(self.sip_host, self.sip_port, BENCH_NUMBER, self.rtp,
                                         timeout=30)
        return self.dialog

    async def close(self):
        await self.ua.hangup(self.dialog)
        self.ua.close()


async def dtmf_figure(base: str, sip_host: str, sip_port: int, digits: int = 200) -> dict:
    lp_client = await login(base)
    ws_session = await login(base)
    lp_times: list[tuple[str, float]] = []
    ws_times: list[tuple[str, float]] = []
    events: list = []
    call = _Call(base, sip_host, sip_port)
    got = asyncio.Event()

    def on_lp(ev, t):
        call.on_event(ev, t)
        if ev.get('event') == 'call_dtmf' and ev.get('call') == call.uuid:
            lp_times.append((ev['digit'], t))
            got.set()

    def on_ws(ev, t):
        if ev.get('event') == 'call_dtmf' and ev.get('call') == call.uuid:
            ws_times.append((ev['digit'], t))
            got.set()

    ws = WebSocketEvents(base, ws_session.sid, on_ws).start()
    await asyncio.wait_for(ws.ready.wait(), 20)
    call.on_event = lambda ev, t: None          # replaced by open()
    lp = LongPoll(lp_client, lambda ev, t: on_lp(ev, t), timeout=20).start()
    await call.open(lp_client, events, [{'control': 'answer'},
                                        {'control': 'dtmf_collect', 'enable': True}])
    rtp = call.rtp
    loop = asyncio.get_running_loop()
    frames = g711a_frames()
    busy = asyncio.Event()        # set while a digit is being sent: no audio then
    stop = asyncio.Event()

    async def audio():
        k = 0
        start = loop.time()
        while not stop.is_set():
            if not busy.is_set():
                rtp.send_audio(frames[k % len(frames)] if k % 50 < 25 else SILENT_PCMA)
            k += 1
            d = start + k * 0.02 - loop.time()
            if d > 0:
                await asyncio.sleep(d)
    audio_task = loop.create_task(audio())
    # wait until the call is answered with dtmf_collect on (the control returned ok)
    await asyncio.sleep(1.0)
    sent: list[tuple[str, float]] = []
    keys = '0123456789*#'
    lost = 0
    t_begin = time.monotonic()
    for i in range(digits):
        d = keys[i % len(keys)]
        busy.set()
        ts = rtp.tx_ts
        start = loop.time()
        t_end = None
        for j in range(8):
            end = j >= 5
            dur = 160 * min(j + 1, 6)
            t = rtp.send_event(d, dur, end, j == 0, ts)
            if end and t_end is None:
                t_end = t
            delay = start + (j + 1) * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        rtp.tx_ts = ts + 160 * 6
        busy.clear()
        sent.append((d, t_end))
        deadline = loop.time() + 3.0
        while (len(lp_times) <= i or len(ws_times) <= i) and loop.time() < deadline:
            got.clear()
            try:
                await asyncio.wait_for(got.wait(), max(0.01, deadline - loop.time()))
            except asyncio.TimeoutError:
                break
        if len(lp_times) <= i or len(ws_times) <= i:
            lost += 1
            # keep indices aligned: pad what is missing
            while len(lp_times) <= i:
                lp_times.append((None, None))
            while len(ws_times) <= i:
                ws_times.append((None, None))
        await asyncio.sleep(random.uniform(0.06, 0.14))
    elapsed = time.monotonic() - t_begin
    stop.set()
    await audio_task
    await call.close()
    await lp.stop()
    await ws.stop()
    await lp_client.aclose()
    await ws_session.aclose()

    def lat(times):
        out, wrong = [], 0
        for (d, t0), (dd, t1) in zip(sent, times):
            if t1 is None:
                continue
            if dd != d:
                wrong += 1
                continue
            out.append(t1 - t0)
        return out, wrong
    lp_lat, lp_wrong = lat(lp_times)
    ws_lat, ws_wrong = lat(ws_times)
    res = {'digits_sent': len(sent), 'missing': lost, 'elapsed_s': round(elapsed, 1),
           'long_poll': {**summary_ms(lp_lat), 'wrong_digit': lp_wrong},
           'websocket': {**summary_ms(ws_lat), 'wrong_digit': ws_wrong}}
    log(f'dtmf: long-poll p50={res["long_poll"].get("p50")} p99={res["long_poll"].get("p99")} ms; '
        f'websocket p50={res["websocket"].get("p50")} p99={res["websocket"].get("p99")} ms; '
        f'missing={lost}')
    return res


async def control_figure(base: str, sip_host: str, sip_port: int, trials: int = 200) -> dict:
    c = await login(base)
    clip = await upload_announcement(c, tone_wav(800.0, 0.3))
    events: list = []
    call = _Call(base, sip_host, sip_port)
    lp = LongPoll(c, lambda ev, t: call.on_event(ev, t), timeout=20)
    call.on_event = lambda ev, t: None
    lp.start()
    await call.open(c, events, [{'control': 'answer'}], keep_loudness=True)
    rtp = call.rtp
    loud = asyncio.Event()
    state = {'since': 0.0, 'first': None}

    def on_packet(t, seq, pt, payload):
        if t >= state['since'] and state['first'] is None and rtp.loud and rtp.loud[-1]:
            state['first'] = t
            loud.set()
    rtp.on_packet = on_packet
    # a few packets from us so that the server has latched; then make sure it is quiet
    for _ in range(5):
        rtp.send_audio(SILENT_PCMA)
        await asyncio.sleep(0.02)
    await _quiet(rtp, 0.3, 5.0)
    results: dict[str, list[float]] = {'tone': [], 'play': []}
    http_ms: dict[str, list[float]] = {'tone': [], 'play': []}
    missed = {'tone': 0, 'play': 0}
    errors = []
    for i in range(trials):
        kind = 'tone' if i % 2 == 0 else 'play'
        ctl = ({'control': 'tone', 'frequency': 1000, 'duration': 200, 'loop': 1}
               if kind == 'tone' else {'control': 'play', 'object': clip})
        await asyncio.sleep(random.uniform(0.0, 0.04))
        loud.clear()
        state['first'] = None
        t0 = time.time()
        state['since'] = t0
        r = await control(c, call.uuid, ctl)
        t_http = time.time()
        if r.get('status') != 'ok':
            errors.append(r)
            if len(errors) > 5:
                break
            continue
        try:
            await asyncio.wait_for(loud.wait(), 3.0)
            results[kind].append(state['first'] - t0)
            http_ms[kind].append(t_http - t0)
        except asyncio.TimeoutError:
            missed[kind] += 1
        await _quiet(rtp, 0.12, 3.0)
    await call.close()
    await lp.stop()
    await c.aclose()
    both = results['tone'] + results['play']
    res = {'trials': trials, 'all': summary_ms(both), 'tone': summary_ms(results['tone']),
           'play': summary_ms(results['play']), 'http_response': summary_ms(http_ms['tone'] + http_ms['play']),
           'missed': missed, 'errors': errors[:5]}
    log(f'control: p50={res["all"].get("p50")} p99={res["all"].get("p99")} ms '
        f'(tone p99={res["tone"].get("p99")}, play p99={res["play"].get("p99")}) missed={missed}')
    return res


async def _quiet(rtp: RtpStream, gap: float, timeout: float) -> bool:
    """Until no packet has arrived for `gap` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = rtp.t[-1] if rtp.t else 0.0
        idle = time.time() - last
        if idle >= gap:
            return True
        await asyncio.sleep(gap - idle + 0.005)
    return False
