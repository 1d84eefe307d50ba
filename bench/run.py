"""`make bench`: the issue 4 figures against our server, side by side with SIPp, Kamailio and
pyVoIP in the same run.

    python -m bench.run                 # full run (~20 min): real figures
    python -m bench.run --quick         # a few seconds per figure: does the harness work?
    python -m bench.run --only a,c      # some figures only
    python -m bench.run --no-refs       # our server only

Writes bench/results/<date>.json (and latest.json) and the summary table in
docs/benchmarks.md. Each figure gets a fresh server; everything started is stopped by PID.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from telephony.config import Settings

from . import api_tput, cps, fax, latency, media, mixer, report
from .common import (BENCH, HOST, ROOT, LineReader, cpu_busy_snapshot, git_revision,
                     install_cleanup, loadavg, log, machine, spawn, stop, wait_for)
from .sipp import finish_uac, make_loop_pcap, start_uac
from .targets import BENCH_NUMBER, Kamailio, PyVoipPhone, SippUas, TelephonyServer

RESULTS = BENCH / 'results'

FULL = {
    'a': {'probe_s': 8, 'confirm_s': 30, 'precision': 0.1, 'budget_s': 200, 'overload_s': 15,
          'start': {'telephony': 200, 'sipp_uas': 2000, 'kamailio_tm': 2000, 'kamailio_sl': 2000,
                    'pyvoip': 20},
          'max': {'telephony': 20000, 'sipp_uas': 30000, 'kamailio_tm': 30000, 'kamailio_sl': 30000,
                  'pyvoip': 400},
          'pyvoip_probe_s': 5, 'pyvoip_confirm_s': 10},
    'b': {'ladder': [50, 100, 200, 400, 800], 'pair_ladder_extra': [1000], 'samples': 10,
          'window': 12.0, 'ramp_rate': 60.0, 'budget_s': 600},
    'c': {'digits': 200},
    'd': {'trials': 200},
    'e': {'calls': 100, 'seconds': 10, 'connections': 10, 'ramp_rate': 50.0},
    'f': {'members': [100, 200, 300, 400, 500], 'room_sizes': [0, 5, -1], 'window': 15.0,
          'warmup': 3.0},
    'g': {'pairs': [50, 100, 150, 200, 300], 'window': 20.0},      # issue 11: fax calls (bench/fax.py)
}
QUICK = {
    'a': {'probe_s': 2, 'confirm_s': 3, 'precision': 0.5, 'budget_s': 30, 'overload_s': 3,
          'start': {'telephony': 50, 'sipp_uas': 100, 'kamailio_tm': 100, 'kamailio_sl': 100,
                    'pyvoip': 5},
          'max': {'telephony': 100, 'sipp_uas': 200, 'kamailio_tm': 200, 'kamailio_sl': 200,
                  'pyvoip': 10},
          'pyvoip_probe_s': 2, 'pyvoip_confirm_s': 3},
    'b': {'ladder': [10], 'pair_ladder_extra': [], 'samples': 4, 'window': 3.0, 'ramp_rate': 20.0,
          'budget_s': 60},
    'c': {'digits': 20},
    'd': {'trials': 20},
    'e': {'calls': 10, 'seconds': 3, 'connections': 4, 'ramp_rate': 20.0},
    'f': {'members': [100, 300], 'room_sizes': [0, 5, -1], 'window': 5.0, 'warmup': 2.0},
    'g': {'pairs': [5], 'window': 10.0},
}


def fresh_server(work: Path, name: str, log_level: str, env: dict | None = None,
                 module: str = 'telephony') -> TelephonyServer:
    d = work / name
    if d.exists():
        shutil.rmtree(d, ignore_errors=True)
    s = TelephonyServer(d, log_level=log_level, env=env, module=module).start()
    s.provision()
    return s


# ---------------------------------------------------------------- (a)

def figure_a(work: Path, p: dict, refs: bool, log_level: str, out: dict, obs: list) -> None:
    """Every target starts fresh, and is restarted after a failed probe: an overloaded target
    is left with thousands of half-finished calls (our server retransmits 200s for 32 s and
    keeps unfinished calls until their timers end), and the next probe must not measure that."""
    def run(t: cps.CpsTarget, key: str, probe_s=None, confirm_s=None) -> dict:
        return cps.search(t, work / 'a', start=p['start'][key], max_rate=p['max'][key],
                          probe_s=probe_s or p['probe_s'], confirm_s=confirm_s or p['confirm_s'],
                          precision=p['precision'], budget_s=p['budget_s'])

    def restartable(key: str, start, service: str, tree: bool = False, server: bool = False):
        """A target whose process `start()` makes; reset() replaces it with a fresh one."""
        live = [start()]
        restarts = [0]
        t = cps.CpsTarget(key, live[0].sip_target, service, live[0].pid, tree=tree)

        def bind():
            cur = live[-1]
            t.sip_target, t.pid = cur.sip_target, cur.pid
            if server:
                t.idle = lambda: cur.wait_idle(20)
                t.health = cur.health

        def reset():
            live[-1].stop()
            live.append(start())
            restarts[0] += 1
            bind()
        bind()
        t.reset = reset
        return t, live, restarts

    n = [0]

    def new_server():
        n[0] += 1
        return fresh_server(work, f'server-a{n[0]}', log_level)

    t, live, restarts = restartable('telephony', new_server, 'echo', server=True)
    try:
        res = run(t, 'telephony')
        res['restarts'] = restarts[0]
        res['health_after'] = live[-1].health()
        shed = sum(pr.get('shed_503', 0) or 0 for pr in res['probes'])
        if shed:
            obs.append(f'(a) our server answered {shed} INVITEs with 503 (load shedding) over the '
                       f'probes; failing probes are listed in the JSON')
        out['figures']['a'] = {'telephony': res}
    finally:
        live[-1].stop()
    if res.get('cps'):
        out['figures']['a']['overload'] = overload(work, res['cps'], p['overload_s'], log_level)
    if not refs:
        return
    ra = out['references'].setdefault('a', {})
    refs_to_run = [('sipp_uas', lambda: SippUas(work / 'a' / 'uas').start(), False)]
    if Kamailio.available():
        refs_to_run += [(f'kamailio_{m}', (lambda m=m: Kamailio(work / 'a' / f'kamailio_{m}', m).start()),
                         True) for m in ('tm', 'sl')]
    else:
        ra['kamailio_tm'] = ra['kamailio_sl'] = {'error': 'kamailio is not installed (make bench installs it)'}
    for key, start, tree in refs_to_run:
        live = None
        try:
            t, live, restarts = restartable(key, start, 'bench', tree=tree)
            ra[key] = run(t, key)
            ra[key]['restarts'] = restarts[0]
        except Exception as e:
            ra[key] = {'error': repr(e)}
            log(traceback.format_exc())
        finally:
            if live:
                live[-1].stop()
    if Kamailio.available() and PyVoipPhone.available():
        try:
            k = Kamailio(work / 'a' / 'pyvoip', 'registrar').start()
            phones = [PyVoipPhone(work / 'a' / 'pyvoip', k.port).start()]
            restarts = []

            def reset():
                # an overloaded pyVoIP phone does not recover (its threads pile up):
                # a new phone registers in its place before the next probe
                phones[-1].stop()
                phones.append(PyVoipPhone(work / 'a' / 'pyvoip', k.port).start())
                t.pid = phones[-1].pid
                restarts.append(time.time())
            try:
                t = cps.CpsTarget('pyvoip', k.sip_target, phones[0].user, phones[0].pid,
                                  extra_pids=(k.pid,), idle=lambda: time.sleep(2) or True,
                                  reset=reset)
                ra['pyvoip'] = run(t, 'pyvoip', p['pyvoip_probe_s'], p['pyvoip_confirm_s'])
                ra['pyvoip']['phone_restarts'] = len(restarts)
            finally:
                phones[-1].stop()
                k.stop()
        except Exception as e:
            ra['pyvoip'] = {'error': repr(e)}
            log(traceback.format_exc())
    else:
        ra['pyvoip'] = {'error': 'kamailio or pyVoIP missing (make bench installs them)'}


def overload(work: Path, capacity: int, seconds: float, log_level: str) -> list[dict]:
    """Past capacity with the gates the server ships with (the search runs without them):
    at 2x and 3x the capacity found, how many calls still complete per second (goodput), and
    how many were refused with 503 rather than left to fail."""
    gates = {'TELEPHONY_MAX_CALL_RATE': str(Settings.max_call_rate),
             'TELEPHONY_MAX_LOOP_CPU': str(Settings.max_loop_cpu)}
    rows = []
    for factor in (2, 3):
        server = fresh_server(work, f'server-a-overload-{factor}x', log_level, env=gates)
        try:
            t = cps.CpsTarget('telephony', server.sip_target, 'echo', server.pid,
                              idle=lambda: server.wait_idle(40), health=server.health)
            r = cps.probe(t, capacity * factor, seconds, work / 'a' / f'overload-{factor}x')
            r['goodput_cps'] = round(r['successful'] / max(r['wall_s'], seconds), 1)
            r['factor'] = factor
            r.pop('sipp_errors_tail', None)
            log(f"overload {factor}x ({capacity * factor}/s): goodput {r['goodput_cps']}/s, "
                f"503 {r.get('shed_503')}, failed {r['failed']}")
            rows.append(r)
        finally:
            server.stop()
    return rows


# ---------------------------------------------------------------- (b), (e): the API application

class ApiApp:
    def __init__(self, server: TelephonyServer, workdir: Path, record: bool = True):
        self.server, self.workdir = server, workdir
        self.record = record
        self.proc = None
        self.stats_path = workdir / 'apiapp.json'

    def start(self) -> 'ApiApp':
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn([sys.executable, '-m', 'bench.apiapp', '--http', self.server.base_url,
                           '--stats', self.stats_path, '--max-seconds', 3600,
                           *([] if self.record else ['--no-record'])],
                          cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=open(self.workdir / 'apiapp.err', 'w'), text=True)
        out = LineReader(self.proc.stdout)
        wait_for(lambda: out.find('apiapp ready') or self.proc.poll() is not None, 60,
                 'the API application')
        if self.proc.poll() is not None:
            raise RuntimeError(f'apiapp exited: {(self.workdir / "apiapp.err").read_text()[-2000:]}')
        return self

    def stop(self) -> dict:
        stop(self.proc, grace=15)
        try:
            return json.loads(self.stats_path.read_text())
        except (OSError, ValueError):
            return {}


def figure_b(work: Path, p: dict, refs: bool, log_level: str, out: dict, obs: list) -> None:
    server = fresh_server(work, 'server-b', log_level)
    app = uas = None
    try:
        app = ApiApp(server, work / 'b').start()
        ours = media.MediaTarget('telephony', server.sip_target, BENCH_NUMBER, server.pid,
                                 idle=lambda: server.wait_idle(90))
        pair = None
        if refs:
            uas = SippUas(work / 'b' / 'uas', rtp_echo=True).start()
            pair = media.MediaTarget('sipp_pair', uas.sip_target, 'bench', uas.pid,
                                     idle=lambda: time.sleep(2) or True)
        t0 = time.monotonic()
        res = media.search(ours, pair, work / 'b', ladder=p['ladder'], samples=p['samples'],
                           window=p['window'], ramp_rate=p['ramp_rate'], budget_s=p['budget_s'])
        res['samples'] = p['samples']
        # the pair's own capacity: p99 gap <= 30 ms, every call held, loss <= 1 %
        if pair is not None:
            def pair_ok(pr):
                return (pr.get('all_held') and (pr.get('gap_p99_ms') or 99) <= media.GAP_LIMIT_MS
                        and (pr.get('loss_pct') or 0) <= 1.0)
            pair_max, pair_failed = 0, False
            for pt in res['points']:
                if pt['pair'] and pair_ok(pt['pair']):
                    pair_max = max(pair_max, pt['n'])
                elif pt['pair']:
                    pair_failed = True
            tried = {pt['n'] for pt in res['points']}
            extra = [n for n in p['ladder'] + p['pair_ladder_extra'] if n not in tried and n > pair_max]
            for n in extra:
                if pair_failed or time.monotonic() - t0 > p['budget_s'] * 1.5:
                    break
                pr = media.measure(pair, n, work / 'b' / f'pair-{n}', samples=p['samples'],
                                   window=p['window'], ramp_rate=p['ramp_rate'])
                res['points'].append({'n': n, 'ours': None, 'pair': pr, 'pass': None})
                if pair_ok(pr):
                    pair_max = n
                else:
                    pair_failed = True
            res['pair_max_calls'] = pair_max
            res['pair_ladder_exhausted'] = not pair_failed
        out['figures']['b'] = res
    finally:
        if uas:
            uas.stop()
        if app:
            out['figures'].setdefault('b', {})['apiapp'] = app.stop()
        server.stop()


def figure_e(work: Path, p: dict, log_level: str, out: dict, obs: list) -> None:
    if not api_tput.available():
        out['figures']['e'] = {'error': 'wrk is not installed (make bench installs it)'}
        return
    server = fresh_server(work, 'server-e', log_level)
    app = sipp = None
    wd = work / 'e'
    try:
        app = ApiApp(server, wd).start()
        n = p['calls']
        ramp = n / p['ramp_rate']
        hold = ramp + 2 * p['seconds'] + 20
        make_loop_pcap(ROOT / 'sipp-scenarios' / 'pcap' / 'g711a.pcap', wd / 'pcap' / 'g711a_loop.pcap',
                       hold + 10)
        sipp, run = start_uac(server.sip_target, wd / 'sipp', cwd=wd, scenario=BENCH / 'uac_media.xml',
                              service=BENCH_NUMBER, rate=p['ramp_rate'], calls=n, limit=n,
                              hold_ms=int(hold * 1000), recv_timeout_ms=30000,
                              global_timeout_s=int(hold + ramp + 90))
        async def sid():
            from .apiclient import login
            c = await login(server.base_url)
            await c.aclose()
            return c.sid
        sid = asyncio.run(sid())
        import httpx
        with httpx.Client(base_url=server.base_url, headers={'Authorization': f'Bearer {sid}'},
                          timeout=30) as hc:
            def answered():
                if sipp.poll() is not None:
                    raise RuntimeError(f'SIPp ended early: {run.tail("sipp.out")}')
                calls = hc.get('/api/call', params={'count': 500}).json().get('call', {})
                return sum(1 for i in calls.values() if i.get('status') == 'answered') >= n
            wait_for(answered, ramp + 60, f'{n} answered calls', 0.5)
        time.sleep(2.0)
        res = api_tput.measure(server.base_url, sid, wd, server.pid,
                               seconds=p['seconds'], connections=p['connections'], expect_calls=n)
        finish_uac(sipp, run, hold + ramp + 120)
        res['sipp_failed'] = run.failed
        res['sipp_successful'] = run.successful
        out['figures']['e'] = res
    finally:
        if sipp:
            stop(sipp, grace=5)
        if app:
            out['figures'].setdefault('e', {})['apiapp'] = app.stop()
        server.stop()


# ---------------------------------------------------------------- (c), (d)

def figure_cd(which: str, work: Path, p: dict, log_level: str, out: dict) -> None:
    server = fresh_server(work, f'server-{which}', log_level)
    try:
        if which == 'c':
            res = asyncio.run(latency.dtmf_figure(server.base_url, HOST, server.sip_port,
                                                  digits=p['digits']))
        else:
            res = asyncio.run(latency.control_figure(server.base_url, HOST, server.sip_port,
                                                     trials=p['trials']))
        out['figures'][which] = res
    finally:
        server.stop()


# ---------------------------------------------------------------- main

def tools() -> str:
    parts = []
    for name, cmd in (('SIPp', ['sipp', '-v']), ('Kamailio', ['kamailio', '-v']), ('wrk', ['wrk', '-v'])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            text = (r.stdout + r.stderr)
            line = next((ln.strip() for ln in text.splitlines()
                         if 'SIPp v' in ln or 'version:' in ln or ln.startswith('wrk ')), '')
            line = line.replace('version: ', '').split(' Copyright')[0]
            parts.append(line if line.lower().startswith(name.lower()) else f'{name} {line}')
        except (OSError, subprocess.SubprocessError):
            parts.append(f'{name} missing')
    try:
        from importlib.metadata import version
        parts.append(f'pyVoIP {version("pyVoIP")}')
    except Exception:
        parts.append('pyVoIP missing')
    return '; '.join(parts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m bench.run', description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='a few seconds per figure (smoke test)')
    ap.add_argument('--only', default='a,b,c,d,e,f,g', help='figures to run, e.g. a,c')
    ap.add_argument('--no-refs', dest='refs', action='store_false', help='skip SIPp/Kamailio/pyVoIP')
    ap.add_argument('--no-doc', dest='doc', action='store_false', help='do not touch docs/benchmarks.md')
    ap.add_argument('--log-level', default='INFO', help="the server's log level (its default: INFO)")
    ap.add_argument('--keep-work', action='store_true', help='keep the working directory')
    ap.add_argument('--merge', default='', metavar='JSON',
                    help='take the figures not run now from this earlier result (e.g. '
                         'bench/results/latest.json), so the table shows a complete set')
    args = ap.parse_args(argv)
    install_cleanup()
    params = QUICK if args.quick else FULL
    only = [x.strip() for x in args.only.split(',') if x.strip()]
    started = time.time()
    stamp = time.strftime('%Y%m%d-%H%M%S', time.gmtime(started))
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f'bench-{stamp}-', dir=RESULTS))
    out = {'meta': {'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started)),
                    'mode': 'quick' if args.quick else 'full', 'figures': only,
                    'git': git_revision(), 'machine': machine(), 'tools': tools(),
                    'server_log_level': args.log_level, 'argv': sys.argv[1:], 'params': params,
                    'workdir': str(work)},
           'figures': {}, 'references': {}, 'observations': []}
    obs = out['observations']
    log(f'bench {out["meta"]["mode"]}: figures {",".join(only)}; work in {work}')
    order = [f for f in ('c', 'd', 'a', 'b', 'e', 'f', 'g') if f in only]
    for f in order:
        log(f'--- figure ({f})')
        busy0, la0, t0 = cpu_busy_snapshot(), loadavg(), time.monotonic()
        try:
            if f == 'a':
                figure_a(work, params['a'], args.refs, args.log_level, out, obs)
            elif f == 'b':
                figure_b(work, params['b'], args.refs, args.log_level, out, obs)
            elif f == 'e':
                figure_e(work, params['e'], args.log_level, out, obs)
            elif f == 'f':
                pf = params['f']
                out['figures']['f'] = mixer.figure(work / 'f', pf['members'], pf['room_sizes'],
                                                   warmup=pf['warmup'], window=pf['window'])
            elif f == 'g':
                out['figures']['g'] = fax.figure(work / 'g', params['g']['pairs'],
                                                 params['g']['window'])
            else:
                figure_cd(f, work, params[f], args.log_level, out)
        except Exception as e:
            log(traceback.format_exc())
            out['figures'].setdefault(f, {})['error'] = f'{type(e).__name__}: {e}'
        busy1 = cpu_busy_snapshot()
        # the whole machine's CPU use during the figure (bench + anything else running)
        out['meta'].setdefault('machine_load', {})[f] = {
            'minutes': round((time.monotonic() - t0) / 60, 1), 'loadavg_before': la0,
            'loadavg_after': loadavg(),
            'machine_busy_pct': round(100.0 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1)}
    out['meta']['duration_min'] = round((time.time() - started) / 60, 1)
    if args.merge:
        prev = json.loads(Path(args.merge).read_text())
        merged = {}
        for f in 'abcdefg':
            if f in only or f not in prev.get('figures', {}):
                continue
            out['figures'][f] = prev['figures'][f]
            if f in prev.get('references', {}):
                out['references'][f] = prev['references'][f]
            if f in prev['meta'].get('machine_load', {}):
                out['meta'].setdefault('machine_load', {})[f] = prev['meta']['machine_load'][f]
            merged[f] = f"{prev['meta']['date']} ({prev['meta'].get('result_file', '')}, git {prev['meta']['git']})"
        out['meta']['merged'] = merged
        out['observations'] = prev.get('observations', []) + out['observations']
    name = f'{stamp}-{out["meta"]["mode"]}.json'
    out['meta']['result_file'] = name
    (RESULTS / name).write_text(json.dumps(out, indent=1, default=str))
    (RESULTS / 'latest.json').write_text(json.dumps(out, indent=1, default=str))
    log(f'results: {RESULTS / name}')
    if args.doc:
        log(f'table: {report.write(out)}')
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    failed = [f for f in only if out['figures'].get(f, {}).get('error')]
    if failed:
        log(f'figures with errors: {failed}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
