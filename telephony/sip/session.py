"""The INVITE session (RFC 3261 §13-15), sans-IO: one transition table, typed events.

`InviteSession.handle(event, now)` checks the event against `TABLE`, moves to the
next state and returns the `Action`s the shell must perform (responses, requests,
timers). It never touches a socket or a clock; the caller passes the time, and
randomness (RFC 3261 §14 retry timers) comes from an injected `random.Random`.
An event the table does not list for the current state raises `IllegalTransition`.

States follow pjsip's inv session; the two hangup states are what keeps the
wire right when a hangup comes at the wrong moment:

    UAS: INCOMING -> EARLY -> CONNECTING (200 sent, waiting for ACK) -> CONFIRMED
         CONNECTING --Hangup--> CONNECTING_HANGUP --Ack/AckTimeout--> BYE (§15)
    UAC: CALLING -> EARLY -> CONFIRMED (the ACK goes with the 2xx)
         CALLING --Hangup--> CALLING_HANGUP --first 1xx--> CANCEL (§9.1)
         EARLY --Hangup--> CANCELLING; a 2xx crossing the CANCEL gets ACK + BYE
    any -> TERMINATED

A re-INVITE in either direction is a sub-state of CONFIRMED (`Reinvite`): a second
one while ours is pending gets 491, while theirs is unanswered 500 with
Retry-After (§14.2); a 491 to ours retries after a random time (§14.1).

The ACK timeout is the INVITE server transaction's timer H (64*T1, RFC 6026), which
the shell reports as `AckTimeout`; the session decides what follows (a BYE, §13.3.1.4).
"""
from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any, Callable


class State(str, enum.Enum):
    INCOMING = 'incoming'              # UAS: INVITE received, nothing but 100 sent
    CALLING = 'calling'                # UAC: INVITE sent, no answer yet
    CALLING_HANGUP = 'calling-hangup'  # UAC: given up before any 1xx; CANCEL waits for one
    EARLY = 'early'                    # a 1xx sent (UAS) or received (UAC)
    CANCELLING = 'cancelling'          # UAC: CANCEL sent, the INVITE's final answer pending
    CONNECTING = 'connecting'          # UAS: 2xx sent, waiting for the ACK
    CONNECTING_HANGUP = 'connecting-hangup'  # UAS: 2xx sent, hangup wanted: BYE after the ACK
    CONFIRMED = 'confirmed'
    TERMINATED = 'terminated'


class Reinvite(str, enum.Enum):
    NONE = 'none'
    INCOMING = 'incoming'   # theirs received, not yet answered
    OUTGOING = 'outgoing'   # ours sent, no final answer yet
    RETRY = 'retry'         # ours got 491; the retry timer runs


# RFC 3261 §14.1: after a 491, the Call-ID owner waits 2.1-4 s, the other side 0-2 s
# (10 ms units). §14.2: a 500 to an overlapping re-INVITE carries Retry-After 0-10 s.
GLARE_RETRY_OWNER = (2.1, 4.0)
GLARE_RETRY_OTHER = (0.0, 2.0)
OVERLAP_RETRY_AFTER = (0, 10)
RETRY_TIMER = 'reinvite-retry'


class IllegalTransition(Exception):
    def __init__(self, state: State, event: 'Event'):
        super().__init__(f'{type(event).__name__} is illegal in state {state.value}')
        self.state = state
        self.event = event


def advance(machine, table: dict, event, now: float,
            error: type[IllegalTransition] = IllegalTransition) -> None:
    """One step of a table-driven machine (this session, trunk registrations, hunts): the
    table's step for (state, event type) runs with a fresh action list and the time, and
    moves the machine to the state it returns; an event the table lacks raises."""
    step = table.get((machine.state, type(event)))
    if step is None:
        raise error(machine.state, event)
    machine._now = now
    machine._out = []
    new = step(machine, event)
    if new is not None:
        machine.state = new


# --- events -----------------------------------------------------------------------------
# `handle` is an opaque token of the shell's (its server transaction); it comes back in
# the Respond action so the shell knows which request to answer.

@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class Provisional(Event):     # local, UAS: send a 1xx (180, 183)
    status: int = 180
    body: Any = None


@dataclass(frozen=True)
class Accept(Event):          # local, UAS: send the 2xx
    body: Any = None


@dataclass(frozen=True)
class Reject(Event):          # local, UAS: a final answer >= 300
    status: int
    reason: str | None = None
    headers: tuple = ()       # e.g. the Warning of a 488


@dataclass(frozen=True)
class Hangup(Event):          # local: end the session the right way for its state
    status: int = 480         # the answer to an inbound INVITE not yet answered


@dataclass(frozen=True)
class SendReinvite(Event):    # local: offer again (hold, resume, media change)
    pass


@dataclass(frozen=True)
class AnswerReinvite(Event):  # local: our answer to their re-INVITE
    status: int
    handle: Any = None
    body: Any = None
    headers: tuple = ()


@dataclass(frozen=True)
class TimerFired(Event):      # the shell's timer for a StartTimer came due
    name: str


@dataclass(frozen=True)
class Reissued(Event):        # local, UAC: our INVITE was challenged (401/407) and sent again
    pass


@dataclass(frozen=True)
class InviteResponse(Event):  # remote: a response to our initial INVITE
    status: int


@dataclass(frozen=True)
class ReinviteResponse(Event):  # remote: a response to our re-INVITE
    status: int


@dataclass(frozen=True)
class NoResponse(Event):      # our INVITE (reinvite=False) or re-INVITE got no final answer
    reinvite: bool = False


@dataclass(frozen=True)
class Cancel(Event):          # remote: CANCEL of the initial INVITE (already answered 200)
    pass


@dataclass(frozen=True)
class Ack(Event):             # remote: ACK of one of our 2xx
    pass


@dataclass(frozen=True)
class AckTimeout(Event):      # remote: our 2xx was never ACKed
    pass


@dataclass(frozen=True)
class Bye(Event):
    handle: Any = None


@dataclass(frozen=True)
class ReinviteRequest(Event):  # remote: their re-INVITE
    handle: Any = None


# --- actions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Respond:
    status: int
    handle: Any = None        # None: the initial INVITE
    body: Any = None
    reason: str | None = None
    retry_after: int | None = None
    headers: tuple = ()


@dataclass(frozen=True)
class Send:
    method: str               # 'ACK' (for a 2xx), 'BYE', 'CANCEL', 'INVITE' (re-INVITE)


@dataclass(frozen=True)
class StartTimer:
    name: str
    at: float


Action = Respond | Send | StartTimer


# --- the machine ----------------------------------------------------------------------------

class InviteSession:
    def __init__(self, uas: bool, call_id_owner: bool | None = None,
                 rng: random.Random | None = None):
        self.uas = uas
        self.state = State.INCOMING if uas else State.CALLING
        self.reinvite = Reinvite.NONE
        # §14.1: whoever made the Call-ID (the UAC of the dialog) waits longer after a 491
        self.call_id_owner = (not uas) if call_id_owner is None else call_id_owner
        self.rng = rng or random.Random()
        self.bye_sent = False
        self._now = 0.0
        self._out: list[Action] = []

    def __repr__(self) -> str:
        role = 'uas' if self.uas else 'uac'
        return f'<InviteSession {role} {self.state.value} re={self.reinvite.value}>'

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    @property
    def early(self) -> bool:
        """No final answer yet to the initial INVITE."""
        return self.state in _EARLY

    @property
    def can_reinvite(self) -> bool:
        return self.state is State.CONFIRMED and self.reinvite in (Reinvite.NONE, Reinvite.RETRY)

    def handle(self, event: Event, now: float) -> list[Action]:
        advance(self, TABLE, event, now)
        if self.state is State.TERMINATED:
            self.reinvite = Reinvite.NONE
        out, self._out = self._out, []
        return out

    # --- helpers for the steps ----------------------------------------------------
    def _emit(self, *actions: Action) -> None:
        self._out.extend(actions)

    def _bye(self) -> State:
        if self.reinvite is Reinvite.INCOMING:
            self._emit(Respond(487, handle=self._pending))   # §15.1.2 pending requests
        self._emit(Send('BYE'))
        self.bye_sent = True
        return State.TERMINATED

    # --- UAS -------------------------------------------------------------------------
    def _role(self, ev: Event, uas: bool) -> None:
        if self.uas is not uas:     # EARLY is shared: each side has its own events there
            raise IllegalTransition(self.state, ev)

    def _provisional(self, ev: Provisional) -> State:
        self._role(ev, True)
        if not 100 < ev.status < 200:
            raise IllegalTransition(self.state, ev)
        self._emit(Respond(ev.status, body=ev.body))
        return State.EARLY

    def _accept(self, ev: Accept) -> State:
        self._role(ev, True)
        self._emit(Respond(200, body=ev.body))
        return State.CONNECTING

    def _reject(self, ev: Reject) -> State:
        self._role(ev, True)
        if ev.status < 300:
            raise IllegalTransition(self.state, ev)
        self._emit(Respond(ev.status, reason=ev.reason, headers=ev.headers))
        return State.TERMINATED

    def _early_hangup(self, ev: Hangup) -> State:
        if not self.uas:
            self._emit(Send('CANCEL'))
            return State.CANCELLING
        self._emit(Respond(ev.status))
        return State.TERMINATED

    def _cancelled(self, ev: Cancel) -> State:
        self._role(ev, True)
        self._emit(Respond(487))
        return State.TERMINATED

    def _end_with_bye(self, ev) -> State:
        # a hangup that waited for the ACK, our hangup when confirmed, or a 2xx (to the
        # INVITE or a re-INVITE) never ACKed (§13.3.1.4)
        return self._bye()

    def _confirm(self, ev: Ack) -> State:
        return State.CONFIRMED

    def _bye_received(self, ev: Bye) -> State:
        if self.reinvite is Reinvite.INCOMING:
            self._emit(Respond(487, handle=self._pending))
        self._emit(Respond(200, handle=ev.handle))
        return State.TERMINATED

    def _ignore(self, ev) -> None:
        return None

    # --- UAC -------------------------------------------------------------------------
    def _uac_response(self, ev: InviteResponse) -> State | None:
        self._role(ev, False)
        if ev.status < 200:
            return State.EARLY
        if ev.status < 300:
            self._emit(Send('ACK'))
            return State.CONFIRMED
        return State.TERMINATED        # the transaction ACKs a non-2xx itself

    def _uac_hangup_calling(self, ev: Hangup) -> State:
        return State.CALLING_HANGUP    # §9.1: no CANCEL before a provisional response

    def _response_after_hangup(self, ev: InviteResponse) -> State | None:
        if ev.status < 200:
            if self.state is State.CALLING_HANGUP:
                self._emit(Send('CANCEL'))
            return State.CANCELLING
        if ev.status < 300:
            # the 2xx crossed our CANCEL: the dialog exists; confirm it and end it
            self._emit(Send('ACK'))
            return self._bye()
        return State.TERMINATED

    def _reissued(self, ev: Reissued) -> State:
        self._role(ev, False)
        return State.CALLING     # a new transaction: no provisional for it yet

    def _no_answer(self, ev: NoResponse) -> State | None:
        if ev.reinvite:
            return None
        return State.TERMINATED

    def _reack(self, ev: InviteResponse) -> None:
        if 200 <= ev.status < 300:
            self._emit(Send('ACK'))      # a retransmitted 2xx: its ACK was lost

    def _late_response(self, ev: InviteResponse) -> None:
        # a 2xx after we gave up (our INVITE timed out) still needs its ACK, and the
        # dialog it made needs a BYE
        if 200 <= ev.status < 300:
            self._emit(Send('ACK'))
            if not self.bye_sent:
                self._bye()

    # --- confirmed: BYE and re-INVITE -------------------------------------------------
    def _their_reinvite(self, ev: ReinviteRequest) -> None:
        if self.reinvite is Reinvite.INCOMING:
            lo, hi = OVERLAP_RETRY_AFTER
            self._emit(Respond(500, handle=ev.handle, reason='Overlapping Requests',
                               retry_after=self.rng.randint(lo, hi)))
        elif self.reinvite is Reinvite.OUTGOING:
            self._emit(Respond(491, handle=ev.handle))
        else:   # NONE, or RETRY: theirs goes first, our timer still retries later
            self._pending = ev.handle
            self._retry_wanted = self.reinvite is Reinvite.RETRY
            self.reinvite = Reinvite.INCOMING
        return None

    def _answer_reinvite(self, ev: AnswerReinvite) -> None:
        if self.reinvite is not Reinvite.INCOMING or ev.status < 200:
            raise IllegalTransition(self.state, ev)
        self._emit(Respond(ev.status, handle=ev.handle, body=ev.body, headers=ev.headers))
        self.reinvite = Reinvite.RETRY if self._retry_wanted else Reinvite.NONE
        self._pending = None
        return None

    def _send_reinvite(self, ev: SendReinvite) -> None:
        if not self.can_reinvite:
            raise IllegalTransition(self.state, ev)   # §14.1: one INVITE at a time
        self._emit(Send('INVITE'))
        self.reinvite = Reinvite.OUTGOING
        return None

    def _reinvite_response(self, ev: ReinviteResponse) -> State | None:
        code = ev.status
        if 200 <= code < 300:
            self._emit(Send('ACK'))       # a retransmitted 2xx gets its ACK again too
        if self.reinvite is not Reinvite.OUTGOING or code < 200:
            return None
        if code == 491:
            self._emit(StartTimer(RETRY_TIMER, self._now + self._glare_delay()))
            self.reinvite = Reinvite.RETRY
            return None
        self.reinvite = Reinvite.NONE
        if code in (408, 481):
            return self._bye()            # §12.2.1.2: the dialog is gone
        return None                       # other failures: the old session stands (§14.1)

    def _glare_delay(self) -> float:
        lo, hi = GLARE_RETRY_OWNER if self.call_id_owner else GLARE_RETRY_OTHER
        return self.rng.randint(round(lo * 100), round(hi * 100)) / 100

    def _reinvite_lost(self, ev: NoResponse) -> State | None:
        if not ev.reinvite:
            return None
        self.reinvite = Reinvite.NONE
        return self._bye()

    def _retry_timer(self, ev: TimerFired) -> None:
        if ev.name != RETRY_TIMER or self.reinvite in (Reinvite.NONE, Reinvite.OUTGOING):
            return None   # nothing to retry, or our offer is on its way already
        if self.reinvite is Reinvite.INCOMING:    # theirs is still being answered: later
            self._retry_wanted = True
            self._emit(StartTimer(RETRY_TIMER, self._now + self._glare_delay()))
            return None
        self._emit(Send('INVITE'))
        self.reinvite = Reinvite.OUTGOING
        return None

    _pending: Any = None
    _retry_wanted = False


S = State
_EARLY = (S.INCOMING, S.CALLING, S.CALLING_HANGUP, S.EARLY, S.CANCELLING)
IS = InviteSession
_Step = Callable[[InviteSession, Event], State | None]

# The whole machine. Remote events that may arrive late (a retransmission, a request that
# crossed ours) are listed as explicit no-ops, so a missing entry is a real error.
TABLE: dict[tuple[State, type], _Step] = {
    # UAS, before the final answer
    (S.INCOMING, Provisional): IS._provisional,
    (S.EARLY, Provisional): IS._provisional,
    (S.INCOMING, Accept): IS._accept,
    (S.INCOMING, Reject): IS._reject,
    (S.INCOMING, Hangup): IS._early_hangup,
    (S.INCOMING, Cancel): IS._cancelled,
    # EARLY is shared: a UAS there has sent a 1xx, a UAC has received one
    (S.EARLY, Accept): IS._accept,
    (S.EARLY, Reject): IS._reject,
    (S.EARLY, Cancel): IS._cancelled,
    (S.EARLY, Hangup): IS._early_hangup,
    # UAS, 200 sent, waiting for the ACK
    (S.CONNECTING, Ack): IS._confirm,
    (S.CONNECTING, Hangup): lambda s, e: S.CONNECTING_HANGUP,
    (S.CONNECTING, AckTimeout): IS._end_with_bye,
    (S.CONNECTING, Bye): IS._bye_received,
    (S.CONNECTING, Cancel): IS._ignore,          # CANCEL crossed our 200: no effect (§9.2)
    (S.CONNECTING, ReinviteRequest): lambda s, e: s._emit(Respond(491, handle=e.handle)),
    (S.CONNECTING_HANGUP, Ack): IS._end_with_bye,
    (S.CONNECTING_HANGUP, AckTimeout): IS._end_with_bye,
    (S.CONNECTING_HANGUP, Bye): IS._bye_received,
    (S.CONNECTING_HANGUP, Cancel): IS._ignore,
    (S.CONNECTING_HANGUP, Hangup): IS._ignore,
    (S.CONNECTING_HANGUP, ReinviteRequest): lambda s, e: s._emit(Respond(491, handle=e.handle)),
    # UAC, before the final answer
    (S.CALLING, InviteResponse): IS._uac_response,
    (S.CALLING, Hangup): IS._uac_hangup_calling,
    (S.CALLING, NoResponse): IS._no_answer,
    (S.CALLING, Reissued): IS._reissued,
    (S.CALLING_HANGUP, InviteResponse): IS._response_after_hangup,
    (S.CALLING_HANGUP, Hangup): IS._ignore,
    (S.CALLING_HANGUP, NoResponse): IS._no_answer,
    (S.CANCELLING, InviteResponse): IS._response_after_hangup,
    (S.CANCELLING, Hangup): IS._ignore,
    (S.CANCELLING, NoResponse): IS._no_answer,
    # CONFIRMED
    (S.CONFIRMED, Hangup): IS._end_with_bye,
    (S.CONFIRMED, Bye): IS._bye_received,
    (S.CONFIRMED, Ack): IS._ignore,              # ACK of a re-INVITE's 2xx
    (S.CONFIRMED, AckTimeout): IS._end_with_bye,
    (S.CONFIRMED, Cancel): IS._ignore,
    (S.CONFIRMED, InviteResponse): IS._reack,
    (S.CONFIRMED, ReinviteRequest): IS._their_reinvite,
    (S.CONFIRMED, AnswerReinvite): IS._answer_reinvite,
    (S.CONFIRMED, SendReinvite): IS._send_reinvite,
    (S.CONFIRMED, ReinviteResponse): IS._reinvite_response,
    (S.CONFIRMED, NoResponse): IS._reinvite_lost,
    (S.CONFIRMED, TimerFired): IS._retry_timer,
    # TERMINATED: what is still on the wire
    (S.TERMINATED, Hangup): IS._ignore,
    (S.TERMINATED, Ack): IS._ignore,
    (S.TERMINATED, AckTimeout): IS._ignore,
    (S.TERMINATED, Cancel): IS._ignore,
    (S.TERMINATED, NoResponse): IS._ignore,
    (S.TERMINATED, TimerFired): IS._ignore,
    (S.TERMINATED, InviteResponse): IS._late_response,
    (S.TERMINATED, ReinviteResponse):
        lambda s, e: s._emit(Send('ACK')) if 200 <= e.status < 300 else None,
    (S.TERMINATED, Bye): lambda s, e: s._emit(Respond(200, handle=e.handle)),
    (S.TERMINATED, ReinviteRequest): lambda s, e: s._emit(Respond(481, handle=e.handle)),
}
# EARLY for a UAC: more 1xx, the final answer
TABLE[(S.EARLY, InviteResponse)] = IS._uac_response
TABLE[(S.EARLY, NoResponse)] = IS._no_answer
TABLE[(S.EARLY, Reissued)] = IS._reissued
