"""Overload: a flood of new calls is shed with 503 + Retry-After, calls already up survive
with their audio, and the server serves normally once the flood stops.

The test asserts what a caller sees, not which admission gate fired: on a slow or busy
machine the CPU gate may act before the call-rate gate, and either is right.
"""
from __future__ import annotations

import numpy as np

from .conftest import HOST, assert_sipp_ok, wait_for
from .media import dominant_frequency
from .rawsip import UdpPeer, echo_call, request
from .test_raw_peer import RtpPeer, tone

FLOOD_RATE = 3000      # calls/s: about 3x what one server process carries on this machine
FLOOD_SECONDS = 20


def test_flood_is_shed_and_established_calls_survive(server, sipp):
    target = f'127.0.0.1:{server.sip_port}'
    # a call that is up before the flood; its audio is checked during it
    sip, rtp = UdpPeer(server.sip_port), RtpPeer()
    cid, to, remote = echo_call(sip, rtp.port)
    # calls that are up before the flood and stay up through it (BYE after 25 s)
    held, hcmd, hwork = sipp.start(target, builtin='uac', service='echo', calls=5, rate=10,
                                   extra=['-d', '25000'], global_timeout=90)
    server.wait_event('leg-state', count=5, state='answered')
    flood, fcmd, fwork = sipp.start(
        target, builtin='uac', service='echo', calls=FLOOD_RATE * FLOOD_SECONDS, rate=FLOOD_RATE,
        extra=['-buff_size', '4194304'], global_timeout=FLOOD_SECONDS + 10)
    # during the flood, the call that was up keeps its audio: a tone sent is echoed back
    # (SIPp's flood runs for FLOOD_SECONDS; three seconds of tone fit well inside it)
    rtp.received.clear()
    sent = tone([1000], 3000)
    rtp.send(remote, sent)
    packets = len(sent) // 160
    wait_for(lambda: (rtp.drain(), len(rtp.received) >= packets // 2)[1], 30,
             'the up call\'s audio to be echoed during the flood')
    assert abs(dominant_frequency(np.concatenate(rtp.received)) - 1000) < 30
    flooded = sipp.wait(flood, fcmd, fwork, timeout=FLOOD_SECONDS + 60)

    health = server.health()
    assert health['shed'] > 0, f'nothing was shed under {FLOOD_RATE} calls/s: {health}'
    # SIPp logs each refused call's unexpected answer: the 503 with its Retry-After
    errors = flooded.all_errors
    assert 'SIP/2.0 503 Overloaded' in errors and 'Retry-After: 5' in errors
    sip.send(request('BYE', f'sip:echo@{HOST}', port=sip.port, call_id=cid, cseq=2, to=to))
    bye_ok, _ = sip.final(cid)
    assert bye_ok is not None and bye_ok.status == 200
    sip.close()
    rtp.close()
    # the five calls that were up before the flood end normally
    assert_sipp_ok(sipp.wait(held, hcmd, hwork, timeout=90), calls=5, server=server)
    # the server says when it has caught up; then it serves normally
    wait_for(lambda: not server.health()['overloaded'] and server.health()['loop_lag_ms'] < 5,
             60, 'the overload to clear')
    # and afterwards the server serves normally
    assert_sipp_ok(sipp.run(target, builtin='uac', service='echo', calls=50, rate=25),
                   calls=50, server=server)
