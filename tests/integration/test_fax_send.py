"""Sending a fax (issue 11 §3, POST /api/fax/(uuid)/send) through the real server: out over an
outbound rule to a SIPp trunk, whose answer points the call's audio at the independent
spandsp terminal of tests/fax/peer.py; busy destinations and their retries; cancel while
ringing and while transmitting; bounded lines and queue; a destination no rule carries."""
from __future__ import annotations

# ruff: noqa: F811 -- start_api is the API tests' fixture, imported to be used as one

import asyncio
import ctypes
import threading
from pathlib import Path

import pytest

from telephony.media.fax import spandsp
from tests.api.cisco import add_admin, create
from tests.api.conftest import start_api  # noqa: F401 -- the fixture
from tests.api.test_call_api import Events
from tests.api.test_fax_api import converted, status
from tests.api.test_partner_cdr import KEY, partner_client
from tests.fax.peer import RtpFaxPeer, _lib
from tests.fax.test_fax_sessions import assert_same_pages
from tests.integration.conftest import SCENARIOS, Sipp, assert_sipp_ok, free_port, wait_for

pytestmark = pytest.mark.skipif(not spandsp.available(), reason='libspandsp2 not installed')

NUMBER = '+4930555001'
TO = '+4922100099'          # dialled as 004922100099@carrier.test
ELSEWHERE = '+4989123456'   # made 004989…@elsewhere.test, which no rule carries
PREMIUM = '+499001234'      # a dial transform denies it
IDENT, HEADER = '+49 221 9999999', 'John Doe, Inc.'

_lib.t30_get_rx_ident.restype = ctypes.c_char_p
_lib.t30_get_rx_ident.argtypes = [ctypes.c_void_p]


class _Paced(asyncio.DatagramProtocol):
    """One peer tick per RTP packet from the server: the server's media clock paces both
    directions, and the peer answers to where the packets come from."""

    def __init__(self, peer: RtpFaxPeer) -> None:
        self.peer = peer

    def datagram_received(self, data, addr):
        peer = self.peer
        if len(data) < 12 or data[1] & 0x7F != 0 or peer.state is None:   # PCMU only
            return
        peer.remote = peer.remote or addr
        peer.inbox.append(data[12:])
        peer.received += 1
        peer.tick()


class PeerThread:
    """The independent terminal receiving into `got`, on its own event loop in a thread
    (the test itself drives HTTP and SIPp synchronously)."""

    def __init__(self, got: Path) -> None:
        self.got = got
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self.code: int | None = None
        self.ident = ''

    def start(self) -> int:
        self.thread.start()
        assert self.ready.wait(10)
        return self.port

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.peer = RtpFaxPeer(receive_file=str(self.got))
        self.peer.transport, _ = self.loop.run_until_complete(self.loop.create_datagram_endpoint(
            lambda: _Paced(self.peer), local_addr=('127.0.0.1', 0)))
        self.port = self.peer.transport.get_extra_info('sockname')[1]
        self.ready.set()
        self.loop.run_forever()
        self.ident = self._ident()
        self.peer.close()        # t30_terminate if it had not ended: the pages received stay
        self.code = self.peer.code
        self.loop.close()

    def _ident(self) -> str:
        t30 = _lib.fax_get_t30_state(self.peer.state)
        return (_lib.t30_get_rx_ident(t30) or b'').decode()

    def remote_ident(self) -> str:
        """The TSI received so far, asked on the peer's own loop."""
        async def ask():
            return self._ident()
        return asyncio.run_coroutine_threadsafe(ask(), self.loop).result(10)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture
def sipp(tmp_path, peer_tools):
    runner = Sipp(tmp_path)
    yield runner
    runner.stop_all()


@pytest.fixture
def peer(tmp_path):
    p = PeerThread(tmp_path / 'received.tif')
    yield p
    p.stop()


def started(start_api, trunk_port: int, partner: bool = False, **env):
    """Joe (number NUMBER, the user defaults IDENT/HEADER), an outbound rule to the SIPp
    trunk for +4922… (as 004922…@carrier.test), +4989… to a domain no rule has, +49900…
    denied; joe's client and events."""
    api = start_api(**env)
    admin = add_admin(api)
    if partner:       # acme sees joe's CDRs
        api.add_user('acme', KEY, '--partner')
        api.add_user('joe', 'secret12345', '--partner-of', 'acme')
    else:
        api.add_user('joe')
    api.cli('phone', 'add', NUMBER, '--user', 'joe')
    create(admin, 'dialTransforms', type='raw', match='($1/^[+]4922/)',
           transform='$1{/^[+]/00/}@carrier.test', priority='10')
    create(admin, 'dialTransforms', type='raw', match='($1/^[+]4989/)',
           transform='$1{/^[+]/00/}@elsewhere.test', priority='9')
    create(admin, 'dialTransforms', type='raw', match='($1/^[+]49900/)', action='deny',
           priority='8')
    create(admin, 'outboundDialPlanRules', domain='carrier.test',
           sipProxy=f'127.0.0.1:{trunk_port}')
    c = api.login('joe')
    assert status(c.post('/api/user', json={'fax_ident': IDENT, 'fax_header': HEADER})) == 'ok'
    return api, c, Events(c)


def send(c, fax: str, **body) -> dict:
    r = c.post(f'/api/fax/{fax}/send', json={'from': NUMBER, 'to': TO, **body})
    assert r.status_code == 200, r.text
    return r.json()


def report_events(events: Events, report: str, until: str, timeout: float = 60.0) -> list[dict]:
    """The fax_report events of `report` up to the first with status `until`, in order."""
    def ours():
        return [e['report'][report] for e in events.seen
                if e['event'] == 'fax_report' and report in e['report']]
    events.wait(lambda e: e['event'] == 'fax_report' and
                e['report'].get(report, {}).get('status') == until, timeout=timeout,
                what=f'fax_report {until}')
    got = ours()
    return got[:[r['status'] for r in got].index(until) + 1]


def test_a_fax_goes_out_over_an_outbound_rule_to_an_independent_terminal(start_api, sipp, peer,
                                                                         tmp_path):
    port = free_port()
    trunk = sipp.start('', scenario='uas_fax.xml', port=port, keys={'fax_port': peer.start()},
                       global_timeout=170)
    api, c, events = started(start_api, port, partner=True)
    fax = converted(c, events, 1)
    sent = tmp_path / 'sent.tif'
    sent.write_bytes(c.get(f'/api/fax/{fax}/sent.tif').content)
    r = send(c, fax)                             # the user's fax_ident and fax_header
    assert r['status'] == 'ok', r
    report = r['uuid']
    reports = report_events(events, report, 'ok', timeout=150)
    assert [x['status'] for x in reports] == ['dial', 'transmit', 'ok']
    done = reports[-1]
    assert done['incoming'] is False and done['from'] == NUMBER and done['to'] == TO
    assert done['sip_status_code'] == 200 and done['fax_error_code'] == 0
    assert done['time_end'] >= done['time_start']
    assert c.get(f'/api/fax/{fax}').json()['fax']['report'][report] == done
    result = sipp.wait(*trunk, timeout=60)       # the server hung up: SIPp had its BYE
    assert_sipp_ok(result, calls=1, server=api.server)
    assert 'INVITE sip:004922100099@carrier.test' in result.messages
    peer.stop()
    assert peer.ident == IDENT                   # the TSI: the user's default
    assert_same_pages(sent, peer.got, 1)         # pixel for pixel below the header line
    assert api.server.wait_event('fax-sent', report=report)[0]['code'] == '0'
    p = partner_client(api)

    def cdrs():
        return p.get(f'/api/partner/cdr/{NUMBER}').json()['cdr']
    wait_for(cdrs, 30, "the fax call's CDR")
    (cdr,) = cdrs()
    assert cdr['service'] == 'fax' and cdr['b_number'] == TO and cdr['phone'] == NUMBER


def test_a_busy_destination_is_dialled_again_then_stays_busy(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_busy.xml', port=port, calls=3)
    api, c, events = started(start_api, port, TELEPHONY_FAX_RETRY_COUNT='2',
                             TELEPHONY_FAX_RETRY_DELAY='1')
    fax = converted(c, events, 1)
    report = send(c, fax)['uuid']
    api.server.wait_event('fax-busy', timeout=60, report=report, retry='no')

    def statuses():
        return [e['report'][report] for e in events.seen
                if e['event'] == 'fax_report' and report in e['report']]
    events.wait(lambda e: [r['status'] for r in statuses()].count('busy') == 3,
                what='the third busy')
    reports = statuses()
    seen = [r['status'] for r in reports]
    assert seen == ['dial', 'busy', 'dial', 'busy', 'dial', 'busy'], seen
    got = c.get(f'/api/fax/{fax}').json()['fax']['report'][report]
    assert got['status'] == 'busy' and got['sip_status_code'] == 486 and 'time_end' in got
    assert 'fax_error_code' not in got and reports[-1]['sip_status_code'] == 486
    assert c.get('/api/user').json()['user']['feature']['used']['fax'] == 0   # nothing sent
    result = sipp.wait(*trunk, timeout=30)       # three INVITEs, each answered 486
    assert_sipp_ok(result, calls=3, server=api.server)
    assert len(api.server.events('trunk-attempt')) == 3


@pytest.mark.parametrize('answer', ['404', 'no answer'])
def test_an_unanswered_call_is_an_error_and_not_dialled_again(start_api, sipp, tmp_path, answer):
    port = free_port()
    if answer == '404':
        scenario = tmp_path / 'uas_404.xml'
        scenario.write_text((SCENARIOS / 'uas_refuse.xml').read_text().replace(
            'SIP/2.0 503 Service Unavailable', 'SIP/2.0 404 Not Found'))
    else:
        scenario = 'uas_ring_cancel.xml'
    trunk = sipp.start('', scenario=scenario, port=port)
    api, c, events = started(start_api, port, TELEPHONY_FAX_RING_TIMEOUT='2',
                             TELEPHONY_FAX_RETRY_DELAY='1')
    fax = converted(c, events, 1)
    report = send(c, fax)['uuid']
    reports = report_events(events, report, 'error')
    assert [r['status'] for r in reports] == ['dial', 'error']
    if answer == '404':
        assert reports[-1]['sip_status_code'] == 404
    else:                                        # we gave up ringing: CANCEL, no status
        assert 'sip_status_code' not in reports[-1]
        assert api.server.wait_event('fax-no-answer')
    result = sipp.wait(*trunk, timeout=60)
    assert_sipp_ok(result, calls=1, server=api.server)
    assert c.get('/api/user').json()['user']['feature']['used']['fax'] == 0
    assert len(api.server.events('trunk-attempt')) == 1


def test_cancel_while_ringing_and_the_queue_behind_one_line(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_ring_cancel.xml', port=port, calls=2)
    api, c, events = started(start_api, port, TELEPHONY_FAX_CALLS_AT_ONCE='1',
                             TELEPHONY_FAX_QUEUE_MAX='1')
    fax = converted(c, events, 1)
    first = send(c, fax)['uuid']
    api.server.wait_event('trunk-attempt', timeout=30)
    second = send(c, fax)
    assert second['status'] == 'ok', second      # waits for the line
    third = send(c, fax)
    assert third['status'] == 'fail', third      # one may wait, not two
    assert len(api.server.events('trunk-attempt')) == 1
    reports = c.get(f'/api/fax/{fax}').json()['fax']['report']
    assert reports[second['uuid']]['status'] == 'dial'
    assert [r['status'] for r in reports.values()].count('error') == 1   # the refused third
    assert status(c.post(f'/api/fax/{fax}/report/{first}/cancel')) == 'ok'
    assert [x['status'] for x in report_events(events, first, 'cancel')] == ['dial', 'cancel']
    api.server.wait_event('trunk-attempt', timeout=30, count=2)   # the line is free: next
    assert status(c.post(f'/api/fax/{fax}/report/{second["uuid"]}/cancel')) == 'ok'
    report_events(events, second['uuid'], 'cancel')
    result = sipp.wait(*trunk, timeout=60)       # each saw its CANCEL and answered 487
    assert_sipp_ok(result, calls=2, server=api.server)
    assert result.messages.count('CANCEL sip:') >= 2
    assert status(c.post(f'/api/fax/{fax}/report/{first}/cancel')) == 'wrong-state'
    assert c.get('/api/user').json()['user']['feature']['used']['fax'] == 0


def test_cancel_while_transmitting_hangs_up(start_api, sipp, peer):
    port = free_port()
    trunk = sipp.start('', scenario='uas_fax.xml', port=port, keys={'fax_port': peer.start()},
                       global_timeout=170)
    api, c, events = started(start_api, port)
    fax = converted(c, events, 1)
    report = send(c, fax, fax_ident='+4930 555001', fax_header='')['uuid']   # not the defaults
    report_events(events, report, 'transmit', timeout=90)
    wait_for(lambda: peer.remote_ident() == '+4930 555001', 60, 'the TSI at the far end')
    assert status(c.post(f'/api/fax/{fax}/report/{report}/cancel')) == 'ok'
    result = sipp.wait(*trunk, timeout=60)       # BYE from the server
    assert_sipp_ok(result, calls=1, server=api.server)
    api.server.wait_event('fax-sent', report=report)   # the engine's end came, and was dropped
    seen = [r['status'] for r in report_events(events, report, 'cancel')]
    assert seen == ['dial', 'transmit', 'cancel'], seen
    got = c.get(f'/api/fax/{fax}').json()['fax']['report'][report]
    assert got['status'] == 'cancel' and 'time_end' in got and 'fax_error_code' not in got


def test_a_destination_no_rule_carries_is_forbidden_and_never_dialled(start_api, sipp):
    port = free_port()
    trunk = sipp.start('', scenario='uas_fax.xml', port=port, keys={'fax_port': free_port()})
    api, c, events = started(start_api, port)
    fax = converted(c, events, 1)
    for to in (ELSEWHERE, PREMIUM):
        r = send(c, fax, to=to)
        assert r['status'] == 'forbidden-to', r
        assert 'test' not in r.get('message', '')       # the rules stay the admin's
    assert c.get(f'/api/fax/{fax}').json()['fax']['report'] == {}
    assert c.get('/api/user').json()['user']['feature']['used']['fax'] == 0
    proc, cmd, work = trunk
    proc.terminate()
    result = sipp.wait(proc, cmd, work, timeout=30)
    assert 'INVITE sip:' not in result.messages, result.messages
    wait_for(lambda: api.server.events('fax-no-route'), 10, 'the refusal in the log')
