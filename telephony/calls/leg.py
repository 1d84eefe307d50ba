"""A Leg is one SIP dialog plus its RTP endpoint, seen from our side.

The SIP rules live in the sans-IO `InviteSession` (sip/session.py); the leg feeds it
events, performs the actions it returns (building the messages, with SDP) and owns
the media. Its `state` is the Q-loud call state the API shows; the session's state
is SIP's. They differ on purpose: a leg hung up while its 200 waits for the ACK is
`hangup` to the API at once, while the session sends the BYE once the ACK has come.

Inbound legs (we are UAS) are rung, answered and hung up by whatever drives them;
outbound legs (we are UAC) are placed by `Leg.outbound` and report progress through
the same callbacks. Hold and resume arrive as re-INVITEs.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

from .. import sdp
from ..media.fax.t38sdp import offers_t38
from ..sip import session as ss
from ..ids import new_uuid
from ..logtext import quoted
from ..sip.auth import DigestClient
from ..sip.dialog import Dialog
from ..sip.message import Request, Response, gen_branch, gen_call_id, gen_tag, make_response
from ..sip.transaction import ClientTransaction, Peer, ServerTransaction, Transaction
from ..sip.uri import Uri
from . import t38
from .causes import (cause_for_sip_status, cause_name, parse_reason_cause, reason_header,
                     sip_status_for_cause)

if TYPE_CHECKING:
    from ..media.endpoint import RtpEndpoint
    from ..media.engine import MediaEngine
    from ..sip.ua import SipStack

log = logging.getLogger('telephony.calls')

# States follow the Q-loud call API: calling -> ringing/progress -> answered -> hangup.
CALLING, RINGING, PROGRESS, ANSWERED, HANGUP = 'calling', 'ringing', 'progress', 'answered', 'hangup'
_UAS_UNANSWERED = (ss.State.INCOMING, ss.State.EARLY)


class Leg:
    def __init__(self, stack: 'SipStack', media: 'MediaEngine', incoming: bool, peer: Peer):
        self.id = new_uuid()
        self.stack = stack
        self.media = media
        self.incoming = incoming
        self.peer = peer
        self.state = CALLING
        self.session = ss.InviteSession(uas=incoming)
        self.dialog: Dialog | None = None
        self.endpoint: RtpEndpoint | None = None
        self.negotiated: sdp.Negotiated | None = None
        self.local_tag = gen_tag()
        self.sdp_version = 1
        self.session_id = int.from_bytes(self.id.encode()[:6], 'big') & 0x7FFFFFFF
        self.hangup_cause: int | None = None
        self.remote_hold = False
        self.ended_here = False
        self.invite: Request | None = None
        self.txn: ServerTransaction | ClientTransaction | None = None
        self._reinvite_txn: ClientTransaction | None = None
        self._reinvite_direction = 'sendrecv'
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._local_offer: sdp.SessionDescription | None = None
        self.credentials: tuple[str, str] | None = None
        self._auth_sent = False
        # outbound: the final status of our INVITE (None until one, and on a timeout)
        self.final_status: int | None = None
        # who drives the leg listens here
        self.on_state: Callable[['Leg'], None] = lambda leg: None
        self.on_dtmf: Callable[['Leg', str, int], None] = lambda leg, d, ms: None
        self.on_media: Callable[['Leg'], None] = lambda leg: None
        self.on_confirmed: Callable[['Leg'], None] = lambda leg: None   # our 2xx ACKed / theirs
        # T.38 (calls/t38.py): a fax app's handler(leg, link) takes the peer's switch to T.38
        # (None: refused with 488); `t38` is the link while the call is on T.38
        self.t38_handler: Callable[['Leg', t38.T38Link], None] | None = None
        self.t38: t38.T38Link | None = None
        self._t38_answered: tuple[int, t38.T38Link] | None = None   # our 200 awaits its ACK
        self._t38_request = None        # our T.38 re-INVITE, until its final answer
        self._t38_task: asyncio.Future | None = None

    def __repr__(self) -> str:
        way = 'in' if self.incoming else 'out'
        return f'<Leg {self.id[:8]} {way} {self.state} {self.session!r}>'

    @property
    def ended(self) -> bool:
        return self.state == HANGUP

    # --- the session: feed it, do what it says ----------------------------------------
    def _feed(self, event: ss.Event, resp: Response | None = None) -> None:
        """One event into the session; `resp` is the response being handled (for ACKs)."""
        was_confirmed = self.session.state == ss.State.CONFIRMED
        for action in self.session.handle(event, self.stack.now()):
            self._perform(action, resp)
        if not was_confirmed and self.session.state == ss.State.CONFIRMED and not self.ended:
            self.on_confirmed(self)
        if self.session.terminated:
            for t in self._timers.values():
                t.cancel()
            self._timers.clear()
            if self.dialog is not None:
                self.stack.remove_dialog(self.dialog)
            if self.incoming and self.txn is not None:
                # the INVITE transaction lingers 32 s to absorb retransmissions; it must not
                # keep the whole call (endpoint, recordings, queue) alive that long
                self.txn.user = None
            self._end()

    def _perform(self, action, resp: Response | None) -> None:
        if isinstance(action, ss.Respond):
            if action.handle is None:
                self._respond_invite(action)
            else:
                self._respond_to(action)
        elif isinstance(action, ss.Send):
            m = action.method
            if m == 'ACK':
                self._send_ack(resp)
            elif m == 'BYE':
                bye = self.dialog.request('BYE', self.stack.via(self.peer))
                bye.add('Reason', reason_header(self.hangup_cause or 16))
                self.stack.send_request(bye, self.peer, self)
            elif m == 'CANCEL':
                self._cancel()
            elif m == 'INVITE':
                self._send_reinvite()
        elif isinstance(action, ss.StartTimer):
            old = self._timers.pop(action.name, None)
            if old:
                old.cancel()
            self._timers[action.name] = asyncio.get_running_loop().call_at(
                action.at, self._timer_fired, action.name)

    def _timer_fired(self, name: str) -> None:
        self._timers.pop(name, None)
        self._feed(ss.TimerFired(name))

    # --- shared helpers -------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if self.state != state:
            self.state = state
            if state == HANGUP:
                # one line at the end says how the call went, media figures included
                st = self.endpoint.stats() if self.endpoint is not None else {}
                log.info('event=leg-state leg=%s state=hangup cause=%s cause_name=%s sent=%s '
                         'received=%s lost=%s jitter_ms=%s', self.id, self.hangup_cause,
                         cause_name(self.hangup_cause), st.get('packets_sent', 0),
                         st.get('packets_received', 0), st.get('lost', 0), st.get('jitter_ms', 0))
            elif state == ANSWERED:
                log.info('event=leg-state leg=%s state=answered', self.id)
            else:
                log.debug('event=leg-state leg=%s state=%s', self.id, state)
            self.on_state(self)

    async def _ensure_endpoint(self) -> 'RtpEndpoint | None':
        """The leg's endpoint; None when the leg ended while the ports were being bound
        (a CANCEL or hangup crossed us): then the new endpoint is closed at once."""
        if self.endpoint is None:
            ep = await self.media.create_endpoint()
            if self.ended or self.endpoint is not None:
                ep.close()
                return self.endpoint if not self.ended else None
            self.endpoint = ep
            ep.on_dtmf = lambda digit, ms: self.on_dtmf(self, digit, ms)
            ep.on_media_timeout = self._media_timeout
        return self.endpoint

    def _media_timeout(self) -> None:
        if self.state == ANSWERED:
            self.hangup(cause=102)   # recovery on timer expiry, as FreeSWITCH's MEDIA_TIMEOUT

    def _apply(self, neg: sdp.Negotiated) -> None:
        from ..media.codecs import CODECS_BY_NAME
        self.negotiated = neg
        codec = CODECS_BY_NAME[neg.codec_name]
        remote = (neg.remote_ip, neg.remote_port) if neg.remote_port else None
        self.endpoint.configure(remote=remote, codec=codec, dtmf_pt=neg.dtmf_pt,
                                direction=neg.local_direction, ptime=neg.ptime)
        self.remote_hold = neg.local_direction in ('recvonly', 'inactive')
        self.on_media(self)

    def _local_ip(self) -> str:
        return self.media.host

    def _our_offer(self, direction: str = 'sendrecv') -> sdp.SessionDescription:
        self._local_offer = sdp.build_offer(
            self._local_ip(), self.endpoint.local_port, dtmf_pt=101, direction=direction,
            session_id=self.session_id, version=self.sdp_version)
        return self._local_offer

    def _with_body(self, msg, sd: sdp.SessionDescription):
        msg.set('Content-Type', 'application/sdp')
        msg.body = sd.to_bytes()
        return msg

    def _respond_invite(self, a: ss.Respond) -> None:
        """An answer to the initial INVITE (we are UAS)."""
        resp = make_response(self.invite, a.status, a.reason, to_tag=self.local_tag)
        if 100 < a.status < 300:
            resp.set('Contact', self.stack.contact(self.peer))
            for rr in self.invite.get_all('Record-Route'):  # §12.1.1: proxies stay on the path
                resp.add('Record-Route', rr)
        if a.status >= 300 and a.status != 487 and self.hangup_cause is not None:
            resp.add('Reason', reason_header(self.hangup_cause))
        for name, value in a.headers:
            resp.add(name, value)
        if a.body is not None:
            self._with_body(resp, a.body)
        self.stack.respond(self.txn, resp)

    def _respond_to(self, a: ss.Respond) -> None:
        """An answer to an in-dialog request; the handle is its server transaction."""
        txn: ServerTransaction = a.handle
        if txn.request is None or txn.answered:
            return
        resp = make_response(txn.request, a.status, a.reason, to_tag=self.local_tag)
        if 200 <= a.status < 300 and txn.method == 'INVITE':
            resp.set('Contact', self.stack.contact(self.peer))
        if a.retry_after is not None:
            resp.add('Retry-After', str(a.retry_after))
        for name, value in a.headers:
            resp.add(name, value)
        if a.body is not None:
            self._with_body(resp, a.body)
        self.stack.respond(txn, resp)

    # --- inbound (UAS) ----------------------------------------------------------
    @classmethod
    def inbound(cls, stack: 'SipStack', media: 'MediaEngine', invite: Request,
                txn: ServerTransaction, peer: Peer) -> 'Leg':
        leg = cls(stack, media, True, peer)
        leg.invite = invite
        leg.txn = txn
        txn.user = leg
        if txn.answered:
            # a CANCEL came while the INVITE was being routed, and got its 487 then: end
            # the leg once whoever creates it has attached its listeners
            asyncio.get_running_loop().call_soon(leg._cancelled_before)
        return leg

    def _cancelled_before(self) -> None:
        if not self.ended:
            self.hangup_cause = 16
            self.session.handle(ss.Cancel(), self.stack.now())   # its 487 is already sent
            self.txn.user = None
            self._end()

    @property
    def caller(self) -> str:
        return self.invite.from_.uri.user or '' if self.invite else ''

    @property
    def callee(self) -> str:
        return self.invite.uri.user or '' if self.invite else ''

    async def _answer_sdp(self) -> sdp.SessionDescription | None:
        """Our SDP for an inbound INVITE: an answer to its offer, or our offer if it had none.
        None when the leg ended meanwhile."""
        if await self._ensure_endpoint() is None:
            return None
        if self.invite.body:
            offer = sdp.parse_sdp(self.invite.body)
            answer, neg = sdp.answer_offer(offer, self._local_ip(), self.endpoint.local_port,
                                           session_id=self.session_id, version=self.sdp_version)
            self._apply(neg)
            return answer
        return self._our_offer()

    async def ring(self) -> None:
        if self.incoming and self.state == CALLING and self.session.state in _UAS_UNANSWERED:
            self._feed(ss.Provisional(180))
            self._set_state(RINGING)

    async def progress(self) -> None:
        """183 with SDP: early media so prompts can be heard before answer."""
        if self.incoming and self.state in (CALLING, RINGING):
            sd = await self._local_sdp()
            if sd is not None and self.session.state in _UAS_UNANSWERED:
                self._feed(ss.Provisional(183, body=sd))
                self._set_state(PROGRESS)

    async def answer(self) -> None:
        if self.incoming and self.state in (CALLING, RINGING, PROGRESS):
            sd = await self._local_sdp()
            if sd is None or self.session.state not in _UAS_UNANSWERED:
                return   # ended while the endpoint was made (CANCEL, hangup): nothing to answer
            self.dialog = Dialog.from_uas(self.invite, self.local_tag)
            self.stack.add_dialog(self.dialog, self)
            self._feed(ss.Accept(body=sd))
            self._set_state(ANSWERED)

    async def _local_sdp(self) -> sdp.SessionDescription | None:
        try:
            return await self._answer_sdp()
        except sdp.SdpError as exc:
            log.info('event=sdp-rejected leg=%s reason=%s', self.id, quoted(exc))
            self._reject(488, headers=[self.stack.media_warning(exc)])
        except OSError as exc:
            self._no_media(exc)
        return None

    def _no_media(self, exc: OSError) -> None:
        """No RTP port could be bound (range exhausted): refuse rather than hang."""
        log.warning('event=no-rtp-port leg=%s error=%s', self.id, exc)
        self._reject(503, cause=47)   # resource unavailable

    def _reject(self, status: int, cause: int | None = None, headers=(), reason: str | None = None) -> None:
        if self.ended or self.session.state not in _UAS_UNANSWERED:
            return
        self.hangup_cause = cause if cause is not None else cause_for_sip_status(status)
        self._feed(ss.Reject(status, reason, headers=tuple(headers)))

    def reject(self, status: int, reason: str | None = None, cause: int | None = None) -> None:
        """A final answer >= 300 to an inbound call not answered yet (a dial plan's)."""
        self._reject(status, cause, reason=reason)

    # --- requests from the peer (sip.dialog.DialogUser) -----------------------------
    def on_request(self, req: Request, txn: ServerTransaction | None) -> None:
        method = req.method
        try:
            if method == 'ACK':
                self._on_ack(req)
            elif method == 'CANCEL':
                if self.session.early and self.hangup_cause is None:
                    self.hangup_cause = 16
                self._feed(ss.Cancel())
            elif method == 'BYE':
                if not self.ended:
                    cause = parse_reason_cause(req.get('Reason'))
                    self.hangup_cause = cause if cause is not None else 16
                self._feed(ss.Bye(handle=txn))
            elif method == 'INVITE':
                self._on_reinvite(req, txn)
            elif method == 'INFO':
                self._on_info(req, txn)
            else:
                self.stack.respond(txn, make_response(req, 501))
        except ss.IllegalTransition as exc:
            # the peer broke the order of things: say so, keep the call
            log.info('event=sip-out-of-order leg=%s method=%s reason=%s', self.id, method,
                     quoted(exc))
            if txn is not None and not txn.answered:
                self.stack.respond(txn, make_response(req, 500, 'Out Of Order'))

    def _on_ack(self, ack: Request) -> None:
        """ACK to our 2xx: for an offerless INVITE it carries the answer."""
        if (not self.ended and ack.body and self._local_offer is not None
                and self.negotiated is None):
            try:
                self._apply(sdp.process_answer(self._local_offer, sdp.parse_sdp(ack.body)))
            except sdp.SdpError as exc:
                log.info('event=bad-ack-sdp leg=%s reason=%s', self.id, quoted(exc))
                self._feed(ss.Ack())
                self.hangup(cause=65)
                return
        self._feed(ss.Ack())
        t38.on_ack(self, ack.cseq.seq)

    def _on_reinvite(self, req: Request, txn: ServerTransaction) -> None:
        """Hold, resume or a media change from the peer."""
        self._feed(ss.ReinviteRequest(handle=txn))
        if self.session.reinvite is not ss.Reinvite.INCOMING or txn.answered:
            return   # refused by the session (491, 500 with Retry-After)
        if self.endpoint is None:
            return self._feed(ss.AnswerReinvite(488, txn))
        if not req.body:
            # offerless re-INVITE: we offer, they answer in the ACK
            self._local_offer = None
            self.sdp_version += 1
            self.negotiated = None
            return self._feed(ss.AnswerReinvite(200, txn, body=self._our_offer()))
        try:
            offer = sdp.parse_sdp(req.body)
            if offers_t38(offer):
                return t38.on_offer(self, offer, txn)
            self.sdp_version += 1
            answer, neg = sdp.answer_offer(offer, self._local_ip(), self.endpoint.local_port,
                                           session_id=self.session_id, version=self.sdp_version)
        except sdp.SdpError as exc:
            return self._feed(ss.AnswerReinvite(488, txn, headers=(self.stack.media_warning(exc),)))
        t38.left_t38(self)
        self._apply(neg)
        log.info('event=reinvite leg=%s direction=%s', self.id, neg.local_direction)
        self._feed(ss.AnswerReinvite(200, txn, body=answer))

    def _on_info(self, req: Request, txn: ServerTransaction) -> None:
        """SIP INFO DTMF (application/dtmf-relay), for phones that use it instead of RFC 4733."""
        if (req.content_type or '').lower().startswith('application/dtmf-relay'):
            fields = dict(line.split('=', 1) for line in req.body.decode('latin-1').splitlines()
                          if '=' in line)
            digit = fields.get('Signal', '').strip()
            ms = fields.get('Duration', '100').strip()
            if len(digit) == 1 and digit in '0123456789*#ABCD':
                self.on_dtmf(self, digit, int(ms) if ms.isdigit() else 100)
        self.stack.respond(txn, make_response(req, 200))

    # --- either direction --------------------------------------------------------
    def hangup(self, cause: int = 16) -> None:
        """End the leg now for whoever drives it; the session ends the SIP side properly
        (a BYE waits for the ACK of our 200, a CANCEL for the first provisional)."""
        if self.ended:
            return
        self.hangup_cause = cause
        self.ended_here = True     # we tore it down, not the peer (CDR callLegEnd reason)
        self._feed(ss.Hangup(status=sip_status_for_cause(cause)))
        self._end()

    def reinvite(self, direction: str = 'sendrecv') -> bool:
        """Offer our media again (hold: 'sendonly'); False when another INVITE is pending."""
        if self.ended or self.endpoint is None or not self.session.can_reinvite:
            return False
        self._reinvite_direction = direction
        self._feed(ss.SendReinvite())
        return True

    async def request_t38(self, ours=None) -> 't38.T38Link | None':
        """Switch the call to T.38 by our re-INVITE: the link on a 2xx with a T.38 answer,
        None on a refusal or failure (the audio stays)."""
        return await t38.request(self, ours or t38.OURS)

    def _send_reinvite(self) -> None:
        self.sdp_version += 1
        invite = self.dialog.request('INVITE', self.stack.via(self.peer),
                                     contact=self.stack.contact(self.peer))
        self._with_body(invite, t38.offer_body(self) or self._our_offer(self._reinvite_direction))
        self._reinvite_txn = self.stack.send_request(invite, self.peer, self)

    def _end(self) -> None:
        if self.state == HANGUP:
            return
        if self.endpoint is not None:
            self.endpoint.close()
        t38.ended(self)
        self._set_state(HANGUP)

    # --- outbound (UAC) -----------------------------------------------------------
    @classmethod
    async def outbound(cls, stack: 'SipStack', media: 'MediaEngine', target: Uri, peer: Peer,
                       from_uri: str, display: str | None = None, headers=(),
                       credentials: tuple[str, str] | None = None,
                       contact: str | None = None) -> 'Leg':
        """`contact`: our Contact header when not the stack's own (an outbound rule's
        localContactDomain)."""
        leg = cls(stack, media, False, peer)
        await leg.send_invite(target, peer, from_uri, display, headers, credentials, contact)
        return leg

    async def send_invite(self, target: Uri, peer: Peer, from_uri: str, display: str | None = None,
                          headers=(), credentials: tuple[str, str] | None = None,
                          contact: str | None = None) -> bool:
        """Place an outbound leg made before it could be (`Leg(stack, media, False, peer)`,
        a trunk's next attempt): False, and nothing sent, when it was hung up first."""
        if self.ended:
            return False
        stack = self.stack
        self.peer = peer
        self.credentials = credentials
        if await self._ensure_endpoint() is None:
            return False   # hung up while its ports were bound
        invite = Request('INVITE', target)
        invite.add('Via', f'{stack.via(peer)};branch={gen_branch()}')
        invite.add('Max-Forwards', '70')
        name = f'"{display}" ' if display else ''
        invite.add('From', f'{name}<{from_uri}>;tag={self.local_tag}')
        invite.add('To', f'<{target}>')
        invite.add('Call-ID', gen_call_id(stack.host))
        invite.add('CSeq', '1 INVITE')
        invite.add('Contact', contact or stack.contact(peer))
        for name_, value in headers:
            invite.add(name_, value)
        self._with_body(invite, self._our_offer())
        self.invite = invite
        self.txn = stack.send_request(invite, peer, self)
        return True

    @property
    def is_outbound_pending(self) -> bool:
        return not self.incoming and self.state in (CALLING, RINGING, PROGRESS)

    def on_response(self, resp: Response, txn: ClientTransaction | None) -> None:
        if resp.cseq.method != 'INVITE':
            return   # BYE, CANCEL: nothing more to do
        try:
            if txn is None:   # a 2xx retransmitted after the transaction ended
                initial = self.invite is not None and resp.cseq.seq == self.invite.cseq.seq
                ev = ss.InviteResponse if initial and not self.incoming else ss.ReinviteResponse
                self._feed(ev(resp.status), resp)
            elif txn is self.txn:
                self._on_invite_response(resp)
            elif txn is self._reinvite_txn:
                self._on_reinvite_response(resp)
        except ss.IllegalTransition as exc:
            log.info('event=sip-out-of-order leg=%s status=%s reason=%s', self.id, resp.status,
                     quoted(exc))

    def _on_invite_response(self, resp: Response) -> None:
        code = resp.status
        if code in (401, 407) and self._retry_with_auth(resp):
            return
        if code >= 200 and self.final_status is None:
            self.final_status = code
        if code < 200:
            self._feed(ss.InviteResponse(code), resp)
            if code == 100 or self.ended:
                return
            if resp.body and self.negotiated is None:
                self._take_answer(resp)
            if self.state == CALLING or (resp.body and self.state == RINGING):
                self._set_state(PROGRESS if resp.body else RINGING)
            return
        if code < 300:
            if self.dialog is None:
                self.dialog = Dialog.from_uac(self.invite, resp)
                self.stack.add_dialog(self.dialog, self)
            self._feed(ss.InviteResponse(code), resp)
            if self.ended:   # we gave up, the 200 crossed our CANCEL: ACK and BYE went out
                return
            if resp.body and self.negotiated is None:
                self._take_answer(resp)
            self._set_state(ANSWERED)
            return
        if not self.ended:
            cause = parse_reason_cause(resp.get('Reason'))
            self.hangup_cause = cause if cause is not None else cause_for_sip_status(code)
        self._feed(ss.InviteResponse(code), resp)

    def _on_reinvite_response(self, resp: Response) -> None:
        taken = not self.ended and t38.on_response(self, resp.status, resp.body)
        if not taken and 200 <= resp.status < 300 and resp.body and not self.ended:
            try:
                self._apply(sdp.process_answer(self._local_offer, sdp.parse_sdp(resp.body)))
            except sdp.SdpError as exc:
                log.info('event=bad-answer leg=%s reason=%s', self.id, quoted(exc))
        if resp.status in (408, 481) and not self.ended:
            self.hangup_cause = cause_for_sip_status(resp.status)
        self._feed(ss.ReinviteResponse(resp.status), resp)

    def _retry_with_auth(self, resp: Response) -> bool:
        """Answer a trunk's digest challenge once; a second challenge means wrong credentials."""
        if self.credentials is None or self._auth_sent or self.ended:
            return False
        name = 'WWW-Authenticate' if resp.status == 401 else 'Proxy-Authenticate'
        challenges = resp.get_all(name) or [v for k, v in resp.headers if k == name]
        if not challenges:
            return False
        try:
            challenge = DigestClient.choose_challenge(challenges)
            value = DigestClient().build_authorization(challenge, 'INVITE', str(self.invite.uri),
                                                       *self.credentials)
        except ValueError as exc:
            log.info('event=trunk-auth-error leg=%s reason=%s', self.id, exc)
            return False
        self._auth_sent = True
        invite = self.invite.copy()
        invite.remove('Via')
        invite.add('Via', f'{self.stack.via(self.peer)};branch={gen_branch()}', first=True)
        invite.set('CSeq', f'{self.invite.cseq.seq + 1} INVITE')
        invite.set('Authorization' if resp.status == 401 else 'Proxy-Authorization', value)
        self.invite = invite
        self._feed(ss.Reissued())
        self.txn = self.stack.send_request(invite, self.peer, self)
        return True

    def _take_answer(self, resp: Response) -> None:
        try:
            self._apply(sdp.process_answer(self._local_offer, sdp.parse_sdp(resp.body)))
        except sdp.SdpError as exc:
            log.info('event=bad-answer leg=%s reason=%s', self.id, quoted(exc))

    def _send_ack(self, resp: Response) -> None:
        ack = self.dialog.request('ACK', self.stack.via(self.peer), cseq=resp.cseq.seq)
        self.stack.send_stateless(ack, self.peer)

    def _cancel(self) -> None:
        inv = self.invite
        cancel = Request('CANCEL', inv.uri.copy())
        cancel.add('Via', inv.get_all('Via')[0])
        for route in inv.get_all('Route'):   # §9.1: the CANCEL takes the INVITE's path
            cancel.add('Route', route)
        cancel.add('Max-Forwards', '70')
        cancel.add('From', inv.get('From'))
        cancel.add('To', inv.get('To'))
        cancel.add('Call-ID', inv.call_id)
        cancel.add('CSeq', f'{inv.cseq.seq} CANCEL')
        cancel.add('Reason', reason_header(self.hangup_cause or 16))
        self.stack.send_request(cancel, self.peer, None)

    def on_timeout(self, txn: Transaction) -> None:
        if isinstance(txn, ServerTransaction):
            # our 2xx (to the INVITE or a re-INVITE) was never ACKed: BYE (§13.3.1.4)
            log.info('event=no-ack leg=%s', self.id)
            if not self.ended:
                self.hangup_cause = 102
            self._feed(ss.AckTimeout())
        elif txn is self.txn or txn is self._reinvite_txn:
            if not self.ended:
                self.hangup_cause = 102
            self._feed(ss.NoResponse(reinvite=txn is self._reinvite_txn))
        # a BYE that got no answer: the peer vanished after we hung up; nothing more to do
