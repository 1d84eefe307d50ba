"""Cisco CDR receivers (issue 9): every call's records reach the receivers, in order, also
when a receiver is down while calls happen and the server restarts meanwhile.

The receiver is a small HTTP server in the test (http.server on 127.0.0.1); the calls are
SIPp's built-in uac to the demo service `hello`; the server is the real process, stopped
and started on its data directory.
"""
from __future__ import annotations

import os
import signal
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.integration.conftest import (ServerProcess, Sipp, assert_sipp_ok, free_port,
                                        wait_for)

KINDS = ('callStart', 'callLegStart', 'callLegEnd', 'callEnd')


class Receiver:
    """An HTTP CDR receiver: keeps every POSTed `<records>` document; answers `status`."""

    def __init__(self, port: int, status: int = 200, location: str = ''):
        self.port = port
        self.status = status
        self.location = location
        self.posts: list[bytes] = []
        self.lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}/cdr?system_id=test'

    def start(self) -> 'Receiver':
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                with outer.lock:
                    outer.posts.append(body)
                    status = outer.status
                self.send_response(status)
                if outer.location:
                    self.send_header('Location', outer.location)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def records(self, acknowledged_only: bool = False) -> list[dict]:
        """Every record received, in arrival order: session, index, type, id, fields."""
        out = []
        with self.lock:
            posts = list(self.posts)
        for body in posts:
            root = ET.fromstring(body)
            assert root.tag == 'records'
            for rec in root.findall('record'):
                (item,) = list(rec)
                out.append({'session': root.get('session'), 'index': int(rec.get('recordIndex')),
                            'correlator': int(rec.get('correlatorIndex')), 'type': rec.get('type'),
                            'time': rec.get('time'), 'tag': item.tag, 'id': item.get('id'),
                            'fields': {c.tag: c.text for c in item}, 'raw': ET.tostring(rec)})
        return out


def unique(records: list[dict]) -> list[dict]:
    """The records once each, by (session, recordIndex), first arrival; a duplicate must be
    the same record."""
    seen: dict[tuple, dict] = {}
    for r in records:
        key = (r['session'], r['index'])
        if key in seen:
            assert seen[key]['raw'] == r['raw'], f'{key} sent twice with different content'
        else:
            seen[key] = r
    return list(seen.values())


def calls_in(records: list[dict]) -> dict[str, list[dict]]:
    """Records by Cisco call id (legs name their call in `call`)."""
    by_call: dict[str, list[dict]] = {}
    for r in records:
        call = r['id'] if r['tag'] == 'call' else r['fields'].get('call')
        if call is None:   # callLegEnd: the leg's call is the one of its callLegStart
            call = next(x['fields']['call'] for x in records
                        if x['type'] == 'callLegStart' and x['id'] == r['id'])
        by_call.setdefault(call, []).append(r)
    return by_call


def complete_calls(receiver: Receiver) -> int:
    return sum(1 for r in unique(receiver.records()) if r['type'] == 'callEnd')


def check_calls(records: list[dict], n: int) -> None:
    """n calls, each: callStart, callLegStart, callLegEnd, callEnd, in that order."""
    by_call = calls_in(records)
    assert len(by_call) == n, by_call.keys()
    for call, recs in by_call.items():
        assert [r['type'] for r in recs] == list(KINDS), (call, recs)
        start, leg_start, leg_end, end = recs
        assert leg_start['fields']['direction'] == 'incoming'
        assert leg_start['fields']['type'] == 'sip'
        assert leg_start['fields']['localAddress'].startswith('hello@')
        assert leg_start['fields']['sipCallId']
        assert leg_end['id'] == leg_start['id']
        assert leg_end['fields']['reason'] in ('remoteTeardown', 'localTeardown')
        assert int(leg_end['fields']['durationSeconds']) >= 0
        assert end['fields']['callLegsCompleted'] == '1'
        assert end['fields']['callLegsMaxActive'] == '1'


def hello_calls(sipp: Sipp, server: ServerProcess, n: int) -> None:
    result = sipp.run(f'127.0.0.1:{server.sip_port}', builtin='uac', service='hello', calls=n,
                      rate=5, extra=['-d', '0'], global_timeout=60, timeout=90)
    assert_sipp_ok(result, calls=n, server=server)


def test_every_record_arrives_in_order_across_a_receiver_outage_and_a_restart(
        tmp_path, sipp):
    receiver = Receiver(free_port(), status=503).start()   # refuses the first batch
    env = {'TELEPHONY_CDR_RECEIVERS': receiver.url, 'TELEPHONY_CDR_RETRY_MIN': '0.1',
           'TELEPHONY_CDR_RETRY_MAX': '0.5'}
    server = ServerProcess(tmp_path / 'data', env=env).start()
    try:
        hello_calls(sipp, server, 2)
        server.wait_event('cdr-delivery-failed', status='503')
        receiver.status = 200      # a refused batch is sent again until it is acknowledged
        wait_for(lambda: complete_calls(receiver) == 2, 30, 'the records of 2 calls')
        first = unique(receiver.records())
        assert [r['index'] for r in first] == list(range(1, 9))
        assert [r['correlator'] for r in first] == list(range(0, 8))
        check_calls(first, 2)

        # the receiver goes away; calls go on; the server restarts; the receiver comes back
        receiver.stop()
        hello_calls(sipp, server, 3)
        server.wait_event('cdr-delivery-failed')
        server.stop()
        server.start()
        hello_calls(sipp, server, 1)     # a call of the new session, queued behind the others
        receiver.start()
        wait_for(lambda: complete_calls(receiver) == 6, 60, 'the records of 6 calls')
        records = unique(receiver.records())
        # every record once (duplicates are the same record), in recordIndex order
        assert [r['index'] for r in records] == list(range(1, 25)), [r['index'] for r in records]
        sessions = list(dict.fromkeys(r['session'] for r in records))
        assert len(sessions) == 2      # a new session GUID after the restart
        assert all(r['session'] == sessions[1] for r in records[20:])
        check_calls(records, 6)
        assert 'Traceback' not in server.log(), server.log_tail()
    finally:
        server.stop()
        receiver.stop()


def test_receivers_are_http_only_and_redirects_are_not_followed(tmp_path, sipp):
    elsewhere = Receiver(free_port()).start()
    redirecting = Receiver(free_port(), status=307, location=elsewhere.url).start()
    env = {'TELEPHONY_CDR_RECEIVERS': f'https://127.0.0.1:{free_port()}/cdr,{redirecting.url}',
           'TELEPHONY_CDR_RETRY_MIN': '0.1', 'TELEPHONY_CDR_RETRY_MAX': '0.2'}
    server = ServerProcess(tmp_path / 'data', env=env).start()
    try:
        server.wait_event('cdr-receiver-refused')
        hello_calls(sipp, server, 1)
        # the 307 is a failure: the same records again, never to the Location
        server.wait_event('cdr-delivery-failed', count=3, status='307')
        assert elsewhere.posts == []
        got = redirecting.records()
        assert {r['index'] for r in got} == {1, 2, 3, 4}
        assert len(got) > 4
    finally:
        server.stop()
        redirecting.stop()
        elsewhere.stop()


def test_a_call_cut_off_by_a_crash_is_ended_in_both_kinds_of_cdr(tmp_path):
    """kill -9 during a call API call: after the restart the receiver gets the leg's end and
    the call's end, and the partner finds the call's CDR."""
    from tests.api.conftest import Api
    from tests.api.test_call_api import NUMBER, Events, control, new_call
    from tests.api.test_partner_cdr import KEY, partner_client

    receiver = Receiver(free_port()).start()
    env = {'TELEPHONY_CDR_RECEIVERS': receiver.url, 'TELEPHONY_CDR_RETRY_MIN': '0.1',
           'TELEPHONY_CDR_RETRY_MAX': '0.5'}
    data = tmp_path / 'data'
    first = Api(ServerProcess(data, env=env).start())
    sipp = Sipp(tmp_path)
    try:
        first.add_user('acme', KEY, '--partner')
        first.add_user('joe', 'secret12345', '--partner-of', 'acme')
        first.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
        c = first.login('joe')
        c.get('/api/call/event')
        events = Events(c)
        sipp.start(f'127.0.0.1:{first.server.sip_port}', scenario='uac_api.xml', service=NUMBER,
                   calls=1, global_timeout=120)
        uuid = new_call(events)
        control(c, uuid, {'control': 'ring'}, {'control': 'answer'})
        events.call_update(uuid, status='answered')
        leg = wait_for(lambda: next((r for r in receiver.records() if r['type'] == 'callLegStart'
                                     and r['id'] == uuid), None), 30, 'the callLegStart')
        os.kill(first.server.proc.pid, signal.SIGKILL)
        first.server.proc.wait(10)
    finally:
        first.close()
        first.server.stop()
        sipp.stop_all()

    second = Api(ServerProcess(data, env=env).start())
    try:
        def ended():
            recs = unique(receiver.records())
            return [r for r in recs if r['id'] in (uuid, leg['fields']['call'])
                    and r['type'] in ('callLegEnd', 'callEnd')]
        leg_end, call_end = wait_for(lambda: len(ended()) == 2 and ended(), 30, 'the end records')
        assert leg_end['type'] == 'callLegEnd' and leg_end['fields']['reason'] == 'localTeardown'
        assert call_end['type'] == 'callEnd' and call_end['id'] == leg['fields']['call']
        assert call_end['fields']['callLegsCompleted'] == '1'
        p = partner_client(second)
        cdrs = p.get(f'/api/partner/cdr/{NUMBER}').json()['cdr']
        assert [x['id'] for x in cdrs] == [uuid], cdrs
        assert cdrs[0]['service'] == 'call' and cdrs[0]['phone'] == NUMBER and 'a_number' in cdrs[0]
    finally:
        second.close()
        second.server.stop()
        receiver.stop()


def test_a_forwarded_call_is_one_call_of_two_legs(tmp_path, sipp):
    """alice calls bob, registered from a SIPp uas: the inbound and the forwarded leg are one
    Cisco call (callLegsCompleted 2, callLegsMaxActive 2)."""
    receiver = Receiver(free_port()).start()
    server = ServerProcess(tmp_path / 'data', env={'TELEPHONY_CDR_RECEIVERS': receiver.url}).start()
    try:
        server.add_account('bob', 'bob-secret')
        server.add_account('alice', 'alice-secret')
        # bob registers from the port its uas then listens on: calls go to the REGISTER's flow
        bob_port = free_port()
        result = sipp.run(f'127.0.0.1:{server.sip_port}', scenario='register.xml', service='bob',
                          auth=('bob', 'bob-secret'), port=bob_port,
                          keys={'domain': 'localhost', 'contact_port': bob_port}, timeout=30)
        assert_sipp_ok(result, calls=1, server=server)
        bob, bcmd, bwork = sipp.start('', scenario='uas_trunk.xml', port=bob_port, calls=1,
                                      global_timeout=60)
        result = sipp.run(f'127.0.0.1:{server.sip_port}', scenario='uac_auth.xml', service='bob',
                          auth=('alice', 'alice-secret'),
                          keys={'caller': 'alice', 'domain': 'localhost'},
                          extra=['-d', '1000'], timeout=60)
        assert_sipp_ok(result, calls=1, server=server)
        assert_sipp_ok(sipp.wait(bob, bcmd, bwork, timeout=60), calls=1)
        wait_for(lambda: complete_calls(receiver) == 1, 30, 'the callEnd')
        (records,) = calls_in(unique(receiver.records())).values()
        kinds = [r['type'] for r in records]
        assert kinds[:3] == ['callStart', 'callLegStart', 'callLegStart'], kinds
        assert sorted(kinds[3:5]) == ['callLegEnd', 'callLegEnd'] and kinds[5:] == ['callEnd']
        inbound, outbound = records[1], records[2]
        assert inbound['fields']['direction'] == 'incoming'
        assert inbound['fields']['remoteParty'].startswith('alice@')
        assert outbound['fields']['direction'] == 'outgoing'
        assert outbound['fields']['remoteParty'].startswith('bob@')
        assert records[-1]['fields']['callLegsCompleted'] == '2'
        assert records[-1]['fields']['callLegsMaxActive'] == '2'
        # alice hung up: her leg ended from the far side, and we ended bob's
        ends = {r['id']: r['fields']['reason'] for r in records if r['type'] == 'callLegEnd'}
        assert ends == {inbound['id']: 'remoteTeardown', outbound['id']: 'localTeardown'}
    finally:
        server.stop()
        receiver.stop()
