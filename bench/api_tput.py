"""Figure (e): API throughput while calls are active.

`calls` calls are held open by SIPp (bench/uac_media.xml, with audio) to the bench number and
worked by bench/apiapp.py (answer, record, play), as in figure (b). Then wrk (Debian), one
thread and `connections` keep-alive connections, drives for `seconds` each:

- `GET /api/call` (the session's active calls, default count);
- `POST /api/call/(uuid)/control` with `{"queue": "clear", "controls": [{"control": "tone",
  "frequency": 425, "duration": 1000, "loop": 0}]}`, round-robin over the active calls: every
  request is validated, enqueued and answered, and the calls keep sending audio.

A wrk Lua script counts the answers whose body is not `"status":"ok"`; those are reported and
not counted as throughput. The server's CPU% is read over each wrk run.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from .common import CpuMeter, log, spawn, stop

LUA_COMMON = r'''
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 ; good = 0 end
function response(status, headers, body)
  if status == 200 and string.find(body, '"status":"ok"', 1, true) then good = good + 1
  else bad = bad + 1 end
end
function done(summary, latency, requests)
  local b, g = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad") ; g = g + t:get("good") end
  io.write(string.format("BENCH good=%d bad=%d\n", g, b))
end
'''


def _lua_post(uuids: list[str]) -> str:
    body = json.dumps({'queue': 'clear', 'controls': [
        {'control': 'tone', 'frequency': 425, 'duration': 1000, 'loop': 0}]})
    items = ', '.join(f'"{u}"' for u in uuids)
    return LUA_COMMON + f'''
uuids = {{ {items} }}
i = 0
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #uuids + 1
  return wrk.format(nil, "/api/call/" .. uuids[i] .. "/control")
end
'''


def available() -> bool:
    return shutil.which('wrk') is not None


def _parse(out: str) -> dict:
    res: dict = {}
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    res['requests_per_s_raw'] = float(m.group(1)) if m else None
    m = re.search(r'(\d+) requests in ([\d.]+)(\w+)', out)
    if m:
        res['requests'] = int(m.group(1))
    for q in ('50', '90', '99'):
        m = re.search(rf'^\s+{q}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$', out, re.M)
        if m:
            v = float(m.group(1)) * {'us': 0.001, 'ms': 1.0, 's': 1000.0}[m.group(2)]
            res[f'latency_p{q}_ms'] = round(v, 2)
    m = re.search(r'BENCH good=(\d+) bad=(\d+)', out)
    if m:
        res['ok_answers'], res['bad_answers'] = int(m.group(1)), int(m.group(2))
    m = re.search(r'Socket errors: (.*)', out)
    if m:
        res['socket_errors'] = m.group(1).strip()
    return res


def wrk(url: str, sid: str, script: str, seconds: float, connections: int, workdir: Path,
        name: str, pid: int) -> dict:
    lua = workdir / f'{name}.lua'
    lua.write_text(script)
    cmd = ['wrk', '-t1', f'-c{connections}', f'-d{int(seconds)}s', '--latency', '--timeout', '10s',
           '-H', f'Authorization: Bearer {sid}', '-s', str(lua), url]
    meter = CpuMeter(pid).start()
    proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        stop(proc)
        out = ''
    stop(proc)
    cpu = meter.stop()
    (workdir / f'{name}.out').write_text(out)
    res = _parse(out)
    res['server_cpu_percent'] = round(cpu, 1)
    good, bad = res.get('ok_answers'), res.get('bad_answers')
    if res.get('requests_per_s_raw') is not None and good is not None and good + bad:
        res['ok_per_s'] = round(res['requests_per_s_raw'] * good / (good + bad), 1)
    log(f'api {name}: {res.get("ok_per_s")} ok/s (raw {res.get("requests_per_s_raw")}), '
        f'bad={res.get("bad_answers")} p99={res.get("latency_p99_ms")} ms cpu={cpu:.0f}%')
    return res


def measure(base: str, sid: str, workdir: Path, server_pid: int, *, seconds: float,
            connections: int, expect_calls: int) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=base, headers={'Authorization': f'Bearer {sid}'}, timeout=30) as c:
        calls = c.get('/api/call', params={'count': 500}).json().get('call', {})
        uuids = [u for u, info in calls.items() if info.get('status') == 'answered']
        sample = c.get('/api/call').json()
        if not uuids:
            raise RuntimeError(f'no active answered calls to control: {calls}')
        check = c.post(f'/api/call/{uuids[0]}/control', json={'queue': 'clear', 'controls': [
            {'control': 'tone', 'frequency': 425, 'duration': 1000, 'loop': 0}]}).json()
    res = {'active_calls': len(uuids), 'expected_calls': expect_calls, 'seconds': seconds,
           'connections': connections, 'get_sample_status': sample.get('status'),
           'post_sample_status': check.get('status')}
    res['get_call'] = wrk(base + '/api/call', sid, LUA_COMMON, seconds, connections, workdir,
                          'get_call', server_pid)
    time.sleep(1.0)
    res['post_control'] = wrk(base + '/api/call', sid, _lua_post(uuids), seconds, connections,
                              workdir, 'post_control', server_pid)
    with httpx.Client(base_url=base, headers={'Authorization': f'Bearer {sid}'}, timeout=30) as c:
        after = c.get('/api/call', params={'count': 500}).json().get('call', {})
    res['active_calls_after'] = sum(1 for i in after.values() if i.get('status') == 'answered')
    return res
