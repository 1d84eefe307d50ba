"""Receiving a fax on a call (§3.9 `fax_enable`, §3.13 incoming reports), and the CNG watch
that turns a voice-mail call into one when a fax machine is calling.

The fax object and its report come from the FaxStore: `new_incoming` (object_new, the report
in `transmit`), then `received` with the T.30 result (the report ends ok or fail with the
phase E code, the fax ok with the pages that arrived, else empty/fail). spandsp writes the
TIFF under a temporary name; it is renamed to the fax's contents when the result is in.

The call's CDR says service `fax`, with `fax_id` and `page_count` (§9.1.4): a hangup ends the
session synchronously (a call_update listener, before the CDR is taken), so the pages are
known when the record is made.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Awaitable, Callable

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.calls.faxswitch import FaxOnCall
from telephony.media.fax.cng import CngWatch
from telephony.media.fax.session import AudioFaxSession, FaxResult

if TYPE_CHECKING:
    from telephony.store.faxes import FaxStore

log = logging.getLogger('telephony.fax')

SERVICE = 'fax'          # the CDR's service (§9.1.4)
MAX_IDENT = 20           # T.30 CSI: at most 20 characters
ANSWERED_SIP = 200       # the reception ran on a call we answered


def csi_of(number: str) -> str:
    """Our called subscriber identification: the number, when T.30 can carry it."""
    return number if len(number) <= MAX_IDENT else ''


async def receive_fax(call: Call, faxes: 'FaxStore', owner: str, *, limit: float,
                      answer: bool = True, t38_request: bool = False) -> FaxResult | None:
    """Answer (unless the call is already up), receive one fax with an AudioFaxSession on
    the call's endpoint, store it, and hang up. None when the call ended before it began.

    The peer's T.38 re-INVITE is taken (the reception goes on over UDPTL).  With
    `t38_request` we ask for T.38 ourselves once the caller's fax is heard: its CNG (at
    once when voice mail heard it already), or else its T.30 negotiation (phase B) when its
    CNG was lost; we ask once, and a refusal (488) leaves the fax on G.711."""
    if answer:
        await call.run(C.make('answer'))
    ep = call.leg.endpoint
    if call.leg.ended or ep is None:
        return None
    caller, number = call.info.get('from') or 'anonymous', call.info.get('to') or ''
    fax, report, contents = await faxes.new_incoming(owner, caller, number)
    call.cdr_service, call.fax_id, call.page_count = SERVICE, fax, 0
    partial = contents.with_name(f'{fax}.rx.tiff')
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[FaxResult] = loop.create_future()

    def on_done(result: FaxResult) -> None:
        if not finished.done():
            call.page_count = result.pages
            finished.set_result(result)

    t38_ask: list[Callable[[], None]] = []

    def on_progress(pages: int) -> None:
        call.page_count = pages
        if pages == 0 and t38_ask:   # the caller's DCS: its fax is heard even without a CNG
            t38_ask[0]()
        log.info('event=fax-rx-progress call=%s fax=%s pages=%d', call.id, fax, pages)

    kw = dict(receive_file=str(partial), calling=False, ident=csi_of(number),
              on_done=on_done, on_progress=on_progress, log_tag=call.id)
    running = FaxOnCall(call.leg, AudioFaxSession(**kw), kw)

    def on_update(kind: str, fields: dict) -> None:
        # a BYE: T.30 stops now, before the CDR is made (complete pages are kept)
        if kind == 'call_update' and fields.get('status') == 'hangup':
            running.hangup()
    call.listeners.append(on_update)
    asking: list[asyncio.Task] = []
    watch: list[CngWatch] = []
    if call.leg.ended:          # the caller left while the fax object was being made
        running.hangup()
    else:
        running.session.attach(ep)
        running.accept()
        log.info('event=fax-rx-start call=%s fax=%s port=%s', call.id, fax, ep.local_port)
        if t38_request:
            def ask() -> None:
                if not asking and not running.session.t38:
                    asking.append(loop.create_task(_ask_t38(call, running)))
            t38_ask.append(ask)
            if answer:
                watch.append(CngWatch(ep, ask))
            else:               # voice mail switched to us on the caller's CNG
                ask()
    try:
        await asyncio.wait_for(asyncio.shield(finished), limit)
    except asyncio.TimeoutError:
        log.info('event=fax-rx-limit call=%s fax=%s limit=%s', call.id, fax, limit)
        running.hangup()
    finally:
        if on_update in call.listeners:
            call.listeners.remove(on_update)
        for w in watch:
            w.close()
        for task in asking:
            task.cancel()
    result = finished.result() if finished.done() else running.session.result
    if result.tiff is not None:
        await asyncio.to_thread(os.replace, partial, contents)
    await faxes.received(fax, report, result.pages, result.x_res, result.y_res,
                         'ok' if result.ok else 'fail', fax_error_code=result.code,
                         sip_status_code=ANSWERED_SIP)
    log.info('event=fax-rx-end call=%s fax=%s code=%d pages=%d t38=%s', call.id, fax,
             result.code, result.pages, 'yes' if result.t38 else 'no')
    if not call.leg.ended:    # a receiver goes on-hook after the sender's DCN
        await call.run(C.make('hangup'))
    return result


async def _ask_t38(call: Call, running: FaxOnCall) -> None:
    """Our T.38 re-INVITE (FreeSWITCH's fax_enable_t38_request): on 488 we stay on G.711."""
    log.info('event=fax-t38-request call=%s', call.id)
    switched = await running.request()
    log.info('event=fax-t38-%s call=%s', 'switched' if switched else 'refused', call.id)


async def voice_or_fax(call: Call, voice: Callable[[Call], Awaitable[None]],
                       fax: Callable[[Call], Awaitable[object]]) -> None:
    """Run the voice application (voice mail) with a CngWatch on the call's audio from the
    answer on. On CNG the voice application stops where it is (its message is discarded)
    and the call goes on as a fax reception."""
    loop = asyncio.get_running_loop()
    heard = loop.create_future()
    watch: list[CngWatch] = []

    def on_update(kind: str, fields: dict) -> None:
        ep = call.leg.endpoint
        if kind == 'call_update' and fields.get('status') == 'answered' and not watch \
                and ep is not None:
            watch.append(CngWatch(ep, lambda: heard.done() or heard.set_result(None)))
            log.info('event=fax-cng-watch call=%s port=%s', call.id, ep.local_port)
    call.listeners.append(on_update)
    task = loop.create_task(voice(call))
    try:
        await asyncio.wait({task, heard, call.ended}, return_when=asyncio.FIRST_COMPLETED)
        if not heard.done() or call.leg.ended:
            await task
            return
        log.info('event=fax-cng-switch call=%s', call.id)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # stop what plays, drop what is queued; the partial message goes
        await call.run(C.make('dtmf_collect', enable=False), queue='break')
        call.record_stop(discard=True)
        await fax(call)
    finally:
        if on_update in call.listeners:
            call.listeners.remove(on_update)
        for w in watch:
            w.close()
