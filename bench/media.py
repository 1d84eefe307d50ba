"""Figure (b): concurrent calls with media.

N calls are held open at once: N-K come from SIPp (bench/uac_media.xml: 30 ms A-law speech,
uac_pcap style) and K sample calls from bench/media_probe.py, which sends 20 ms A-law and
records the arrival (kernel timestamp) and sequence number of every packet the target sends.

- our server: the calls go to the bench number, worked by bench/apiapp.py through the call
  API (answer, record_start, play an announcement), so the server records every caller and
  plays to every caller;
- the SIPp pair: the same calls go to SIPp's built-in uas with -rtp_echo, measured the same way
  (its echo of the probe's own packets), at the same N, in the same run.

A count N holds when every call was set up and held, the pooled p99 inter-arrival gap of the
target's RTP at the sample calls is at most 30 ms, and their loss is no worse than the SIPp
pair's at the same N (plus a tolerance of `LOSS_TOLERANCE` percentage points for counting
noise). CPU per call is the target's CPU% (of one core) over the measurement window / N; RSS
per call is (RSS in the window - RSS idle) / N.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from .common import (ROOT, SCENARIOS, CpuMeter, LineReader, log, rss_bytes, socket_inodes,
                     spawn, stop, udp_drops, udp_snmp, wait_for)
from .sipp import finish_uac, make_loop_pcap, read_stat, start_uac

GAP_LIMIT_MS = 30.0
LOSS_TOLERANCE = 0.05     # percentage points


class MediaTarget:
    def __init__(self, name: str, sip_target: str, service: str, pid: int, tree: bool = False,
                 idle=None):
        self.name = name
        self.sip_target = sip_target
        self.service = service
        self.pid = pid
        self.tree = tree
        self.idle = idle or (lambda: True)     # waits until the target has no calls left


def measure(target: MediaTarget, n: int, workdir: Path, *, samples: int = 10, window: float = 20.0,
            warmup: float = 2.0, ramp_rate: float = 50.0) -> dict:
    """Hold n calls on `target` and measure the sample calls' RTP over `window` seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    k = min(samples, n)
    sipp_calls = n - k
    ramp = sipp_calls / ramp_rate if sipp_calls else 0.0
    settle = 2.0
    probe_overhead = k * 0.05 + warmup + 5.0
    hold_s = ramp + settle + probe_overhead + window + 5.0
    pcap = workdir / 'pcap' / 'g711a_loop.pcap'
    make_loop_pcap(SCENARIOS / 'pcap' / 'g711a.pcap', pcap, hold_s + 10)
    rss0 = rss_bytes(target.pid, target.tree)
    res: dict = {'target': target.name, 'n': n, 'sipp_calls': sipp_calls, 'sample_calls': k,
                 'hold_s': round(hold_s, 1), 'window_s': window}
    sipp_proc = sipp_run = None
    t_start = time.monotonic()
    try:
        if sipp_calls:
            sipp_proc, sipp_run = start_uac(
                target.sip_target, workdir / 'sipp', cwd=workdir, scenario=ROOT / 'bench' / 'uac_media.xml',
                service=target.service, rate=ramp_rate, calls=sipp_calls, limit=sipp_calls,
                hold_ms=int(hold_s * 1000), recv_timeout_ms=30000,
                global_timeout_s=int(hold_s + ramp + 90))

            def ramped():
                if sipp_proc.poll() is not None:
                    raise RuntimeError(f'SIPp ended during the ramp: {sipp_run.tail("sipp.out")}')
                rows = read_stat(sipp_run.workdir / 'stat.csv')
                return rows and int(rows[-1].get('TotalCallCreated', 0) or 0) >= sipp_calls
            wait_for(ramped, ramp + 60, 'SIPp to open its calls', 0.25)
            time.sleep(settle)
        out_json = workdir / 'probe.json'
        probe = spawn([sys.executable, '-m', 'bench.media_probe', '--target', target.sip_target,
                       '--service', target.service, '--calls', k, '--window', window,
                       '--warmup', warmup, '--out', out_json],
                      cwd=ROOT, stdout=subprocess.PIPE, stderr=open(workdir / 'probe.err', 'w'),
                      text=True)
        lines = LineReader(probe.stdout)
        wait_for(lambda: lines.find('measuring') or probe.poll() is not None, 60 + k,
                 'the probe calls to be set up')
        meter = CpuMeter(target.pid, target.tree).start()
        inodes = socket_inodes(target.pid) if not target.tree else set()
        drops0, snmp0 = udp_drops(inodes), udp_snmp()
        rss_max = rss_bytes(target.pid, target.tree)
        deadline = time.monotonic() + window + 30
        while not lines.find('measured') and probe.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            rss_max = max(rss_max, rss_bytes(target.pid, target.tree))
        cpu = meter.stop()
        inodes |= socket_inodes(target.pid) if not target.tree else set()
        drops1, snmp1 = udp_drops(inodes), udp_snmp()
        try:
            probe.wait(60)
        except subprocess.TimeoutExpired:
            stop(probe)
        probe_res = json.loads(out_json.read_text()) if out_json.exists() else {'error': 'no result'}
        res['probe'] = probe_res
        res['cpu_percent'] = round(cpu, 1)
        res['cpu_per_call'] = round(cpu / n, 3)
        res['rss_idle_mb'] = round(rss0 / 2 ** 20, 1)
        res['rss_mb'] = round(rss_max / 2 ** 20, 1)
        res['rss_per_call_kb'] = round((rss_max - rss0) / n / 1024, 1)
        res['target_socket_drops'] = drops1 - drops0 if inodes else None
        res['udp_rcvbuf_errors'] = snmp1.get('RcvbufErrors', 0) - snmp0.get('RcvbufErrors', 0)
        if sipp_proc is not None:
            finish_uac(sipp_proc, sipp_run, hold_s + ramp + 120)
            res['sipp_failed'] = sipp_run.failed
            res['sipp_successful'] = sipp_run.successful
            res['sipp_rc'] = sipp_run.returncode
        else:
            res['sipp_failed'] = 0
            res['sipp_successful'] = 0
    finally:
        if sipp_proc is not None:
            stop(sipp_proc, grace=5)
    res['elapsed_s'] = round(time.monotonic() - t_start, 1)
    res['idle_after'] = target.idle()
    p = res.get('probe', {})
    res['gap_p99_ms'] = p.get('gap_ms', {}).get('99')
    res['loss_pct'] = p.get('loss_pct')
    res['all_held'] = (not p.get('error') and p.get('answered') == k and res['sipp_failed'] == 0
                       and res.get('sipp_successful', 0) == sipp_calls and not p.get('silent_streams')
                       and not p.get('remote_hangups'))
    log(f'media {target.name} n={n}: p99 gap={res["gap_p99_ms"]} ms loss={res["loss_pct"]}% '
        f'cpu={res["cpu_percent"]}% rss={res["rss_mb"]} MB held={res["all_held"]}')
    return res


def passes(ours: dict, pair: dict) -> bool:
    if not ours.get('all_held') or ours.get('gap_p99_ms') is None:
        return False
    if ours['gap_p99_ms'] > GAP_LIMIT_MS:
        return False
    pair_loss = pair.get('loss_pct') if pair.get('all_held') else None
    if pair_loss is None:       # the pair itself broke down: compare with its worst case
        pair_loss = 100.0
    return (ours.get('loss_pct') or 0.0) <= pair_loss + LOSS_TOLERANCE


def search(ours: MediaTarget, pair: MediaTarget | None, workdir: Path, *, ladder: list[int],
           samples: int, window: float, ramp_rate: float, budget_s: float) -> dict:
    """Climb the ladder of counts until ours fails; then try the midpoint below the failure
    once. The pair is measured at every count ours is."""
    points = []
    t0 = time.monotonic()
    best = 0
    fail_at = None

    def point(n: int) -> bool:
        kw = dict(samples=samples, window=window, ramp_rate=ramp_rate)
        o = measure(ours, n, workdir / f'ours-{n}', **kw)
        pr = measure(pair, n, workdir / f'pair-{n}', **kw) if pair else {}
        ok = passes(o, pr) if pair else (o.get('all_held') and (o.get('gap_p99_ms') or 99) <= GAP_LIMIT_MS)
        points.append({'n': n, 'ours': o, 'pair': pr, 'pass': ok})
        return ok

    for n in ladder:
        if time.monotonic() - t0 > budget_s:
            log(f'media: time budget spent before n={n}')
            break
        if point(n):
            best = n
        else:
            fail_at = n
            break
    if fail_at is not None and time.monotonic() - t0 < budget_s:
        mid = (best + fail_at) // 2
        if best < mid < fail_at and mid - best >= max(10, best // 5):
            if point(mid):
                best = mid
    at_best = next((p for p in points if p['n'] == best), None)
    return {'max_calls': best, 'first_failure': fail_at,
            'ladder_exhausted': fail_at is None, 'points': points,
            'cpu_per_call': at_best['ours']['cpu_per_call'] if at_best else None,
            'rss_per_call_kb': at_best['ours']['rss_per_call_kb'] if at_best else None,
            'pair_cpu_per_call': at_best['pair'].get('cpu_per_call') if at_best and at_best['pair'] else None,
            'gap_limit_ms': GAP_LIMIT_MS, 'loss_tolerance_pct_points': LOSS_TOLERANCE}
