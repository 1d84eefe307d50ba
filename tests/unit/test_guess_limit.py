"""ivr/guess_limit.py: PIN, passcode and call ID guessing limited per source and per target
across calls, and ivr/pin.py's `Limited` (the limits' refusal) transition."""
from __future__ import annotations

import pytest

from ivr.guess_limit import TRUNK_SHARE, GuessGuard, Ticket, source_key
from ivr.pin import (COLLECTING, DONE, GOODBYE, LOOKING_UP, PROMPTING, REFUSED, Digit, End,
                     IllegalTransition, Limited, Lookup, PinEntry, PromptDone)
from telephony.limiters import AccountLimiter, RateLimiter
from telephony.sip import auth

CONF = 'owner-1'       # whose PINs are guessed at


def guess(g: GuessGuard, source: str, now: float, right: bool = False,
          target: str = CONF) -> bool:
    """One entry: False if the guard refused it unchecked."""
    ticket = g.attempt(target, source, now)
    if ticket is None:
        return False
    (g.right if right else g.wrong)(ticket, now)
    return True


def test_the_sip_digest_limiters_are_the_same_classes():
    assert auth.RateLimiter is RateLimiter and auth.AccountLimiter is AccountLimiter


def test_a_source_over_its_failures_is_refused_even_the_right_pin():
    g = GuessGuard(failures=3, window=60, block=120, target_guesses=100)
    assert all(guess(g, '10.0.0.1', t) for t in (0, 1, 2))
    assert not guess(g, '10.0.0.1', 3, right=True)
    assert not guess(g, '10.0.0.1', 3, target='other-owner', right=True)  # whatever it tries
    assert guess(g, '10.0.0.2', 3, right=True)      # another source is not touched
    assert guess(g, '10.0.0.1', 123, right=True)    # the block ends


def test_failures_spread_wider_than_the_window_do_not_block():
    g = GuessGuard(failures=3, window=60, block=120)
    assert all(guess(g, '10.0.0.1', t) for t in (0, 50, 100, 150, 200))


def test_a_right_entry_does_not_forget_the_sources_failures():
    """Knowing one PIN of a target (an owner with several conferences, a coSpace's guest
    passcode) must not buy unlimited guesses at its others: wrong, wrong, right, ..."""
    g = GuessGuard(failures=3, window=60, block=120)
    guess(g, '10.0.0.1', 0)
    guess(g, '10.0.0.1', 1)
    assert guess(g, '10.0.0.1', 2, right=True)
    assert guess(g, '10.0.0.1', 3)               # the third failure in the window
    assert not guess(g, '10.0.0.1', 4, right=True)


def test_a_trunks_callers_share_one_cap_whatever_numbers_they_send():
    """A trunk caller's number is only the trunk's word: a new From per call gets a fresh
    per-source count, but all of them together stop at TRUNK_SHARE sources' worth."""
    g = GuessGuard(failures=2, window=60, block=120, target_guesses=1000)
    keys = [source_key('192.0.2.7', 'carrier', f'+49301{i:03d}') for i in range(20)]
    heard = [guess(g, k, 0) for k in keys]
    assert heard == [True] * (2 * TRUNK_SHARE) + [False] * (20 - 2 * TRUNK_SHARE)
    assert guess(g, source_key('192.0.2.8', 'other', '+4930999'), 0)   # another trunk: heard
    assert guess(g, '10.0.0.1', 0)                                    # an address: heard


def test_a_spent_target_budget_refuses_sources_that_failed_there():
    g = GuessGuard(failures=100, target_guesses=4, target_window=400)
    for i in range(4):                       # four guessers spend the budget
        assert guess(g, f'10.0.1.{i}', 0)
    assert not guess(g, '10.0.1.0', 1, right=True)   # one that failed here: refused unheard
    assert guess(g, '10.0.1.0', 1, target='other-owner', right=True)  # elsewhere it is heard


def test_a_spent_target_budget_still_hears_a_new_source_once_and_good_sources():
    g = GuessGuard(failures=100, target_guesses=2, target_window=200)
    assert guess(g, '10.0.9.9', 0, right=True)       # a member who joined before
    guess(g, '10.0.1.1', 1)
    guess(g, '10.0.1.2', 1)                          # the budget is spent
    assert guess(g, '10.0.2.1', 2, right=True)       # a caller who knows the PIN joins
    assert guess(g, '10.0.2.2', 2)                   # a new guesser gets one guess ...
    assert not guess(g, '10.0.2.2', 3)               # ... and no second one
    for t in (3, 4, 5):
        assert guess(g, '10.0.9.9', t, right=True)   # the good source is always heard


def test_the_target_budget_refills_and_the_failed_mark_ends():
    g = GuessGuard(failures=100, target_guesses=2, target_window=200)
    guess(g, '10.0.1.1', 0)
    guess(g, '10.0.1.1', 0)
    assert not guess(g, '10.0.1.1', 1)
    assert guess(g, '10.0.1.1', 101)                 # one token back every 100 s


def test_a_right_entry_gives_its_token_back():
    g = GuessGuard(failures=100, target_guesses=2, target_window=1000)
    for t in range(10):
        assert guess(g, f'10.0.3.{t}', t, right=True)
    guess(g, '10.0.1.1', 20)
    assert g.attempt(CONF, '10.0.1.2', 20) == Ticket(CONF, '10.0.1.2', True)   # one left


def test_memory_is_bounded():
    g = GuessGuard(failures=3, target_guesses=3, max_keys=50)
    for i in range(2000):
        guess(g, f'10.{i // 256}.{i % 256}.1', i * 0.01, target=f'owner-{i}')
    assert len(g.sources) <= 50 and len(g.targets) <= 50 and len(g.failed) <= 50


@pytest.mark.parametrize('ip, trunk, caller, key', [
    ('192.0.2.7', None, '+4930111', '192.0.2.7'),
    ('2001:db8:1:2:3:4:5:6', None, '', '2001:db8:1:2::/64'),   # one host's /64
    ('::ffff:192.0.2.7', None, '', '192.0.2.7'),
    ('192.0.2.7', 'carrier', '+4930111', 'trunk carrier +4930111'),
    ('192.0.2.7', 'carrier', '', 'trunk carrier anonymous'),
    ('not-an-ip', None, '', 'not-an-ip'),
])
def test_source_keys(ip, trunk, caller, key):
    assert source_key(ip, trunk, caller) == key


# --- ivr/pin.py: the refusal is goodbye, from looking_up only ---------------------------------

def test_limited_while_looking_up_says_goodbye():
    e = PinEntry()
    e.start()
    e.feed(PromptDone())
    for d in '1234':
        out = e.feed(Digit(d))
    assert out == [Lookup('1234')] and e.state == LOOKING_UP
    assert e.feed(Limited()) == [End(GOODBYE, 'limited')]
    assert e.state == DONE


@pytest.mark.parametrize('state', [PROMPTING, REFUSED, COLLECTING, DONE])
def test_limited_in_other_states_raises(state):
    with pytest.raises(IllegalTransition):
        PinEntry(state=state).feed(Limited())
