"""Issue 8: an ended call must be freed when it ends, by reference counting alone.

Every ended call used to stay in reference cycles (Leg <-> Call through the leg's callbacks,
Call <-> ControlQueue, RtpEndpoint <-> its protocols and the leg's callbacks it held), so
only the cyclic garbage collector could free it; with the collector tuned for throughput
(thresholds 20000/20/20 and everything frozen at start) that took thousands of calls, and
idle RSS grew by ~18 KiB per ended call (bench.rss_rounds). Here the server runs with the
collector off: a count that does not return to zero after the calls ended is a cycle.
"""
from __future__ import annotations

import json
import os
import signal
import sys

from .conftest import ServerProcess, WaitTimeout, assert_sipp_ok, wait_for
from .test_sipp import record_prompt_wait_ms, target


class RefcountServer(ServerProcess):
    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, '-m', 'tests.integration.refcount_server', *args,
                '--data', str(self.data_dir)]

    def counts(self, out) -> dict[str, int]:
        """Live objects by type, written by the server on SIGUSR1."""
        out.unlink(missing_ok=True)
        os.kill(self.proc.pid, signal.SIGUSR1)
        wait_for(out.exists, 30, 'the server to write its object counts')
        return json.loads(out.read_text())


def test_ended_calls_are_freed_without_the_cycle_collector(tmp_path, sipp):
    out = tmp_path / 'counts.json'
    server = RefcountServer(tmp_path / 'data', env={'REFCOUNT_OUT': str(out)}).start()
    try:
        before = server.counts(out)
        assert before['Leg'] == before['Call'] == before['RtpEndpoint'] == 0, before
        # echo: answered, RTP endpoint, BYE from the caller
        result = sipp.run(target(server), builtin='uac', service='echo', calls=3, rate=10,
                          extra=['-d', '1000'], timeout=90)
        assert_sipp_ok(result, calls=3, server=server)
        # record: a prompt played, the caller's audio recorded and stored
        result = sipp.run(target(server), scenario='uac_pcap.xml', service='record',
                          extra=['-d', str(record_prompt_wait_ms())], timeout=90)
        assert_sipp_ok(result, calls=1, server=server)
        server.wait_event('recording', timeout=30)
        server.wait_no_calls(timeout=30)
        gone = ('Leg', 'Call', 'ControlQueue', 'RtpEndpoint', 'Dialog', 'Player', 'WavRecorder')
        last: dict = {}

        def freed():
            last.update(server.counts(out))
            return all(last[k] == 0 for k in gone)
        try:
            # lingering transactions hold no call; a call still alive after this is a cycle
            wait_for(freed, 90, 'the ended calls to be freed', interval=1.0)
        except WaitTimeout:
            raise AssertionError(f'ended calls still alive (reference cycles): {last}\n'
                                 f'{server.log_tail()}') from None
    finally:
        server.stop()


def test_ended_api_calls_are_freed_without_the_cycle_collector(tmp_path, sipp):
    """A call worked through the call API (listeners on the call, the answer timer, the
    call-history writes) is freed when it ends as well."""
    from tests.api.conftest import Api
    from tests.api.test_call_api import NUMBER, Events, control, new_call
    out = tmp_path / 'counts.json'
    server = RefcountServer(tmp_path / 'data', env={'REFCOUNT_OUT': str(out)}).start()
    api = Api(server)
    try:
        api.add_user('joe')
        api.cli('phone', 'add', NUMBER, '--user', 'joe', '--call-enable')
        c = api.login('joe')
        c.get('/api/call/event')
        events = Events(c)
        for _ in range(2):
            sipp.start(target(server), scenario='uac_api.xml', service=NUMBER, calls=1,
                       global_timeout=60)
            uuid = new_call(events)
            control(c, uuid, {'control': 'answer'}, {'control': 'tone', 'frequency': 440,
                                                      'duration': 200}, {'control': 'hangup'})
            events.wait(lambda e: e['event'] == 'call_update' and
                        e['call'].get(uuid, {}).get('status') == 'hangup', what='the hangup')
        server.wait_no_calls(timeout=30)
        last: dict = {}

        def freed():
            last.update(server.counts(out))
            return all(last[k] == 0 for k in ('Leg', 'Call', 'ControlQueue', 'RtpEndpoint'))
        try:
            wait_for(freed, 90, 'the ended API calls to be freed', interval=1.0)
        except WaitTimeout:
            raise AssertionError(f'ended API calls still alive (reference cycles): {last}\n'
                                 f'{server.log_tail()}') from None
    finally:
        api.close()
        server.stop()
        sipp.stop_all()
