"""Voice mail for a number with recording_enable (§3.9): announcement, tone, message."""
from __future__ import annotations

from typing import TYPE_CHECKING

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.prompts import prompt_path
from telephony.store.phones import Phone

if TYPE_CHECKING:
    from telephony.store.objects import ObjectStore

MESSAGE_LIMIT = 180  # seconds


async def voicemail(call: Call, phone: Phone, objects: 'ObjectStore') -> None:
    greeting = None
    if phone.announcement:
        greeting = await objects.playable(phone.owner, phone.announcement)
    await call.run(C.make('answer'), C.make('dtmf_collect', enable=True),
                   C.make('play', path=greeting or prompt_path('voicemail-greeting')))
    if phone.play_announcement_only:
        await call.run(C.make('hangup'))
        return
    await call.run(C.make('tone', frequency=1000, duration=250, loop=1),
                   C.make('record_start', limit=MESSAGE_LIMIT))
    await call.until_digit('#', MESSAGE_LIMIT)
    if call.leg.ended:
        return  # the hangup closed the recording and stored it
    await call.run(C.make('record_stop'), C.make('play', path=prompt_path('goodbye')),
                   C.make('hangup'))
