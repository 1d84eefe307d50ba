"""Two fax sessions, a sender and a receiver, terminal to terminal on the media clock:
over G.711 through two RTP endpoints of the media engine on 127.0.0.1, and over T.38 in
UDPTL datagrams through two UDP sockets.  The received pages are the sent pages, pixel
for pixel (below the header line the sender prints)."""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from telephony.media.clock import MediaClock
from telephony.media.engine import MediaEngine
from telephony.media.sources import ToneSource
from telephony.media.fax import spandsp
from telephony.media.fax.cng import CngWatch
from telephony.media.fax.pages import tiff_info
from telephony.media.fax.session import AudioFaxSession, T38FaxSession, T38Sessions
from telephony.media.fax.transport import UdptlSocket
from telephony.media.fax.udptl import UdptlEncoder

from .conftest import TickDriver, wait_for
from .documents import make_tiff, page_bitmaps, page_dpi

pytestmark = pytest.mark.skipif(not spandsp.available(), reason='libspandsp2 not installed')

HEADER_ROWS = 32   # spandsp 0.0.6 puts the header line above the page image


def assert_same_pages(sent, received, pages, header=True):
    want = page_bitmaps(sent)[:pages]
    got = page_bitmaps(received)
    assert len(got) == pages
    for w, g in zip(want, got):
        top = HEADER_ROWS if header else 0
        assert g.shape == (w.shape[0] + top, w.shape[1])
        assert np.array_equal(g[top:], w)           # the page, pixel for pixel
        if header:
            assert g[:top].any()                     # the header line is printed
    assert page_dpi(received) == [(204, 196)] * pages


async def _rtp_pair(engine, codec='PCMU'):
    a = await engine.create_endpoint()
    b = await engine.create_endpoint()
    a.configure(('127.0.0.1', b.local_port), codec)
    b.configure(('127.0.0.1', a.local_port), codec)
    return a, b


def _rtp_delivered(a, b):
    return lambda: (b.packets_received >= a._sender.packets_sent
                    and a.packets_received >= b._sender.packets_sent)


@pytest.fixture
async def engine():
    engine = MediaEngine('127.0.0.1')
    yield engine
    await engine.stop()


async def _g711_call(engine, document, got, codec='PCMU', tx_kw=None, rx_kw=None):
    """A sender and a receiver on two RTP endpoints of the engine, sending to each other."""
    driver = TickDriver(engine.clock)
    engine.clock.add(engine._on_tick)     # what MediaEngine.start does, without the task
    a, b = await _rtp_pair(engine, codec)
    tx = AudioFaxSession(send_file=str(document), **(tx_kw or {}))
    rx = AudioFaxSession(receive_file=str(got), **(rx_kw or {}))
    tx.attach(a)
    rx.attach(b)
    return tx, rx, driver, _rtp_delivered(a, b), (a, b)


@pytest.mark.parametrize('codec', ['PCMU', 'PCMA'])
async def test_two_pages_over_g711_rtp_are_pixel_identical(tmp_path, document, engine, codec):
    done, tx_progress, rx_progress = [], [], []
    tx, rx, driver, delivered, (a, b) = await _g711_call(
        engine, document, tmp_path / 'got.tif', codec,
        tx_kw=dict(ident='+49 30 5550001', header='ACME Orders', on_done=done.append,
                   on_progress=tx_progress.append),
        rx_kw=dict(ident='+49 30 5550002', on_done=done.append,
                   on_progress=rx_progress.append))
    await driver.run(lambda: tx.done and rx.done, delivered)
    assert done == [rx.result, tx.result] or done == [tx.result, rx.result]
    assert tx_progress == rx_progress == [0, 1, 2]    # negotiated, page 1, page 2
    for r in (tx.result, rx.result):
        assert (r.code, r.text, r.ok) == (0, 'OK', True)
        assert (r.pages, r.x_res, r.y_res, r.bad_rows, r.t38) == (2, 203, 196, 0, False)
    assert rx.result.remote_ident == '+49 30 5550001'     # the TSI
    assert tx.result.remote_ident == '+49 30 5550002'     # the CSI
    assert_same_pages(document, tmp_path / 'got.tif', 2)
    info = tiff_info(rx.result.tiff)        # what the fax object will say about its file
    assert (info.pages, info.x_res, info.y_res) == (2, rx.result.x_res, rx.result.y_res)
    # the sessions let go of the endpoints
    assert a.source is None and b.source is None and not a._listeners


async def test_standard_resolution_g3_is_reported_as_the_document_does(tmp_path, engine):
    """Q-loud's example fax: x_res 203, y_res 98 (R8 x 3.85 lines/mm), here from a G3 TIFF."""
    doc = make_tiff(tmp_path / 'std.tif', pages=1, rows=550, compression='group3',
                    dpi=(204, 98))
    tx, rx, driver, delivered, _ = await _g711_call(engine, doc, tmp_path / 'got.tif')
    await driver.run(lambda: tx.done and rx.done, delivered)
    assert (rx.result.ok, rx.result.pages, rx.result.x_res, rx.result.y_res) == (True, 1, 203, 98)
    assert np.array_equal(page_bitmaps(tmp_path / 'got.tif')[0], page_bitmaps(doc)[0])


async def test_sender_cut_off_mid_page_fails_and_keeps_the_pages_before(tmp_path, document,
                                                                         engine):
    tx, rx, driver, delivered, _ = await _g711_call(
        engine, document, tmp_path / 'got.tif', tx_kw=dict(ecm=False), rx_kw=dict(ecm=False))
    # page 1 is through (phase D) and 3 s of page 2 are on the line ...
    await driver.run(lambda: rx.pages_done >= 1, delivered)
    stop = driver.ticks + 150
    await driver.run(lambda: driver.ticks >= stop, delivered)
    assert not rx.done
    # ... when the sender's call drops (its BYE reaches the receiver's call)
    tx.hangup()
    rx.hangup()
    for r in (tx.result, rx.result):
        assert not r.ok
        assert r.code == spandsp.T30_ERR_CALLDROPPED
        assert r.text == 'The call dropped prematurely'
    assert rx.result.pages == 1
    assert_same_pages(document, tmp_path / 'got.tif', 1, header=False)


async def test_a_silent_line_mid_page_ends_in_a_phase_e_failure(tmp_path, document, engine):
    tx, rx, driver, delivered, _ = await _g711_call(engine, document, tmp_path / 'got.tif')
    await driver.run(lambda: rx.pages_done >= 1, delivered)
    tx.hangup()   # the sender vanishes without a BYE: the receiver hears nothing more
    await driver.run(lambda: rx.done, delivered)
    assert not rx.result.ok and rx.result.code not in (0, spandsp.T30_ERR_CALLDROPPED)
    assert rx.result.text == spandsp.completion_text(rx.result.code)
    assert rx.result.pages == 1
    assert len(page_bitmaps(tmp_path / 'got.tif')) == 1


async def _t38_pair(tmp_path, document, lose=None, redundancy=3, max_datagram=400):
    clock = MediaClock()
    sessions = T38Sessions(clock)
    sa, sb = await UdptlSocket.open(), await UdptlSocket.open()
    send_a = sa.send
    if lose is not None:             # drop some of the sender's datagrams on the way
        count = [0]

        def send_a(data, _send=sa.send):
            count[0] += 1
            if lose(count[0]):
                sa.sent += 1
                sb.received += 1     # counted as delivered: it is lost, not late
                return
            _send(data)
    tx = T38FaxSession(send_a, send_file=str(document), ident='T38 SENDER',
                       header='T.38 test', redundancy=redundancy, max_datagram=max_datagram)
    rx = T38FaxSession(sb.send, receive_file=str(tmp_path / 'got.tif'))
    sa.connect(sb.local_address, tx)
    sb.connect(sa.local_address, rx)
    sessions.add(tx)
    sessions.add(rx)
    driver = TickDriver(clock)
    delivered = lambda: sb.received >= sa.sent and sa.received >= sb.sent  # noqa: E731
    return tx, rx, sessions, driver, delivered, (sa, sb)


async def test_two_pages_over_t38_udptl_are_pixel_identical(tmp_path, document):
    tx, rx, sessions, driver, delivered, socks = await _t38_pair(tmp_path, document)
    try:
        await driver.run(lambda: tx.done and rx.done, delivered)
        for r in (tx.result, rx.result):
            assert (r.code, r.ok, r.pages, r.x_res, r.y_res, r.t38) == (0, True, 2, 203, 196,
                                                                          True)
        assert rx.result.remote_ident == 'T38 SENDER'
        assert_same_pages(document, tmp_path / 'got.tif', 2)
        assert len(sessions) == 0 and not sessions.clock._callbacks   # off the clock
        assert rx.decoder.lost == 0 and rx.decoder.recovered == 0
    finally:
        for s in socks:
            s.close()


async def test_t38_sender_cut_off_mid_page_keeps_page_one(tmp_path, document):
    tx, rx, sessions, driver, delivered, socks = await _t38_pair(tmp_path, document)
    try:
        await driver.run(lambda: rx.pages_done >= 1, delivered)
        stop = driver.ticks + 100
        await driver.run(lambda: driver.ticks >= stop, delivered)
        tx.hangup()
        rx.hangup()
        assert rx.result.code == spandsp.T30_ERR_CALLDROPPED and rx.result.pages == 1
        assert len(sessions) == 0
        assert_same_pages(document, tmp_path / 'got.tif', 1)
    finally:
        for s in socks:
            s.close()


async def test_audio_then_t38_as_after_a_re_invite(tmp_path, document, engine):
    """The call starts as G.711 audio, then both sides switch to T.38 (the re-INVITE): the
    audio sessions are abandoned without a report and T.38 sessions carry the fax."""
    reports = []
    tx, rx, driver, delivered, (a, b) = await _g711_call(
        engine, document, tmp_path / 'audio.tif', tx_kw=dict(on_done=reports.append),
        rx_kw=dict(on_done=reports.append))
    await driver.run(lambda: driver.ticks >= 100, delivered)      # 2 s of CNG and CED
    tx.abandon()
    rx.abandon()
    assert reports == [] and a.source is None and not b._listeners
    t38 = await _t38_pair(tmp_path, document)
    ttx, trx, sessions, tdriver, tdelivered, socks = t38
    try:
        await tdriver.run(lambda: ttx.done and trx.done, tdelivered)
        assert trx.result.ok and trx.result.t38 and trx.result.pages == 2
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize('max_datagram', [400, 72])
async def test_t38_redundancy_recovers_lost_datagrams(tmp_path, document, max_datagram):
    """Every 7th datagram of the sender is lost; a small T38FaxMaxDatagram leaves room for
    fewer secondaries, and what they cannot bring back ECM asks for again."""
    tx, rx, sessions, driver, delivered, socks = await _t38_pair(
        tmp_path, document, lose=lambda n: n % 7 == 3, max_datagram=max_datagram)
    try:
        await driver.run(lambda: tx.done and rx.done, delivered)
        assert rx.result.ok and rx.result.pages == 2
        assert rx.decoder.recovered > 0
        if max_datagram == 400:
            assert rx.decoder.lost == 0 and tx.encoder.trimmed == 0
        else:
            assert tx.encoder.trimmed > 0
        assert_same_pages(document, tmp_path / 'got.tif', 2)
    finally:
        for s in socks:
            s.close()


async def test_udptl_socket_takes_datagrams_only_from_the_signalled_peer(tmp_path):
    peer, ours, stranger = [await UdptlSocket.open() for _ in range(3)]
    rx = T38FaxSession(ours.send, receive_file=str(tmp_path / 'got.tif'))
    try:
        ours.connect(peer.local_address, rx)
        peer.connect(ours.local_address, None)
        stranger.connect(ours.local_address, None)
        stranger.send(UdptlEncoder().encode(b'\x00'))
        peer.send(UdptlEncoder(first_seq=7).encode(b'\x00'))
        await wait_for(lambda: ours.foreign == 1 and ours.received == 1)
        assert rx.decoder.received == 1 and rx.decoder.expected == 8   # the peer's only
    finally:
        rx.hangup()
        for s in (peer, ours, stranger):
            s.close()


@pytest.mark.parametrize('peer_sends', [True, False], ids=['peer-sends', 'peer-receives'])
async def test_an_independent_spandsp_peer_over_rtp(tmp_path, document, engine, peer_sends):
    """The peer is tests/fax/peer.py: its own ctypes, its own RTP and G.711."""
    from .peer import RtpFaxPeer

    driver = TickDriver(engine.clock)
    engine.clock.add(engine._on_tick)
    ep = await engine.create_endpoint()
    got = tmp_path / 'got.tif'
    if peer_sends:
        peer = RtpFaxPeer(send_file=str(document))
        ours = AudioFaxSession(receive_file=str(got))
    else:
        peer = RtpFaxPeer(receive_file=str(got))
        ours = AudioFaxSession(send_file=str(document))
    try:
        peer.remote = ('127.0.0.1', ep.local_port)
        ep.configure(await peer.open(), 'PCMU')
        ours.attach(ep)
        delivered = lambda: ep.packets_received >= peer.sent and (   # noqa: E731
            peer.received >= ep._sender.packets_sent)
        await driver.run(lambda: ours.done and peer.done, delivered,
                         each=lambda _tick: peer.tick())
        assert peer.code == 0 and ours.result.ok and ours.result.pages == 2
        assert_same_pages(document, got, 2, header=False)
    finally:
        peer.close()


async def test_on_the_running_media_clock_the_terminals_agree_in_real_time(tmp_path, document,
                                                                          engine):
    """The same sessions on the engine's own clock task (20 ms ticks, real time): phase B
    (the terminals agreed on modem and page format) is a few seconds of line time."""
    await engine.start()
    a, b = await _rtp_pair(engine)
    agreed = asyncio.Event()
    tx = AudioFaxSession(send_file=str(document))
    rx = AudioFaxSession(receive_file=str(tmp_path / 'got.tif'),
                         on_progress=lambda pages: agreed.set())
    tx.attach(a)
    rx.attach(b)
    await asyncio.wait_for(agreed.wait(), 60)
    assert rx.negotiated and engine.clock.ticks > 0
    tx.hangup()
    rx.hangup()
    assert rx.result.code == spandsp.T30_ERR_CALLDROPPED


async def test_an_independent_spandsp_peer_sends_over_t38(tmp_path, document):
    from .peer import T38FaxPeer

    clock = MediaClock()
    sessions = T38Sessions(clock)
    sock = await UdptlSocket.open()
    peer = T38FaxPeer(str(document))
    got = tmp_path / 'got.tif'
    ours = T38FaxSession(sock.send, receive_file=str(got))
    try:
        peer.remote = sock.local_address
        sock.connect(await peer.open(), ours)
        sessions.add(ours)
        delivered = lambda: sock.received >= peer.sent and peer.received >= sock.sent  # noqa: E731
        await TickDriver(clock).run(lambda: ours.done and peer.done, delivered,
                                    each=lambda _tick: peer.tick())
        assert peer.code == 0 and ours.result.ok and ours.result.pages == 2
        assert ours.result.t38 and ours.decoder.lost == 0
        assert_same_pages(document, got, 2, header=False)
    finally:
        peer.close()
        sock.close()


async def test_cng_from_a_calling_fax_is_heard_on_a_voice_call(tmp_path, document, engine):
    """A voice number listens for CNG; the caller is a fax sending a document."""
    driver = TickDriver(engine.clock)
    engine.clock.add(engine._on_tick)
    a, b = await _rtp_pair(engine)
    tx = AudioFaxSession(send_file=str(document))
    tx.attach(a)
    heard = []
    watch = CngWatch(b, lambda: heard.append(driver.ticks))
    await driver.run(lambda: bool(heard), _rtp_delivered(a, b), limit=500)   # 10 s
    assert watch.heard and not b._listeners          # heard once, then it let go
    # the call switches to fax: a receiver takes the endpoint and the fax gets through
    rx = AudioFaxSession(receive_file=str(tmp_path / 'got.tif'))
    rx.attach(b)
    await driver.run(lambda: tx.done and rx.done, _rtp_delivered(a, b))
    assert rx.result.ok and rx.result.pages == 2


@pytest.mark.parametrize('tone', [[440], [350, 440], [2100], [697, 1209]],
                         ids=['440', 'dialtone', 'ced', 'dtmf-1'])
async def test_cng_watch_ignores_other_tones(engine, tone):
    driver = TickDriver(engine.clock)
    engine.clock.add(engine._on_tick)
    a, b = await _rtp_pair(engine)
    a.source = ToneSource(tone)
    heard = []
    watch = CngWatch(b, lambda: heard.append(1))
    await driver.run(lambda: driver.ticks >= 500, _rtp_delivered(a, b))      # 10 s
    assert heard == [] and not watch.heard
    watch.close()
    assert not b._listeners
