"""The SIP user agent: the asyncio shell around the sans-IO codec and transactions.

It parses what the transport hands it, answers what needs no application
(OPTIONS, REGISTER, junk, offers with no codec of ours), keeps the dialog table,
and hands new INVITEs to the call manager. Whoever owns a dialog is reached
through the `DialogUser` protocol (dialog.py) only. All transaction timers share
one loop timer handle. Every message in and out is logged in full on the
`telephony.sip.trace` logger at DEBUG.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from .. import sdp
from ..logtext import quoted
from .dialog import Dialog, DialogUser
from .message import Request, Response, SipParseError, make_response, parse_message
from .transaction import ClientTransaction, Peer, ServerTransaction, TransactionLayer
from .transport import SipTransport

log = logging.getLogger('telephony.sip')
trace = logging.getLogger('telephony.sip.trace')

ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY, REGISTER'
KNOWN_NOT_ALLOWED = {'SUBSCRIBE', 'PUBLISH', 'MESSAGE', 'REFER', 'PRACK', 'UPDATE'}
SUPPORTED: set[str] = {'path'}  # RFC 3327 (REGISTER); any other Require gets 420


class SipStack:
    def __init__(self, host: str, port: int):
        self.host = host
        self.transport = SipTransport(host, port, self.on_data)
        self.transport.bad_frame_handler = self._on_bad_frame
        self.layer = TransactionLayer()
        self.dialogs: dict[tuple, tuple[Dialog, DialogUser]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Set by the server: REGISTER handling, new INVITEs, and the overload gate.
        self.on_register: Callable[[Request, ServerTransaction, Peer], Awaitable[None]] | None = None
        self.on_invite: Callable[[Request, ServerTransaction, Peer], Awaitable[None]] | None = None
        # Overload gate: returns seconds for Retry-After when a new call must be refused.
        self.shed: Callable[[], int | None] = lambda: None
        self.pending_invites = 0   # new INVITEs still being routed (auth, database, app start)
        self.stats = {'parse_errors': 0, 'dropped': 0, 'shed': 0}

    @property
    def port(self) -> int:
        return self.transport.port

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.transport.start()

    async def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        await self.transport.stop()

    def now(self) -> float:
        return self._loop.time()

    # --- addressing -------------------------------------------------------------
    def via(self, peer: Peer) -> str:
        return f'SIP/2.0/{peer.transport} {self.host}:{self.port};rport'

    def contact(self, peer: Peer, user: str = 'telephony') -> str:
        tp = ';transport=tcp' if peer.transport == 'TCP' else ''
        return f'<sip:{user}@{self.host}:{self.port}{tp}>'

    # --- input --------------------------------------------------------------------
    def on_data(self, data: bytes, peer: Peer) -> None:
        if trace.isEnabledFor(logging.DEBUG):
            _trace('in', data, peer)
        try:
            msg = parse_message(data)
            if isinstance(msg, Request):
                self._stamp_via(msg, peer)
        except SipParseError as exc:
            self.stats['parse_errors'] += 1
            self._answer_bad(exc, peer)
            return
        except Exception:  # the parser must never take the listener down
            self.stats['parse_errors'] += 1
            log.exception('event=parser-crash peer=%s:%s', *peer.addr)
            return
        self.layer.receive(msg, peer, self.now())
        self._pump()

    def _answer_bad(self, exc: SipParseError, peer: Peer) -> None:
        if exc.request is None:
            self.stats['dropped'] += 1
            log.info('event=drop peer=%s:%s transport=%s reason="%s"', peer.addr[0], peer.addr[1],
                     peer.transport, exc.reason)
            return
        status = getattr(exc, 'status', 400)
        log.info('event=bad-request peer=%s:%s status=%s reason="%s"', peer.addr[0], peer.addr[1],
                 status, exc.reason)
        if exc.request.method == 'ACK':
            return  # ACK is never answered
        try:
            resp = make_response(exc.request, status, exc.reason)
        except Exception:
            log.info('event=drop peer=%s:%s reason="unanswerable: %s"', *peer.addr, exc.reason)
            return
        self.send_stateless(resp, peer)

    def _on_bad_frame(self, reason: str, peer: Peer) -> None:
        self.stats['parse_errors'] += 1
        log.info('event=bad-frame peer=%s:%s reason="%s"', peer.addr[0], peer.addr[1], reason)

    @staticmethod
    def _stamp_via(req: Request, peer: Peer) -> None:
        """RFC 3261 §18.2.1 received, RFC 3581 rport: where the request really came from."""
        vias = req.get_all('Via')
        top = req.vias[0]
        changed = False
        if top.host.strip('[]') != peer.addr[0]:
            top.params['received'] = peer.addr[0]
            changed = True
        if 'rport' in top.params:
            top.params['rport'] = str(peer.addr[1])
            changed = True
        if changed:
            req.remove('Via')
            req.add('Via', str(top))
            for v in vias[1:]:
                req.add('Via', v)

    # --- output -------------------------------------------------------------------
    def respond(self, txn: ServerTransaction, resp: Response) -> None:
        txn.respond(resp, self.now())
        self._pump()

    def send_request(self, req: Request, peer: Peer, user: DialogUser | None) -> ClientTransaction:
        txn = self.layer.send_request(req, peer, self.now())
        txn.user = user
        self._pump()
        return txn

    def send_stateless(self, msg, peer: Peer) -> None:
        self.layer.send_stateless(msg, peer)
        self._pump()

    def _pump(self) -> None:
        """Flush the outbox, hand TU events on, re-arm the one timer."""
        layer = self.layer
        tracing = trace.isEnabledFor(logging.DEBUG)
        while layer.outbox or layer.events:
            out, layer.outbox = layer.outbox, []
            for o in out:
                m = o.message
                data = m if isinstance(m, bytes) else m.to_bytes()
                if tracing:
                    _trace('out', data, o.peer)
                self.transport.send(data, o.peer)
            events, layer.events = layer.events, []
            for ev in events:
                try:
                    self._dispatch(ev)
                except Exception:
                    log.exception('event=dispatch-error kind=%s', ev.kind)
        self._arm()

    def _arm(self) -> None:
        at = self.layer.next_deadline()
        if at == self._timer_at:
            return
        if self._timer:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._on_timer) if at is not None else None

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        self.layer.poll(self.now())
        self._pump()

    # --- dialogs ------------------------------------------------------------------
    def add_dialog(self, dialog: Dialog, user: DialogUser) -> None:
        self.dialogs[(dialog.call_id, dialog.local_tag)] = (dialog, user)

    def remove_dialog(self, dialog: Dialog) -> None:
        self.dialogs.pop((dialog.call_id, dialog.local_tag), None)

    def _find(self, req: Request) -> tuple[Dialog, DialogUser] | None:
        return self.dialogs.get((req.call_id, req.to.tag or ''))

    # --- offers -------------------------------------------------------------------
    def media_warning(self, exc: sdp.SdpError) -> tuple[str, str]:
        """The Warning of a 488 (RFC 3261 §20.43)."""
        if isinstance(exc, sdp.NoCommonCodec):
            return ('Warning', f'305 {self.host} "Incompatible media format"')
        return ('Warning', f'307 {self.host} "Session description parameter not understood"')

    def _check_offer(self, req: Request) -> Response | None:
        """488 for an offer we cannot answer, before anyone is rung for it."""
        if not req.body:
            return None   # offerless: we offer in the 200
        try:
            sdp.answer_offer(sdp.parse_sdp(req.body), self.host, 9)
        except sdp.SdpError as exc:
            log.info('event=invite-refused call_id=%s status=488 reason=%s',
                     quoted(req.call_id), quoted(exc))
            resp = make_response(req, 488)
            resp.add(*self.media_warning(exc))
            return resp
        return None

    # --- dispatch -------------------------------------------------------------------
    def _dispatch(self, ev) -> None:
        if ev.kind == 'request':
            self._on_request(ev.message, ev.txn, ev.peer)
        elif ev.kind in ('response', 'stray-response'):
            self._on_response(ev.message, ev.txn)
        elif ev.kind in ('timeout', 'ack-timeout'):
            if ev.txn.user is not None:
                ev.txn.user.on_timeout(ev.txn)

    def _on_response(self, resp: Response, txn: ClientTransaction | None) -> None:
        if txn is not None and txn.user is not None:
            txn.user.on_response(resp, txn)
        elif txn is None and resp.cseq.method == 'INVITE' and 200 <= resp.status < 300:
            # a 2xx retransmission after our transaction ended: its dialog re-ACKs it
            found = self.dialogs.get((resp.call_id, resp.from_.tag or ''))
            if found is not None:
                found[1].on_response(resp, None)

    def _on_request(self, req: Request, txn: ServerTransaction | None, peer: Peer) -> None:
        method = req.method
        if method == 'ACK':
            found = self._find(req)
            if found is not None:
                found[1].on_request(req, None)
            return
        mf = req.max_forwards
        if mf is not None and mf <= 0 and method != 'OPTIONS':
            return self.respond(txn, make_response(req, 483))
        unsupported = [t for t in req.get_all('Require') if t not in SUPPORTED]
        if unsupported and method not in ('CANCEL',):
            resp = make_response(req, 420)
            resp.add('Unsupported', ', '.join(unsupported))
            return self.respond(txn, resp)
        if method == 'CANCEL':
            return self._on_cancel(req, txn)
        if req.to.tag:
            return self._in_dialog(req, txn)
        if method == 'INVITE':
            retry = self.shed()
            if retry is not None:
                # refuse early and cheaply; calls already up keep their share of the loop
                self.stats['shed'] += 1
                resp = make_response(req, 503, 'Overloaded')
                resp.add('Retry-After', str(retry))
                return self.respond(txn, resp)
            refused = self._check_offer(req)
            if refused is not None:
                return self.respond(txn, refused)
            self.respond(txn, make_response(req, 100))  # stops retransmits while we decide
            return self._spawn(self.on_invite, req, txn, peer)
        if method == 'REGISTER':
            return self._spawn(self.on_register, req, txn, peer)
        if method == 'OPTIONS':
            resp = make_response(req, 200)
            resp.add('Allow', ALLOW)
            resp.add('Accept', 'application/sdp')
            return self.respond(txn, resp)
        if method == 'BYE':
            return self.respond(txn, make_response(req, 481))
        if method in ('INFO', 'NOTIFY'):
            return self.respond(txn, make_response(req, 481))
        if method in KNOWN_NOT_ALLOWED:
            resp = make_response(req, 405)
            resp.add('Allow', ALLOW)
            return self.respond(txn, resp)
        resp = make_response(req, 501)
        resp.add('Allow', ALLOW)
        self.respond(txn, resp)

    def _spawn(self, handler, req, txn, peer) -> None:
        if handler is None:
            return self.respond(txn, make_response(req, 503))

        invite = req.method == 'INVITE'

        async def run():
            try:
                await handler(req, txn, peer)
            except Exception:
                log.exception('event=handler-error method=%s call_id=%s', req.method, req.call_id)
                if not txn.answered:
                    self.respond(txn, make_response(req, 500))
            finally:
                if invite:
                    self.pending_invites -= 1
        if invite:
            self.pending_invites += 1
        self._loop.create_task(run())

    def _on_cancel(self, req: Request, txn: ServerTransaction) -> None:
        inv = self.layer.find_invite_server(req)
        if inv is None:
            return self.respond(txn, make_response(req, 481))
        self.respond(txn, make_response(req, 200))
        user = inv.user
        if user is not None:
            user.on_request(req, None)
        elif not inv.answered:   # still being routed: whoever takes it sees it answered
            self.respond(inv, make_response(inv.request, 487))

    def _in_dialog(self, req: Request, txn: ServerTransaction) -> None:
        found = self._find(req)
        if found is None:
            return self.respond(txn, make_response(req, 481))
        dialog, user = found
        if not dialog.check_remote_cseq(req):
            return self.respond(txn, make_response(req, 500, 'CSeq Out of Order'))
        method = req.method
        if method in ('BYE', 'INVITE', 'INFO'):
            if method == 'INVITE':
                txn.user = user   # its 2xx may go unACKed
            user.on_request(req, txn)
        elif method in ('NOTIFY', 'OPTIONS'):
            self.respond(txn, make_response(req, 200))
        else:
            resp = make_response(req, 405 if method in KNOWN_NOT_ALLOWED else 501)
            resp.add('Allow', ALLOW)
            self.respond(txn, resp)


def _trace(direction: str, data: bytes, peer: Peer) -> None:
    # the whole message on one line, escaped: \r\n stays visible, nothing forges a line
    trace.debug('event=sip-%s peer=%s:%s transport=%s bytes=%d msg=%s', direction, peer.addr[0],
                peer.addr[1], peer.transport, len(data), quoted(data.decode('latin-1')))
