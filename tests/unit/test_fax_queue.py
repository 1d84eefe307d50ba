"""The outgoing fax queue (dialplan/faxqueue.py), transition by transition: lines at once,
order, the queue's cap, busy retries due on one time, cancel in every state."""
from __future__ import annotations

import pytest

from telephony.dialplan.faxqueue import (PENDING, RUNNING, WAITING, FaxQueue, FaxQueueError,
                                         QueueFull)


def test_submit_then_take_up_to_the_lines_in_order():
    q = FaxQueue(at_once=2, limit=10)
    for k in 'abc':
        q.submit(k)
    assert [q.state(k) for k in 'abc'] == [PENDING] * 3
    assert q.take() == ['a', 'b']
    assert q.take() == []                       # both lines busy
    assert [q.state(k) for k in 'abc'] == [RUNNING, RUNNING, PENDING]
    q.finished('b')
    assert q.state('b') is None
    assert q.take() == ['c']
    assert len(q) == 2


def test_the_queue_is_capped_and_running_jobs_do_not_count():
    q = FaxQueue(at_once=1, limit=1)
    q.submit('a')
    q.take()
    q.submit('b')                               # waits: one of one
    with pytest.raises(QueueFull):
        q.submit('c')
    assert q.state('c') is None
    q.drop('b')
    q.submit('c')


def test_a_waiting_retry_counts_against_the_cap():
    q = FaxQueue(at_once=1, limit=1)
    q.wait('a', 10.0)
    with pytest.raises(QueueFull):
        q.submit('b')


def test_retries_are_due_in_time_order_and_queue_at_the_end():
    q = FaxQueue(at_once=1, limit=10)
    q.submit('busy-line')
    assert q.take() == ['busy-line']
    q.submit('other')
    q.finished('busy-line')
    q.wait('busy-line', 20.0)
    q.wait('late', 30.0)
    assert q.state('busy-line') == WAITING
    assert q.next_due() == 20.0
    assert q.due(19.9) == []
    assert q.due(25.0) == ['busy-line']
    assert q.state('busy-line') == PENDING
    assert q.next_due() == 30.0
    assert q.take() == ['other']                # it was queued first
    q.finished('other')
    assert q.take() == ['busy-line']
    assert q.due(100.0) == ['late']
    assert q.next_due() is None


def test_drop_in_each_state():
    q = FaxQueue(at_once=1, limit=10)
    q.submit('run')
    q.take()
    q.submit('pend')
    q.wait('wait', 5.0)
    assert q.drop('pend') == PENDING and q.state('pend') is None
    assert q.drop('wait') == WAITING and q.state('wait') is None
    assert q.next_due() is None                 # its timer entry is gone too
    assert q.due(10.0) == []
    assert q.drop('run') == RUNNING and q.state('run') == RUNNING   # until its call ends
    q.finished('run')
    assert q.drop('nobody') is None
    assert q.take() == []


def test_a_dropped_retry_waiting_again_keeps_only_its_new_time():
    q = FaxQueue(at_once=1, limit=10)
    q.wait('a', 5.0)
    q.drop('a')
    q.wait('a', 50.0)
    assert q.next_due() == 50.0
    assert q.due(10.0) == []
    assert q.due(50.0) == ['a']


@pytest.mark.parametrize('setup,bad', [
    ([], lambda q: q.finished('a')),                          # none -finished->
    ([lambda q: q.submit('a')], lambda q: q.submit('a')),     # pending -submit->
    ([lambda q: q.submit('a')], lambda q: q.finished('a')),   # pending -finished->
    ([lambda q: q.submit('a')], lambda q: q.wait('a', 1.0)),  # pending -wait->
    ([lambda q: q.submit('a'), lambda q: q.take()], lambda q: q.submit('a')),    # running
    ([lambda q: q.submit('a'), lambda q: q.take()], lambda q: q.wait('a', 1.0)),
    ([lambda q: q.wait('a', 1.0)], lambda q: q.submit('a')),  # waiting -submit->
    ([lambda q: q.wait('a', 1.0)], lambda q: q.finished('a')),
    ([lambda q: q.wait('a', 1.0)], lambda q: q.wait('a', 2.0)),
])
def test_illegal_transitions_raise(setup, bad):
    q = FaxQueue(at_once=1, limit=10)
    for step in setup:
        step(q)
    before = {k: q.state(k) for k in 'a'}
    with pytest.raises(FaxQueueError):
        bad(q)
    assert {k: q.state(k) for k in 'a'} == before


# --- each owner's share of the lines and the queue (issue 11 review) ------------------------
def test_an_owner_runs_at_most_their_share_and_others_overtake():
    q = FaxQueue(at_once=3, limit=100, owner_at_once=2)
    for k in ('a1', 'a2', 'a3', 'a4'):
        q.submit(k, 'alice')
    q.submit('b1', 'bob')
    assert q.take() == ['a1', 'a2', 'b1']        # a3 waits for one of alice's lines
    assert [q.state(k) for k in ('a3', 'a4')] == [PENDING, PENDING]
    q.finished('b1')
    assert q.take() == []                        # a free line, but alice has her two
    q.finished('a1')
    assert q.take() == ['a3']                    # her share again, her order kept
    q.submit('c1')                               # no owner: no share
    assert q.take() == ['c1']                    # b1's line, ahead of alice's a4
    q.finished('a2')
    assert q.take() == ['a4']


def test_an_owner_queues_at_most_their_share():
    q = FaxQueue(at_once=1, limit=100, owner_limit=2)
    q.submit('a1', 'alice')
    assert q.take() == ['a1']                    # running: not queued
    q.submit('a2', 'alice')
    q.submit('a3', 'alice')
    with pytest.raises(QueueFull, match="user's"):
        q.submit('a4', 'alice')
    assert q.state('a4') is None
    q.submit('b1', 'bob')                        # another user's share is their own
    q.drop('a2')
    q.submit('a4', 'alice')
    q.finished('a1')
    q.wait('a1', 10.0, 'alice')                  # a retry was let in: it may exceed the share
    assert q.state('a1') == WAITING
    with pytest.raises(QueueFull):
        q.submit('a5', 'alice')
    q.drop('a1')
    assert q.take() == ['a3']
    q.submit('a5', 'alice')                      # a3 runs: alice has a4 and a5 queued


def test_shares_are_forgotten_with_their_jobs():
    q = FaxQueue(at_once=2, limit=10, owner_at_once=1, owner_limit=1)
    q.submit('a1', 'alice')
    q.take()
    q.finished('a1')
    q.submit('a2', 'alice')
    q.drop('a2')
    assert not q._owner and not q._owner_running and not q._owner_queued
