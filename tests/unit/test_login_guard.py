"""API login guessing limits (issue 8), sans-IO: per account across addresses, per address and
account, and no lock-out of a real user by somebody else's failures."""
from __future__ import annotations

from telephony.api.login_guard import ACCOUNT_FAILURES, BLOCK_FOR, PAIR_FAILURES, LoginGuard


def test_one_account_gets_a_limited_number_of_guesses_from_many_addresses():
    g = LoginGuard()
    tried = 0
    for i in range(1000):
        address = f'10.0.{i // 250}.{i % 250}'
        if g.allowed('joe', address, 5.0):
            tried += 1
            g.failure('joe', address, 5.0)
    assert tried == ACCOUNT_FAILURES
    assert not g.allowed('joe', '192.0.2.1', 5.0 + BLOCK_FOR - 1)
    assert g.allowed('joe', '192.0.2.1', 5.0 + BLOCK_FOR + 1)


def test_the_real_user_still_gets_in_from_where_it_logged_in_before():
    g = LoginGuard()
    g.success('joe', '198.51.100.7')
    for i in range(ACCOUNT_FAILURES):
        g.failure('joe', f'10.0.0.{i}', 1.0)
    assert not g.allowed('joe', '10.0.0.99', 2.0)     # a new address waits the attack out
    assert g.allowed('joe', '198.51.100.7', 2.0)      # the known one does not


def test_one_address_does_not_lock_out_the_other_accounts_behind_it():
    g = LoginGuard()
    for _ in range(PAIR_FAILURES):
        g.failure('ann', '203.0.113.5', 1.0)
    assert not g.allowed('ann', '203.0.113.5', 2.0)
    assert g.allowed('bob', '203.0.113.5', 2.0)
    assert g.allowed('ann', '203.0.113.6', 2.0)


def test_a_known_address_is_still_limited_itself():
    g = LoginGuard()
    g.success('joe', '198.51.100.7')
    for _ in range(PAIR_FAILURES):
        g.failure('joe', '198.51.100.7', 1.0)
    assert not g.allowed('joe', '198.51.100.7', 2.0)
