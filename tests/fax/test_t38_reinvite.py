"""T.38 by re-INVITE on a call, in-process: the real SipStack and MediaEngine on 127.0.0.1
UDP, a SIP peer made of plain datagrams (tests/integration/rawsip.py builds its requests),
and the independent spandsp terminal of tests/fax/peer.py on UDPTL."""
from __future__ import annotations

import asyncio
import re
import socket

import pytest

from telephony import sdp
from telephony.calls.faxswitch import accept_t38, switch_to_t38
from telephony.calls.leg import Leg
from telephony.media.engine import MediaEngine
from telephony.media.fax import spandsp
from telephony.media.fax.session import AudioFaxSession
from telephony.media.fax.t38sdp import t38_media
from telephony.sip.ua import SipStack
from tests.integration.conftest import free_port_block
from tests.integration.rawsip import new_call_id, request, sdp_offer

from .conftest import TickDriver, wait_for
from .peer import T38FaxPeer
from .test_fax_sessions import assert_same_pages

HOST = '127.0.0.1'

pytestmark = pytest.mark.skipif(not spandsp.available(), reason='libspandsp2 is not installed')


def t38_offer(port: int, extra: str = '', rate_management: str = 'transferredTCF') -> str:
    """What Asterisk sends when it switches a call to T.38."""
    return ('v=0\r\no=- 9 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
            f'm=image {port} udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n'
            f'a=T38FaxRateManagement:{rate_management}\r\na=T38FaxMaxDatagram:400\r\n'
            f'a=T38FaxUdpEC:t38UDPRedundancy\r\n{extra}')


class Message:
    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b'\r\n\r\n')
        lines = head.decode().split('\r\n')
        self.first = lines[0]
        self.headers = [tuple(p.strip() for p in ln.split(':', 1)) for ln in lines[1:]]
        m = re.match(r'SIP/2\.0 (\d{3})', self.first)
        self.status = int(m.group(1)) if m else None
        self.method = None if m else self.first.split()[0]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def cseq(self) -> str:
        return self.header('CSeq')


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, queue: asyncio.Queue) -> None:
        self.queue = queue

    def datagram_received(self, data, addr):
        self.queue.put_nowait(Message(data))


class SipPeer:
    """The far end of one call: sends what the test says, keeps what arrives."""

    def __init__(self, stack: SipStack) -> None:
        self.stack = stack
        self.queue: asyncio.Queue = asyncio.Queue()
        self.call_id = new_call_id()
        self.to = f'<sip:fax@{HOST}>'
        self.cseq = 1

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Proto(self.queue), local_addr=(HOST, 0))
        self.port = self.transport.get_extra_info('sockname')[1]

    def send(self, data: bytes) -> None:
        self.transport.sendto(data, (HOST, self.stack.port))

    def request(self, method: str, body: str = '', cseq: int | None = None, **kw) -> bytes:
        return request(method, f'sip:fax@{HOST}:{self.stack.port}', port=self.port,
                       call_id=self.call_id, cseq=cseq or self.cseq, to=self.to, body=body,
                       content_type='application/sdp' if body else None, **kw)

    async def next(self, want, timeout: float = 10.0) -> Message:
        """The next message `want(msg)` accepts; others (100 Trying) are passed over."""
        async def get():
            while True:
                msg = await self.queue.get()
                if want(msg):
                    return msg
        return await asyncio.wait_for(get(), timeout)

    async def final(self, cseq: int) -> Message:
        return await self.next(lambda m: m.status is not None and m.status >= 200
                               and m.cseq == f'{cseq} INVITE')

    async def reinvite(self, body: str) -> Message:
        self.cseq += 1
        self.send(self.request('INVITE', body))
        return await self.final(self.cseq)

    def ack(self, cseq: int | None = None) -> None:
        self.send(self.request('ACK', cseq=cseq or self.cseq))

    def close(self) -> None:
        self.transport.close()


@pytest.fixture
async def call():
    """An answered inbound call: (leg, peer SIP, peer RTP socket, tick driver)."""
    base = free_port_block(4)
    media = MediaEngine(HOST, base, base + 3)
    media.clock.add(media._on_tick)           # the clock's ticks are the test's (TickDriver)
    stack = SipStack(HOST, 0)
    await stack.start()
    legs: asyncio.Queue = asyncio.Queue()

    async def on_invite(req, txn, p):
        leg = Leg.inbound(stack, media, req, txn, p)
        await leg.answer()
        legs.put_nowait(leg)
    stack.on_invite = on_invite
    peer = SipPeer(stack)
    await peer.open()
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((HOST, 0))
    rtp.setblocking(False)
    peer.send(peer.request('INVITE', sdp_offer(rtp.getsockname()[1])))
    ok = await peer.final(1)
    assert ok.status == 200
    peer.to = ok.header('To')
    peer.ack()
    leg = await asyncio.wait_for(legs.get(), 10)
    await wait_for(lambda: leg.session.state.value == 'confirmed')
    yield leg, peer, rtp, TickDriver(media.clock)
    leg.hangup()
    peer.close()
    rtp.close()
    await stack.stop()
    await media.stop()


def _rtp_arrives(rtp: socket.socket) -> bool:
    try:
        rtp.recv(2048)
        return True
    except BlockingIOError:
        return False


async def _audio_goes_on(leg: Leg, rtp: socket.socket, driver: TickDriver) -> None:
    ep = leg.endpoint
    assert leg.state == 'answered' and leg.t38 is None
    assert ep.direction == 'sendrecv' and ep.remote == (HOST, rtp.getsockname()[1])
    ep.transmit_silence = True
    got = []
    await driver.run(lambda: bool(got), lambda: True, limit=50,
                     each=lambda _t: _rtp_arrives(rtp) and got.append(1))


async def test_no_fax_app_refuses_t38_with_488_and_the_audio_goes_on(call):
    leg, peer, rtp, driver = call
    resp = await peer.reinvite(t38_offer(40000))
    assert resp.status == 488
    assert '304' in resp.header('Warning') and 'Media type not available' in resp.header('Warning')
    await _audio_goes_on(leg, rtp, driver)


@pytest.mark.parametrize('body, reason', [
    (t38_offer(40000, rate_management='localTCF'), 'localTCF'),
    (t38_offer(40000, extra='a=T38FaxMaxDatagram:12\r\n'), 'too small'),
    (t38_offer(40000).replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0'), 'no connection'),
], ids=['localTCF', 'tiny-datagram', 'no-address'])
async def test_a_bad_t38_offer_gets_488_with_the_reason(call, tmp_path, body, reason):
    leg, peer, rtp, driver = call
    accept_t38(leg, None, {'receive_file': str(tmp_path / 'got.tif')})
    resp = await peer.reinvite(body)
    assert resp.status == 488 and reason in resp.header('Warning'), resp.header('Warning')
    await _audio_goes_on(leg, rtp, driver)


async def test_the_peers_t38_reinvite_switches_a_receiving_fax(call, tmp_path, document):
    """A receiver on G.711 is switched to T.38; the independent spandsp terminal sends two
    pages over UDPTL and they arrive pixel-identical."""
    leg, peer, rtp, driver = call
    results = []
    got = tmp_path / 'got.tif'
    kw = {'receive_file': str(got), 'on_done': results.append}
    audio = AudioFaxSession(**kw)
    audio.attach(leg.endpoint)
    accept_t38(leg, audio, kw)
    sender = T38FaxPeer(str(document))
    try:
        resp = await peer.reinvite(t38_offer((await sender.open())[1]))
        assert resp.status == 200 and resp.header('Content-Type') == 'application/sdp'
        ours = t38_media(sdp.parse_sdp(resp.body))
        assert ours.params.max_datagram == 400 and ours.params.udp_ec == 't38UDPRedundancy'
        assert leg.t38 is None                       # switched on the ACK, not before
        peer.ack()
        await wait_for(lambda: leg.t38 is not None)
        link = leg.t38
        assert link.socket.local_address == (HOST, ours.address[1])
        assert audio.done and audio.on_done is None  # abandoned without a report
        assert leg.endpoint.direction == 'inactive' and leg.endpoint.remote is None
        session = link.session
        assert session is not None and len(leg.media.t38) == 1
        sender.remote = ours.address
        sock = link.socket
        delivered = lambda: sock.received >= sender.sent and sender.received >= sock.sent  # noqa: E731
        await driver.run(lambda: session.done and sender.done, delivered,
                         each=lambda _tick: sender.tick())
        assert sender.code == 0 and len(results) == 1 and results[0].ok
        assert results[0].t38 and results[0].pages == 2
        assert_same_pages(document, got, 2, header=False)
        assert len(leg.media.t38) == 0
    finally:
        sender.close()


async def test_bye_on_t38_hangs_up_the_fax_and_closes_udptl(call, tmp_path):
    leg, peer, rtp, driver = call
    results = []
    accept_t38(leg, None, {'receive_file': str(tmp_path / 'got.tif'), 'on_done': results.append})
    assert (await peer.reinvite(t38_offer(40000))).status == 200
    peer.ack()
    await wait_for(lambda: leg.t38 is not None)
    link = leg.t38
    peer.cseq += 1
    peer.send(peer.request('BYE'))
    bye_ok = await peer.next(lambda m: m.cseq == f'{peer.cseq} BYE')
    assert bye_ok.status == 200 and leg.ended
    assert len(results) == 1 and results[0].code == spandsp.T30_ERR_CALLDROPPED
    assert link.socket.transport is None and leg.t38 is None and len(leg.media.t38) == 0


async def test_an_unacked_t38_answer_ends_the_call(call, tmp_path):
    """Our 200 to their T.38 offer is never ACKed: BYE (RFC 3261 §13.3.1.4), socket closed.
    (Timer H is 32 s: the test fakes it by reporting the timeout the stack would.)"""
    leg, peer, rtp, driver = call
    accept_t38(leg, None, {'receive_file': str(tmp_path / 'got.tif')})
    assert (await peer.reinvite(t38_offer(40000))).status == 200
    answered = leg._t38_answered[1]
    layer = leg.stack.layer
    txn = next(t for t in list(layer._servers.values()) + list(layer._accepted.values())
               if t.method == 'INVITE' and t.request is not None
               and t.request.cseq.seq == peer.cseq)
    leg.on_timeout(txn)                          # what the stack reports when timer H fires
    bye = await peer.next(lambda m: m.method == 'BYE')
    assert bye.method == 'BYE' and leg.ended and answered.socket.transport is None
    assert leg._t38_answered is None and leg.t38 is None


async def test_our_t38_reinvite_answered_200_switches_and_udptl_flows(call, tmp_path, document):
    leg, peer, rtp, driver = call
    results = []
    got = tmp_path / 'got.tif'
    kw = {'receive_file': str(got), 'on_done': results.append, 'calling': False}
    audio = AudioFaxSession(**kw)
    audio.attach(leg.endpoint)
    sender = T38FaxPeer(str(document))
    switching = asyncio.ensure_future(switch_to_t38(leg, audio, kw))
    try:
        invite = await peer.next(lambda m: m.method == 'INVITE')
        offer = t38_media(sdp.parse_sdp(invite.body))
        assert offer.params.max_datagram == 400 and offer.address[0] == HOST
        peer_port = (await sender.open())[1]
        peer.transport.sendto(_answer(invite, 200, t38_offer(peer_port)), (HOST, leg.stack.port))
        ack = await peer.next(lambda m: m.method == 'ACK')
        assert ack.cseq == invite.cseq.replace('INVITE', 'ACK')
        session = await asyncio.wait_for(switching, 10)
        assert session is not None and leg.t38.session is session and audio.done
        assert leg.endpoint.direction == 'inactive'
        sender.remote = offer.address
        sock = leg.t38.socket
        delivered = lambda: sock.received >= sender.sent and sender.received >= sock.sent  # noqa: E731
        await driver.run(lambda: session.done and sender.done, delivered,
                         each=lambda _tick: sender.tick())
        assert results and results[0].ok and results[0].pages == 2 and sock.sent > 0
        assert_same_pages(document, got, 2, header=False)
    finally:
        switching.cancel()
        sender.close()


async def test_our_t38_reinvite_refused_keeps_the_audio(call):
    leg, peer, rtp, driver = call
    asking = asyncio.ensure_future(leg.request_t38())
    invite = await peer.next(lambda m: m.method == 'INVITE')
    peer.transport.sendto(_answer(invite, 488), (HOST, leg.stack.port))
    assert await asyncio.wait_for(asking, 10) is None
    assert leg._t38_request is None
    await _audio_goes_on(leg, rtp, driver)
    # and the call can ask again later
    asking = asyncio.ensure_future(leg.request_t38())
    again = await peer.next(lambda m: m.method == 'INVITE')
    assert again.cseq != invite.cseq
    peer.transport.sendto(_answer(again, 606), (HOST, leg.stack.port))
    assert await asyncio.wait_for(asking, 10) is None


def _answer(req: Message, status: int, body: str = '') -> bytes:
    reason = {200: 'OK', 488: 'Not Acceptable Here', 491: 'Request Pending',
              606: 'Not Acceptable'}[status]
    lines = [f'SIP/2.0 {status} {reason}']
    for name in ('Via', 'From', 'Call-ID', 'CSeq'):
        lines.append(f'{name}: {req.header(name)}')
    lines.append(f'To: {req.header("To")}')
    lines.append(f'Contact: <sip:fax@{HOST}>')
    if body:
        lines.append('Content-Type: application/sdp')
    lines.append(f'Content-Length: {len(body)}')
    return ('\r\n'.join(lines) + '\r\n\r\n' + body).encode()


class _Delay:
    """The session's rng for §14.1 glare delays: always `value` hundredths of a second."""

    def __init__(self, value: int) -> None:
        self.value = value

    def randint(self, lo: int, hi: int) -> int:
        return self.value


def _send_answer(peer: SipPeer, req: Message, status: int, body: str = '') -> None:
    peer.transport.sendto(_answer(req, status, body), (HOST, peer.stack.port))


async def test_glare_their_t38_reinvite_wins_and_ours_is_not_sent_again(call, tmp_path):
    """Both ends ask for T.38 at once (RFC 3261 §14.1): each answers the other 491; theirs,
    sent again first, is taken, and our request returns that link without a second try."""
    leg, peer, rtp, driver = call
    leg.session.rng = _Delay(100000)             # our retry would come very late
    results = []
    kw = {'receive_file': str(tmp_path / 'got.tif'), 'on_done': results.append}
    asking = asyncio.ensure_future(switch_to_t38(leg, None, kw))
    ours = await peer.next(lambda m: m.method == 'INVITE')
    crossed = await peer.reinvite(t38_offer(40000))      # theirs crossed ours
    assert crossed.status == 491
    _send_answer(peer, ours, 491)
    await wait_for(lambda: leg.session.reinvite.value == 'retry')
    resp = await peer.reinvite(t38_offer(40000))         # their retry comes first
    assert resp.status == 200
    peer.ack()
    session = await asyncio.wait_for(asking, 10)
    assert session is not None and leg.t38.session is session
    assert leg.t38.remote == (HOST, 40000)
    assert 'reinvite-retry' not in leg._timers
    pending = [peer.queue.get_nowait() for _ in range(peer.queue.qsize())]
    assert not [m for m in pending if m.method == 'INVITE']   # no second INVITE of ours


async def test_glare_our_retry_wins(call):
    leg, peer, rtp, driver = call
    leg.session.rng = _Delay(0)                  # retry at once
    asking = asyncio.ensure_future(leg.request_t38())
    first = await peer.next(lambda m: m.method == 'INVITE')
    _send_answer(peer, first, 491)
    second = await peer.next(lambda m: m.method == 'INVITE')
    assert second.cseq != first.cseq and t38_media(sdp.parse_sdp(second.body))
    _send_answer(peer, second, 200, t38_offer(40002))
    link = await asyncio.wait_for(asking, 10)
    assert link is not None and link.remote == (HOST, 40002) and leg.t38 is link
    await peer.next(lambda m: m.method == 'ACK')


async def test_a_reinvite_while_theirs_is_being_answered_gets_500(call, tmp_path, monkeypatch):
    """§14.2: their second re-INVITE while the first (T.38, its socket being bound) is
    unanswered gets 500 with Retry-After; the first is answered 200."""
    from telephony.calls import t38

    leg, peer, rtp, driver = call
    accept_t38(leg, None, {'receive_file': str(tmp_path / 'got.tif')})
    binding, gate = asyncio.Event(), asyncio.Event()
    real_open = t38.UdptlSocket.open

    async def held_open(*a, **kw):
        binding.set()
        await gate.wait()
        return await real_open(*a, **kw)
    monkeypatch.setattr(t38.UdptlSocket, 'open', held_open)
    peer.cseq += 1
    peer.send(peer.request('INVITE', t38_offer(40000)))
    await asyncio.wait_for(binding.wait(), 10)
    peer.send(peer.request('INVITE', t38_offer(40000), cseq=peer.cseq + 1))
    overlap = await peer.final(peer.cseq + 1)
    assert overlap.status == 500 and overlap.header('Retry-After') is not None
    gate.set()
    assert (await peer.final(peer.cseq)).status == 200
    peer.ack()
    await wait_for(lambda: leg.t38 is not None)


async def test_bye_while_the_t38_answer_is_being_made(call, tmp_path, monkeypatch):
    """The call ends while the UDPTL socket is bound: 487 to the re-INVITE, no socket kept."""
    from telephony.calls import t38

    leg, peer, rtp, driver = call
    accept_t38(leg, None, {'receive_file': str(tmp_path / 'got.tif')})
    binding, gate = asyncio.Event(), asyncio.Event()
    real_open = t38.UdptlSocket.open
    opened = []

    async def held_open(*a, **kw):
        binding.set()
        await gate.wait()
        opened.append(await real_open(*a, **kw))
        return opened[-1]
    monkeypatch.setattr(t38.UdptlSocket, 'open', held_open)
    peer.cseq += 1
    peer.send(peer.request('INVITE', t38_offer(40000)))
    await asyncio.wait_for(binding.wait(), 10)
    peer.send(peer.request('BYE', cseq=peer.cseq + 1))
    assert (await peer.final(peer.cseq)).status == 487
    gate.set()
    await asyncio.wait_for(leg._t38_task, 10)
    assert leg.ended and opened and opened[0].transport is None


async def test_a_t38_offer_while_on_t38_keeps_the_fax_session(call, tmp_path):
    """A refresh re-INVITE on T.38 (a new UDPTL address) keeps our socket and session."""
    leg, peer, rtp, driver = call
    accept_t38(leg, None, {'receive_file': str(tmp_path / 'got.tif')})
    first = await peer.reinvite(t38_offer(40000))
    peer.ack()
    await wait_for(lambda: leg.t38 is not None)
    link, session = leg.t38, leg.t38.session
    again = await peer.reinvite(t38_offer(40010))
    assert again.status == 200 and again.body.split(b'\r\nm=')[1] == first.body.split(b'\r\nm=')[1]
    peer.ack()
    assert leg.t38 is link and link.session is session and not session.done
    assert link.socket.remote == (HOST, 40010)


async def test_an_audio_reinvite_takes_the_call_back_from_t38(call, tmp_path):
    """Gateways switch back to audio after the fax: the T.38 session ends, RTP resumes."""
    leg, peer, rtp, driver = call
    results = []
    accept_t38(leg, None, {'receive_file': str(tmp_path / 'got.tif'), 'on_done': results.append})
    await peer.reinvite(t38_offer(40000))
    peer.ack()
    await wait_for(lambda: leg.t38 is not None)
    sock = leg.t38.socket
    back = await peer.reinvite(sdp_offer(rtp.getsockname()[1]))
    assert back.status == 200 and b'm=audio ' in back.body
    peer.ack()
    assert leg.t38 is None and sock.transport is None and len(results) == 1
    await _audio_goes_on(leg, rtp, driver)
