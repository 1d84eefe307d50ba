"""Overload: a flood of new calls is shed with 503 + Retry-After, calls already up survive,
and the server serves normally once the flood stops."""
from __future__ import annotations

from .conftest import assert_sipp_ok, wait_for

FLOOD_RATE = 3000      # calls/s: about 3x what one server process carries on this machine
FLOOD_SECONDS = 20


def test_flood_is_shed_and_established_calls_survive(server, sipp):
    target = f'127.0.0.1:{server.sip_port}'
    # calls that are up before the flood and stay up through it (BYE after 25 s)
    held, hcmd, hwork = sipp.start(target, builtin='uac', service='echo', calls=5, rate=10,
                                   extra=['-d', '25000'], global_timeout=90)
    server.wait_event('leg-state', count=5, state='answered')
    flood, fcmd, fwork = sipp.start(
        target, builtin='uac', service='echo', calls=FLOOD_RATE * FLOOD_SECONDS, rate=FLOOD_RATE,
        extra=['-buff_size', '4194304'], global_timeout=FLOOD_SECONDS + 10)
    flooded = sipp.wait(flood, fcmd, fwork, timeout=FLOOD_SECONDS + 60)

    health = server.health()
    assert health['shed'] > 0, f'nothing was shed under {FLOOD_RATE} calls/s: {health}'
    # the call-rate gate refuses from the flood's first second, before a backlog builds
    assert health['shed_by']['rate'] > 0, health
    # SIPp logs each refused call's unexpected answer: the 503 with its Retry-After
    errors = flooded.all_errors
    assert 'SIP/2.0 503 Overloaded' in errors and 'Retry-After: 5' in errors
    # the five calls that were up before the flood end normally
    assert_sipp_ok(sipp.wait(held, hcmd, hwork, timeout=90), calls=5, server=server)
    # the server says when it has caught up; then it serves normally
    wait_for(lambda: not server.health()['overloaded'] and server.health()['loop_lag_ms'] < 5,
             60, 'the overload to clear')
    # and afterwards the server serves normally
    assert_sipp_ok(sipp.run(target, builtin='uac', service='echo', calls=50, rate=25),
                   calls=50, server=server)
