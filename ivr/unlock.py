"""Unlocking a reserved number (§3.9): the owner calls it and keys its unlock code."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.prompts import prompt_path
from telephony.store.phones import Phone

if TYPE_CHECKING:
    from telephony.events import EventSink
    from telephony.store.phones import PhoneStore

log = logging.getLogger('telephony.ivr')

UNLOCK_TRIES = 3
DIGIT_TIMEOUT = 10.0


async def read_digits(call: Call, count: int, timeout: float = DIGIT_TIMEOUT) -> str:
    got = ''
    while len(got) < count:
        d = await call.next_digit(timeout)
        if d is None:
            break
        got += d
    return got


async def unlock(call: Call, phone: Phone, phones: 'PhoneStore', events: 'EventSink') -> None:
    await call.run(C.make('answer'), C.make('dtmf_collect', enable=True))
    for _ in range(UNLOCK_TRIES):
        await call.run(C.make('play', path=prompt_path('unlock-enter')))
        code = await read_digits(call, len(phone.unlock_code))
        if call.leg.ended:
            return
        if code == phone.unlock_code:
            phone.unlock_code = None
            await phones.save(phone)
            events.publish(phone.owner, 'phone_modify', {})
            log.info('event=phone-unlocked number=%s', phone.number)
            await call.run(C.make('play', path=prompt_path('unlock-ok')), C.make('hangup'))
            return
        await call.run(C.make('play', path=prompt_path('unlock-wrong')))
    await call.run(C.make('play', path=prompt_path('goodbye')), C.make('hangup', hangup_cause=21))
