"""The fork (calls/fork.py) in-process, with real SIP stacks on 127.0.0.1 as the contacts
and real MediaEngines: the orders a SIPp phone cannot force. Two 200s in flight at once
(the loser's crosses our CANCEL: ACK and BYE), a 6xx that ends the fork while another
contact rings, a contact that answered before the Call existed, RTP ports for only one leg."""
from __future__ import annotations

import asyncio

import pytest

from telephony.calls.call import Call
from telephony.calls.fork import Fork, contact_legs
from telephony.calls.leg import Leg
from telephony.media.engine import MediaEngine
from telephony.sip.registrar import Binding
from telephony.sip.transaction import Peer
from telephony.sip.ua import SipStack
from telephony.sip.uri import parse_uri

from .conftest import HOST, free_port_block
from .test_trunk_failover_shell import Calls


class Contacts:
    """Registered phones: a SIP stack each; every INVITE becomes a UAS leg we drive."""

    def __init__(self, n: int, media: MediaEngine):
        self.stacks = [SipStack(HOST, 0) for _ in range(n)]
        self.media = media
        self.legs: dict[int, Leg] = {}
        self.arrived = asyncio.Event()

        for i, s in enumerate(self.stacks):
            async def on_invite(req, txn, peer, i=i, s=s):
                self.legs[i] = Leg.inbound(s, self.media, req, txn, peer)
                if len(self.legs) == len(self.stacks):
                    self.arrived.set()
            s.on_invite = on_invite


@pytest.fixture
async def world():
    base = free_port_block(8)
    media, phones_media = MediaEngine(HOST, base, base + 3), MediaEngine(HOST, base + 4, base + 7)
    stack = SipStack(HOST, 0)
    contacts = Contacts(2, phones_media)
    everything = [stack, *contacts.stacks]
    await media.start()
    await phones_media.start()
    for s in everything:
        await s.start()
    yield stack, media, contacts
    for s in everything:
        await s.stop()
    await phones_media.stop()
    await media.stop()


async def fork_to(stack, media, contacts: Contacts) -> list[Leg]:
    legs = [await Leg.outbound(stack, media, parse_uri(f'sip:joe@{HOST}:{s.port}'),
                               Peer('UDP', (HOST, s.port)), 'sip:alice@pbx.test')
            for s in contacts.stacks]
    await asyncio.wait_for(contacts.arrived.wait(), 10)
    return legs


def ended(leg: Leg) -> asyncio.Future:
    done = asyncio.get_running_loop().create_future()
    leg.on_state = lambda lg: lg.ended and not done.done() and done.set_result(lg.hangup_cause)
    return done


def status(call: Call, wanted: str) -> asyncio.Future:
    got = asyncio.get_running_loop().create_future()
    if call.info['status'] == wanted:
        got.set_result(None)
    call.listeners.append(lambda kind, f: f.get('status') == wanted and not got.done()
                          and got.set_result(None))
    return got


async def test_two_answers_in_flight_the_loser_gets_ack_and_bye(world):
    stack, media, contacts = world
    manager = Calls(stack, media)
    legs = await fork_to(stack, media, contacts)
    call = Fork(legs).start(lambda leg: Call(manager, leg))
    a, b = contacts.legs[0], contacts.legs[1]
    for phone in (a, b):
        await phone.ring()
        await phone._ensure_endpoint()   # so answer() sends its 200 without giving way
    await asyncio.wait_for(status(call, 'ringing'), 10)
    b_ended = ended(b)
    await a.answer()      # both 200s are on the wire before our stack reads either:
    await b.answer()      # b's crosses the CANCEL the fork sends it when a's wins
    await asyncio.wait_for(status(call, 'answered'), 10)
    assert call.leg is legs[0] and call.id == legs[0].id
    assert await asyncio.wait_for(b_ended, 10) == 26   # the BYE's Reason: answered elsewhere
    assert not b.ended_here and b.dialog is not None   # b was answered, then got a BYE
    assert legs[1].ended and not a.ended and not call.ended.done()
    a_ended = ended(a)
    call.leg.hangup()
    assert await asyncio.wait_for(a_ended, 10) == 16
    assert manager.forgotten == [call]


async def test_a_6xx_ends_the_fork_and_cancels_the_contact_still_ringing(world):
    stack, media, contacts = world
    manager = Calls(stack, media)
    legs = await fork_to(stack, media, contacts)
    call = Fork(legs).start(lambda leg: Call(manager, leg))
    a, b = contacts.legs[0], contacts.legs[1]
    await b.ring()
    await asyncio.wait_for(status(call, 'ringing'), 10)
    b_ended = ended(b)
    a.reject(603, 'Decline')
    assert await asyncio.wait_for(call.ended, 10) == 21     # call rejected, the 603's
    assert await asyncio.wait_for(b_ended, 10) == 16        # CANCEL
    assert b.txn.final == 487
    assert call.leg is legs[0] and call.leg.final_status == 603


async def test_a_contact_that_answered_before_the_call_existed_wins_at_start(world):
    stack, media, contacts = world
    manager = Calls(stack, media)
    legs = await fork_to(stack, media, contacts)
    first_answered = asyncio.get_running_loop().create_future()
    legs[1].on_state = lambda lg: lg.state == 'answered' and first_answered.set_result(None)
    await contacts.legs[0].ring()
    await contacts.legs[1].answer()
    await asyncio.wait_for(first_answered, 10)
    b_ended = ended(contacts.legs[0])
    call = Fork(legs).start(lambda leg: Call(manager, leg))
    assert call.leg is legs[1] and call.info['status'] == 'answered'
    assert await asyncio.wait_for(b_ended, 10) == 16        # the other one: CANCEL
    call.leg.hangup()
    assert await asyncio.wait_for(call.ended, 10) == 16


async def test_with_rtp_ports_for_one_leg_only_the_contacts_that_got_one_ring(world, caplog):
    stack, _, contacts = world
    base = free_port_block(2)
    one_pair = MediaEngine(HOST, base, base + 1)     # room for one leg's RTP and RTCP
    await one_pair.start()
    try:
        manager = Calls(stack, one_pair)
        bindings = [Binding('joe@pbx.test', f'sip:joe@{HOST}:{s.port}', 1e9,
                            Peer('UDP', (HOST, s.port)), f'cid-{i}', 1)
                    for i, s in enumerate(contacts.stacks)]
        legs = await contact_legs(manager, bindings, 'sip:alice@pbx.test', None, [],
                                  lambda leg: leg)
        assert len(legs) == 1 and 'event=no-rtp-port' in caplog.text
        call = Fork(legs).start(lambda leg: Call(manager, leg))
        with pytest.raises(OSError):                 # none at all while it rings: the dial fails
            await contact_legs(manager, bindings, 'sip:alice@pbx.test', None, [], lambda leg: leg)
        call.leg.hangup()
        assert await asyncio.wait_for(call.ended, 10) == 16
        assert not one_pair.endpoints
    finally:
        await one_pair.stop()
