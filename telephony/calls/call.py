"""A Call is a leg as applications see it: its control queue, recording, DTMF and bridge.

Applications (the demo services, later IVR menus and the REST call API) use
`run()` to enqueue controls and `next_digit()` to wait for keys; everything
they do goes through the ControlQueue.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..ids import new_uuid
from .controls import Control, ControlQueue
from .leg import HANGUP, Leg

if TYPE_CHECKING:
    from .manager import CallManager

log = logging.getLogger('telephony.calls')
_ABSENT = object()
_BLANK_WHEN_ABSENT = ('current_control_id', 'bridge', 'last_control_error')   # "" in events, absent in GET


def _ended_state(leg: Leg) -> None:
    pass


def _ended_dtmf(leg: Leg, digit: str, ms: int) -> None:
    pass


def _stream_silence(leg: Leg) -> None:
    """From the ACK of an answered call to its hangup the peer gets a stream: silence when
    nothing plays, none on hold. Not before the ACK: a flood of INVITEs whose ACKs never
    come must not make us stream to each of them for the 32 s we wait."""
    if leg.endpoint is not None:
        leg.endpoint.transmit_silence = True


class Call:
    def __init__(self, manager: 'CallManager', leg: Leg, owner: str | None = None,
                 api: bool = False, from_: str = '', to: str = '', clip: str | None = None,
                 clir: bool = False):
        self.manager = manager
        self.leg = leg
        self.id = leg.id
        self.owner = owner          # the user whose objects (recordings) this call makes
        self.api = api              # driven through the owner's call API: events, GET /api/call
        self.trunk: str | None = None   # inbound: the trunk its source address or credential is
        self.queue = ControlQueue(self)
        self.create_time = time.time()
        # The GET /api/call view (§3.24); `update()` emits only what changed.
        self.info: dict = {'incoming': leg.incoming, 'to': to, 'from': from_, 'clir': clir,
                           'status': leg.state, 'create_time': int(self.create_time),
                           'record_on': False}
        if clip:
            self.info['clip'] = clip
        self.dtmf_enabled = False
        self.keys = 0               # DTMF keys received (logged as a count, never as digits)
        self.digits: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self.bridged_with: Call | None = None
        self.in_conference: Callable[[], None] | None = None   # leaves the `conference` control's room
        self.hangup_both = True
        self.recording_path: Path | None = None
        self._recorder = None       # the endpoint's WavRecorder of the running recording
        self.record_finished: asyncio.Future | None = None   # the last one's file is complete
        self.recordings: list[Path] = []
        self._record_timer: asyncio.TimerHandle | None = None
        self.record_begun: asyncio.Task | None = None   # the recording object being created
        self.record_stored: asyncio.Task | None = None  # ... and the last one being stored
        self.ended = asyncio.get_running_loop().create_future()
        self.listeners: list[Callable[[str, dict], None]] = []
        leg.on_state = self._on_leg_state
        leg.on_dtmf = self._on_dtmf
        leg.on_confirmed = _stream_silence

    @property
    def from_trunk(self) -> bool:
        """Inbound from a trunk's address or credential (never decided by From, Contact or PAI)."""
        return self.trunk is not None

    # --- what applications use ----------------------------------------------------
    async def run(self, *controls: Control, queue: str = 'append') -> bool:
        """Enqueue controls and wait until the last one has finished (False if skipped)."""
        self.queue.enqueue(list(controls), queue)
        return await controls[-1].done

    async def next_digit(self, timeout: float | None = None) -> str | None:
        """The next DTMF key, or None on timeout or hangup."""
        get = asyncio.ensure_future(self.digits.get())
        done, _ = await asyncio.wait({get, self.ended}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            return get.result()[0]
        get.cancel()
        return None

    async def until_digit(self, key: str, timeout: float) -> None:
        """Wait until `key` is pressed, `timeout` seconds pass or the call ends (what ends
        a recorded message)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.leg.ended:
            digit = await self.next_digit(timeout=max(0.0, deadline - loop.time()))
            if digit is None or digit == key:
                return

    # --- state and events -------------------------------------------------------------
    def emit(self, kind: str, fields: dict) -> None:
        self.manager.publish(self, kind, fields)
        for listener in list(self.listeners):
            try:
                listener(kind, fields)
            except Exception:
                log.exception('event=listener-error call=%s', self.id)

    def update(self, **fields) -> None:
        """Change the call view; a call_update event carries only the fields that changed."""
        changed = {k: v for k, v in fields.items()
                   if self.info.get(k, '' if k in _BLANK_WHEN_ABSENT else _ABSENT) != v}
        if not changed:
            return
        for k, v in changed.items():
            if v == '' and k in _BLANK_WHEN_ABSENT:
                self.info.pop(k, None)   # absent in GET, "" in the event
            else:
                self.info[k] = v
        self.emit('call_update', changed)

    def control_changed(self) -> None:
        cur = self.queue.current
        fields = {'current_control_id': cur.id if cur else ''}
        if self.queue.last_id is not None:
            fields['last_control_id'] = self.queue.last_id
        # ours: why the last control did nothing (a `conference` refused when it ran), else ""
        fields['last_control_error'] = self.queue.last_error or ''
        self.update(**fields)

    def _on_leg_state(self, leg: Leg) -> None:
        fields: dict = {'status': leg.state}
        if leg.state == 'answered':
            fields['answer_time'] = int(time.time())
        elif leg.state == HANGUP:
            fields['hangup_time'] = int(time.time())
            fields['hangup_cause'] = leg.hangup_cause or 16
        self.update(**fields)
        if leg.state == HANGUP:
            self._on_hangup()

    def set_dtmf_collect(self, enable: bool) -> None:
        self.dtmf_enabled = enable
        ep, neg = self.leg.endpoint, self.leg.negotiated
        if ep is not None:
            # Goertzel costs a decode per frame: only for peers without telephone-event
            ep.inband_dtmf = enable and neg is not None and neg.dtmf_pt is None

    def _on_dtmf(self, leg: Leg, digit: str, ms: int) -> None:
        # keys may be a PIN, passcode or unlock code: counted at INFO, the digit itself only
        # at DEBUG and only for the call API's dtmf_collect (its client sees it anyway)
        self.keys += 1
        log.info('event=dtmf call=%s n=%d duration=%s', self.id, self.keys, ms)
        if self.api and self.dtmf_enabled:
            log.debug('event=dtmf-digit call=%s digit=%s', self.id, digit)
        partner = self.bridged_with
        if partner is not None and partner.leg.endpoint is not None:
            partner.leg.endpoint.send_dtmf(digit, max(ms, 50))  # keys reach the other side
        if self.dtmf_enabled:
            self.digits.put_nowait((digit, ms))
            self.emit('call_dtmf', {'digit': digit, 'duration': ms})

    def _on_hangup(self) -> None:
        self.record_stop()
        self.queue.cancel_all()
        # the leg no longer reports to us: without this cycle (Leg -> Call -> Leg) an ended
        # call is freed by reference counting, not at the cyclic GC's next full pass
        self.leg.on_state, self.leg.on_dtmf = _ended_state, _ended_dtmf
        partner = self.bridged_with
        if partner is not None:
            self.split()
            if self.hangup_both:
                partner.leg.hangup(self.leg.hangup_cause or 16)
        if not self.ended.done():
            self.ended.set_result(self.leg.hangup_cause)
        self.manager.forget(self)
        # listeners are often closures over this call (Call -> listener -> Call): they have
        # had the hangup; later updates (a stored recording) go out as events only
        self.listeners.clear()

    # --- recording ----------------------------------------------------------------------
    def record_start(self, path: str | None, limit: int) -> None:
        ep = self.leg.endpoint
        if ep is None or self.recording_path is not None:
            return
        self.recording_path = Path(path) if path else self.manager.recording_path(new_uuid())
        self._recorder = ep.start_recording(str(self.recording_path))
        self._record_timer = asyncio.get_running_loop().call_later(limit, self.record_stop)
        self.update(record_on=True)
        self.manager.begin_recording(self, self.recording_path)

    def record_stop(self, discard: bool = False) -> Path | None:
        path, self.recording_path = self.recording_path, None
        rec, self._recorder = self._recorder, None
        if self._record_timer:
            self._record_timer.cancel()
            self._record_timer = None
        if path is None or self.leg.endpoint is None:
            return None
        # (a hangup has closed the endpoint, and with it the recording, already)
        duration = self.leg.endpoint.stop_recording(discard=discard)
        if rec is not None and not discard:
            duration = rec.duration or 0.0
        self.update(record_on=False)
        # the recorder thread finishes (or deletes) the file: storing it waits for that
        ready = self.record_finished = rec.finished if rec is not None else None
        self.manager.keep_recording(self, path, discard=discard, ready=ready)
        if discard:
            return None
        self.recordings.append(path)
        log.info('event=recording call=%s path=%s duration=%.2f', self.id, path, duration or 0)
        return path

    # --- bridging ---------------------------------------------------------------------------
    def bridge(self, other_id: str, hangup_both: bool = True) -> None:
        other = self.manager.calls.get(other_id)
        if other is None or other.leg.endpoint is None or self.leg.endpoint is None:
            return
        self.split()
        other.leave_conference()   # neither end stays a room's member
        self.leg.endpoint.bridge(other.leg.endpoint)
        self.bridged_with, other.bridged_with = other, self
        self.hangup_both = other.hangup_both = hangup_both
        self.update(bridge=other.id)
        other.update(bridge=self.id)

    # --- a conference room (the `conference` control, our extension of §3.24) --------------
    async def join_conference(self, conference) -> str | None:
        """Into `conference`'s room (apps.conference_enter) until the call ends or a
        `split`, `bridge` or another `conference` control takes it out. Returns once it is
        in (None) or refused (the Q-loud status: the conference was trashed or deactivated
        since the control was queued)."""
        self.split()   # a member is never bridged (the mixer's rule); leaves a room it is in
        leave, checked = self.manager.apps.conference_enter(self, conference)
        self.in_conference = leave
        refused = await checked
        if refused is not None and self.in_conference is leave:
            self.in_conference = None     # in no room: a `split` is illegal-state again
        return refused

    def leave_conference(self) -> None:
        leave, self.in_conference = self.in_conference, None
        if leave is not None:
            leave()   # out of the room at once: a bridge may follow

    def split(self) -> None:
        self.leave_conference()
        other = self.bridged_with
        if other is None:
            return
        if self.leg.endpoint is not None:
            self.leg.endpoint.unbridge()
        self.bridged_with = other.bridged_with = None
        self.update(bridge='')
        other.update(bridge='')
