"""Receiving faxes on calls (issue 11 §2) with real peers: SIPp sets up the call, its SDP
naming the RTP socket of the independent spandsp peer (tests/fax/peer.py; SIPp itself plays
no RTP); the peer sends a TIFF at real-time pacing to the server's media port (from the
server's log line); the fax object, its report, the events and the CDR are read over the API.

A cut-off transfer: SIPp sends the BYE when the test tells it to, by an INFO the test sends
into SIPp's dialog (SIPp finds the call by the Call-ID the test chose with -cid_str)."""
from __future__ import annotations

import asyncio
import socket
import uuid as uuids
from pathlib import Path

import pytest

from tests.api import conftest as api_fixtures
from tests.api.test_call_api import Events
from tests.api.test_partner_cdr import partner_client
from tests.fax.documents import make_tiff, page_bitmaps
from tests.fax.peer import RtpFaxPeer
from tests.integration.conftest import assert_sipp_ok, free_port, wait_for
from tests.integration.test_voicemail import greeting_ms, leave
from tests.integration.uac_steps import (_HEAD, _SEND_BYE, _WAIT_BYE, CALLER, NO_SHEDDING, pause,
                                         play)

start_api = api_fixtures.start_api
FAX, BOX = '+4930555700', '+4930555701'
TICK = 0.02
# The peer runs AHEAD ticks before the server's stream, so the server's jitter buffer holds
# that many more frames and a test process late by up to ~80 ms (a loaded machine) leaves no
# gap in the modem signal; SLACK: how long past its time a tick waits for the server's packet
AHEAD, SLACK = 4, 0.04
CALLDROPPED = 49          # T.30 phase E: the call dropped prematurely
# SIPp sets these calls up and answers no re-INVITE: the receiver must not ask for T.38
# (test_fax_loopback.py tests that it does)
G711_ONLY = {'TELEPHONY_FAX_T38_REQUEST': 'false'}
_MEDIA = 'm=audio [auto_media_port] RTP/AVP 8 101\n      a=rtpmap:8 PCMA/8000'
assert _MEDIA in _HEAD
HEAD = _HEAD.replace(_MEDIA, 'm=audio [peer_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000')
CUT = '  <recv request="INFO" timeout="180000"/>\n'


def scenario(tmp_path: Path, cut: bool) -> Path:
    path = tmp_path / ('fax_cut.xml' if cut else 'fax.xml')
    path.write_text(HEAD + (CUT + _SEND_BYE if cut else _WAIT_BYE))
    return path


def setup(api) -> None:
    api.add_user('acme', 'partner-key-1', '--partner')
    api.add_user('joe', 'secret12345', '--partner-of', 'acme')
    api.cli('phone', 'add', FAX, '--user', 'joe', '--fax-enable')
    api.cli('phone', 'add', BOX, '--user', 'joe', '--fax-enable', '--recording-enable')


async def until_packet(peer: RtpFaxPeer, latest: float) -> None:
    """The peer's pacing: a tick for each packet the server's media clock sent (so the peer
    keeps the server's rate), or at `latest` when none came (real time)."""
    loop = asyncio.get_running_loop()
    while not peer.inbox and loop.time() < latest:
        await asyncio.sleep(0.002)


def info(sipp_port: int, call_id: str) -> bytes:
    """An in-dialog INFO for SIPp's <recv request="INFO">: the signal to send its BYE."""
    return (f'INFO sip:sipp@127.0.0.1:{sipp_port} SIP/2.0\r\n'
            f'Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{uuids.uuid4().hex}\r\n'
            f'From: <sip:{FAX}@127.0.0.1>;tag=test\r\nTo: <sip:{CALLER}@127.0.0.1>\r\n'
            f'Call-ID: {call_id}\r\nCSeq: 9 INFO\r\nMax-Forwards: 70\r\n'
            'Content-Length: 0\r\n\r\n').encode()


async def fax_call(api, sipp, tmp_path: Path, number: str, document: Path, started: str, *,
                   cut_after: int | None = None):
    """One call: the peer sends `document`; `started` is the server's log event with the
    media port. With `cut_after`, SIPp hangs up once the server has that many pages and
    the next page is on its way. Returns the peer and SIPp's result."""
    server = api.server
    peer = RtpFaxPeer(send_file=str(document))
    _, peer_port = await peer.open()
    token = f'faxrx-{uuids.uuid4().hex[:12]}'
    sipp_port = free_port()
    proc, cmd, workdir = sipp.start(
        f'127.0.0.1:{server.sip_port}', scenario=scenario(tmp_path, cut_after is not None),
        service=number, port=sipp_port, keys={'peer_port': peer_port},
        extra=['-cid_str', f'{token}-%u'], global_timeout=240)
    try:
        line = (await asyncio.to_thread(server.wait_event, started, 30))[-1]
        peer.remote = ('127.0.0.1', int(line['port']))
        peer.inbox.clear()        # what the server sent before the peer knew where to answer
        loop = asyncio.get_running_loop()
        for _ in range(AHEAD):
            peer.tick()
        t0, n, cut_at = loop.time(), 0, None
        while n < 180 / TICK:
            n += 1
            await until_packet(peer, t0 + n * TICK + SLACK)
            peer.tick()
            if n % 25 == 0:       # the server's log, twice a second of line time
                if server.events('fax-rx-end'):
                    break
                if cut_after is not None and cut_at is None and any(
                        e['pages'] == str(cut_after) for e in server.events('fax-rx-progress')):
                    # past MCF and the next page's training (about 2.5 s), into its data
                    cut_at = n + int(4 / TICK)
            if cut_at is not None and n == cut_at:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(info(sipp_port, f'{token}-1'), ('127.0.0.1', sipp_port))
            if peer.done and cut_after is None:
                break
        result = await asyncio.to_thread(sipp.wait, proc, cmd, workdir, 60)
    finally:
        peer.close()
    return peer, result


def fax_of(c, events: Events, since: int) -> tuple[str, dict, list[dict]]:
    new = events.wait(lambda e: e['event'] == 'object_new' and e.get('type') == 'fax',
                      since=since, what='object_new of a fax')
    uuid = new['object']
    fax = wait_for(lambda: (f := c.get(f'/api/fax/{uuid}').json()['fax'])['status'] != 'record'
                   and f, 30, 'the fax stored')
    events.wait(lambda e: e['event'] == 'fax_report' and e['fax'] == uuid and any(
        r['status'] != 'transmit' for r in e['report'].values()), since=since,
        what='the final fax_report')
    reports = [e for e in events.seen[since:] if e['event'] == 'fax_report' and e['fax'] == uuid]
    return uuid, {**fax, 'new': new}, reports


def tiff_of(c, uuid: str, tmp_path: Path) -> Path:
    r = c.get(f'/api/fax/{uuid}/fax.tif')
    assert r.status_code == 200
    path = tmp_path / f'{uuid}.tif'
    path.write_bytes(r.content)
    return path


def assert_pages(sent: Path, got: Path, pages: int) -> None:
    want, have = page_bitmaps(sent)[:pages], page_bitmaps(got)
    assert len(have) == pages
    for w, g in zip(want, have):
        assert g.shape == w.shape and (g == w).all()     # pixel for pixel (no header line)


def the_cdr(api, number: str) -> dict:
    p = partner_client(api)
    rows = wait_for(lambda: [r for r in p.get(f'/api/partner/cdr/{number}').json()['cdr']
                             if r['service'] == 'fax'], 30, 'the fax CDR')
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture
def document(tmp_path):
    return make_tiff(tmp_path / 'sent.tif', pages=2, rows=500)


def test_a_fax_number_receives_two_pages(start_api, sipp, tmp_path, document):
    api = start_api(**NO_SHEDDING, **G711_ONLY)
    setup(api)
    c = api.login('joe')
    events = Events(c)
    peer, result = asyncio.run(fax_call(api, sipp, tmp_path, FAX, document, 'fax-rx-start'))
    assert_sipp_ok(result, calls=1, server=api.server)   # the server hung up after DCN
    assert peer.code == 0
    uuid, fax, reports = fax_of(c, events, 0)
    new = fax['new']
    assert new['type'] == 'fax' and new['owner'] == fax['owner'] and 'tag' in new, new
    assert (fax['status'], fax['page_count'], fax['x_res'], fax['y_res']) == ('ok', 2, 203, 196)
    (rid, report), = fax['report'].items()
    assert report['incoming'] is True and (report['from'], report['to']) == (CALLER, FAX)
    assert (report['status'], report['sip_status_code'], report['fax_error_code']) == \
        ('ok', 200, 0), report
    assert report['time_end'] >= report['time_start']
    # fax_report events: the report in transmit when the call came, then ok
    assert [list(e['report'].values())[0]['status'] for e in reports] == ['transmit', 'ok']
    assert all(list(e['report']) == [rid] for e in reports)
    assert reports[-1]['report'][rid] == report      # §7.9.2: the report as GET shows it
    assert {'incoming', 'from', 'to', 'time_start', 'time_end', 'status', 'sip_status_code',
            'fax_error_code'} <= set(report)
    assert_pages(document, tiff_of(c, uuid, tmp_path), 2)
    cdr = the_cdr(api, FAX)
    assert (cdr['fax_id'], cdr['page_count'], cdr['a_number']) == (uuid, 2, CALLER), cdr


def test_a_caller_hanging_up_mid_page_keeps_the_complete_pages(start_api, sipp, tmp_path):
    document = make_tiff(tmp_path / 'long.tif', pages=2, rows=1100)   # ~8 s of page data
    api = start_api(**NO_SHEDDING, **G711_ONLY)
    setup(api)
    c = api.login('joe')
    events = Events(c)
    _, result = asyncio.run(fax_call(api, sipp, tmp_path, FAX, document, 'fax-rx-start',
                                     cut_after=1))
    assert_sipp_ok(result, calls=1, server=api.server)
    uuid, fax, reports = fax_of(c, events, 0)
    (_, report), = fax['report'].items()
    assert (report['status'], report['fax_error_code']) == ('fail', CALLDROPPED), report
    assert (fax['status'], fax['page_count']) == ('ok', 1), fax    # page one is kept
    assert_pages(document, tiff_of(c, uuid, tmp_path), 1)
    assert the_cdr(api, FAX)['page_count'] == 1


def test_a_fax_machine_calling_a_voice_mail_number_is_received(start_api, sipp, tmp_path,
                                                                document):
    api = start_api(**NO_SHEDDING, **G711_ONLY)
    setup(api)
    c = api.login('joe')
    events = Events(c)
    peer, result = asyncio.run(fax_call(api, sipp, tmp_path, BOX, document, 'fax-cng-watch'))
    assert_sipp_ok(result, calls=1, server=api.server)
    assert api.server.events('fax-cng-switch') and peer.code == 0
    uuid, fax, _ = fax_of(c, events, 0)
    assert (fax['status'], fax['page_count']) == ('ok', 2), fax
    assert_pages(document, tiff_of(c, uuid, tmp_path), 2)
    # the voice message begun under the greeting's beep is not kept
    recs = c.get('/api/recording').json().get('recording', {})
    assert not recs, recs
    cdr = the_cdr(api, BOX)
    assert (cdr['fax_id'], cdr['page_count']) == (uuid, 2)


def test_a_reception_past_its_time_limit_ends_with_no_page(start_api, sipp, tmp_path, document):
    """fax_receive_limit bounds a call: at the limit T.30 stops as at a hangup, the server
    hangs up, and a fax with no page is `fail` (nothing to read)."""
    api = start_api(**NO_SHEDDING, **G711_ONLY, TELEPHONY_FAX_RECEIVE_LIMIT='4')
    setup(api)
    c = api.login('joe')
    events = Events(c)
    _, result = asyncio.run(fax_call(api, sipp, tmp_path, FAX, document, 'fax-rx-start'))
    assert_sipp_ok(result, calls=1, server=api.server)     # our BYE came at the limit
    assert api.server.events('fax-rx-limit')
    uuid, fax, _ = fax_of(c, events, 0)
    (_, report), = fax['report'].items()
    assert (report['status'], report['fax_error_code']) == ('fail', CALLDROPPED), report
    assert fax['status'] == 'fail' and 'page_count' not in fax, fax
    assert c.get(f'/api/fax/{uuid}/fax.tif').status_code == 404
    assert the_cdr(api, FAX)['page_count'] == 0


def test_a_voice_caller_on_a_fax_enabled_mailbox_leaves_a_message(start_api, sipp, tmp_path):
    """Speech is no CNG: the CNG watch listens and the message is stored as usual."""
    api = start_api(**NO_SHEDDING, **G711_ONLY, TELEPHONY_VOICEMAIL_SILENCE='2')
    setup(api)
    c = api.login('joe')
    events = Events(c)
    leave(api, sipp, tmp_path, 'speech', [pause(greeting_ms()), play('g711a.pcap')], number=BOX)
    new = events.wait(lambda e: e['event'] == 'object_new' and e.get('type') == 'recording',
                      what='object_new of a recording')
    rec = wait_for(lambda: (r := c.get(f'/api/recording/{new["object"]}').json()['recording'])
                   ['status'] != 'record' and r, 30, 'the message stored')
    assert (rec['to'], rec['status']) == (BOX, 'ok'), rec
    assert api.server.events('fax-cng-watch') and not api.server.events('fax-cng-switch')
    assert not api.server.events('fax-report'), 'no fax for a voice caller'
