"""The final answer of a forked call whose branches all failed (sip/forking.py,
RFC 3261 §16.7 steps 5 and 6)."""
from __future__ import annotations

import pytest

from telephony.sip.forking import NO_ANSWER, best_branch, best_response, ends_fork


@pytest.mark.parametrize('statuses,expected', [
    ([486, 408], 486),              # busy beats no answer
    ([480, 486, None], 486),        # ... and unavailable, and a branch that never answered
    ([None, None], NO_ANSWER),      # nobody answered at all: 408
    ([], NO_ANSWER),
    ([503, 486], 486),              # the lowest class wins: 4xx before 5xx
    ([503, 502], 503),              # same class, nothing preferred: the earlier branch
    ([486, 603, 404], 603),         # a 6xx wins whatever else came
    ([603, 600], 600),              # busy everywhere before decline
    ([404, 484, 486], 484),         # an answer that says how to retry comes first
    ([407, 486], 407),
    ([487, 480], 480),              # a branch we cancelled is the least telling
    ([480, 408], 480),              # a phone's "unavailable" says more than a timeout
    ([403, 480], 403),              # any real refusal before "nobody there"
    ([180, 486], 486),              # a provisional is no failure
])
def test_the_best_response(statuses, expected):
    assert best_response(statuses) == expected


def test_the_branch_is_the_one_that_answered_it():
    assert best_branch([480, None, 486, 486]) == 2       # the first busy branch
    assert best_branch([None, 408]) == 0                 # a timeout counts as a 408
    assert best_branch([404, 603, 404]) == 1


@pytest.mark.parametrize('status,ends', [(600, True), (603, True), (486, False), (None, False),
                                         (503, False)])
def test_a_global_failure_ends_the_fork(status, ends):
    assert ends_fork(status) is ends
