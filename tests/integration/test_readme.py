"""The README's "Driving calls over HTTP" walkthrough, run as written against the real server:
its shell blocks are read from README.md and typed, in order, into one bash (the user's
second terminal); the SIPp block is the third terminal.  Only the addresses change, to the
test server's free ports.  So the README cannot drift from what works."""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request

from .conftest import (HOST, ROOT, LineCollector, WaitTimeout, free_port, free_port_block,
                       stop_process, wait_for)

SECTION = '## Driving calls over HTTP'


def section_blocks(title: str) -> list[str]:
    """The ```sh blocks of one README section, in order."""
    text = (ROOT / 'README.md').read_text()
    start = text.index(title)
    end = text.find('\n## ', start + len(title))
    return re.findall(r'^```sh\n(.*?)^```', text[start:end], re.M | re.S)


def walkthrough_blocks() -> list[str]:
    return section_blocks(SECTION)


class Shell:
    """One bash reading commands from a pipe, like a terminal the user types into."""

    def __init__(self, cwd, env):
        self.proc = subprocess.Popen(['bash', '--noprofile', '--norc'], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.out = LineCollector(self.proc.stdout)
        self.n = 0
        self.type('set -eo pipefail')      # a failing command ends the shell, and the test

    def type(self, block: str, timeout: float = 90.0) -> str:
        self.n += 1
        marker = f'@@done-{self.n}'
        start = len(self.out.snapshot())
        # (curl's JSON has no final newline: the marker goes on a line of its own)
        self.proc.stdin.write(f'{block}\necho; echo {marker}\n')
        self.proc.stdin.flush()

        def done():
            lines = self.out.snapshot()
            if marker in lines[start:]:
                text = '\n'.join(lines[start:lines.index(marker, start)]).strip()
                return (text,)   # truthy even when the block printed nothing
            if self.proc.poll() is not None:
                raise AssertionError(f'the shell exited ({self.proc.returncode}) in:\n{block}\n'
                                     + '\n'.join(lines[start:]))
            return None
        return wait_for(done, timeout, f'the README block:\n{block}')[0]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
        stop_process(self.proc)


def localize(block: str, server) -> str:
    """The README's addresses -> the test server's."""
    out = (block.replace('localhost:8080', f'{HOST}:{server.http_port}')
           .replace('127.0.0.1:5060', f'{HOST}:{server.sip_port}')
           .replace('.venv/bin/telephony', f'{shlex.quote(sys.executable)} -m telephony'))
    assert ':8080' not in out and ':5060' not in out, f'an address the test cannot map:\n{out}'
    return out


def events_from(server, sid: str, next_: str) -> list[dict]:
    req = urllib.request.Request(f'http://{HOST}:{server.http_port}/api/event?next={next_}'
                                 '&timeout=2', headers={'Authorization': f'Bearer {sid}'})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read()).get('event', [])


def ok(output: str) -> None:
    assert json.loads(output.strip().splitlines()[-1])['status'] == 'ok', output


def test_readme_http_walkthrough(server, tmp_path):
    blocks = walkthrough_blocks()
    [caller] = [b for b in blocks if 'sipp ' in b]
    setup, wait_call, controls, read_events, hangup = [b for b in blocks if b is not caller]
    env = {k: v for k, v in os.environ.items() if not k.startswith('TELEPHONY_')}
    env['TELEPHONY_DATA_DIR'] = str(server.data_dir)   # the server's ./data of `make run`
    shell = Shell(ROOT, env)
    sipp = None
    try:
        ok(shell.type(localize(setup, server)))          # ends with GET /api/call/event

        # the third terminal: `cd sipp-scenarios && sipp ...`, with private ports added
        words = shlex.split(localize(caller, server))
        assert words[0] == 'cd' and words[2] == '&&' and words[3] == 'sipp', caller
        sipp_cmd = words[3:] + ['-p', str(free_port()), '-mp', str(free_port_block()),
                                '-cp', str(free_port('udp')), '-nostdin',
                                '-timeout', '120s', '-timeout_error',
                                '-trace_err', '-error_file', str(tmp_path / 'sipp-errors.log')]
        sipp_log = open(tmp_path / 'sipp.out', 'w')
        sipp = subprocess.Popen(sipp_cmd, cwd=ROOT / words[1], stdin=subprocess.DEVNULL,
                                stdout=sipp_log, stderr=subprocess.STDOUT)
        sipp_log.close()

        got = shell.type(localize(wait_call, server))
        call, next_ = shell.type('echo "$CALL $NEXT"').split()
        assert re.fullmatch(r'[0-9a-f-]{36}', call) and got.endswith(f'call {call}, next '
                                                                     f'event {next_}'), got
        ok(shell.type(localize(controls, server)))

        # the user presses keys (SIPp keys 1 3 5) and reads the events as the README says
        sid = shell.type('echo "$SID"').strip()

        def three_digits():
            digits = [e['digit'] for e in events_from(server, sid, next_)
                      if e['event'] == 'call_dtmf']
            return digits if len(digits) >= 3 else None
        assert wait_for(three_digits, 60, 'the three call_dtmf events') == ['1', '3', '5']
        body = json.loads(shell.type(localize(read_events, server)))
        assert body['status'] == 'ok', body
        seen = [e['event'] for e in body['event']]
        statuses = [v.get('status') for e in body['event'] if e['event'] == 'call_update'
                    for v in e['call'].values()]
        assert seen.count('call_dtmf') == 3 and 'answered' in statuses, body

        ok(shell.type(localize(hangup, server)))
        try:
            sipp.wait(60)
        except subprocess.TimeoutExpired:
            pass
        assert sipp.returncode == 0, ((tmp_path / 'sipp.out').read_text()[-3000:],
                                      server.log_tail(40))
        server.wait_no_calls()
    except WaitTimeout as e:
        raise AssertionError(f'{e}\n{server.log_tail(40)}') from None
    finally:
        shell.close()
        if sipp is not None:
            stop_process(sipp)


def test_the_tour_names_files_and_folders_that_exist():
    """The README's tour of the source moves with the code (dialplan/demo.py went to ivr/)."""
    text = (ROOT / 'README.md').read_text()
    tour = text[text.index('## A tour'):]
    named = re.findall(r'^- `([\w./-]+/)`|`((?:telephony|ivr|docs|sipp-scenarios)/[\w./-]+)`',
                       tour, re.M)
    paths = {a or b for a, b in named}
    assert len(paths) >= 6, paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f'the README tour names what does not exist: {missing}'


CISCO_SECTION = '## Dial plans over /api/v1 (the Cisco dialect)'


def test_readme_cisco_provisioning(start_server):
    """The /api/v1 section's curl commands, typed as written into one bash: a dial transform
    and an outbound rule are created and listed, and the trunk password shows nowhere."""
    server = start_server()
    transform_block, outbound_block = section_blocks(CISCO_SECTION)
    env = {k: v for k, v in os.environ.items() if not k.startswith('TELEPHONY_')}
    env['TELEPHONY_DATA_DIR'] = str(server.data_dir)
    shell = Shell(ROOT, env)
    try:
        out = shell.type(localize(transform_block, server))
        assert 'HTTP/1.1 200' in out, out
        transform = re.search(r'^location: (/api/v1/dialTransforms/[0-9a-f-]{36})\r?$', out,
                              re.M | re.I)
        assert transform, out
        out = shell.type(localize(outbound_block, server))
        rule = re.search(r'^location: /api/v1/outboundDialPlanRules/([0-9a-f-]{36})\r?$', out,
                         re.M | re.I)
        assert rule, out
        assert f'<outboundDialPlanRules total="1"><outboundDialPlanRule id="{rule.group(1)}">' \
               '<domain>mobile.example.com</domain><priority>0</priority>' in out, out
        auth = 'Basic ' + base64.b64encode(b'admin:secret12345').decode()
        req = urllib.request.Request(f'http://{HOST}:{server.http_port}{transform.group(1)}',
                                     headers={'Authorization': auth})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read().decode()
        assert '<type>phone</type><match>($1/44/)($2/^7/)</match>' \
               '<transform>90044$2@mobile.example.com</transform><priority>10</priority>' in body
        assert 'trunk-secret' not in out and 'trunk-secret' not in server.log()
    finally:
        shell.close()


DIAL_IN_SECTION = '## A coSpace and dialling into it (the Cisco dialect)'


def test_readme_cospace_dial_in(start_server, sipp, tmp_path):
    """The dial-in section's curl commands, typed as written: an inbound rule, a coSpace and
    an IVR; then SIPp calls the IVR's uri at the rule's domain and keys the call ID and
    passcode as the section says, and joins the coSpace's room."""
    from .test_cisco_ivr_dial_in import dial
    from .test_cospace_dial_in import keyed
    from .uac_steps import NO_SHEDDING, pause

    server = start_server(env={'TELEPHONY_CONFERENCE_PIN_TIMEOUT': '3', **NO_SHEDDING})
    [block] = section_blocks(DIAL_IN_SECTION)
    env = {k: v for k, v in os.environ.items() if not k.startswith('TELEPHONY_')}
    env['TELEPHONY_DATA_DIR'] = str(server.data_dir)
    shell = Shell(ROOT, env)
    try:   # the administrator "made above", by the section before's command
        admin = next(line for line in section_blocks(CISCO_SECTION)[0].splitlines()
                     if line.startswith('.venv/bin/telephony user add admin'))
        shell.type(localize(admin, server))
        out = shell.type(localize(block, server))
    finally:
        shell.close()
    made = dict(re.findall(r'^location: /api/v1/(inboundDialPlanRules|coSpaces|ivrs)/'
                           r'([0-9a-f-]{36})\r?$', out, re.M | re.I))
    assert made.keys() == {'inboundDialPlanRules', 'coSpaces', 'ivrs'}, out
    call = dial(server, sipp, tmp_path, 'meet', 'readme', [
        pause(1000), *keyed('1379#'), pause(3000), *keyed('23456789#', 1, tmp_path),
        pause(2000)], domain='meet.example.com')
    assert server.wait_event('ivr-call-id', call=call)[0]['cospace'] == made['coSpaces']
    assert server.wait_event('conference-join', call=call)[0]['conference'] == made['coSpaces']
    server.wait_no_calls()


PROFILES_SECTION = '## Profiles and dial-outs (the Cisco dialect)'


def test_readme_profiles_and_dial_out(start_server, tmp_path):
    """The profiles section typed as written into one bash: a guests' call leg profile, a
    global DTMF profile, a coSpace with a guest access method; then its SIPp trunk block
    (the third terminal, on a free port) and the dial-out with the guests' profile, which
    joins the coSpace's room muted, its trace naming the callLeg level."""
    from .uac_steps import NO_SHEDDING

    server = start_server(env=NO_SHEDDING)
    blocks = section_blocks(PROFILES_SECTION)
    [trunk_block] = [b for b in blocks if 'sipp ' in b]
    profiles, dial, look = [b for b in blocks if b is not trunk_block]
    trunk_port = free_port()

    def here(block: str) -> str:
        return localize(block.replace('127.0.0.1:5070', f'{HOST}:{trunk_port}'), server)
    env = {k: v for k, v in os.environ.items() if not k.startswith('TELEPHONY_')}
    env['TELEPHONY_DATA_DIR'] = str(server.data_dir)
    shell = Shell(ROOT, env)
    trunk = None
    try:
        admin = next(line for line in section_blocks(CISCO_SECTION)[0].splitlines()
                     if line.startswith('.venv/bin/telephony user add admin'))
        shell.type(localize(admin, server))
        shell.type(here(profiles))
        guests, keys, team = shell.type('echo "$GUESTS $KEYS $TEAM"').split()
        assert all(re.fullmatch(r'[0-9a-f-]{36}', i) for i in (guests, keys, team))
        shown = shell.type(localize('curl -s -u admin:secret12345 localhost:8080/api/v1/'
                                    'system/profiles', server))
        assert f'<dtmfProfile>{keys}</dtmfProfile>' in shown, shown

        words = shlex.split(trunk_block)
        assert words[0] == 'cd' and words[2] == '&&' and words[3] == 'sipp', trunk_block
        assert words[words.index('-p') + 1] == '5070', trunk_block
        words[words.index('-p') + 1] = str(trunk_port)
        trunk_log = open(tmp_path / 'trunk.out', 'w')
        trunk = subprocess.Popen(words[3:] + ['-mp', str(free_port_block()),
                                              '-cp', str(free_port('udp')), '-nostdin',
                                              '-timeout', '120s', '-timeout_error'],
                                 cwd=ROOT / words[1], stdin=subprocess.DEVNULL,
                                 stdout=trunk_log, stderr=subprocess.STDOUT)
        trunk_log.close()

        shell.type(here(dial))
        call, leg = shell.type('echo "$CALL $LEG"').split()
        joined = server.wait_event('conference-join', member=leg, timeout=60)[0]
        assert joined['conference'] == team
        out = shell.type(here(look))
        assert '<configuration><rxAudioMute>true</rxAudioMute>' in out, out
        assert f'<callLegProfile scope="callLeg" id="{guests}"><muteSelfAllowed>false' \
               '</muteSelfAllowed><rxAudioMute>true</rxAudioMute></callLegProfile>' in out, out
        assert 'HTTP/1.1 200' in out, out
        try:
            trunk.wait(60)
        except subprocess.TimeoutExpired:
            pass
        assert trunk.returncode == 0, ((tmp_path / 'trunk.out').read_text()[-3000:],
                                       server.log_tail(40))
        server.wait_no_calls()
    except WaitTimeout as e:
        raise AssertionError(f'{e}\n{server.log_tail(40)}') from None
    finally:
        shell.close()
        if trunk is not None:
            stop_process(trunk)


FAX_SECTION = '## Send a PDF from one number to another and download what arrived'


def test_readme_fax_from_one_number_to_another(start_server):
    """The fax section typed as written into one bash: two numbers, a 2-page PDF made with
    ghostscript and uploaded (fax_convert), POST /send, the incoming fax_report ok on the
    event API (over T.38, the default), the received fax as JSON, PDF and a PNG page."""
    from .uac_steps import NO_SHEDDING

    server = start_server(env=NO_SHEDDING)
    setup, upload, send, download = section_blocks(FAX_SECTION)
    env = {k: v for k, v in os.environ.items() if not k.startswith('TELEPHONY_')}
    env['TELEPHONY_DATA_DIR'] = str(server.data_dir)
    shell = Shell(ROOT, env)
    try:
        shell.type(localize(setup, server))
        converted = json.loads(shell.type(localize(upload, server)).splitlines()[-1])
        assert converted['event'] == 'fax_convert' and converted['page_count'] == 2, converted
        out = shell.type(localize(send, server), timeout=300)
        fax = json.loads(out.splitlines()[-1])['fax']
        assert fax['page_count'] == 2 and fax['status'] == 'ok', out
        (report,) = fax['report'].values()
        assert report['incoming'] is True and report['from'] == '+4930555011' and \
            report['to'] == '+4930555012' and report['fax_error_code'] == 0, report
        shell.type(localize(download, server))
        folder = shell.type('echo $DIR')
        with open(os.path.join(folder, 'received.pdf'), 'rb') as f:
            assert f.read(5) == b'%PDF-'
        with open(os.path.join(folder, 'page1.png'), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    finally:
        shell.close()
    assert server.events('fax-t38-switched'), 'the README fax went over T.38'
