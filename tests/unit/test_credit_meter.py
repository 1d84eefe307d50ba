"""Usergroup credits over a real SQLite store: the atomic add/subtract and charge, what the
policy prices and refuses (calls/policy.py), and the one-timer CreditMeter charging answered
calls until their credit is used up (calls/credit.py)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from telephony.calls.credit import Charge, CreditMeter
from telephony.calls.leg import ANSWERED, HANGUP, RINGING
from telephony.calls.outgoing import PolicyDenied
from telephony.calls.policy import OutgoingPolicy
from telephony.config import Settings
from telephony.dialplan.router import Internal, Trunk
from telephony.dialplan.transforms import TransformResult
from telephony.store.db import Database
from telephony.store.phones import PhoneStore
from telephony.store.policy import PolicyStore, usergroups

JOE, EVE = 'u-joe', 'u-eve'
ZONES = [{'description': 'national', 'prefix': ['+49'], 'cost': 139},
         {'description': 'mobile', 'prefix': ['+4915'], 'cost': 300}]


@pytest.fixture
async def parts(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    store = PolicyStore(db)
    policy = OutgoingPolicy(store, PhoneStore(db), Settings(emergency_numbers='+49112',
                                                            credit_interval=1), lambda: [])
    g = await store.create(usergroups, 'p')
    await store.change_members(g, [JOE], [])
    yield store, policy, g
    await db.close()


async def credit(store: PolicyStore, g: str) -> int | None:
    return (await store.get(usergroups, None, g))['credit']


async def test_add_and_subtract_stay_within_bounds(parts):
    store, _, g = parts
    assert await credit(store, g) is None
    await store.change_credit(g, -5, 1000)       # none counts as 0, never below 0
    assert await credit(store, g) == 0
    await store.change_credit(g, 700, 1000)
    await store.change_credit(g, 700, 1000)
    assert await credit(store, g) == 1000
    await store.change_credit(g, -300, 1000)
    assert await credit(store, g) == 700
    assert await store.credits('p', None, None) == {g: 700}
    assert await store.credits('p', 701, None) == {}
    assert await store.credits('p', 0, 700) == {g: 700}
    assert await store.credits('other', None, None) == {}


async def test_concurrent_charges_never_spend_the_same_credit_twice(parts):
    store, _, g = parts
    await store.change_credit(g, 30, 10**15)
    paid = await asyncio.gather(*(store.charge(g, 1) for _ in range(50)))
    assert paid.count(True) == 30
    assert await credit(store, g) == 0
    # without credit configured (deleted meanwhile) a call pays nothing and goes on
    await store.change(usergroups, g, credit=None)
    assert await store.charge(g, 5) is True
    assert await credit(store, g) is None


async def test_the_policy_prices_calls_of_a_group_with_credits(parts):
    store, policy, g = parts
    await store.set_zonefilter(g, ZONES)
    assert (await policy.check(JOE, '+4930555', 'sip')).charge is None   # no credit: free
    await store.change_credit(g, 200, 10**15)
    v = await policy.check(JOE, '+4930555', 'sip')
    assert v.allowed and v.charge == Charge(g, 139, 200)
    assert (await policy.check(JOE, '+1555', 'sip')).charge.cost == 0     # no zone: free
    assert policy.admit(await policy.check(JOE, '+1555', 'sip'), Trunk(())) is None
    assert (await policy.check(EVE, '+4930555', 'sip')).charge is None    # in no group
    emergency = await policy.check(JOE, '+49112', 'sip')
    assert emergency.emergency and emergency.charge is None


async def test_a_trunk_call_the_credit_cannot_pay_is_refused(parts):
    store, policy, g = parts
    await store.set_zonefilter(g, ZONES)
    await store.change_credit(g, 200, 10**15)
    trunk = Trunk(())
    assert policy.admit(await policy.check(JOE, '+4930555', 'sip'), trunk) is not None
    mobile = await policy.check(JOE, '+4915123', 'sip')
    assert mobile.allowed     # decided once its route is known
    with pytest.raises(PolicyDenied) as exc:
        policy.admit(mobile, trunk)
    assert (exc.value.status, exc.value.verdict.reason) == (403, 'Insufficient Credit')
    # a call that stays with us leaves nothing to pay
    assert policy.admit(mobile, Internal('+4930555003', None)) is None


async def test_a_call_is_priced_as_dialled_and_as_it_leaves_the_dearer(parts):
    store, policy, g = parts
    await store.set_zonefilter(g, ZONES)
    await store.change_credit(g, 250, 10**15)
    # dialled in a form no zone names, made a mobile number by a dial transform: mobile's price
    dialled = await policy.check(JOE, '004915123', 'sip')
    assert dialled.charge.cost == 0
    to_mobile = Trunk((), TransformResult('accept', '+4915123'))
    with pytest.raises(PolicyDenied):      # 300 a minute, 250 left
        policy.admit(dialled, to_mobile)
    # and the other way: a transform that strips +49 to 0 does not make it free
    national = await policy.check(JOE, '+4930555', 'sip')
    assert policy.admit(national, Trunk((), TransformResult('accept', '030555'))) is not None


async def test_an_unreadable_stored_zone_filter_refuses_rather_than_frees(parts):
    store, policy, g = parts
    await store.change_credit(g, 10**6, 10**15)
    await store.change(usergroups, g, zonefilter='[{"prefix": "not a list"}]')
    with pytest.raises(PolicyDenied):
        policy.admit(await policy.check(JOE, '+1555', 'sip'), Trunk(()))


class FakeCall:
    """What the meter reads of a call: its id, state and listeners; `hangup` as a Leg's."""

    def __init__(self, cid: str):
        self.id = cid
        self.listeners: list = []
        self.leg = SimpleNamespace(state=RINGING, ended=False, hangup=self._hangup)
        self.hung_up = asyncio.Event()

    def set(self, status: str) -> None:
        self.leg.state = status
        self.leg.ended = status == HANGUP
        for listener in list(self.listeners):
            listener('call_update', {'status': status})

    def _hangup(self, cause: int = 16) -> None:
        self.hung_up.set()
        self.set(HANGUP)


async def test_the_meter_charges_at_answer_and_each_interval_then_hangs_up(parts):
    store, _, g = parts
    await store.change_credit(g, 20, 10**15)      # two intervals at 10
    meter = CreditMeter(store, 1)
    call = FakeCall('c1')
    meter.watch(call, Charge(g, 10, 20))
    assert await credit(store, g) == 20          # nothing before the answer
    call.set(ANSWERED)
    await asyncio.wait_for(call.hung_up.wait(), 30)
    assert await credit(store, g) == 0
    assert len(meter.queue) == 0 and meter.metered == {}


async def test_calls_share_one_timer_and_an_ended_call_stops_paying(parts):
    store, _, g = parts
    await store.change_credit(g, 10**6, 10**15)
    meter = CreditMeter(store, 60)
    calls = [FakeCall(f'c{i}') for i in range(3)]
    for c in calls:
        meter.watch(c, Charge(g, 5, 10**6))
        c.set(ANSWERED)
    first = meter._timer
    assert first is not None and len(meter.queue) == 3
    # the first round (run here instead of by the timer) charges all three at once, and
    # arms the one timer for the next minute
    first.cancel()
    meter._timer = None
    await meter._charge_due()
    assert await credit(store, g) == 10**6 - 15
    assert meter._timer is not None and meter._timer is not first
    calls[0].set(HANGUP)
    assert 'c0' not in meter.queue and len(meter.queue) == 2
    free = FakeCall('free')
    meter.watch(free, Charge(g, 0, 10**6))
    free.set(ANSWERED)
    assert 'free' not in meter.queue
