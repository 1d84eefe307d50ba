"""The call manager: takes new INVITEs, decides who may make them, and starts an application.

Routing for now is the demo dial plan plus registered accounts; the dial plan
rules of later issues replace `route()`.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable

from ..media.audiofile import load_audio
from ..sip.message import Request
from ..sip.transaction import Peer, ServerTransaction
from ..sip.uri import parse_uri
from .call import Call
from .controls import Control
from .leg import ANSWERED, HANGUP, PROGRESS, RINGING, Leg

if TYPE_CHECKING:
    from ..server import Server

log = logging.getLogger('telephony.calls')

App = Callable[[Call], Awaitable[None]]


class CallManager:
    def __init__(self, server: 'Server', apps: dict[str, App]):
        self.server = server
        self.stack = server.stack
        self.apps = apps
        self.calls: dict[str, Call] = {}
        self.recordings_dir = server.data_dir / 'recordings'
        self.recordings_dir.mkdir(parents=True, exist_ok=True)

    # --- resources applications use ------------------------------------------------------
    def load_audio(self, path: str):
        return load_audio(path)

    def recording_path(self, name: str) -> Path:
        return self.recordings_dir / f'{name}.wav'

    def forget(self, call: Call) -> None:
        self.calls.pop(call.id, None)

    def _track(self, leg: Leg) -> Call:
        call = Call(self, leg)
        self.calls[call.id] = call
        return call

    # --- inbound ------------------------------------------------------------------------------
    async def on_invite(self, req: Request, txn: ServerTransaction, peer: Peer) -> None:
        target = (req.uri.user or '').lower()
        app = self.apps.get(target)
        caller = None
        if app is None:
            # Everything beyond the demo services needs a known caller: no open relay.
            outcome = await self.server.auth.check(req, peer)
            if outcome.response is not None:
                return self.stack.respond(txn, outcome.response)
            caller = outcome.user
        leg = Leg.inbound(self.stack, req, txn, peer)
        call = self._track(leg)
        log.info('event=invite call=%s from=%s to=%s caller=%s', call.id, req.from_.uri, req.uri,
                 caller or '-')
        if app is not None:
            return self._start(call, app)
        bindings = self.server.registrar.lookup(self.server.aor(target), self.stack.now())
        if not bindings:
            known = await self.server.db_account(target)
            leg.hangup(cause=20 if known else 1)  # 480 subscriber absent / 404 unallocated
            return
        self._start(call, lambda c: self.forward(c, bindings, caller))

    def _start(self, call: Call, app: App) -> None:
        async def run():
            try:
                await app(call)
            except Exception:
                log.exception('event=app-error call=%s', call.id)
                call.leg.hangup(cause=41)
        asyncio.get_running_loop().create_task(run())

    # --- forwarding to registered contacts (B2BUA) ------------------------------------------------
    async def forward(self, inbound: Call, bindings, caller: str | None) -> None:
        """Ring every contact of the account at once; the first to answer gets the call."""
        server = self.server
        from_uri = f'sip:{caller or inbound.leg.caller or "anonymous"}@{server.settings.domain}'
        display = inbound.leg.invite.from_.display
        outs: list[Call] = []
        answered: asyncio.Future[Call] = asyncio.get_running_loop().create_future()

        def on_out(kind: str, fields: dict, c: Call) -> None:
            status = fields.get('status')
            if status in (RINGING, PROGRESS) and inbound.leg.state not in (RINGING, ANSWERED, HANGUP):
                asyncio.ensure_future(inbound.leg.ring())
            elif status == ANSWERED and not answered.done():
                answered.set_result(c)
            elif status == HANGUP and not answered.done() and all(o.leg.ended for o in outs):
                answered.set_result(None)

        for b in bindings:
            leg = await Leg.outbound(self.stack, parse_uri(b.contact), b.peer, from_uri, display)
            out = self._track(leg)
            out.listeners.append(lambda k, f, c=out: on_out(k, f, c))
            outs.append(out)
        done, _ = await asyncio.wait({answered, inbound.ended}, return_when=asyncio.FIRST_COMPLETED)
        winner = answered.result() if answered in done else None
        for o in outs:
            if o is not winner:
                o.leg.hangup(cause=26 if winner else 16)  # 26: answered elsewhere
        if winner is None:
            if not inbound.leg.ended:
                causes = [o.leg.hangup_cause for o in outs if o.leg.hangup_cause]
                inbound.leg.hangup(cause=causes[0] if causes else 19)
            return
        await inbound.run(Control.make('answer'))
        if inbound.leg.ended:
            winner.leg.hangup()
            return
        await inbound.run(Control.make('bridge', call=winner.id, hangup_both=True))

