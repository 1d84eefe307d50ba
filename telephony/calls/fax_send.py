"""Sending faxes (Q-loud §3.13 POST …/send): the engine side of FaxStore's FaxSender.

A send becomes a job in a FaxQueue (dialplan/faxqueue.py: at most `at_once` fax calls,
the rest wait in order).  A job's call goes out exactly as POST /api/call/dial's does
(CallManager.dial: the owner's policy with service `fax`, transforms, outbound rules,
credit), so a fax reaches only what its user may call.  On answer an AudioFaxSession
sends the TIFF over the call's audio; the report moves `dial` -> `transmit` (phase B) ->
`ok|fail` (phase E, with `fax_error_code`), and the call is hung up.  A call that ends
unanswered is `error`, or `busy` on 486/600: then it waits `retry_delay` s for its next
dial, at most `retries` times (the queue's waiting jobs share ONE loop timer).

`cancel` hangs up a running call or drops a waiting job; FaxStore then ends the report
`cancel`, and nothing this module learns later about that job is written.
"""
from __future__ import annotations

import asyncio
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..dialplan.faxqueue import FaxQueue
from ..dialplan.router import Denied, NoRoute
from ..logtext import quoted
from ..media.fax.session import AudioFaxSession, FaxResult
from .faxswitch import FaxOnCall
from .leg import ANSWERED
from .outgoing import DialFailed

if TYPE_CHECKING:
    from ..store.faxes import FaxStore
    from .call import Call
    from .manager import CallManager
    from .outgoing import OutgoingRunner

log = logging.getLogger('telephony.fax')

BUSY = (486, 600)        # Busy Here, Busy Everywhere: worth dialling again
NO_ANSWER_CAUSE = 19     # Q.850 no answer from user


async def route_refusal(outgoing: 'OutgoingRunner', number: str) -> str | None:
    """Why no outbound rule (nor our own numbers, nor the settings trunk) reaches `number`,
    or None when something does: a send the dial plan cannot carry is refused up front.
    The words are the user's; which rule it was goes to the log only."""
    outcome = await outgoing.route_number(number)
    if isinstance(outcome, (Denied, NoRoute)):
        log.info('event=fax-no-route to=%s outcome=%s', quoted(number), quoted(outcome))
        return 'no outbound route may carry a fax to this number'
    return None


@dataclass
class _Job:
    report: str
    fax: str
    owner: str
    from_: str
    to: str
    ident: str
    header: str
    tiff: Path
    retried: int = 0                       # busy retries dialled so far
    call: 'Call | None' = None
    session: FaxOnCall | None = None       # the fax on the call: audio, or T.38 after a switch
    cancelled: bool = False
    pages_sent: int = 0                    # pages the far end confirmed so far (the refunds)
    transmit: asyncio.Task | None = None   # the report's move to `transmit`
    redial: asyncio.Task | None = None     # ... back to `dial` for a retry


@dataclass(frozen=True)
class _Outcome:
    status: str                           # the report's next status
    sip_status_code: int | None = None
    fax_error_code: int | None = None
    pages_sent: int | None = None         # None: nothing went out (every page goes back)


class FaxSending:
    """The FaxSender FaxStore hands checked sends to (server.py sets `faxes.sender`)."""

    def __init__(self, manager: 'CallManager', faxes: 'FaxStore', *, at_once: int = 4,
                 queue_max: int = 1000, retries: int = 3, retry_delay: float = 120.0,
                 ring_timeout: float = 60.0, per_user: int = 0,
                 queue_per_user: int = 0) -> None:
        self.manager = manager
        self.faxes = faxes
        self.queue = FaxQueue(at_once, queue_max, owner_at_once=per_user,
                              owner_limit=queue_per_user)
        self.retries = retries
        self.retry_delay = retry_delay
        self.ring_timeout = ring_timeout
        self.jobs: dict[str, _Job] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        self.closed = False

    # --- FaxSender ---------------------------------------------------------------------------
    async def send(self, fax: str, report: str, from_: str, to: str, ident: str, header: str,
                   tiff: Path) -> None:
        if self.closed:
            raise RuntimeError('the server is stopping')
        r = await self.faxes.report(report)
        if r is None:
            raise LookupError(f'no fax report {report}')
        self.queue.submit(report, r.owner)   # QueueFull: the store ends the report `error`
        self.jobs[report] = _Job(report, fax, r.owner, from_, to, ident, header, tiff)
        log.info('event=fax-queued report=%s fax=%s from=%s to=%s', report, fax, from_, quoted(to))
        self._pump()

    async def cancel(self, report: str) -> int | None:
        """Stop a send; the pages it got through (FaxStore refunds the rest)."""
        job = self.jobs.pop(report, None)
        if job is None:
            return None
        job.cancelled = True
        state = self.queue.drop(report)
        self._arm()
        log.info('event=fax-cancel report=%s state=%s', report, state)
        if job.call is not None and not job.call.leg.ended:
            job.call.leg.hangup(cause=16)   # CANCEL while it rings, BYE once answered
        return job.pages_sent

    def close(self) -> None:
        """The server stops: nothing more is dialled or written; what was under way ends
        `error` at the next start (FaxStore.recover)."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # --- the queue and its one timer -------------------------------------------------------------
    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _pump(self) -> None:
        if self.closed:
            return
        for key in self.queue.take():
            self._spawn(self._run(self.jobs[key]))

    def _arm(self) -> None:
        """ONE timer for every waiting retry: at the earliest one's time."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = self.queue.next_due()
        if due is not None and not self.closed:
            self._timer = asyncio.get_running_loop().call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for key in self.queue.due(asyncio.get_running_loop().time()):
            job = self.jobs[key]
            job.retried += 1
            job.redial = asyncio.get_running_loop().create_task(   # queued to dial again
                self._report(job, _Outcome('dial')))
        self._arm()
        self._pump()

    # --- one job ---------------------------------------------------------------------------------
    async def _run(self, job: _Job) -> None:
        outcome = _Outcome('error')
        if job.redial is not None:
            await job.redial               # `dial` again before this attempt's news
            job.redial = job.transmit = None
            job.session = job.call = None
        try:
            outcome = await self._call(job)
        except Exception:      # noqa: BLE001 -- a bug must not lose the report or the line
            log.exception('event=fax-send-error report=%s', job.report)
            if job.call is not None:
                job.call.leg.hangup(cause=41)
        finally:
            self.queue.finished(job.report)
        if job.cancelled or self.closed:
            return self._pump()
        if job.transmit is not None:
            await job.transmit             # `transmit` before the end
        retry = outcome.status == 'busy' and job.retried < self.retries
        await self._report(job, outcome)
        if outcome.status == 'busy':
            log.info('event=fax-busy report=%s dialled=%d retry=%s', job.report, job.retried + 1,
                     'yes' if retry else 'no')
        if retry and not job.cancelled and not self.closed:
            self.queue.wait(job.report, asyncio.get_running_loop().time() + self.retry_delay,
                            job.owner)
            self._arm()
        elif not job.cancelled:
            self.jobs.pop(job.report, None)
        self._pump()

    async def _call(self, job: _Job) -> _Outcome:
        if job.cancelled:                  # while its retry's `dial` was being written
            return _Outcome('cancel')
        try:
            call = await self.manager.dial(job.owner, job.from_, job.to, None, False, api=False,
                                           service='fax')
        except DialFailed as exc:      # no SIP response: nothing went out
            log.info('event=fax-dial-failed report=%s reason=%s', job.report, quoted(exc.reason))
            return _Outcome('error')
        job.call = call
        call.cdr_service, call.fax_id, call.page_count = 'fax', job.fax, 0   # §9.1.4
        if job.cancelled:
            call.leg.hangup(cause=16)
            return _Outcome('cancel')
        loop = asyncio.get_running_loop()
        done: asyncio.Future[FaxResult | None] = loop.create_future()
        ring = loop.call_later(self.ring_timeout, self._no_answer, call)

        def on_update(kind: str, fields: dict) -> None:
            if kind == 'call_update' and fields.get('status') == ANSWERED:
                ring.cancel()
                self._attach(job, call, done)
        call.listeners.append(on_update)
        if call.leg.state == ANSWERED:
            on_update('call_update', {'status': ANSWERED})
        try:
            await asyncio.wait({call.ended, done}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ring.cancel()
        if not done.done() and job.session is not None:
            job.session.hangup()           # the far end hung up: phase E says how far it got
        if not call.leg.ended:
            call.leg.hangup(cause=16)      # the fax is done: so is the call
        if job.session is None:
            # the far end's final answer; none when we gave up first (no answer in time)
            final = None if call.leg.ended_here else call.leg.final_status
            if final in BUSY:
                return _Outcome('busy', final)
            return _Outcome('error', final if final is not None and final >= 300 else None)
        result = done.result() if done.done() else None
        if result is None:
            return _Outcome('error', 200, pages_sent=job.pages_sent)
        log.info('event=fax-sent report=%s code=%d pages=%d text=%s', job.report, result.code,
                 result.pages, quoted(result.text))
        return _Outcome('ok' if result.ok else 'fail', 200, result.code, result.pages)

    def _no_answer(self, call: 'Call') -> None:
        if call.leg.state != ANSWERED and not call.leg.ended:
            log.info('event=fax-no-answer call=%s after=%ss', call.id, self.ring_timeout)
            call.leg.hangup(cause=NO_ANSWER_CAUSE)

    def _attach(self, job: _Job, call: 'Call', done: asyncio.Future) -> None:
        """The call is answered: T.30 over its audio, the fax as the calling terminal."""
        ep = call.leg.endpoint
        if job.session is not None or done.done():
            return
        if ep is None:
            done.set_result(None)
            return

        def on_done(result: FaxResult) -> None:
            if not done.done():
                call.page_count = result.pages
                done.set_result(result)

        def on_progress(pages: int) -> None:
            call.page_count = job.pages_sent = pages
            if pages == 0 and job.transmit is None and not job.cancelled:
                job.transmit = asyncio.get_running_loop().create_task(
                    self._report(job, _Outcome('transmit')))
        try:
            kw = dict(send_file=str(job.tiff), ident=job.ident, header=printable(job.header),
                      on_done=on_done, on_progress=on_progress, log_tag=call.id)
            job.session = FaxOnCall(call.leg, AudioFaxSession(**kw), kw)
            job.session.session.attach(ep)
            job.session.accept()           # the far end may switch the call to T.38
        except Exception:      # noqa: BLE001 -- spandsp refused the job: an internal error
            log.exception('event=fax-session-failed report=%s', job.report)
            job.session = None
            done.set_result(None)

    async def _report(self, job: _Job, outcome: _Outcome) -> None:
        if job.cancelled or self.closed:
            return
        try:
            await self.faxes.report_update(job.report, outcome.status,
                                           sip_status_code=outcome.sip_status_code,
                                           fax_error_code=outcome.fax_error_code,
                                           pages_sent=outcome.pages_sent)
        except Exception:      # noqa: BLE001 -- the call goes on; the log says what was lost
            log.exception('event=fax-report-failed report=%s status=%s', job.report,
                          outcome.status)


def printable(header: str) -> str:
    """The header line as spandsp prints it: printable ASCII only (the API takes any text,
    `^.{0,40}$`). An accented letter loses its accent (Müller: Muller), anything else is `?`."""
    def plain(c: str) -> str:
        base = unicodedata.normalize('NFKD', c).encode('ascii', 'ignore').decode()
        return base if base and all(' ' <= b <= '~' for b in base) else '?'
    return ''.join(plain(c) for c in header)
