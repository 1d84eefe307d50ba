"""OutgoingPolicy (calls/policy.py) over a real SQLite store: where emergency calls go, the
usergroup limit counted from the live calls, a stored filter's rewrite, and extensions across
an enterprise with and without group_prefix_enable."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from telephony.calls.policy import OutgoingPolicy
from telephony.config import Settings
from telephony.store.db import Database
from telephony.store.phones import Phone, PhoneStore
from telephony.store.policy import PolicyStore, enterprises, usergroups

JOE, ANN, EVE = 'u-joe', 'u-ann', 'u-eve'


@pytest.fixture
async def parts(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    store, phones = PolicyStore(db), PhoneStore(db)
    for owner, number in ((JOE, '+4930555001'), (ANN, '+4930555003'), (EVE, '+4930555005')):
        await phones.add(Phone(number, owner))
    live: list = []
    policy = OutgoingPolicy(store, phones, Settings(emergency_numbers='+49112, 999',
                                                    emergency_route='+49221999112'),
                            lambda: live)
    yield store, policy, live
    await db.close()


def call(owner: str, ended: bool = False):
    """What the policy reads of a live call: its owner and whether its leg ended."""
    return SimpleNamespace(owner=owner, leg=SimpleNamespace(ended=ended))


async def test_emergency_goes_to_the_control_centre_or_the_route_whatever_denies(parts):
    store, policy, _ = parts
    await store.set_callfilter(JOE, [{'operator': 'match', 'key': '.*', 'pass': False}])
    g = await store.create(usergroups, 'p', call_limit=0)
    await store.change_members(g, [JOE], [])
    assert (await policy.check(JOE, '+4922100', 'sip')).reason == 'Concurrent Call Limit Reached'
    v = await policy.check(JOE, '110', 'sip')
    assert (v.allowed, v.emergency, v.number) == (True, True, '+49221999112')
    await store.set_emergency(JOE, {'emergency_police': '221CC00'})
    assert (await policy.check(JOE, '110', 'sip')).number == '221CC00'
    assert (await policy.check(JOE, '112', 'sip')).number == '+49221999112'
    assert (await policy.check(JOE, '999', 'call_api')).emergency is True
    assert (await policy.check(None, '+49112', 'call_api')).number == '+49221999112'
    assert (await policy.check(JOE, '110', 'sip')).uui is None
    await store.set_emergency(JOE, {'uui_header': '0A1B'})
    # the user's uui_header rides on emergency calls only
    assert (await policy.check(JOE, '112', 'sip')).uui == '0A1B'
    await store.set_callfilter(JOE, None)
    await store.change_members(g, [], [JOE])
    assert (await policy.check(JOE, '+4922100', 'sip')).uui is None


async def test_the_limit_counts_the_groups_live_calls_only(parts):
    store, policy, live = parts
    g = await store.create(usergroups, 'p', call_limit=2)
    await store.change_members(g, [JOE, ANN], [])
    live[:] = [call(ANN), call(EVE), call(JOE, ended=True), call(None)]
    assert (await policy.check(JOE, '+4922100', 'sip')).allowed
    live.append(call(ANN))
    v = await policy.check(JOE, '+4922100', 'sip')
    assert (v.allowed, v.status, v.reason) == (False, 403, 'Concurrent Call Limit Reached')
    assert (await policy.check(EVE, '+4922100', 'sip')).allowed     # not in the group


async def test_the_filter_rewrites_and_a_non_number_is_never_dialled(parts):
    store, policy, _ = parts
    await store.set_callfilter(JOE, [{'operator': 'replace', 'key': '^0', 'value': '+49'},
                                     {'operator': 'match', 'key': '^\\+49900', 'pass': False},
                                     {'operator': 'replace', 'key': '^\\+4933', 'value': 'x@y'}])
    assert (await policy.check(JOE, '02211234', 'sip')).number == '+492211234'
    v = await policy.check(JOE, '0900123', 'sip')
    assert (v.allowed, v.reason) == (False, 'Call Filter Denied')
    v = await policy.check(JOE, '+4933123', 'sip')
    assert (v.allowed, v.reason) == (False, 'Not A Number')
    # a stored document that no longer parses denies rather than opening up
    await store.set_callfilter(ANN, [{'operator': 'match', 'key': '(', 'pass': True}])
    assert not (await policy.check(ANN, '+4922100', 'sip')).allowed


async def test_extensions_in_the_group_and_across_the_enterprise(parts):
    store, policy, _ = parts
    own = await store.create(usergroups, 'p', prefix=3)
    other = await store.create(usergroups, 'p', prefix=4)
    await store.change_members(own, [JOE, ANN], [])
    await store.change_members(other, [EVE], [])
    await store.change_extensions(own, {'20': ANN, '112': ANN}, [])
    await store.change_extensions(other, {'50': EVE}, [])
    assert await policy.resolve(JOE, '20') == '+4930555003'
    assert await policy.resolve(JOE, '112') is None      # an emergency number, not ann
    assert await policy.resolve(JOE, '50') is None       # no enterprise: other groups unseen
    assert await policy.resolve(EVE, '20') is None
    e = await store.create(enterprises, 'p')
    for g in (own, other):
        await store.change(usergroups, g, enterprise=e)
    assert await policy.resolve(JOE, '50') == '+4930555005'
    await store.change(enterprises, e, group_prefix_enable=1)
    assert await policy.resolve(JOE, '50') is None
    assert await policy.resolve(JOE, '450') == '+4930555005'
    assert await policy.resolve(JOE, '320') == '+4930555003'
    assert await policy.resolve(None, '20') is None


async def test_a_deleted_user_leaves_nothing_behind(parts):
    store, policy, _ = parts
    g = await store.create(usergroups, 'p')
    await store.change_members(g, [JOE, ANN], [])
    await store.change_extensions(g, {'10': JOE, '20': ANN}, [])
    await store.set_callfilter(ANN, [{'operator': 'match', 'key': '.*', 'pass': False}])
    await store.set_emergency(ANN, {'emergency_police': '221CC00'})
    await store.forget(ANN)
    assert await store.members(g) == [JOE]
    assert await store.extensions(g) == {'10': JOE}
    assert await store.callfilter(ANN) is None and await store.emergency(ANN) == {}
    assert await policy.resolve(JOE, '20') is None
