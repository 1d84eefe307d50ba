"""The IVR menu program: ivr/menu.py's state machine carried out over a call's control
queue (`play`, `dtmf_collect`, `hangup`; a digit breaks the running prompt)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.prompts import prompt_path

from .keys import play_until_key, wait_for_key
from .menu import (DONE, AnnouncementDone, Digit, Goodbye, Goto, Hangup, Loaded, Menu, MenuSession,
                   Play, Redirect, TimedOut, Wait)

if TYPE_CHECKING:
    from telephony.store.objects import ObjectStore

log = logging.getLogger('telephony.ivr')


@dataclass
class MenuRuntime:
    """What the program needs besides the call."""
    load: Callable[[str], Awaitable[dict | None]]          # IvrStore.get
    objects: 'ObjectStore'
    redirect: Callable[[Call, str], Awaitable[None]]
    max_repeats: int = 3
    max_hops: int = 20
    default_timeout: float = 10.0
    # told the hops so far before a redirect, which may start another menu on this call
    save_hops: Callable[[Call, int], None] = lambda call, hops: None


async def _menu(rt: MenuRuntime, uuid: str, owner: str) -> Menu | None:
    """The owner's menu, or None (deleted meanwhile, or someone else's)."""
    d = await rt.load(uuid)
    if d is None or d.get('owner') != owner:
        return None
    return Menu.from_json(d['uuid'], d)


async def run_menu(call: Call, first: str, owner: str, rt: MenuRuntime, hops: int = 0) -> None:
    """Walk the owner's menus from `first` until a redirect, goodbye or hangup; `hops` are
    those an earlier menu on this call made (it redirected to this IVR's number)."""
    session = MenuSession(rt.max_repeats, rt.max_hops, rt.default_timeout, hops=hops)
    await call.run(C.make('answer'), C.make('dtmf_collect', enable=True))
    menu = await _menu(rt, first, owner)
    if menu is None:
        log.warning('event=ivr-missing call=%s ivr=%s', call.id, first)
        await _goodbye(call)
        return
    log.info('event=ivr-menu call=%s ivr=%s', call.id, menu.uuid)
    pending = list(session.start(menu))
    while pending and not call.leg.ended:
        action = pending.pop(0)
        if isinstance(action, Play):
            pending += await _play(call, session, owner, action.announcement, rt)
        elif isinstance(action, Wait):
            pending += await _wait(call, session, action.seconds)
        elif isinstance(action, Goto):
            menu = await _menu(rt, action.uuid, owner)
            if menu is not None:
                log.info('event=ivr-menu call=%s ivr=%s', call.id, menu.uuid)
            pending += session.feed(Loaded(menu))
        elif isinstance(action, Redirect):
            log.info('event=ivr-redirect call=%s ivr=%s number=%s', call.id, session.menu.uuid,
                     action.number)
            rt.save_hops(call, session.hops)
            await rt.redirect(call, action.number)
        elif isinstance(action, Goodbye):
            log.info('event=ivr-goodbye call=%s ivr=%s reason=%s', call.id, session.menu.uuid
                     if session.menu else first, action.reason)
            await _goodbye(call)
        elif isinstance(action, Hangup):
            log.info('event=ivr-hangup call=%s ivr=%s reason=%s', call.id, session.menu.uuid,
                     action.reason)
            await call.run(C.make('hangup'))
    if not call.leg.ended and session.state != DONE:   # a bug must not hold the caller
        log.error('event=ivr-stuck call=%s state=%s', call.id, session.state)
        await _goodbye(call)


async def _wait(call: Call, session: MenuSession, seconds: float) -> list:
    """Wait for a digit that does something, or the timeout."""
    actions = await wait_for_key(call, seconds, lambda d: _key(call, session, d))
    if call.leg.ended:
        return []
    return session.feed(TimedOut()) if actions is None else actions


async def _play(call: Call, session: MenuSession, owner: str, announcement: str,
                rt: MenuRuntime) -> list:
    """Play an announcement until it ends or a digit that does something breaks it."""
    path = await rt.objects.playable(owner, announcement)
    if path is None:
        log.warning('event=ivr-announcement-missing call=%s announcement=%s', call.id,
                    announcement)
        return session.feed(AnnouncementDone())
    actions = await play_until_key(call, path, lambda d: _key(call, session, d))
    if actions is None:
        return [] if call.leg.ended else session.feed(AnnouncementDone())
    return actions


def _key(call: Call, session: MenuSession, digit: str) -> list:
    log.info('event=ivr-digit call=%s ivr=%s digit=%s state=%s', call.id, session.menu.uuid,
             digit, session.state)
    return session.feed(Digit(digit))


async def _goodbye(call: Call) -> None:
    await call.run(C.make('play', path=prompt_path('goodbye')), C.make('hangup'))
