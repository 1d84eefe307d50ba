"""A call to one of our SIP accounts rings every registered contact at once, under ONE Call
(its id, events and CDR), as Asterisk's PJSIP dial to an AOR and FreeSWITCH's user/ do.

`call.leg` is always one of the fork's legs that is still alive (the one furthest along:
progress, then ringing, then calling), so whatever hangs the call up (the API, the
application, the caller of a B2BUA giving up) hangs up that leg: the fork sees a leg WE
ended and cancels all the others. The first contact to answer wins and becomes the call's
leg for good; the others get CANCEL (a 200 that crosses it gets ACK and BYE, the INVITE
session does that). Any contact ringing makes the call ringing. When every contact
failed, or one answered 6xx, the call ends with the best failure (sip/forking.py).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from ..logtext import quoted
from ..sip.forking import best_branch, ends_fork
from ..sip.uri import parse_uri
from .leg import ANSWERED, CALLING, HANGUP, PROGRESS, RINGING, Leg

if TYPE_CHECKING:
    from ..sip.registrar import Binding
    from .call import Call
    from .manager import CallManager

log = logging.getLogger('telephony.calls')

CANCELLED_ELSEWHERE = 26    # Q.850 non-selected user clearing: answered elsewhere
_FURTHER = {CALLING: 0, RINGING: 1, PROGRESS: 2, ANSWERED: 3}
T = TypeVar('T')


def _quiet(leg: Leg) -> None:
    pass


async def contact_legs(manager: 'CallManager', bindings: Iterable['Binding'], from_uri: str,
                       display: str | None, headers: list[tuple[str, str]],
                       made: Callable[[Leg], T]) -> list[T]:
    """One outbound leg per registered contact (the registrar caps how many there are),
    to the REGISTER's flow or through its Path, never to the Contact's host; `made` takes
    each leg as soon as its INVITE is out."""
    out = []
    for b in bindings:
        try:
            leg = await Leg.outbound(manager.stack, manager.media, parse_uri(b.contact),
                                     b.target(), from_uri, display,
                                     headers + [('Route', r) for r in b.routes()])
        except OSError as exc:       # no RTP port left: ring the contacts that have one
            if not out:
                raise
            log.warning('event=no-rtp-port contact=%s legs=%d error=%s', quoted(b.contact),
                        len(out), exc)
            break
        out.append(made(leg))
    return out


class Fork:
    def __init__(self, legs: list[Leg]):
        self.legs = legs
        self.call: 'Call | None' = None
        self.done = False

    def start(self, track: Callable[[Leg], 'Call']) -> 'Call':
        """The Call, over the leg furthest along; what the legs did before it is replayed."""
        live = [leg for leg in self.legs if not leg.ended]
        call = self.call = track(max(live, key=_further) if live else self.legs[0])
        self._dtmf, self._confirmed = call.leg.on_dtmf, call.leg.on_confirmed
        for leg in self.legs:
            leg.on_state = self._on_state
        for leg in list(self.legs):
            if leg.state != CALLING and not self.done:
                self._on_state(leg)
        return call

    def _use(self, leg: Leg) -> None:
        call = self.call
        call.leg = leg
        leg.on_dtmf, leg.on_confirmed = self._dtmf, self._confirmed

    def _on_state(self, leg: Leg) -> None:
        call = self.call
        if self.done:
            return
        if leg.state == ANSWERED:
            log.info('event=fork-answered call=%s leg=%s legs=%d', call.id, leg.id, len(self.legs))
            self._use(leg)
            leg.on_state = call._on_leg_state
            self._end_others(CANCELLED_ELSEWHERE)
            call._on_leg_state(leg)
        elif leg.state in (RINGING, PROGRESS):
            if call.leg.ended or _further(leg) > _further(call.leg):
                self._use(leg)
            if leg is call.leg:
                call._on_leg_state(leg)
        elif leg.state == HANGUP:
            self._failed(leg)

    def _failed(self, leg: Leg) -> None:
        call = self.call
        if leg is call.leg and leg.ended_here:
            # hung up by whoever drives the call (API, application, a B2BUA's caller)
            self._end_others(leg.hangup_cause or 16)
            call._on_leg_state(leg)
            return
        live = [o for o in self.legs if not o.ended]
        if live and not ends_fork(leg.final_status):
            if leg is call.leg:
                self._use(max(live, key=_further))
            return
        best = self.legs[best_branch([o.final_status for o in self.legs])]
        log.info('event=fork-failed call=%s status=%s legs=%d', call.id,
                 best.final_status, len(self.legs))
        self._use(best)
        self._end_others(best.hangup_cause or 16)
        call._on_leg_state(best)

    def _end_others(self, cause: int) -> None:
        """The fork is decided: every leg but the call's goes (CANCEL or BYE) and no longer
        reports to us."""
        self.done = True
        for other in self.legs:
            if other is not self.call.leg:
                other.on_state = _quiet
                other.hangup(cause=cause)
        self.legs = [self.call.leg]


def _further(leg: Leg) -> int:
    return _FURTHER.get(leg.state, -1)
