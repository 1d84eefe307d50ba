"""SIPp sends a T.38 re-INVITE on a call to the real server: echo has no fax app, so the
answer is 488 and the call goes on with its audio."""
from __future__ import annotations

from .conftest import assert_sipp_ok, free_port


def test_t38_reinvite_without_a_fax_app_gets_488_and_the_call_goes_on(server, sipp):
    result = sipp.run(f'127.0.0.1:{server.sip_port}', scenario='uac_t38_refused.xml',
                      service='echo', keys={'t38_port': free_port()}, timeout=60)
    assert_sipp_ok(result, calls=1, server=server)     # 488 with its Warning, then BYE 200
    refused = server.wait_event('t38-refused')
    assert refused[0]['reason'] == 'no-fax-app'
    hangup = server.wait_event('leg-state', state='hangup')
    # SIPp played its audio only after the 488: it reached echo, and echo sent it back
    assert int(hangup[0]['received']) > 0 and int(hangup[0]['sent']) > 0
    server.wait_no_calls()
