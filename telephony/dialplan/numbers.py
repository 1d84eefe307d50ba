"""What a call to one of our phone numbers does before the call API or voice mail takes it."""
from __future__ import annotations

import logging

from ..calls.call import Call
from ..calls.controls import Control as C
from ..prompts import prompt_path
from ..store.phones import Phone

log = logging.getLogger('telephony.calls')

UNLOCK_TRIES = 3
DIGIT_TIMEOUT = 10.0


def unsupported(phone: Phone) -> str | None:
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


async def read_digits(call: Call, count: int, timeout: float = DIGIT_TIMEOUT) -> str:
    got = ''
    while len(got) < count:
        d = await call.next_digit(timeout)
        if d is None:
            break
        got += d
    return got


async def unlock(call: Call, phone: Phone) -> None:
    """§3.9: a reserved number is activated by calling it and keying its unlock code."""
    server = call.manager.server
    await call.run(C.make('answer'), C.make('dtmf_collect', enable=True))
    for _ in range(UNLOCK_TRIES):
        await call.run(C.make('play', path=prompt_path('unlock-enter')))
        code = await read_digits(call, len(phone.unlock_code))
        if call.leg.ended:
            return
        if code == phone.unlock_code:
            phone.unlock_code = None
            await server.phones.save(phone)
            server.sessions.publish(phone.owner, 'phone_modify', {})
            log.info('event=phone-unlocked number=%s', phone.number)
            await call.run(C.make('play', path=prompt_path('unlock-ok')), C.make('hangup'))
            return
        await call.run(C.make('play', path=prompt_path('unlock-wrong')))
    await call.run(C.make('play', path=prompt_path('goodbye')), C.make('hangup', hangup_cause=21))
