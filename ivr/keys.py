"""Prompts a key breaks, and waits for a key: what the IVR menu and the PIN entry share.

`on_digit(digit)` is the state machine's answer to a key: actions, or none when the key does
nothing (then the prompt plays on, the wait goes on to the same deadline)."""
from __future__ import annotations

import asyncio
from typing import Callable

from telephony.calls.call import Call
from telephony.calls.controls import Control as C


async def digit_or(call: Call, done: 'asyncio.Future | None', timeout: float | None):
    """The next digit; or None when `done` resolves, the timeout passes or the call ends."""
    get = asyncio.ensure_future(call.digits.get())
    waits = {get, call.ended} | ({done} if done is not None else set())
    finished, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if get in finished:
        return get.result()[0]
    get.cancel()
    return None


async def play_until_key(call: Call, path: str, on_digit: Callable[[str], list]) -> list | None:
    """Play `path` until it ends (None) or a key with actions breaks it (the actions)."""
    ctl = C.make('play', path=path)
    call.queue.enqueue([ctl])
    while not call.leg.ended:
        digit = await digit_or(call, ctl.done, None)
        if digit is None:
            return None
        actions = on_digit(digit)
        if actions:
            call.queue.enqueue([], 'break')     # stop the prompt within a frame
            return actions
    return None


async def wait_for_key(call: Call, seconds: float, on_digit: Callable[[str], list]) -> list | None:
    """Wait up to `seconds` for a key with actions (the actions); None when the time ran out
    or the call ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        digit = await digit_or(call, None, max(0.0, deadline - loop.time()))
        if digit is None or call.leg.ended:
            return None
        actions = on_digit(digit)
        if actions:
            return actions
