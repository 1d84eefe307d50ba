"""The TrunkRegistrations shell in-process, with a real SipStack on 127.0.0.1 and a raw UDP
socket as the provider's registrar: what the headers of its answers do, adding the same
trunk again, removing one, a proxy given by name."""
from __future__ import annotations

import asyncio
import socket

import pytest

from telephony.sip.message import make_response, parse_message
from telephony.sip.registrations import TrunkRegistrations
from telephony.sip.trunks import TrunkAccount
from telephony.sip.ua import SipStack

from .conftest import HOST


class Registrar(asyncio.DatagramProtocol):
    """Collects the REGISTERs it gets; the test answers them."""

    def __init__(self):
        self.requests: asyncio.Queue = asyncio.Queue()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.requests.put_nowait((parse_message(data), addr))

    async def next(self, timeout: float = 10.0):
        return await asyncio.wait_for(self.requests.get(), timeout)

    def answer(self, req, addr, status: int, *headers: tuple[str, str]):
        resp = make_response(req, status)
        for name, value in headers:
            resp.add(name, value)
        self.transport.sendto(resp.to_bytes(), addr)


@pytest.fixture
async def setup():
    stack = SipStack(HOST, 0)
    await stack.start()
    transport, registrar = await asyncio.get_running_loop().create_datagram_endpoint(
        Registrar, local_addr=(HOST, 0))
    port = transport.get_extra_info('sockname')[1]
    regs = TrunkRegistrations(stack, jitter=lambda: 0.0)
    yield stack, regs, registrar, port
    await regs.stop(timeout=0.5)
    transport.close()
    await stack.stop()


def account(port: int, host: str = HOST, **kw) -> TrunkAccount:
    return TrunkAccount(**{'id': 'r1', 'proxy': f'{host}:{port}', 'user': 'pbx',
                           'password': 'pw', 'register': True, 'domain': 'provider.test', **kw})


async def wait_state(regs: TrunkRegistrations, state: str, timeout: float = 10.0) -> dict:
    """The trunk's status once it is in `state`, woken by the shell's change callback."""
    changed = asyncio.Event()
    regs.on_change.append(lambda _trunk: changed.set())

    async def reached() -> dict:
        while (s := regs.status()[0])['state'] != state:
            changed.clear()
            await changed.wait()
        return s
    try:
        return await asyncio.wait_for(reached(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f'never {state}: {regs.status()}') from None
    finally:
        regs.on_change.pop()


async def test_our_contact_expires_wins_and_the_same_trunk_again_changes_nothing(setup):
    stack, regs, registrar, port = setup
    regs.add(account(port))
    await regs.start()
    req, addr = await registrar.next()
    assert req.get('Expires') == '3600' and req.get('Authorization') is None
    assert [s['state'] for s in regs.status()] == ['registering']
    ours = req.contacts[0].uri
    registrar.answer(req, addr, 200, ('Contact', '<sip:other@192.0.2.1>;expires=50'),
                     ('Contact', f'<{ours}>;expires=120'), ('Expires', '999'))
    s = await wait_state(regs, 'registered')
    assert (s['id'], s['user'], s['lastStatus'], s['lastReason']) == ('r1', 'pbx', 200, 'OK')
    assert 110 <= s['expires'] <= 120
    regs.add(account(port))            # unchanged: no unregister, no new REGISTER
    with pytest.raises(asyncio.TimeoutError):
        await registrar.next(timeout=0.3)
    assert regs.status()[0]['state'] == 'registered'


async def test_remove_unregisters_and_forgets(setup):
    stack, regs, registrar, port = setup
    await regs.start()
    regs.add(account(port))            # added after start: registers at once
    req, addr = await registrar.next()
    registrar.answer(req, addr, 200)
    await wait_state(regs, 'registered')
    regs.remove('r1')
    bye, _ = await registrar.next()
    assert bye.get('Expires') == '0' and bye.call_id == req.call_id
    assert bye.cseq.seq == req.cseq.seq + 1 and regs.status() == []


async def test_retry_after_with_a_comment_and_parameters_is_read(setup):
    stack, regs, registrar, port = setup
    regs.add(account(port))
    await regs.start()
    req, addr = await registrar.next()
    registrar.answer(req, addr, 503, ('Retry-After', '120 (maintenance);duration=60'))
    s = await wait_state(regs, 'failed')
    assert (s['lastStatus'], s['expires']) == (503, None)
    (reg,) = regs._regs.values()
    assert 119 <= reg.machine.retry_at - stack.now() <= 120


async def test_a_proxy_named_by_host_name_is_resolved(setup):
    stack, regs, registrar, port = setup
    # Debian's /etc/hosts names 127.0.0.1 localhost; the registrar listens there only
    assert HOST in {i[4][0] for i in socket.getaddrinfo('localhost', port, socket.AF_INET)}
    regs.add(account(port, host='localhost', domain=''))
    await regs.start()
    req, addr = await registrar.next()
    assert str(req.uri) == 'sip:localhost' and req.to.uri.host == 'localhost'
    registrar.answer(req, addr, 423, ('Min-Expires', '7200'))
    again, _ = await registrar.next()
    assert again.get('Expires') == '7200'


async def test_an_account_that_does_not_register_is_not_added(setup):
    stack, regs, registrar, port = setup
    regs.add(account(port, register=False))
    await regs.start()
    assert regs.status() == []
