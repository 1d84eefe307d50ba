"""A fax report's status (Q-loud §3.13): which change may follow which.

Outgoing: `dial` -> `transmit` -> `ok|fail|busy|cancel|error`; a dial may also end
at once (`busy`, `fail`, `cancel`, `error`), and the engine's retry of a busy
destination dials again (`busy` -> `dial`).  Incoming reports start at `transmit`
and end `ok|fail|error` (`dial`, `busy` and `cancel` are "outgoing fax only").
`ok`, `fail`, `cancel` and `error` are final: a late word from the engine about a
report the user cancelled changes nothing, it is refused here.
"""
from __future__ import annotations

STATUSES = ('dial', 'transmit', 'ok', 'fail', 'cancel', 'busy', 'error')
FINAL = frozenset({'ok', 'fail', 'cancel', 'error'})
# a report that ends in one of these before `transmit` sent nothing: its pages go back to
# the quota (from `transmit`, only the pages not sent; store/faxes.py charge_after)
NOTHING_SENT = frozenset({'cancel', 'busy', 'error'})

OUTGOING = {
    'dial': frozenset({'transmit', 'busy', 'fail', 'cancel', 'error'}),
    'transmit': frozenset({'ok', 'fail', 'cancel', 'error', 'busy'}),
    'busy': frozenset({'dial', 'fail', 'cancel', 'error'}),
}
INCOMING = {
    'transmit': frozenset({'ok', 'fail', 'error'}),
}


class IllegalTransition(Exception):
    """A status change the report's direction does not have."""


def first_status(incoming: bool) -> str:
    return 'transmit' if incoming else 'dial'


def next_status(incoming: bool, current: str, new: str) -> str:
    """`new` when a report in `current` may move there, else IllegalTransition."""
    table = INCOMING if incoming else OUTGOING
    if new not in table.get(current, ()):
        raise IllegalTransition(f'{"incoming" if incoming else "outgoing"} fax report: '
                                f'{current} -> {new}')
    return new


def cancellable(incoming: bool, current: str) -> bool:
    """The user may cancel an outgoing report that has not ended."""
    return not incoming and 'cancel' in OUTGOING.get(current, ())
