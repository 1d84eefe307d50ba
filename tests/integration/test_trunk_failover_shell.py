"""Trunk failover in-process (calls/outgoing.py `_Attempts`), with real SIP stacks on
127.0.0.1 as the trunks and a real MediaEngine: a hangup in the instant between a failed
attempt and the next one's INVITE (held open at a gated create_endpoint) ends the call, and
the next attempt never goes out."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from telephony.calls.call import Call
from telephony.calls.controls import Control
from telephony.calls.outgoing import Caller, OutgoingRunner, _Attempts
from telephony.dialplan.rules import OutboundRule, outbound_plan
from telephony.media.engine import MediaEngine
from telephony.sip.message import make_response
from telephony.sip.ua import SipStack

from .conftest import HOST, free_port_block


class Trunk:
    """A real SIP stack answering every INVITE with `status`; it notes what it got."""

    def __init__(self, status: int):
        self.stack = SipStack(HOST, 0)
        self.invites: list = []
        self.status = status

        async def on_invite(req, txn, peer):
            self.invites.append(req)
            self.stack.respond(txn, make_response(req, self.status, 'Refused'))
        self.stack.on_invite = on_invite


class Calls:
    """What a Call needs of its manager here: nothing publishes, ended calls are noted."""

    def __init__(self, stack, media):
        self.stack, self.media = stack, media
        self.settings = SimpleNamespace(domain='pbx.test', sip_host='', trunk='')
        self.calls: dict = {}
        self.forgotten: list[Call] = []

    def publish(self, call, kind, fields) -> None:
        pass

    def forget(self, call) -> None:
        self.forgotten.append(call)


@pytest.fixture
async def world():
    base = free_port_block(4)
    media = MediaEngine(HOST, base, base + 3)
    stack = SipStack(HOST, 0)
    first, second = Trunk(503), Trunk(200)
    await media.start()
    for s in (stack, first.stack, second.stack):
        await s.start()
    yield stack, media, first, second
    for s in (stack, first.stack, second.stack):
        await s.stop()
    await media.stop()


def attempts(first: Trunk, second: Trunk):
    rules = [OutboundRule.from_fields({'domain': 'carrier.test', 'priority': str(p),
                                       'sipProxy': f'{HOST}:{t.stack.port}',
                                       'failureAction': 'continue'})
             for p, t in ((20, first), (10, second))]
    return tuple(outbound_plan(rules, 'sip:+4922100099@carrier.test'))


@pytest.mark.parametrize('how', ['api-hangup', 'caller-cancel'])
async def test_a_hangup_between_two_attempts_ends_the_call_and_nothing_more_goes_out(world, how):
    stack, media, first, second = world
    manager = Calls(stack, media)
    runner = OutgoingRunner(manager)
    create = media.create_endpoint
    made, binding, gate = [], asyncio.Event(), asyncio.Event()

    async def held_create_endpoint():     # the second attempt's leg stays here
        made.append(1)
        if len(made) == 2:
            binding.set()
            await gate.wait()
        return await create()
    media.create_endpoint = held_create_endpoint
    shell = _Attempts(runner, attempts(first, second), Caller('+4930555001'))
    call = await shell.start(lambda leg: Call(manager, leg, to='+4922100099'))
    sent_first = call.leg
    await asyncio.wait_for(binding.wait(), 10)       # the 503 came; the failover is binding
    assert len(first.invites) == 1 and not call.ended.done()
    assert call.leg is not sent_first and not call.leg.ended
    if how == 'api-hangup':                          # POST /api/call/(uuid)/control hangup
        assert await asyncio.wait_for(call.run(Control.make('hangup', hangup_cause=16)), 10)
    else:                                            # a B2BUA's caller cancelled: the bridge
        call.leg.hangup(cause=16)                    # hangs the outgoing call up
    assert await asyncio.wait_for(call.ended, 10) == 16
    assert call.info['status'] == 'hangup' and call.info['hangup_cause'] == 16
    assert manager.forgotten == [call]
    gate.set()
    await asyncio.wait_for(shell.sending, 10)
    assert call.leg.invite is None and call.leg.txn is None, 'the next attempt went out'
    assert not media.endpoints, 'the unsent attempt kept its RTP ports'
    assert not second.invites


async def test_without_a_hangup_the_next_attempt_goes_out_under_the_same_call(world):
    stack, media, first, second = world
    manager = Calls(stack, media)
    shell = _Attempts(OutgoingRunner(manager), attempts(first, second), Caller('+4930555001'))
    second.status = 486
    call = await shell.start(lambda leg: Call(manager, leg, to='+4922100099'))
    assert await asyncio.wait_for(call.ended, 10) == 17     # the second trunk's busy
    await asyncio.wait_for(shell.sending, 10)
    assert len(first.invites) == 1 and len(second.invites) == 1
    assert call.leg.final_status == 486 and manager.forgotten == [call]


async def test_a_next_attempt_that_cannot_be_placed_ends_the_call_with_the_last_failure(world):
    stack, media, first, second = world
    manager = Calls(stack, media)
    create = media.create_endpoint
    made = []

    async def no_port_the_second_time():
        made.append(1)
        if len(made) == 2:
            raise OSError(98, 'no free RTP port pair')
        return await create()
    media.create_endpoint = no_port_the_second_time
    shell = _Attempts(OutgoingRunner(manager), attempts(first, second), Caller('+4930555001'))
    call = await shell.start(lambda leg: Call(manager, leg, to='+4922100099'))
    # not left `calling` for ever: the first trunk's 503 ends it
    assert await asyncio.wait_for(call.ended, 10) == 41
    await asyncio.wait_for(shell.sending, 10)
    assert call.leg.final_status == 503 and manager.forgotten == [call]
    assert not second.invites and not media.endpoints
