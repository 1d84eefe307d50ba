"""sipvicious (PyPI `sipvicious` 0.3.x) against the server on 127.0.0.1 (issue 4, item 2).

  - svwar, the extension scanner, cannot tell existing SIP accounts from missing ones, with
    REGISTER, INVITE and OPTIONS scans;
  - svcrack, the digest password cracker, is stopped by the per-address rate limit: with the
    right password late in its list it never gets there;
  - neither places a call: no `event=invite` in the log, GET /health shows no call, and no
    INVITE is answered 200.

svwar gives up after the first answer it cannot classify (a 401/407 that looks like the one
for its random "bad user"), so besides one scan of the whole list, each name is also scanned
alone: every answer is then compared with the bad user's, name by name.  (The demo services
`echo`, `hello`, ... answer anyone by design and are not in the lists.)

svcrack is not given a fixed time: it runs until the server has refused it many more times
than the list is long (or it ends), and is then stopped by PID.  Unthrottled it needs one
challenge and one answer per password; here the server must have checked fewer passwords
than the position of the right one.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import HOST, free_port, stop_process, wait_for

BIN = Path(sys.executable).parent
EXISTING = ['alice', 'bob', '1001']
MISSING = ['mallory', 'carol', '1002']
PASSWORD = 'alice-Secret-9'
WRONG_BEFORE_RIGHT = 50
RUN_TIMEOUT = 60                 # hard cap on any one sipvicious process

TABLE_ROW = re.compile(r'^\|\s*(\S+)\s*\|\s*(\S+)\s*\|$', re.M)
EXISTS = re.compile(r"extension '([^']*)' (?:exists|probably exists)[^\n]*")


def tool(name: str) -> str:
    for candidate in (f'sipvicious_{name}', name):
        path = BIN / candidate
        if path.exists():
            return str(path)
    pytest.fail(f'sipvicious {name} is not installed: run `make test` (test extra: sipvicious)',
                pytrace=False)


def run_tool(name: str, server, *args: str, timeout: float = RUN_TIMEOUT) -> str:
    """Run an svwar/svcrack that ends by itself; its stdout and stderr together."""
    cmd = [tool(name), '-b', HOST, '-x', HOST, '-P', str(free_port('udp')),
           '-p', str(server.sip_port), *args, HOST]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors='replace')
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        out, _ = proc.communicate()
        out += f'\n[stopped after {timeout} s]'
    return out


def found(output: str) -> dict[str, str]:
    """Extension -> classification, from svwar's table and its log lines."""
    hits = {ext: kind for ext, kind in TABLE_ROW.findall(output)
            if ext.lower() not in ('extension', 'username')}
    for m in EXISTS.finditer(output):
        hits.setdefault(m.group(1), m.group(0).split(' ', 2)[2])
    return hits


def answered_invite_200(output: str) -> bool:
    """svwar --debug prints every message it receives: was any INVITE answered 2xx?"""
    for msg in output.split("b'SIP/2.0 ")[1:]:
        if re.match(r'2\d\d ', msg) and re.search(r'CSeq: *\d+ INVITE', msg, re.I):
            return True
    return False


def assert_no_call(server) -> None:
    assert server.health()['calls'] == 0
    invites = [line for line in server.log_lines() if 'event=invite' in line]
    assert not invites, invites


# ---------------------------------------------------------------- svwar

@pytest.fixture
def accounts_server(start_server):
    server = start_server()
    for user in EXISTING:
        server.add_account(user, f'{user}-pw-{len(user)}x')
    return server


def svwar(server, method: str, names: list[str], workdir: Path, tag: str) -> str:
    words = workdir / f'{tag}.txt'
    words.write_text(''.join(f'{n}\n' for n in names))
    return run_tool('svwar', server, '-m', method, '--force', '-v', '--debug', '-d', str(words))


@pytest.mark.parametrize('method', ['REGISTER', 'INVITE', 'OPTIONS'])
def test_svwar_cannot_tell_accounts_from_missing_ones(accounts_server, tmp_path, method):
    server = accounts_server
    names = EXISTING + MISSING

    # one scan over the whole list: nothing found, or everything found the same way
    whole = svwar(server, method, names, tmp_path, 'all')
    hits = found(whole)
    assert not hits or (set(hits) == set(names) and len(set(hits.values())) == 1), \
        f'svwar -m {method} told some names apart: {hits}\n{whole[-3000:]}'
    assert not answered_invite_200(whole), whole[-3000:]

    # each name alone, all at once: every scan must end the same way
    outputs: dict[str, str] = {}

    def scan(name):
        outputs[name] = svwar(server, method, [name], tmp_path, name)
    threads = [threading.Thread(target=scan, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_TIMEOUT + 15)
    assert set(outputs) == set(names), 'an svwar run did not finish'
    summary = {}
    for name, out in outputs.items():
        assert 'Traceback' not in out, out[-3000:]
        hits = found(out)
        assert not answered_invite_200(out), out[-3000:]
        summary[name] = (sorted(hits.values()), 'found nothing' in out)
    assert not any(kinds for kinds, _ in summary.values()) or \
        len({(tuple(k), f) for k, f in summary.values()}) == 1, \
        f'svwar -m {method} answers differ by name: {summary}'
    assert_no_call(server)
    assert 'Traceback' not in server.log(), server.log_tail()


def test_svwar_control_sees_the_open_demo_service(start_server, tmp_path):
    """The detectors above work: `echo` answers anyone by design (README), and svwar sees
    it, gets a 200 to its INVITE, and the server logs the call."""
    server = start_server()
    out = svwar(server, 'INVITE', ['echo'], tmp_path, 'control')
    assert found(out) == {'echo': 'noauth'}, out[-3000:]
    assert answered_invite_200(out)
    server.wait_event('invite')


# ---------------------------------------------------------------- svcrack

def test_svcrack_is_slowed_to_a_crawl(start_server, tmp_path):
    server = start_server()
    server.add_account('alice', PASSWORD)

    # control: with the right password first, svcrack finds it, so the tool works here
    first = tmp_path / 'first.txt'
    first.write_text(f'{PASSWORD}\nnot-it-1\n')
    out = run_tool('svcrack', server, '-u', 'alice', '-d', str(first), '-v')
    assert PASSWORD in out, f'svcrack did not crack the first password:\n{out[-3000:]}'

    # the attack: 50 wrong passwords, then the right one
    words = tmp_path / 'words.txt'
    words.write_text(''.join(f'wrong-{i:02d}-pw\n' for i in range(WRONG_BEFORE_RIGHT))
                     + f'{PASSWORD}\n')
    log = tmp_path / 'svcrack.out'
    cmd = [tool('svcrack'), '-b', HOST, '-x', HOST, '-P', str(free_port('udp')),
           '-p', str(server.sip_port), '-u', 'alice', '-d', str(words), '-v', HOST]
    with open(log, 'w') as sink:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT)
    refusals_needed = 3 * (WRONG_BEFORE_RIGHT + 1)

    def refused_enough_or_done():
        # the log says once a minute that an address is blocked; /health counts every refusal
        return server.health()['auth_blocked'] >= refusals_needed or proc.poll() is not None
    try:
        wait_for(refused_enough_or_done, RUN_TIMEOUT, 'svcrack to be refused '
                 f'{refusals_needed} times', interval=0.2)
        assert server.health()['calls'] == 0           # during the attack
    finally:
        stop_process(proc, grace=5)
    out = log.read_text(errors='replace')

    assert PASSWORD not in out, f'svcrack found the password:\n{out[-3000:]}'
    assert 'cracked users' not in out or 'we have 0 cracked' in out, out[-3000:]
    assert server.health()['auth_blocked'] >= refusals_needed, \
        f'svcrack stopped before the server refused it:\n{out[-3000:]}'
    lines = server.log_lines()
    blocked = [line for line in lines if 'event=auth-blocked' in line]
    checked = [line for line in lines if 'event=auth-failed' in line and 'user=alice' in line]
    assert blocked, 'no event=auth-blocked in the server log'
    assert len(checked) < WRONG_BEFORE_RIGHT, \
        f'the server checked {len(checked)} passwords for alice: the limit did not hold'
    assert_no_call(server)
    assert 'Traceback' not in server.log(), server.log_tail()
