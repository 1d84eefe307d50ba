"""Fax sessions on the one media clock.

An `AudioFaxSession` is T.30 over G.711: it listens to its RTP endpoint (each tick's 160
received samples go to fax_rx in the endpoint's inbound phase) and is the endpoint's source
(fax_tx gives the 160 samples sent in the outbound phase).  A `T38FaxSession` is T.30 over
T.38: `T38Sessions`, one callback on the clock for all of them, advances each by 160
samples per tick (t38_terminal_send_timeout), and its IFP packets go out through UDPTL.
Neither has a thread, task or timer of its own.

spandsp reports the end in its phase E handler, called from inside fax_rx/fax_tx/
send_timeout; the session notes it there and finishes after that C call returns (the C
state is freed only then).  The result says what a fax report needs: the T.30 completion
code and text, pages, resolution in dpi, and the TIFF written (a receiver keeps the pages
it got when the peer hangs up early).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import logging
import os
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..codecs import FRAME_SAMPLES
from . import spandsp
from .resolution import t4_dpi
from .udptl import UdptlDecoder, UdptlEncoder, UdptlError

__all__ = ['FaxResult', 'FaxSession', 'AudioFaxSession', 'T38FaxSession', 'T38Sessions']

log = logging.getLogger('telephony.fax')


@dataclass(frozen=True)
class FaxResult:
    code: int             # T.30 phase E completion code (0: OK)
    text: str             # spandsp's words for it
    pages: int            # pages sent (sender) or received (receiver)
    x_res: int            # dpi of the last page (203 for R8)
    y_res: int            # dpi (98 standard, 196 fine, 391 superfine)
    bad_rows: int
    bit_rate: int
    ecm: bool
    remote_ident: str     # the far end's TSI/CSI
    tiff: str | None      # the file sent or received (None: no page arrived, no file)
    t38: bool

    @property
    def ok(self) -> bool:
        return self.code == spandsp.T30_ERR_OK


class FaxSession(ABC):
    """One T.30 exchange: sends `send_file` or receives into `receive_file`.

    `calling` is the T.30 role (the side that dialled); by default the sender calls.
    With the logger telephony.fax.t30 at DEBUG, T.30's messages are logged with `log_tag`.
    `on_done(result)` is called once, outside any spandsp call.  `on_progress(pages)` is
    called when the terminals have agreed on the transfer (phase B, pages=0: a report
    moves from `dial` to `transmit`) and after each page (phase D)."""

    t38 = False

    def __init__(self, *, send_file: str | None = None, receive_file: str | None = None,
                 ident: str = '', header: str = '', ecm: bool = True,
                 calling: bool | None = None,
                 on_done: Callable[[FaxResult], None] | None = None,
                 on_progress: Callable[[int], None] | None = None,
                 log_tag: str = '') -> None:
        if (send_file is None) == (receive_file is None):
            raise ValueError('a fax session either sends a file or receives one')
        self.sending = send_file is not None
        self.tiff = send_file if send_file is not None else receive_file
        self.calling = self.sending if calling is None else calling
        self.on_done = on_done
        self.on_progress = on_progress
        self.result: FaxResult | None = None
        self.negotiated = False
        self.pages_done = 0
        self._progress: list[int] = []   # noted inside spandsp, reported after it returns
        self._code: int | None = None
        self.term = self._terminal()
        try:
            t30 = self.term.t30
            if self.sending:
                t30.set_tx_file(self.tiff)
            else:
                t30.set_rx_file(self.tiff)
            if ident:
                t30.set_tx_ident(ident)
            if header:
                t30.set_tx_page_header_info(header)
            t30.set_ecm(ecm)
            t30.set_phase_b_handler(self._on_phase_b)
            t30.set_phase_d_handler(self._on_phase_d)
            t30.set_phase_e_handler(self._on_phase_e)
            if spandsp.protocol_logging():
                t30.log_protocol(log_tag or f'fax-{id(self):x}')
        except BaseException:
            self.term.close()
            raise

    @abstractmethod
    def _terminal(self):
        """The subclass's spandsp terminal (audio or T.38)."""

    @property
    def done(self) -> bool:
        return self.result is not None

    # spandsp's handlers: note only, never free the state from in here
    def _on_phase_b(self, _result: int) -> None:
        if not self.negotiated:
            self.negotiated = True
            self._progress.append(0)

    def _on_phase_d(self, _result: int) -> None:
        # spandsp's own count: a page sent again after a retrain is still one page
        st = self.term.t30.stats()
        pages = st.pages_tx if self.sending else st.pages_rx
        if pages != self.pages_done:
            self.pages_done = pages
            self._progress.append(pages)

    def _on_phase_e(self, code: int) -> None:
        if self._code is None:
            self._code = code

    def _check(self) -> None:
        """After each spandsp call: report progress, finish when phase E came."""
        if self._progress:
            done, self._progress = self._progress, []
            cb = self.on_progress
            for pages in done if cb is not None else ():
                try:
                    cb(pages)
                except Exception:
                    log.exception('event=fax-progress-callback-error')
        if self._code is not None and self.result is None:
            self._finish()

    def hangup(self) -> None:
        """The call ended: T.30 reports how far it got (phase E) and the session finishes."""
        if self.result is not None:
            return
        if not self.term.closed:
            self.term.t30.terminate()
        if self._code is None:
            self._code = spandsp.T30_ERR_CALLDROPPED
        self._check()

    def abandon(self) -> None:
        """Let go without a report: the call moves on without this session (the switch
        from audio to T.38 after the peer's re-INVITE)."""
        self.on_done = self.on_progress = None
        self.hangup()

    def _finish(self) -> None:
        st = self.term.t30.stats()
        code = self._code if self._code is not None else spandsp.T30_ERR_CALLDROPPED
        self.result = FaxResult(
            code=code, text=spandsp.completion_text(code),
            pages=st.pages_tx if self.sending else st.pages_rx,
            x_res=t4_dpi(st.x_resolution), y_res=t4_dpi(st.y_resolution), bad_rows=st.bad_rows,
            bit_rate=st.bit_rate, ecm=st.ecm, remote_ident=self.term.t30.remote_ident(),
            tiff=self.tiff, t38=self.t38)
        self._detach()
        self.term.close()   # closes the received TIFF: its pages are complete on disk
        if not self.sending and not os.path.exists(self.tiff):
            self.result = replace(self.result, tiff=None)
        log.info('event=fax-done t38=%s sending=%s code=%d text="%s" pages=%d',
                 self.t38, self.sending, code, self.result.text, self.result.pages)
        cb, self.on_done = self.on_done, None
        if cb is not None:
            try:
                cb(self.result)
            except Exception:
                log.exception('event=fax-done-callback-error')

    def _detach(self) -> None:
        pass


class AudioFaxSession(FaxSession):
    """T.30 over the audio of an RTP endpoint (G.711 PCMU/PCMA at 8 kHz)."""

    def _terminal(self):
        return spandsp.AudioFaxTerminal(self.calling)

    def attach(self, endpoint) -> None:
        """Take over the endpoint's audio both ways."""
        self.endpoint = endpoint
        endpoint.add_listener(self._on_audio)
        endpoint.source = self

    def _on_audio(self, pcm: np.ndarray) -> None:   # inbound phase: 160 samples received
        if self.result is None:
            self.term.rx(pcm)
            self._check()

    def read(self) -> np.ndarray | None:            # outbound phase: 160 samples to send
        if self.result is not None:
            return None
        frame = self.term.tx(FRAME_SAMPLES)
        self._check()
        return frame if self.result is None else None

    def _detach(self) -> None:
        ep = getattr(self, 'endpoint', None)
        if ep is not None:
            ep.remove_listener(self._on_audio)
            if ep.source is self:
                ep.source = None
            self.endpoint = None


class T38FaxSession(FaxSession):
    """T.30 over T.38: IFP packets in UDPTL datagrams with `redundancy` secondaries, each
    datagram at most `max_datagram` octets (the far end's T38FaxMaxDatagram), T.38
    `version` as negotiated (T38FaxVersion).

    `send(datagram)` puts a datagram on the wire; the transport hands received datagrams
    to `receive()`.  `T38Sessions` ticks it."""

    t38 = True

    def __init__(self, send: Callable[[bytes], None], *, redundancy: int = 3,
                 max_datagram: int = 400, version: int = 0, **kw) -> None:
        self._send = send
        self._max_datagram = max_datagram
        self._version = version
        self.encoder = UdptlEncoder(redundancy, max_datagram=max_datagram)
        self.decoder = UdptlDecoder()
        self._ticker: T38Sessions | None = None
        super().__init__(**kw)

    def _terminal(self):
        return spandsp.T38Terminal(self.calling, self._on_ifp,
                                   max_datagram=self._max_datagram, version=self._version)

    def _on_ifp(self, ifp: bytes, count: int) -> None:
        data = self.encoder.encode(ifp)
        # spandsp asks for repeats of indicators and ends of data: the same datagram again,
        # which the far decoder drops as a duplicate once it has it
        for _ in range(max(1, min(count, 3))):
            self._send(data)

    def receive(self, datagram: bytes) -> None:
        if self.result is not None:
            return
        try:
            ifps = self.decoder.feed(datagram)
        except UdptlError as e:
            log.debug('event=udptl-malformed error=%s', e)
            return
        for seq, ifp in ifps:
            try:
                self.term.rx_ifp(ifp, seq)
            except spandsp.SpandspError:
                log.debug('event=t38-ifp-rejected seq=%d', seq)
            if self._code is not None:
                break
        self._check()

    def tick(self) -> None:
        if self.result is None:
            self.term.send_timeout(FRAME_SAMPLES)
            self._check()

    def _detach(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.discard(self)


class T38Sessions:
    """Every T.38 session of a media clock, advanced by one clock callback."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self._sessions: dict[T38FaxSession, None] = {}
        self._snapshot: tuple[T38FaxSession, ...] = ()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, session: T38FaxSession) -> None:
        if session.done:
            return
        if not self._sessions:
            self.clock.add(self._on_tick)
        session._ticker = self
        self._sessions[session] = None
        self._snapshot = tuple(self._sessions)

    def discard(self, session: T38FaxSession) -> None:
        if self._sessions.pop(session, 0) is None:
            self._snapshot = tuple(self._sessions)
            if not self._sessions:
                self.clock.remove(self._on_tick)

    def _on_tick(self, _tick: int) -> None:
        for s in self._snapshot:
            try:
                s.tick()
            except Exception:
                log.exception('event=t38-tick-error')
                s.hangup()
