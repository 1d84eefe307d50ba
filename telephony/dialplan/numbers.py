"""What a call to one of our phone numbers asks for (§3.9): a pure decision on its switches."""
from __future__ import annotations

from typing import Protocol


class NumberSwitches(Protocol):
    """The switches of a number (store.phones.Phone has them); decisions need no more."""
    unlock_code: str | None
    dialplan: str | None
    dialplan_enable: bool
    call_api_only: bool
    call_enable: bool
    ivr: str | None
    recording_enable: bool
    fax_enable: bool
    conference_enable: bool


def unsupported(phone: NumberSwitches) -> str | None:
    """The feature a number's switches ask for that this build does not have yet, if any.

    Precedence follows §3.9: dialplan first, then the call API, then IVR, then the rest.
    """
    if phone.unlock_code:
        return None
    if phone.dialplan or phone.dialplan_enable:
        return 'Dialplan'
    if phone.call_api_only:
        return None
    if phone.ivr and not phone.call_enable:
        return 'IVR'
    if phone.recording_enable:
        return None
    if phone.fax_enable:
        return 'Fax'
    if phone.conference_enable:
        return 'Conference'
    return None
