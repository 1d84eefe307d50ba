"""The control queue: the one path by which anything drives a call (Q-loud §3.24).

Controls run one after another. Media controls end when the clock-driven
source runs dry, `dtmf_send` when its last packet is on the wire, `sleep` (and
`silence` before the call has media) on a loop timer, the rest end at once.
`break` stops the running control within one media frame: it clears the source,
and the next tick sends the next control's audio.  Files are read and prompts
encoded in a worker thread, never on the loop that runs every call's audio.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..media.sources import Mixed, Player, Silence, ToneSource

if TYPE_CHECKING:
    from .call import Call

log = logging.getLogger('telephony.calls')

CONTROLS = {'ring', 'progress', 'answer', 'hangup', 'bridge', 'split', 'sleep', 'silence', 'tone',
            'play', 'record_start', 'record_stop', 'dtmf_collect', 'dtmf_send', 'echo',
            'conference'}   # ours: the leg into a conference room (api/qloud/call.py)


@dataclass
class Control:
    control: str
    id: str = ''
    params: dict[str, Any] = field(default_factory=dict)
    done: asyncio.Future | None = None   # resolved when the control has finished
    error: str | None = None   # the Q-loud status when it could not do its part (`conference`)

    @classmethod
    def make(cls, control: str, id: str = '', **params) -> 'Control':
        return cls(control, id, params)


class ControlQueue:
    def __init__(self, call: 'Call'):
        self._call: Call | None = call
        self._ended_call: weakref.ref | None = None    # once the call ended: see cancel_all()
        self._call_id = call.id
        self.pending: deque[Control] = deque()
        self.current: Control | None = None
        self.last_id: str | None = None
        self.last_error: str | None = None   # the last finished control's `error`
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None   # holds the running ring/answer task alive
        self._dtmf: asyncio.Future | None = None   # the running dtmf_send's digits

    @property
    def call(self) -> Call | None:
        return self._call if self._call is not None else self._ended_call()

    def enqueue(self, controls: list[Control], queue: str = 'append') -> None:
        loop = asyncio.get_running_loop()
        for c in controls:
            if c.done is None:
                c.done = loop.create_future()
        if queue in ('clear', 'break'):
            for c in self.pending:
                _resolve(c, False)
            self.pending.clear()
        self.pending.extend(controls)
        if queue == 'break' and self.current is not None:
            self._interrupt()
        if self.current is None:
            self._next()

    def cancel_all(self) -> None:
        """The call ended: nothing left runs, and the queue stops keeping the call alive.
        The call holds its queue; with both references strong, every ended call (its leg,
        endpoint and buffers) waited for the cyclic GC's next full pass (issue 8)."""
        for c in self.pending:
            _resolve(c, False)
        self.pending.clear()
        if self.current is not None:
            self._interrupt(advance=False)
        if self._call is not None:
            self._ended_call, self._call = weakref.ref(self._call), None

    def _interrupt(self, advance: bool = True) -> None:
        ctl = self.current
        if self._timer:
            self._timer.cancel()
            self._timer = None
        # a ring/progress/answer in flight is left to finish: half an answer is worse
        ep = self.call.leg.endpoint
        if ep is not None and ctl.control in ('silence', 'tone', 'play'):
            ep.source = None
        if ep is not None and ctl.control == 'echo':
            ep.echo = False
        if ctl.control == 'dtmf_send' and self._dtmf is not None:
            self._dtmf.cancel()     # the digit on the wire ends properly, no further ones
        self._finish(ctl, advance)

    def _next(self) -> None:
        while self.pending and self.current is None:
            ctl = self.pending.popleft()
            if self.call.leg.ended and ctl.control != 'hangup':
                _resolve(ctl, False)
                continue
            self.current = ctl
            self.call.control_changed()
            try:
                self._start(ctl)
            except Exception:
                log.exception('event=control-error call=%s control=%s', self.call.id, ctl.control)
                self._finish(ctl)

    def _finish(self, ctl: Control, advance: bool = True) -> None:
        if self.current is not ctl:
            return
        self.current = None
        self._timer = self._task = self._dtmf = None
        if ctl.id:
            self.last_id = ctl.id
        self.last_error = ctl.error
        _resolve(ctl, True)
        self.call.control_changed()
        if advance:
            self._next()

    def _start(self, ctl: Control) -> None:
        call, p, name = self.call, ctl.params, ctl.control
        leg = call.leg
        if name in ('ring', 'progress', 'answer'):
            return self._await(ctl, getattr(leg, name)())
        if name == 'hangup':
            if call.bridged_with is not None and call.hangup_both:
                call.bridged_with.leg.hangup(p.get('hangup_cause', 16))
            leg.hangup(p.get('hangup_cause', 16))
            return self._finish(ctl)
        ep = leg.endpoint
        if name == 'sleep' or (name == 'silence' and (ep is None or leg.state not in
                                                       ('progress', 'answered'))):
            # before answer (Q-loud §3.24's own ring, silence, answer) silence sends nothing
            self._timer = asyncio.get_running_loop().call_later(
                p['duration'] / 1000, self._finish, ctl)
            return
        if name in ('silence', 'tone', 'play', 'echo'):
            if ep is None:
                return self._finish(ctl)
            if name == 'echo':
                ep.echo = True  # runs until break or hangup
                return
            if name == 'silence':
                source = Silence(p['duration'])
            elif name == 'tone':
                source = ToneSource([p.get('frequency', 425)], p.get('duration', 1000),
                                    p.get('interval', 0), p.get('loop', 1))
            else:
                return self._load_and_play(ctl, ep, p['path'])
            return self._play(ctl, ep, source)
        if name == 'record_start':
            call.record_start(p.get('path'), p.get('limit', 3600))
        elif name == 'record_stop':
            call.record_stop(discard=p.get('discard', False))
            if call.record_finished is not None:   # the file is complete when this ends
                return self._await(ctl, call.record_finished)
        elif name == 'dtmf_collect':
            call.set_dtmf_collect(p.get('enable', True))
        elif name == 'dtmf_send' and ep is not None:
            # ends when the last digit, end packets included, is on the wire: a hangup or
            # a prompt queued after it waits for the digits
            self._dtmf = ep.send_dtmf(p['digits'], p.get('duration', 100))
            return self._await(ctl, self._dtmf)
        elif name == 'bridge':
            call.bridge(p['call'], p.get('hangup_both', True))
        elif name == 'split':
            call.split()
        elif name == 'conference':    # ends once the call is in the room, or refused
            return self._await(ctl, self._conference(ctl, p['conference']))
        self._finish(ctl)

    async def _conference(self, ctl: Control, conference) -> None:
        ctl.error = await self.call.join_conference(conference)

    def _play(self, ctl: Control, ep, source) -> None:
        ep.on_source_done = lambda s, c=ctl: self._finish(c) if s is source else None
        ep.source = source

    def _load_and_play(self, ctl: Control, ep, path: str) -> None:
        """Stat and decode the file (on a cache miss) and encode it for the leg's codec in a
        worker thread; the clock's tick then only slices it."""
        load = self.call.manager.load_audio

        async def run():
            try:
                player = await asyncio.to_thread(lambda: Player(load(path)).prepare(ep.codec))
            except Exception:
                log.exception('event=play-load-error call=%s path=%s', self.call.id, path)
                return self._finish(ctl)
            if self.current is ctl and not ep.closed:   # not broken or hung up meanwhile
                under = ctl.params.get('under_tone')       # a dial plan's ringback `mix`
                self._play(ctl, ep, player if under is None else Mixed(player, ToneSource(**under)))
        self._task = asyncio.get_running_loop().create_task(run())

    def _await(self, ctl: Control, coro) -> None:
        async def run():
            try:
                await coro
            except Exception:
                log.exception('event=control-error call=%s control=%s', self._call_id,
                              ctl.control)
            finally:
                self._finish(ctl)
        self._task = asyncio.get_running_loop().create_task(run())


def _resolve(ctl: Control, ran: bool) -> None:
    if ctl.done is not None and not ctl.done.done():
        ctl.done.set_result(ran)
