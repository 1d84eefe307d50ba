"""Property-based fuzzing of the Q-loud dial plan cores: whatever JSON arrives, `from_json`
and `parse_filter` answer with their own error and nothing else, and the hunt keeps its
invariants under any order of events. Derandomised; FUZZ_EXAMPLES=N runs a longer hunt."""
from __future__ import annotations

import os
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.dialplan.callfilter import CallFilterError, evaluate, parse_filter
from telephony.dialplan.hunt import (Bridge, CallerCancelled, GiveUp, Hunt, IllegalTransition, Ring,
                                     Start, State, TargetAnswered, TargetBusy, TargetFailed,
                                     TargetRinging, Tick)
from telephony.dialplan.qloud import CallFacts, DialplanV1, DialplanV2, evaluate_v1, evaluate_v2

HUNT = int(os.environ.get('FUZZ_EXAMPLES', '0'))


def fuzz(max_examples: int = 300):
    return settings(max_examples=HUNT or max_examples, derandomize=not HUNT, deadline=None,
                    database=None, suppress_health_check=[HealthCheck.too_slow])


WORDS = st.sampled_from(['operator', 'key', 'value', 'pass', 'break', 'reverse', 'replace', 'match',
                         'service', 'sip', 'fax', 'callfilter', '^0', '+49', '.*', '(a+)+', '[',
                         'profiles', 'filter', 'caller', 'time', 'date', 'date_start', 'date_end',
                         'weekdays', 'MON', 'time_start', 'time_end', '07:30', '13:00', '11.06.2015',
                         'reject', 'record', 'parallel', 'linear', 'cyclic', 'targets', 'target',
                         'timeout', 'joe_01', '+491771234567', 'ringtone', 'announcement', 'mix',
                         'action', 'none', 'redirect', 'phone', 'phone_pool', 'sip_pool', 'add',
                         'busy', 'unavailable', 'dialplan', 'anonymous', ''])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 30), st.floats(allow_nan=True), WORDS,
                    st.text(max_size=8))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(WORDS, inner, max_size=5)), max_leaves=40)
WHEN = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 12, 31))
FACTS = st.builds(CallFacts, st.one_of(WORDS, st.text(max_size=30)), st.booleans())


@fuzz()
@given(JSON, st.text(max_size=30), st.sampled_from(['sip', 'fax', 'call_api']))
def test_call_filters_answer_with_a_status_or_run(doc, number, service):
    try:
        flt = parse_filter(doc)
    except CallFilterError as e:
        assert e.status in ('wrong-syntax', 'missing-element', 'too-large') and e.path
        return
    result = evaluate(flt, number, service)
    assert result.allowed or result.reason


@fuzz()
@given(JSON, FACTS, WHEN)
def test_v2_plans_raise_only_value_error(doc, facts, now):
    try:
        plan = DialplanV2.from_json(doc)
    except ValueError as e:
        assert ':' in str(e)
        return
    d = evaluate_v2(plan, facts, now)
    assert d.action in ('none', 'reject', 'record', 'parallel', 'linear', 'cyclic')


@fuzz()
@given(JSON)
def test_v1_plans_raise_only_value_error(doc):
    try:
        plan = DialplanV1.from_json(doc)
    except ValueError as e:
        assert ':' in str(e)
        return
    assert evaluate_v1(plan).first.action in ('ring', 'reject', 'record')


EVENTS = st.lists(st.one_of(
    st.builds(TargetRinging, st.integers(0, 3)), st.builds(TargetAnswered, st.integers(0, 3)),
    st.builds(TargetFailed, st.integers(0, 3), st.sampled_from([None, 404, 486, 487, 503])),
    st.builds(TargetBusy, st.integers(0, 3)), st.just(Tick()), st.just(CallerCancelled()),
    st.just(Start())), max_size=25)


@fuzz(500)
@given(st.sampled_from(['parallel', 'linear', 'cyclic']),
       st.lists(st.one_of(st.none(), st.integers(1, 10)), min_size=1, max_size=3),
       st.one_of(st.none(), st.integers(1, 20)), st.integers(0, 5), EVENTS)
def test_hunt_invariants_under_any_events(mode, timeouts, overall, start, events):
    hunt = Hunt(mode, timeouts, overall, start)
    actions = hunt.handle(Start(), 0)
    now, bridges, gave_up = 0.0, 0, 0
    for ev in events:
        now += 1
        was_done = hunt.done
        try:
            out = hunt.handle(ev, now)
        except IllegalTransition:
            continue
        actions += out
        bridges += sum(isinstance(a, Bridge) for a in out)
        gave_up += sum(isinstance(a, GiveUp) for a in out)
        if was_done:
            assert out == []                     # nothing rings or ends after the hunt
        if mode != 'parallel' and not hunt.done:
            assert sum(leg.value == 'ringing' for leg in hunt.legs) <= 1
    assert bridges + gave_up <= 1
    assert (hunt.state is State.ANSWERED) == (bridges == 1)
    rung = [a.target for a in actions if isinstance(a, Ring)]
    assert len(rung) == len(set(rung))          # one pass: nobody is rung twice
