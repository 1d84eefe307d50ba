"""The Leg shell in-process, with a real SipStack and MediaEngine on 127.0.0.1: races whose
order a socket test cannot force (a CANCEL that lands while answer() binds its RTP ports)."""
from __future__ import annotations

import asyncio
import socket

import pytest

from telephony.calls.leg import Leg
from telephony.media.engine import MediaEngine
from telephony.sip.session import State
from telephony.sip.transaction import Peer
from telephony.sip.ua import SipStack

from .conftest import HOST, free_port_block
from .rawsip import new_call_id, request, sdp_offer


@pytest.fixture
async def stack_and_media():
    base = free_port_block(2)
    media = MediaEngine(HOST, base, base + 1)
    stack = SipStack(HOST, 0)
    await media.start()
    await stack.start()
    peer_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # where answers go
    peer_sock.bind((HOST, 0))
    yield stack, media, peer_sock
    peer_sock.close()
    await stack.stop()
    await media.stop()


async def _invite(stack: SipStack, peer_sock, body: str):
    port = peer_sock.getsockname()[1]
    peer = Peer('UDP', (HOST, port))
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_invite(req, txn, p):
        got.set_result((req, txn, p))
    stack.on_invite = on_invite
    cid, branch = new_call_id(), 'z9hG4bK' + new_call_id()[:12]
    stack.on_data(request('INVITE', f'sip:echo@{HOST}', port=port, call_id=cid, branch=branch,
                          body=body, content_type='application/sdp' if body else None), peer)
    req, txn, p = await asyncio.wait_for(got, 10)
    cancel = request('CANCEL', f'sip:echo@{HOST}', port=port, call_id=cid, branch=branch)
    return req, txn, p, cancel


@pytest.mark.parametrize('offer', [True, False], ids=['offer', 'offerless'])
async def test_cancel_while_answer_binds_its_ports(stack_and_media, offer):
    stack, media, peer_sock = stack_and_media
    req, txn, peer, cancel = await _invite(stack, peer_sock, sdp_offer(40000) if offer else '')
    binding, gate = asyncio.Event(), asyncio.Event()
    create = media.create_endpoint

    async def held_create_endpoint():            # answer() stays here until the CANCEL is in
        binding.set()
        await gate.wait()
        return await create()
    media.create_endpoint = held_create_endpoint
    leg = Leg.inbound(stack, media, req, txn, peer)
    answering = asyncio.ensure_future(leg.answer())
    await asyncio.wait_for(binding.wait(), 10)   # answer() is binding its ports
    assert not answering.done() and leg.endpoint is None
    stack.on_data(cancel, peer)                  # the CANCEL lands now
    assert leg.ended and txn.final == 487
    gate.set()
    await asyncio.wait_for(answering, 10)
    assert leg.session.state is State.TERMINATED
    assert leg.state == 'hangup' and leg.hangup_cause == 16
    assert not media.endpoints, 'the RTP ports of a cancelled call were kept'
    assert not stack.dialogs, 'a cancelled call left its dialog registered'
    assert txn.final == 487                      # no 200 after the 487


async def test_cancel_before_the_leg_exists_ends_it_once_made(stack_and_media):
    """The CANCEL came while the INVITE was still being routed (auth, database)."""
    stack, media, peer_sock = stack_and_media
    req, txn, peer, cancel = await _invite(stack, peer_sock, sdp_offer(40000))
    stack.on_data(cancel, peer)
    assert txn.final == 487
    leg = Leg.inbound(stack, media, req, txn, peer)
    ended: asyncio.Future = asyncio.get_running_loop().create_future()
    leg.on_state = lambda lg: lg.ended and not ended.done() and ended.set_result(lg.hangup_cause)
    assert await asyncio.wait_for(ended, 10) == 16
    await leg.answer()
    assert not media.endpoints and not stack.dialogs


async def test_sip_messages_are_traced_in_full_at_debug_only(stack_and_media, caplog, monkeypatch):
    import logging

    from telephony.sip import ua
    stack, _, peer_sock = stack_and_media
    port = peer_sock.getsockname()[1]
    peer = Peer('UDP', (HOST, port))
    options = request('OPTIONS', f'sip:x@{HOST}', port=port, call_id=new_call_id())
    caplog.set_level(logging.DEBUG, logger='telephony.sip.trace')
    stack.on_data(options + b'X-Evil: a\x00b', peer)   # body bytes a peer chose
    lines = [r.getMessage() for r in caplog.records if r.name == 'telephony.sip.trace']
    assert len(lines) == 2, lines
    inbound, outbound = lines
    assert inbound.startswith('event=sip-in ') and 'msg="OPTIONS sip:x@' in inbound
    assert '\\r\\nCall-ID: ' in inbound and '\\x00' in inbound and '\n' not in inbound
    assert outbound.startswith('event=sip-out ') and 'msg="SIP/2.0 200 OK\\r\\n' in outbound

    # at INFO nothing is formatted at all
    caplog.clear()
    caplog.set_level(logging.INFO, logger='telephony.sip.trace')
    monkeypatch.setattr(ua, '_trace', lambda *a: pytest.fail('traced at INFO'))
    stack.on_data(request('OPTIONS', f'sip:x@{HOST}', port=port, call_id=new_call_id()), peer)
    assert not [r for r in caplog.records if r.name == 'telephony.sip.trace']
