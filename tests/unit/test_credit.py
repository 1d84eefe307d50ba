"""dialplan/credit.py: the zone filter's price of a number (§9.1.6), the charge times, and the
queue of next charges that one timer serves."""
from __future__ import annotations

import pytest

from telephony.dialplan.credit import (
    MAX_ZONES, ChargeQueue, ZoneFilter, ZoneFilterError, affordable, next_charge,
)
from telephony.dialplan.callfilter import parse_filter
from telephony.dialplan.policy import Allowed, Emergency, EmergencyRoute, outgoing_policy

# §9.1.6's POST example, closed up where the page break cuts it
EXAMPLE = [{'description': 'national', 'prefix': ['+49'], 'cost': 139},
           {'description': 'euro1', 'prefix': ['+32', '+39', '+44'], 'cost': 189},
           {'description': 'rest', 'prefix': [''], 'cost': 599}]


def test_the_documents_example_prices_by_longest_prefix():
    zones = ZoneFilter.from_json(EXAMPLE)
    assert zones.cost('+4930555001') == 139
    assert zones.cost('+441234') == 189
    assert zones.zone_of('+3912').description == 'euro1'
    assert zones.cost('+1555') == 599          # "" matches every number
    assert zones.cost('110') == 599


def test_the_longest_prefix_wins_whatever_the_order():
    zones = ZoneFilter.from_json([{'description': 'de', 'prefix': ['+49'], 'cost': 10},
                                  {'description': 'de-mobile', 'prefix': ['+4915', '+4917'],
                                   'cost': 30},
                                  {'description': 'berlin', 'prefix': ['+4930'], 'cost': 5}])
    assert zones.cost('+4917012345') == 30
    assert zones.cost('+4930555') == 5
    assert zones.cost('+4989') == 10


def test_no_match_costs_nothing_and_equal_prefixes_go_to_the_first_entry():
    zones = ZoneFilter.from_json([{'description': 'a', 'prefix': ['+49'], 'cost': 10},
                                  {'description': 'b', 'prefix': ['+49', '+43'], 'cost': 20}])
    assert zones.cost('+1555') == 0
    assert zones.zone_of('+1555') is None
    assert zones.zone_of('+4930').description == 'a'
    assert zones.cost('+4312') == 20
    assert ZoneFilter.from_json([]).cost('+49') == 0


@pytest.mark.parametrize('doc', [
    {'description': 'x'},                                          # not a list
    [['+49']],                                                     # an entry is no object
    [{'description': 'x', 'cost': 1}],                             # no prefix
    [{'description': 'x', 'prefix': [], 'cost': 1}],               # no prefix
    [{'description': 'x', 'prefix': '+49', 'cost': 1}],            # not a list
    [{'description': 'x', 'prefix': ['+4a'], 'cost': 1}],          # not digits
    [{'description': 'x', 'prefix': ['4' * 33], 'cost': 1}],       # too long
    [{'description': 'x', 'prefix': [49], 'cost': 1}],
    [{'description': 'x', 'prefix': ['+49'] * 101, 'cost': 1}],    # bounded
    [{'description': 'x', 'prefix': ['+49']}],                     # no cost
    [{'description': 'x', 'prefix': ['+49'], 'cost': -1}],
    [{'description': 'x', 'prefix': ['+49'], 'cost': 1.5}],
    [{'description': 'x', 'prefix': ['+49'], 'cost': '1'}],
    [{'description': 'x', 'prefix': ['+49'], 'cost': True}],
    [{'description': 'x', 'prefix': ['+49'], 'cost': 10**9 + 1}],
    [{'description': 7, 'prefix': ['+49'], 'cost': 1}],
    [{'description': 'x' * 201, 'prefix': ['+49'], 'cost': 1}],
])
def test_what_is_no_zone_filter(doc):
    with pytest.raises(ZoneFilterError) as exc:
        ZoneFilter.from_json(doc)
    assert exc.value.too_large is False


def test_more_than_250_entries_are_too_large():
    entry = {'description': 'x', 'prefix': ['+49'], 'cost': 1}
    assert len(ZoneFilter.from_json([entry] * MAX_ZONES).zones) == 250
    with pytest.raises(ZoneFilterError) as exc:
        ZoneFilter.from_json([entry] * (MAX_ZONES + 1))
    assert exc.value.too_large is True


def test_the_policy_prices_the_number_as_the_call_filter_leaves_it():
    zones = ZoneFilter.from_json(EXAMPLE)
    rewrite = parse_filter([{'operator': 'replace', 'key': '^0', 'value': '+49'}])
    assert outgoing_policy('030555', 'sip', callfilter=rewrite, zones=zones) == \
        Allowed('+4930555', 139)
    assert outgoing_policy('+44123', 'sip') == Allowed('+44123', 0)   # no credits: free
    # an emergency number is decided before any price
    route = EmergencyRoute(configured=('+49112',))
    assert outgoing_policy('+49112', 'sip', route, zones=zones) == Emergency('+49112', None)


def test_a_call_needs_its_first_minute_covered():
    assert affordable(None, 10**9)       # no credit configured: no limit
    assert affordable(139, 139)
    assert not affordable(138, 139)
    assert affordable(0, 0)


def test_each_interval_is_paid_as_it_begins():
    assert [next_charge(100.0, 60, k) for k in range(4)] == [100.0, 160.0, 220.0, 280.0]
    assert next_charge(5.5, 1, 2) == 7.5


def test_the_charge_queue_gives_the_due_calls_earliest_first():
    q = ChargeQueue()
    assert q.next_time() is None and q.pop_due(1e9) == []
    q.add('a', 30.0)
    q.add('b', 10.0)
    q.add('c', 20.0)
    assert (len(q), q.next_time()) == (3, 10.0)
    assert q.pop_due(9.9) == []
    assert q.pop_due(20.0) == ['b', 'c']
    assert 'b' not in q and 'a' in q
    assert q.next_time() == 30.0


def test_a_key_added_again_moves_and_a_discarded_one_never_comes_up():
    q = ChargeQueue()
    q.add('a', 10.0)
    q.add('b', 15.0)
    q.add('a', 40.0)           # charged: its next interval
    assert q.next_time() == 15.0
    q.discard('b')             # the call ended
    q.discard('nobody')
    assert q.next_time() == 40.0
    assert q.pop_due(39.0) == []
    assert q.pop_due(40.0) == ['a']
    assert len(q) == 0 and q.next_time() is None
