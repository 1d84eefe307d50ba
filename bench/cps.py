"""Figure (a): calls per second.

SIPp's built-in `uac` (INVITE, 200, ACK, BYE; no hold: -d 0) at a fixed rate for a fixed
number of calls. A rate holds when:

- SIPp exits 0 with every call successful and 0 failed;
- the run took no longer than the calls need at that rate (+15 % + 2 s): the target kept up;
- retransmissions do not grow: in total at most max(3, 0.5 % of the calls), and the second half
  of the run has no more than 1.5 x the first half + max(3, 0.1 % of the calls).

The search doubles the rate from `start` until a probe fails, bisects between the last rate that
held and the first that did not (to `precision`), then confirms the rate found over `confirm`
seconds, stepping down 10 % (at most `retries` times) if the confirmation fails. Between probes
the target is given time to drain (our server: until /health shows no call, at most 20 s). A
failed probe is repeated once at the same rate; only two failures in a row count as a failure.
"""
from __future__ import annotations

import time
from pathlib import Path

from .common import CpuMeter, log, nice_rate
from .sipp import run_uac


class CpsTarget:
    def __init__(self, name: str, sip_target: str, service: str, pid: int, tree: bool = False,
                 idle=None, health=None, extra_pids: tuple[int, ...] = (), reset=None):
        self.name = name
        self.sip_target = sip_target
        self.service = service
        self.pid = pid
        self.tree = tree
        self.idle = idle or (lambda: time.sleep(1.0) or True)
        self.health = health
        self.extra_pids = extra_pids
        self.reset = reset      # called after a failed probe (a target that does not recover)


def probe(t: CpsTarget, rate: int, seconds: float, workdir: Path) -> dict:
    calls = max(1, int(round(rate * seconds)))
    meter = CpuMeter(t.pid, t.tree).start()
    extra = [CpuMeter(p, True).start() for p in t.extra_pids]
    shed0 = _shed(t)
    run = run_uac(t.sip_target, workdir, service=t.service, rate=rate, calls=calls,
                  hold_ms=0, recv_timeout_ms=5000, global_timeout_s=int(seconds * 3 + 30),
                  timeout=seconds * 3 + 60)
    cpu = meter.stop()
    retr = run.periodic('Retransmissions(P)')
    half = len(retr) // 2
    first, second = sum(retr[:half]), sum(retr[half:])
    total_retr = run.retransmissions
    expected_wall = calls / rate
    checks = {
        'exit_0': run.returncode == 0,
        'all_successful': run.successful == calls and run.failed == 0,
        'kept_pace': run.wall <= expected_wall * 1.15 + 2.0,
        'retrans_bounded': total_retr <= max(3, 0.005 * calls),
        'retrans_not_growing': second <= 1.5 * first + max(3, 0.001 * calls),
    }
    res = {'rate': rate, 'calls': calls, 'seconds': seconds, 'wall_s': round(run.wall, 2),
           'successful': run.successful, 'failed': run.failed, 'retransmissions': total_retr,
           'retrans_first_half': first, 'retrans_second_half': second,
           'achieved_cps': round(run.successful / run.wall, 1) if run.wall else 0,
           'response_ms_mean': run.response_ms(), 'cpu_percent': round(cpu, 1),
           'checks': checks, 'pass': all(checks.values())}
    if extra:
        res['extra_cpu_percent'] = [round(m.stop(), 1) for m in extra]
    shed1 = _shed(t)
    if shed0 is not None and shed1 is not None:
        res['shed_503'] = shed1 - shed0
    if not res['pass']:
        res['sipp_errors_tail'] = run.tail('errors.log', 1500)
    if res['pass'] or t.reset is None:     # a failed target with a reset is replaced instead
        t.idle()
    if t.health is not None:
        try:
            res['calls_left_after_drain'] = t.health().get('calls')
        except OSError:
            pass
    log(f'cps {t.name} rate={rate}: pass={res["pass"]} ok={run.successful}/{calls} '
        f'failed={run.failed} retrans={total_retr} wall={run.wall:.1f}s cpu={cpu:.0f}% '
        + ' '.join(k for k, v in checks.items() if not v))
    return res


def _shed(t: CpsTarget):
    if t.health is None:
        return None
    try:
        return t.health().get('shed')
    except OSError:
        return None


def search(t: CpsTarget, workdir: Path, *, start: int, max_rate: int, probe_s: float,
           confirm_s: float, precision: float = 0.1, retries: int = 3, min_rate: int = 1,
           budget_s: float = 300.0) -> dict:
    t0 = time.monotonic()
    probes: list[dict] = []
    n = 0

    def run(rate: int, seconds: float, repeat: bool = True) -> bool:
        """A probe; a failure is believed only if a second probe at the same rate fails too
        (one scheduling hiccup on a shared 2-core box must not end the search)."""
        nonlocal n
        for attempt in ((1, 2) if repeat else (1,)):
            n += 1
            r = probe(t, rate, seconds, workdir / f'{t.name}-{n:02d}-{rate}')
            r['attempt'] = attempt
            probes.append(r)
            if r['pass']:
                return True
            if t.reset is not None:
                t.reset()
            if time.monotonic() - t0 > budget_s:
                break
        return False

    lo, hi = 0, None
    rate = start
    # up (or down, if the start already fails)
    while True:
        if time.monotonic() - t0 > budget_s:
            break
        if run(rate, probe_s):
            lo = rate
            if hi is not None or rate >= max_rate:
                break
            rate = min(max_rate, rate * 2)
        else:
            hi = rate
            if lo:
                break
            if rate <= min_rate:
                break
            rate = max(min_rate, nice_rate(rate / 2))
    # bisect
    while lo and hi and (hi - lo) / hi > precision and time.monotonic() - t0 < budget_s:
        mid = nice_rate((lo + hi) / 2)
        if mid <= lo or mid >= hi:
            break
        if run(mid, probe_s):
            lo = mid
        else:
            hi = mid
    # confirm
    confirmed = None
    cpu = None
    tries = 0
    found = lo
    while lo and tries <= retries and time.monotonic() - t0 < budget_s * 1.5:
        tries += 1
        if run(lo, confirm_s, repeat=False):
            confirmed = lo
            cpu = probes[-1]['cpu_percent']
            break
        hi = lo
        lo = nice_rate(lo * 0.9) if lo > min_rate else 0
    return {'target': t.name, 'cps': confirmed or 0, 'cpu_percent': cpu, 'probe_rate': found,
            'first_failed_rate': hi, 'confirm_s': confirm_s, 'probe_s': probe_s,
            'capped_at_max': confirmed == max_rate, 'probes': probes,
            'elapsed_s': round(time.monotonic() - t0, 1)}
