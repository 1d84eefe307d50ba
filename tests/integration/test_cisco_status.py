"""Cisco system/status (§10.1) counts what the calls did: call legs completed and most at
once, and the correlator index of the next CDR record, after real SIPp calls whose records
a real HTTP receiver takes."""
from __future__ import annotations

from tests.api.cisco import add_admin, fields, parsed
from tests.api.conftest import Api
from tests.integration.conftest import ServerProcess, free_port, wait_for
from tests.integration.test_cdr_receivers import Receiver, complete_calls, hello_calls


def status(c) -> dict[str, str]:
    r = c.get('/system/status')
    assert r.status_code == 200, r.text
    return fields(parsed(r))


def test_status_counts_completed_legs_and_the_next_cdr_correlator_index(tmp_path, sipp):
    receiver = Receiver(free_port()).start()
    server = ServerProcess(tmp_path / 'data', env={'TELEPHONY_CDR_RECEIVERS': receiver.url})
    server.start()
    api = Api(server)
    try:
        c = add_admin(api)
        before = status(c)
        assert (before['callLegsCompleted'], before['cdrCorrelatorIndex']) == ('0', '0')
        hello_calls(sipp, server, 2)
        wait_for(lambda: complete_calls(receiver) == 2, 30, 'the records of 2 calls')
        got = status(c)
        assert got['callLegsActive'] == '0' and got['callLegsCompleted'] == '2'
        assert got['callLegsMaxActive'] in ('1', '2')   # SIPp's calls may overlap
        # four records a call (callStart, callLegStart, callLegEnd, callEnd): 0..7 were sent
        sent = [int(r['correlator']) for r in receiver.records()]
        assert sorted(set(sent)) == list(range(8))
        assert got['cdrCorrelatorIndex'] == '8'
    finally:
        api.close()
        server.stop()
        receiver.stop()
