"""The ctypes binding: what it refuses, how it frees, and spandsp's own words."""
from __future__ import annotations

import gc
import logging

import numpy as np
import pytest

from telephony.media.fax import spandsp
from telephony.media.fax.session import AudioFaxSession, T38FaxSession

pytestmark = pytest.mark.skipif(not spandsp.available(), reason='libspandsp2 not installed')


def test_completion_codes_in_spandsps_words():
    assert spandsp.completion_text(spandsp.T30_ERR_OK) == 'OK'
    assert spandsp.completion_text(spandsp.T30_ERR_CALLDROPPED) == 'The call dropped prematurely'


@pytest.mark.parametrize('ident', ['x' * 21, 'Grüße', 'tab\there'])
def test_ident_longer_than_20_or_not_printable_ascii_is_refused(ident):
    with spandsp.AudioFaxTerminal(True) as term:
        with pytest.raises(spandsp.SpandspError, match='fax ident'):
            term.t30.set_tx_ident(ident)


def test_header_longer_than_50_is_refused():
    with spandsp.AudioFaxTerminal(True) as term:
        term.t30.set_tx_page_header_info('h' * 50)
        with pytest.raises(spandsp.SpandspError, match='fax header'):
            term.t30.set_tx_page_header_info('h' * 51)


def test_a_closed_terminal_raises_instead_of_touching_freed_memory():
    term = spandsp.AudioFaxTerminal(False)
    t30 = term.t30
    term.close()
    term.close()                                  # idempotent
    with pytest.raises(spandsp.SpandspError, match='closed'):
        term.tx(160)
    with pytest.raises(spandsp.SpandspError, match='closed'):
        t30.stats()
    t38 = spandsp.T38Terminal(False, lambda ifp, count: None)
    t38.close()
    with pytest.raises(spandsp.SpandspError, match='closed'):
        t38.rx_ifp(b'\x00', 0)


def test_callbacks_survive_garbage_collection():
    sent = []
    term = spandsp.T38Terminal(True, lambda ifp, count: sent.append(ifp))
    gc.collect()
    for _ in range(100):   # the calling side's first second: CNG indicators
        term.send_timeout(160)
    assert sent and all(isinstance(p, bytes) for p in sent)
    term.close()


def test_an_exception_in_a_handler_does_not_cross_into_c():
    def boom(ifp, count):
        raise RuntimeError('handler bug')
    term = spandsp.T38Terminal(True, boom)
    for _ in range(100):
        term.send_timeout(160)
    assert term._callback_errors > 0
    term.close()


def test_audio_terminal_gives_whole_frames_of_int16():
    with spandsp.AudioFaxTerminal(True) as term:
        term.rx(np.zeros(160, np.int16))
        out = term.tx(160)
        assert out.dtype == np.int16 and out.shape == (160,)


def test_a_session_sends_or_receives_not_both(tmp_path):
    with pytest.raises(ValueError):
        AudioFaxSession()
    with pytest.raises(ValueError):
        AudioFaxSession(send_file='a.tif', receive_file='b.tif')


def test_a_bad_ident_frees_the_terminal_at_once(tmp_path):
    with pytest.raises(spandsp.SpandspError):
        T38FaxSession(lambda d: None, receive_file=str(tmp_path / 'x.tif'), ident='é')


def test_sending_a_missing_file_ends_in_a_file_error(tmp_path):
    done = []
    tx = AudioFaxSession(send_file=str(tmp_path / 'missing.tif'), on_done=done.append)
    rx = AudioFaxSession(receive_file=str(tmp_path / 'got.tif'))
    for _ in range(3000):
        if tx.done:
            break
        a, b = tx.read(), rx.read()
        if a is not None:
            rx._on_audio(a)
        if b is not None:
            tx._on_audio(b)
    rx.hangup()
    assert done == [tx.result] and not tx.result.ok
    assert 'file' in tx.result.text.lower() or 'tiff' in tx.result.text.lower()
    assert tx.result.pages == 0 and rx.result.pages == 0


def test_a_receiver_hung_up_before_any_page_has_no_file(tmp_path):
    rx = AudioFaxSession(receive_file=str(tmp_path / 'got.tif'))
    for _ in range(100):       # two seconds of CED and DIS to nobody
        rx.read()
    rx.hangup()
    assert (rx.result.pages, rx.result.tiff, rx.result.ok) == (0, None, False)
    assert list(tmp_path.iterdir()) == []


def test_t30_messages_are_debug_lines_with_the_calls_tag(tmp_path, caplog, document):
    caplog.set_level(logging.DEBUG, logger='telephony.fax.t30')
    tx = AudioFaxSession(send_file=str(document), log_tag='call-42')
    rx = AudioFaxSession(receive_file=str(tmp_path / 'got.tif'))
    for _ in range(400):           # 8 s: CED, DIS, DCS, training
        a, b = tx.read(), rx.read()
        rx._on_audio(a)
        tx._on_audio(b)
    tx.hangup()
    rx.hangup()
    lines = [r.getMessage() for r in caplog.records if r.name == 'telephony.fax.t30']
    assert any('call-42' in line and 'DIS' in line for line in lines)
    assert all('\n' not in line for line in lines)


def test_no_protocol_lines_unless_debug(tmp_path, caplog, document):
    caplog.set_level(logging.INFO, logger='telephony.fax.t30')
    tx = AudioFaxSession(send_file=str(document))
    for _ in range(200):
        tx.read()
    tx.hangup()
    assert not [r for r in caplog.records if r.name == 'telephony.fax.t30']
