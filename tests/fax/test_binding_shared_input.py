"""The binding never lets spandsp write into audio it was handed: 0.0.6's fax_rx DC-restores
its input in place, and the media engine hands every silent tick the one shared SILENCE_FRAME."""
import numpy as np

from telephony.media.fax.spandsp import AudioFaxTerminal
from telephony.media.sources import SILENCE_FRAME


def test_fax_rx_leaves_its_input_alone():
    tone = (3000 * np.sin(np.arange(160) * 2 * np.pi * 1100 / 8000)).astype(np.int16) + 700
    before = tone.copy()
    with AudioFaxTerminal(calling_party=False) as term:
        for _ in range(100):
            term.rx(tone)
            term.rx(SILENCE_FRAME)
    assert np.array_equal(tone, before)
    assert not SILENCE_FRAME.any()
