"""CNG watch: hears a calling fax machine (1100 Hz, 0.5 s on, 3 s off) on a call that also
takes voice, so the call can be switched to a fax receiver.

It is one more listener on the RTP endpoint (the inbound phase's 160 samples each tick go
to spandsp's modem connect tone detector); `on_cng()` is called once, after the detector
returned, and the watch lets go of the endpoint.  A steady 1100 Hz tone counts as CNG too
(spandsp checks the tone, not the cadence).
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from . import spandsp

__all__ = ['CngWatch']

log = logging.getLogger('telephony.fax')


class CngWatch:
    def __init__(self, endpoint, on_cng: Callable[[], None]) -> None:
        self.endpoint = endpoint
        self.on_cng = on_cng
        self.heard = False
        self._detector = spandsp.ConnectToneDetector(spandsp.MODEM_CONNECT_TONES_FAX_CNG)
        endpoint.add_listener(self._on_audio)

    def _on_audio(self, pcm: np.ndarray) -> None:
        if self.heard or not self._detector.feed(pcm):
            return
        self.heard = True
        cb = self.on_cng
        self.close()
        log.info('event=fax-cng port=%s', getattr(self.endpoint, 'local_port', '-'))
        if cb is not None:
            cb()

    def close(self) -> None:
        """Stop listening (the call ended, or was answered as voice)."""
        if self.endpoint is not None:
            self.endpoint.remove_listener(self._on_audio)
        self.on_cng = None
        self._detector.close()
