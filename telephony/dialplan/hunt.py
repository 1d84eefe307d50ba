"""Ringing several targets for one call (Q-loud §4.1 parallel|linear|cyclic, §4.2 pools),
sans-IO: one transition table, typed events, actions returned as data, the time passed in.

    IDLE --Start--> HUNTING --TargetAnswered--> ANSWERED   (bridge it, cancel the others)
                    HUNTING --all failed / overall timeout--> GAVE_UP (reason)
                    HUNTING --CallerCancelled--> CANCELLED

`parallel` rings every target at once; `linear` one at a time from the first; `cyclic` one
at a time from `start`, which the runtime keeps per plan and profile (`next_start` is what
to store for the next call, known from the start, so a crash loses no turn). One pass over
the targets: a target that fails, is busy or rings past its own timeout hands over to the
next; after the last one the hunt gives up. The overall timeout ends it whatever is ringing.

Targets are indices; the shell knows what they are. A target's timeout runs from the Ring
action. Events a target sends after we cancelled it (its 487, a 2xx that crossed the CANCEL,
which the leg ends itself) are no-ops; any event for a target never rung, or one that already
ended, raises IllegalTransition.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Sequence

from ..sip import session

MODES = ('parallel', 'linear', 'cyclic')
BUSY_STATUSES = (486, 600)
# the SIP answer to the caller when the hunt gives up and nothing else is configured
GIVE_UP_STATUS = {'timeout': (480, 'No Answer'), 'busy': (486, 'Busy Here'),
                  'unavailable': (480, 'Temporarily Unavailable')}


class State(str, enum.Enum):
    IDLE = 'idle'
    HUNTING = 'hunting'
    ANSWERED = 'answered'
    GAVE_UP = 'gave-up'
    CANCELLED = 'cancelled'


class Leg(str, enum.Enum):
    """Where one target is."""
    WAITING = 'waiting'      # not rung (yet)
    RINGING = 'ringing'      # rung: INVITE sent, maybe a 180 back
    CANCELLED = 'cancelled'  # we gave up on it
    FAILED = 'failed'
    BUSY = 'busy'
    ANSWERED = 'answered'


class IllegalTransition(session.IllegalTransition):
    """The INVITE session's error, so a shell catches one type for both machines."""
    def __init__(self, state: State, event: 'Event', why: str = ''):
        super().__init__(state, event)
        if why:
            self.args = (f'{self.args[0]}: {why}',)


# --- events -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class Start(Event):
    pass


@dataclass(frozen=True)
class TargetRinging(Event):
    target: int


@dataclass(frozen=True)
class TargetAnswered(Event):
    target: int


@dataclass(frozen=True)
class TargetFailed(Event):
    target: int
    status: int | None = None    # the final response; None: no answer at all (timeout)


@dataclass(frozen=True)
class TargetBusy(Event):
    target: int


@dataclass(frozen=True)
class Tick(Event):
    """A timer came due (the time is the one handed to `handle`)."""


@dataclass(frozen=True)
class CallerCancelled(Event):
    pass


# --- actions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ring:
    target: int


@dataclass(frozen=True)
class Cancel:
    target: int


@dataclass(frozen=True)
class Bridge:
    target: int


@dataclass(frozen=True)
class GiveUp:
    reason: str             # 'timeout' | 'busy' | 'unavailable'


@dataclass(frozen=True)
class Wake:
    """Send a Tick at this time (the earliest deadline changed)."""
    at: float


Action = Ring | Cancel | Bridge | GiveUp | Wake


class Hunt:
    def __init__(self, mode: str, timeouts: Sequence[float | None], overall: float | None = None,
                 start: int = 0):
        if mode not in MODES:
            raise ValueError(f'mode: {mode!r} is not one of {"|".join(MODES)}')
        if not timeouts:
            raise ValueError('targets: at least one target is needed')
        self.mode = mode
        self.timeouts = tuple(timeouts)
        self.overall = overall
        n = len(self.timeouts)
        self.start = start % n if mode == 'cyclic' else 0
        self.order = [(self.start + k) % n for k in range(n)]
        self.state = State.IDLE
        self.legs = [Leg.WAITING] * n
        self.deadlines: list[float | None] = [None] * n
        self.end: float | None = None
        self.answered: int | None = None
        self.reason: str | None = None
        self.timed_out = False          # some target rang past its own timeout
        self._out: list[Action] = []
        self._wake: float | None = None
        self._now = 0.0

    def __repr__(self) -> str:
        return f'<Hunt {self.mode} {self.state.value} {[x.value for x in self.legs]}>'

    @property
    def next_start(self) -> int:
        """The rotation to store for the next call (cyclic); 0 for the other modes."""
        return (self.start + 1) % len(self.timeouts) if self.mode == 'cyclic' else 0

    @property
    def done(self) -> bool:
        return self.state in (State.ANSWERED, State.GAVE_UP, State.CANCELLED)

    @property
    def deadline(self) -> float | None:
        """When the next Tick is due, if any."""
        if self.state is not State.HUNTING:
            return None
        times = [d for i, d in enumerate(self.deadlines) if d is not None and self.legs[i] is Leg.RINGING]
        if self.end is not None:
            times.append(self.end)
        return min(times, default=None)

    def handle(self, event: Event, now: float) -> list[Action]:
        session.advance(self, TABLE, event, now, IllegalTransition)
        wake = self.deadline
        if wake is not None and wake != self._wake:
            self._out.append(Wake(wake))
        self._wake = wake
        out, self._out = self._out, []
        return out

    # --- helpers -------------------------------------------------------------------------------
    def _ring(self, i: int) -> None:
        self.legs[i] = Leg.RINGING
        t = self.timeouts[i]
        self.deadlines[i] = None if t is None else self._now + t
        self._out.append(Ring(i))

    def _cancel_ringing(self, but: int | None = None) -> None:
        for i, leg in enumerate(self.legs):
            if leg is Leg.RINGING and i != but:
                self.legs[i] = Leg.CANCELLED
                self._out.append(Cancel(i))

    def _target(self, ev, *allowed: Leg) -> Leg | None:
        """The target's state if the event may come now; None: a late event to ignore."""
        i = ev.target
        if not 0 <= i < len(self.legs):
            raise IllegalTransition(self.state, ev, f'no target {i}')
        leg = self.legs[i]
        if leg is Leg.CANCELLED:
            return None
        if leg not in allowed:
            raise IllegalTransition(self.state, ev, f'target {i} is {leg.value}')
        return leg

    def _advance(self) -> State | None:
        """After a target ended: ring the next one (linear, cyclic), or give up when none
        rings any more."""
        if self.mode != 'parallel':
            for i in self.order:
                if self.legs[i] is Leg.RINGING:
                    return None
                if self.legs[i] is Leg.WAITING:
                    self._ring(i)
                    return None
        if any(leg is Leg.RINGING for leg in self.legs):
            return None
        return self._give_up(self._reason())

    def _reason(self) -> str:
        if self.timed_out:
            return 'timeout'
        if Leg.BUSY in self.legs:
            return 'busy'
        return 'unavailable'

    def _give_up(self, reason: str) -> State:
        self._cancel_ringing()
        self.reason = reason
        self._out.append(GiveUp(reason))
        return State.GAVE_UP

    # --- steps ---------------------------------------------------------------------------------
    def _start(self, ev: Start) -> State:
        self.end = None if self.overall is None else self._now + self.overall
        for i in (self.order if self.mode == 'parallel' else self.order[:1]):
            self._ring(i)
        return State.HUNTING

    def _ringing(self, ev: TargetRinging) -> None:
        self._target(ev, Leg.RINGING)
        return None

    def _answered(self, ev: TargetAnswered) -> State | None:
        if self._target(ev, Leg.RINGING) is None:
            return None                      # crossed our CANCEL; the leg ends it
        self.legs[ev.target] = Leg.ANSWERED
        self.answered = ev.target
        self._cancel_ringing(but=ev.target)
        self._out.append(Bridge(ev.target))
        return State.ANSWERED

    def _failed(self, ev: TargetFailed | TargetBusy) -> State | None:
        if self._target(ev, Leg.RINGING) is None:
            return None                      # its answer to our CANCEL
        busy = isinstance(ev, TargetBusy) or ev.status in BUSY_STATUSES
        self.legs[ev.target] = Leg.BUSY if busy else Leg.FAILED
        return self._advance()

    def _tick(self, ev: Tick) -> State | None:
        if self.end is not None and self._now >= self.end:
            return self._give_up('timeout')
        expired = [i for i, d in enumerate(self.deadlines)
                   if d is not None and self._now >= d and self.legs[i] is Leg.RINGING]
        if not expired:
            return None
        for i in expired:
            self.legs[i] = Leg.CANCELLED
            self._out.append(Cancel(i))
        self.timed_out = True
        return self._advance()

    def _caller_cancelled(self, ev: CallerCancelled) -> State:
        self._cancel_ringing()
        return State.CANCELLED

    def _late(self, ev) -> None:
        """After the hunt: the targets we cancelled still answer (487, a crossing 2xx)."""
        if hasattr(ev, 'target'):
            self._target(ev)     # only a cancelled target may still speak
        return None


S = State
H = Hunt
_Step = Callable[[Hunt, Event], State | None]
_LATE = (TargetRinging, TargetAnswered, TargetFailed, TargetBusy, Tick)

TABLE: dict[tuple[State, type], _Step] = {
    (S.IDLE, Start): H._start,
    (S.HUNTING, TargetRinging): H._ringing,
    (S.HUNTING, TargetAnswered): H._answered,
    (S.HUNTING, TargetFailed): H._failed,
    (S.HUNTING, TargetBusy): H._failed,
    (S.HUNTING, Tick): H._tick,
    (S.HUNTING, CallerCancelled): H._caller_cancelled,
    **{(s, e): H._late for s in (S.ANSWERED, S.GAVE_UP, S.CANCELLED) for e in _LATE},
    # the caller may still hang up while we give up; once bridged it is the call's BYE
    (S.GAVE_UP, CallerCancelled): H._late,
    (S.CANCELLED, CallerCancelled): H._late,
}
