"""What the IVR programs' sans-IO machines (menu.py, pin.py) have in common: the events a
call feeds them (a digit, a digit wait that ran out), the Wait action, and the error for an
event a state has no transition for."""
from __future__ import annotations

from dataclasses import dataclass


class IllegalTransition(Exception):
    """An event the machine's current state has no transition for."""


@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class TimedOut:
    """The Wait asked for ran out without a digit."""


@dataclass(frozen=True)
class Wait:
    seconds: float                   # for the next digit, then TimedOut
