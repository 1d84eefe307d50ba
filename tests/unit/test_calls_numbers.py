"""The small pure parts of calls/numbers.py: the loop guard's chain and the dial plan clock."""
from __future__ import annotations

from datetime import datetime, timezone

from telephony.calls.numbers import MAX_CHAIN, chain_of, dialplan_clock


def test_chain_keeps_only_numbers_and_is_bounded():
    assert chain_of(None) == ()
    assert chain_of('+4930555200, junk ,+4930555201,sip:x') == ('+4930555200', '+4930555201')
    many = ','.join(f'+49305552{i:02d}' for i in range(50))
    assert len(chain_of(many)) == MAX_CHAIN + 1      # enough to see the limit, no more


def test_dialplan_clock_is_utc_shifted_by_the_offset():
    before = datetime.now(timezone.utc)
    shifted = dialplan_clock(3600)()
    after = datetime.now(timezone.utc)
    assert shifted.tzinfo is not None and shifted.utcoffset().total_seconds() == 0
    assert 3600 <= (shifted - before).total_seconds() and (shifted - after).total_seconds() <= 3600
