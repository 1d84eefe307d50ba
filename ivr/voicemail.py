"""Voice mail: announcement, beep, message (a number's recording_enable, §3.9, and the
dial plan's `record` action).

The message ends at `#`, after `silence` seconds in which the caller says nothing
(webrtcvad through media/vad.py's SpeechDetector; counted from the beep, so a silent
caller ends up with an `empty` recording), at `limit` seconds, or at hangup. The
recording becomes a recording object with the call's `from`/`to` through the call
layer (object_new when it starts, status ok or empty when it is stored).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.media.vad import SpeechDetector
from telephony.prompts import prompt_path

if TYPE_CHECKING:
    from telephony.store.objects import ObjectStore

log = logging.getLogger('telephony.ivr')

MESSAGE_LIMIT = 180     # seconds, unless the caller of voicemail() says otherwise
SILENCE_LIMIT = 5       # seconds


async def voicemail(call: Call, objects: 'ObjectStore', owner: str, announcement: str | None,
                    *, announcement_only: bool = False, limit: float = MESSAGE_LIMIT,
                    silence: float = SILENCE_LIMIT) -> None:
    """Play the owner's announcement (or the default greeting); unless announcement_only,
    beep and record one message."""
    greeting = await objects.playable(owner, announcement) if announcement else None
    await call.run(C.make('answer'), C.make('dtmf_collect', enable=True),
                   C.make('play', path=greeting or prompt_path('voicemail-greeting')))
    if call.leg.ended:
        return
    if announcement_only:
        log.info('event=voicemail-announcement-only call=%s', call.id)
        await call.run(C.make('hangup'))
        return
    await call.run(C.make('tone', frequency=1000, duration=250, loop=1))
    while not call.digits.empty():      # keys pressed during the greeting do not end it
        call.digits.get_nowait()
    await call.run(C.make('record_start', limit=int(limit) + 1))
    reason = await _until_end(call, limit, silence)
    log.info('event=voicemail-end call=%s reason=%s', call.id, reason)
    if call.leg.ended:
        return  # the hangup closed the recording and stored it
    await call.run(C.make('record_stop'), C.make('play', path=prompt_path('goodbye')),
                   C.make('hangup'))


async def _until_end(call: Call, limit: float, silence: float) -> str:
    """Why the message ended: pound, silence, limit or hangup."""
    loop = asyncio.get_running_loop()
    quiet = loop.create_future()
    ep = call.leg.endpoint
    detector = SpeechDetector()
    silence_ms = int(silence * 1000)

    def listen(frame) -> None:
        detector.feed(frame)
        if detector.silent_ms >= silence_ms and not quiet.done():
            quiet.set_result(None)
    if ep is not None:
        ep.add_listener(listen)
    deadline = loop.time() + limit
    try:
        while not call.leg.ended:
            left = deadline - loop.time()
            if left <= 0:
                return 'limit'
            get = asyncio.ensure_future(call.digits.get())
            done, _ = await asyncio.wait({get, quiet, call.ended}, timeout=left,
                                         return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                if get.result()[0] == '#':
                    return 'pound'
                continue
            get.cancel()
            if quiet in done:
                return 'silence'
        return 'hangup'
    finally:
        if ep is not None:
            ep.remove_listener(listen)
