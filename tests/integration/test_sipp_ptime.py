"""A 30 ms SIPp phone (a=ptime:30, g711a.pcap) calling `hello`: the server answers with
a=ptime:30 and sends its prompt in 30 ms packets -- a third fewer than at 20 ms."""
from __future__ import annotations

import soundfile

from .conftest import ROOT, assert_sipp_ok


def test_prompt_to_a_30ms_phone_goes_in_30ms_packets(server, sipp):
    result = sipp.run(f'127.0.0.1:{server.sip_port}', scenario='uac_ptime30.xml',
                      service='hello', timeout=90)
    assert_sipp_ok(result, calls=1, server=server)    # the scenario checks a=ptime:30
    hangup = server.wait_event('leg-state', state='hangup')[-1]
    sent, received = int(hangup['sent']), int(hangup['received'])
    prompt = soundfile.info(str(ROOT / 'prompts' / 'hello.wav')).duration
    at_30, at_20 = prompt / 0.030, prompt / 0.020
    report = f'sent {sent} received {received}; prompt {prompt:.2f} s: {at_30:.0f} packets ' \
             f'at 30 ms, {at_20:.0f} at 20 ms\n{server.log_tail(20)}'
    # the prompt's packets, and a little silence while it loads (not 20 ms packets)
    assert at_30 <= sent < at_30 + (at_20 - at_30) * 0.75, report
    assert received > 0, report
