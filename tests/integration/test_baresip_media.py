"""baresip hears the end of what the server played.

baresip holds 5-10 frames in its jitter buffer (jitter_buffer_delay 5-10) and plays them
out only as more packets arrive.  When the server stopped sending after a prompt, its
last ~100 ms stayed in that buffer for ever; now an answered call carries silence after
it, which pushes the end out.  `record` ends its greeting with a 250 ms beep and then
only listens: the beep's last frame is what must reach baresip's speaker.
"""
from __future__ import annotations

import numpy as np

from telephony.media.codecs import PCMA, PCMU
from telephony.media.sources import ToneSource

from .baresip import account_line
from .conftest import wait_for
from .test_baresip import ALICE_HZ, peers  # noqa: F401  (the fixture)


def holds(received: np.ndarray, frame: np.ndarray) -> bool:
    """`frame` appears in `received`, give or take baresip's G.711 tables (within 4)."""
    if len(received) < len(frame):
        return False
    windows = np.lib.stride_tricks.sliding_window_view(received.astype(np.int32), len(frame))
    return bool((np.abs(windows - frame.astype(np.int32)) <= 4).all(axis=1).any())


def test_baresip_plays_the_end_of_the_beep(server, peers):  # noqa: F811
    # record's beep (ivr/demo.py) and its last 20 ms, half tone, half zero,
    # as baresip decodes it in either G.711 law
    beep = ToneSource([1000], 250, 0, 1)
    while (frame := beep.read()) is not None:
        last = frame
    assert last[:80].any() and not last[80:].any()
    tails = [c.decode(c.encode(last)) for c in (PCMU, PCMA)]

    server.add_account('carol', 'carol-secret')
    carol = peers('carol', ALICE_HZ)
    carol.start([account_line('carol', 'carol-secret', 'localhost', server.sip_port)])
    carol.wait_event('REGISTER_OK', fail_on=('REGISTER_FAIL',))
    mark = len(carol.event_list())
    assert carol.command('dial', 'sip:record@localhost')['ok']
    carol.wait_event('CALL_ESTABLISHED', after=mark, fail_on=('CALL_CLOSED',))

    def heard_the_end():
        files = sorted(carol.record_dir.glob('dump-*-dec.wav'))
        if not files:
            return False
        data = files[-1].read_bytes()     # (sndfile is still writing it)
        body = data[data.find(b'data') + 8:] if b'data' in data else b''
        pcm = np.frombuffer(body[:len(body) // 2 * 2], dtype='<i2')
        return any(holds(pcm, t) for t in tails)
    try:
        wait_for(heard_the_end, 30, "baresip to play the beep's last frame",
                 interval=0.25)
    finally:
        carol.command('hangup')
    carol.wait_event('CALL_CLOSED', after=mark)
    server.wait_no_calls()
    assert 'Traceback' not in server.log(), server.log_tail()
