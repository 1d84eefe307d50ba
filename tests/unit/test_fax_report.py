"""The fax report's status table (dialplan/faxreport.py), transition by transition."""
from __future__ import annotations

import itertools

import pytest

from telephony.dialplan.faxreport import (FINAL, STATUSES, IllegalTransition, cancellable,
                                          first_status, next_status)

OUT_ALLOWED = {('dial', 'transmit'), ('dial', 'busy'), ('dial', 'fail'), ('dial', 'cancel'),
               ('dial', 'error'), ('transmit', 'ok'), ('transmit', 'fail'),
               ('transmit', 'cancel'), ('transmit', 'error'), ('transmit', 'busy'),
               ('busy', 'dial'), ('busy', 'fail'), ('busy', 'cancel'), ('busy', 'error')}
IN_ALLOWED = {('transmit', 'ok'), ('transmit', 'fail'), ('transmit', 'error')}


def test_first_status():
    assert first_status(incoming=False) == 'dial'
    assert first_status(incoming=True) == 'transmit'


@pytest.mark.parametrize('incoming, allowed', [(False, OUT_ALLOWED), (True, IN_ALLOWED)])
def test_every_pair(incoming, allowed):
    for current, new in itertools.product(STATUSES, STATUSES):
        if (current, new) in allowed:
            assert next_status(incoming, current, new) == new
        else:
            with pytest.raises(IllegalTransition):
                next_status(incoming, current, new)


def test_final_statuses_lead_nowhere():
    for current, new in itertools.product(FINAL, STATUSES):
        for incoming in (False, True):
            with pytest.raises(IllegalTransition):
                next_status(incoming, current, new)


def test_cancellable():
    assert [s for s in STATUSES if cancellable(False, s)] == ['dial', 'transmit', 'busy']
    assert not any(cancellable(True, s) for s in STATUSES)
