"""The demo dial plan `make run` serves, so a newcomer can call something at once.

Each service is a small program over the control queue, the same path the
REST call API and IVR menus use.
"""
from __future__ import annotations

import logging

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.prompts import prompt_path

log = logging.getLogger('telephony.ivr')
RECORD_LIMIT = 30  # seconds


async def echo(call: Call) -> None:
    await call.run(C.make('answer'), C.make('echo'))


async def hello(call: Call) -> None:
    await call.run(C.make('answer'), C.make('play', path=prompt_path('hello')), C.make('hangup'))


async def record(call: Call) -> None:
    """Record until # or 30 s, then play the recording back."""
    await call.run(C.make('answer'), C.make('play', path=prompt_path('record')),
                   C.make('tone', frequency=1000, duration=250, loop=1),
                   C.make('dtmf_collect', enable=True),
                   C.make('record_start', limit=RECORD_LIMIT))
    await call.until_digit('#', RECORD_LIMIT)
    if call.leg.ended:
        return  # the hangup already closed the recording
    await call.run(C.make('record_stop'))
    if call.recordings:
        await call.run(C.make('play', path=str(call.recordings[-1])))
    await call.run(C.make('play', path=prompt_path('goodbye')), C.make('hangup'))


DIGIT_PROMPTS = {'*': 'star', '#': 'pound'}


async def dtmf(call: Call) -> None:
    """Speak back each key pressed; hang up after a minute of silence."""
    await call.run(C.make('answer'), C.make('dtmf_collect', enable=True),
                   C.make('play', path=prompt_path('dtmf')))
    while not call.leg.ended:
        digit = await call.next_digit(timeout=60)
        if digit is None:
            break
        # the one place a key is logged at INFO: this service says it back anyway
        log.info('event=dtmf-demo call=%s digit=%s', call.id, digit)
        name = DIGIT_PROMPTS.get(digit, digit)
        call.queue.enqueue([C.make('play', path=prompt_path(f'digit-{name.lower()}'))])
    if not call.leg.ended:
        await call.run(C.make('play', path=prompt_path('goodbye')), C.make('hangup'))


APPS = {'echo': echo, 'hello': hello, 'record': record, 'dtmf': dtmf}
