"""What a call to one of our phone numbers asks for (§3.9): a pure decision on its switches
and, when they name one, its dial plan.

Precedence (§3.9, first that applies wins): a locked number asks for its unlock code; the
`dialplan` field (a v2 object) "has priority over all other phone flags"; `dialplan_enable`
(v1) "takes priority" over the other switches; the call API when `call_enable` is the only
switch on; the IVR when neither call_enable nor dialplan_enable is on; voice mail
(`recording_enable`, with `play_announcement_only`; with fax_enable too, a calling fax
machine is heard and received); then fax reception, and conference (PIN entry, ivr/pin.py). A `dialplan` whose object is gone (deleted, §4.1: "This will end in
a unintended number configuration") is as if the field were empty.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .qloud import CallFacts, DialplanV1, DialplanV2, V1Decision, V2Decision, evaluate_v1, evaluate_v2


class NumberSwitches(Protocol):
    """The switches of a number (store.phones.Phone has them); decisions need no more."""
    unlock_code: str | None
    dialplan: str | None
    dialplan_enable: bool
    call_api_only: bool
    call_enable: bool
    ivr: str | None
    recording_enable: bool
    play_announcement_only: bool
    fax_enable: bool
    conference_enable: bool


# what wins, in order (NOT_YET: switches without a runtime, callers get 480)
UNLOCK, DIALPLAN_V2, DIALPLAN_V1, CALL_API, IVR = 'unlock', 'dialplan_v2', 'dialplan_v1', 'call_api', 'ivr'
VOICEMAIL, FAX, CONFERENCE, NOT_IN_SERVICE = 'voicemail', 'fax', 'conference', 'not_in_service'
NOT_YET: dict[str, str] = {}


def precedence(phone: NumberSwitches, v2_exists: bool = True) -> str:
    """Which of the number's switches decides a call to it."""
    if phone.unlock_code:
        return UNLOCK
    if phone.dialplan and v2_exists:
        return DIALPLAN_V2
    if phone.dialplan_enable:
        return DIALPLAN_V1
    if phone.call_api_only:
        return CALL_API
    if phone.ivr and not phone.call_enable:
        return IVR
    if phone.recording_enable:
        return VOICEMAIL
    if phone.fax_enable:
        return FAX
    if phone.conference_enable:
        return CONFERENCE
    return NOT_IN_SERVICE


@dataclass(frozen=True)
class NumberDecision:
    """`kind` is one of the precedence names. A dial plan kind carries its evaluated
    decision; `ivr` the IVR's uuid; `voicemail` whether to record after the announcement;
    `not_yet` the reason phrase of a 480 for features that come later."""
    kind: str
    v2: V2Decision | None = None
    v1: V1Decision | None = None
    ivr: str | None = None
    record: bool = True
    not_yet: str | None = None


def number_decision(phone: NumberSwitches, v2_plan: DialplanV2 | None, v1_plan: DialplanV1 | None,
                    facts: CallFacts, now: datetime) -> NumberDecision:
    """The whole decision for a call to `phone`. `v2_plan` is the object `phone.dialplan`
    names (None when there is none any more); `v1_plan` the user's v1 dial plan (None: an
    empty one, nothing to ring, so the call is unavailable)."""
    kind = precedence(phone, v2_exists=v2_plan is not None)
    if kind == DIALPLAN_V2:
        return NumberDecision(kind, v2=evaluate_v2(v2_plan, facts, now))
    if kind == DIALPLAN_V1:
        return NumberDecision(kind, v1=evaluate_v1(v1_plan or DialplanV1(), facts))
    if kind == IVR:
        return NumberDecision(kind, ivr=phone.ivr)
    if kind == VOICEMAIL:
        return NumberDecision(kind, record=not phone.play_announcement_only)
    if kind in NOT_YET:
        return NumberDecision(kind, not_yet=f'{NOT_YET[kind]} Not Available Yet')
    return NumberDecision(kind)

