"""A Leg is one SIP dialog plus its RTP endpoint, seen from our side.

Inbound legs (we are UAS) are rung, answered and hung up by whatever drives
them; outbound legs (we are UAC) are placed by `Leg.outbound` and report
progress through the same callbacks. Hold and resume arrive as re-INVITEs.
"""
from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Callable

from .. import sdp
from ..sip.auth import DigestClient
from ..sip.dialog import Dialog
from ..sip.message import Request, Response, gen_branch, gen_call_id, gen_tag, make_response
from ..sip.transaction import ClientTransaction, Peer, ServerTransaction
from ..sip.uri import Uri
from .causes import cause_for_sip_status, parse_reason_cause, reason_header, sip_status_for_cause

if TYPE_CHECKING:
    from ..media.endpoint import RtpEndpoint
    from ..sip.ua import SipStack

log = logging.getLogger('telephony.calls')

# States follow the Q-loud call API: calling -> ringing/progress -> answered -> hangup.
CALLING, RINGING, PROGRESS, ANSWERED, HANGUP = 'calling', 'ringing', 'progress', 'answered', 'hangup'


class Leg:
    def __init__(self, stack: 'SipStack', incoming: bool, peer: Peer):
        self.id = str(uuid.uuid4())
        self.stack = stack
        self.incoming = incoming
        self.peer = peer
        self.state = CALLING
        self.dialog: Dialog | None = None
        self.endpoint: RtpEndpoint | None = None
        self.negotiated: sdp.Negotiated | None = None
        self.local_tag = gen_tag()
        self.sdp_version = 1
        self.session_id = int.from_bytes(self.id.encode()[:6], 'big') & 0x7FFFFFFF
        self.hangup_cause: int | None = None
        self.remote_hold = False
        self.invite: Request | None = None
        self.txn: ServerTransaction | ClientTransaction | None = None
        self._local_offer: sdp.SessionDescription | None = None
        self.credentials: tuple[str, str] | None = None
        self._auth_sent = False
        # who drives the leg listens here
        self.on_state: Callable[['Leg'], None] = lambda leg: None
        self.on_dtmf: Callable[['Leg', str, int], None] = lambda leg, d, ms: None
        self.on_media: Callable[['Leg'], None] = lambda leg: None

    def __repr__(self) -> str:
        return f'<Leg {self.id[:8]} {"in" if self.incoming else "out"} {self.state}>'

    @property
    def ended(self) -> bool:
        return self.state == HANGUP

    # --- shared helpers -------------------------------------------------------
    def _set_state(self, state: str) -> None:
        if self.state != state:
            self.state = state
            if state == HANGUP:
                # one line at the end says how the call went, media figures included
                st = self.endpoint.stats() if self.endpoint is not None else {}
                log.info('event=leg-state leg=%s state=hangup cause=%s sent=%s received=%s '
                         'lost=%s jitter_ms=%s', self.id, self.hangup_cause,
                         st.get('packets_sent', 0), st.get('packets_received', 0),
                         st.get('lost', 0), st.get('jitter_ms', 0))
            elif state == ANSWERED:
                log.info('event=leg-state leg=%s state=answered', self.id)
            else:
                log.debug('event=leg-state leg=%s state=%s', self.id, state)
            self.on_state(self)

    async def _ensure_endpoint(self) -> 'RtpEndpoint':
        if self.endpoint is None:
            self.endpoint = await self.stack.media.create_endpoint()
            self.endpoint.on_dtmf = lambda digit, ms: self.on_dtmf(self, digit, ms)
            self.endpoint.on_media_timeout = self._media_timeout
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
        return self.stack.media.host

    def _our_offer(self, direction: str = 'sendrecv') -> sdp.SessionDescription:
        self._local_offer = sdp.build_offer(
            self._local_ip(), self.endpoint.local_port, dtmf_pt=101, direction=direction,
            session_id=self.session_id, version=self.sdp_version)
        return self._local_offer

    def _with_body(self, msg, sd: sdp.SessionDescription):
        msg.set('Content-Type', 'application/sdp')
        msg.body = sd.to_bytes()
        return msg

    def _respond(self, status: int, reason: str | None = None, sd=None, extra=()) -> None:
        resp = make_response(self.invite, status, reason, to_tag=self.local_tag)
        if 100 < status < 300:
            resp.set('Contact', self.stack.contact(self.peer))
            for rr in self.invite.get_all('Record-Route'):  # §12.1.1: proxies stay on the path
                resp.add('Record-Route', rr)
        for name, value in extra:
            resp.add(name, value)
        if sd is not None:
            self._with_body(resp, sd)
        self.stack.respond(self.txn, resp)

    # --- inbound (UAS) ----------------------------------------------------------
    @classmethod
    def inbound(cls, stack: 'SipStack', invite: Request, txn: ServerTransaction, peer: Peer) -> 'Leg':
        leg = cls(stack, True, peer)
        leg.invite = invite
        leg.txn = txn
        txn.user = leg
        return leg

    @property
    def caller(self) -> str:
        return self.invite.from_.uri.user or '' if self.invite else ''

    @property
    def callee(self) -> str:
        return self.invite.uri.user or '' if self.invite else ''

    async def _answer_sdp(self, hold: bool = False):
        """Our SDP for an inbound INVITE: an answer to its offer, or our offer if it had none."""
        await self._ensure_endpoint()
        if self.invite.body:
            offer = sdp.parse_sdp(self.invite.body)
            answer, neg = sdp.answer_offer(offer, self._local_ip(), self.endpoint.local_port,
                                           session_id=self.session_id, version=self.sdp_version)
            self._apply(neg)
            return answer
        return self._our_offer()

    async def ring(self) -> None:
        if self.state in (CALLING,):
            self._respond(180)
            self._set_state(RINGING)

    async def progress(self) -> None:
        """183 with SDP: early media so prompts can be heard before answer."""
        if self.state in (CALLING, RINGING):
            try:
                sd = await self._answer_sdp()
            except sdp.SdpError:
                return self._reject(488)
            except OSError as exc:
                return self._no_media(exc)
            self._respond(183, sd=sd)
            self._set_state(PROGRESS)

    async def answer(self) -> None:
        if self.state in (CALLING, RINGING, PROGRESS) and self.incoming:
            try:
                sd = await self._answer_sdp()
            except sdp.SdpError as exc:
                log.info('event=sdp-rejected leg=%s reason=%s', self.id, exc)
                return self._reject(488)
            except OSError as exc:
                return self._no_media(exc)
            self.dialog = Dialog.from_uas(self.invite, self.local_tag)
            self.stack.add_dialog(self.dialog, self)
            self._respond(200, sd=sd)
            self._set_state(ANSWERED)

    def _no_media(self, exc: OSError) -> None:
        """No RTP port could be bound (range exhausted): refuse rather than hang."""
        log.warning('event=no-rtp-port leg=%s error=%s', self.id, exc)
        self._reject(503, cause=47)   # resource unavailable

    def _reject(self, status: int, cause: int | None = None) -> None:
        self.hangup_cause = cause if cause is not None else cause_for_sip_status(status)
        self._respond(status, extra=[('Reason', reason_header(self.hangup_cause))])
        self._end()

    def on_ack(self, ack: Request) -> None:
        """ACK to our 2xx: for an offerless INVITE it carries the answer."""
        if ack.body and self._local_offer is not None and self.negotiated is None:
            try:
                self._apply(sdp.process_answer(self._local_offer, sdp.parse_sdp(ack.body)))
            except sdp.SdpError as exc:
                log.info('event=bad-ack-sdp leg=%s reason=%s', self.id, exc)
                self.hangup(cause=65)

    def on_cancel(self) -> None:
        if self.state in (CALLING, RINGING, PROGRESS):
            self._respond(487)
            self.hangup_cause = 16 if self.hangup_cause is None else self.hangup_cause
            self._end()

    # --- either direction --------------------------------------------------------
    def hangup(self, cause: int = 16) -> None:
        if self.state == HANGUP:
            return
        self.hangup_cause = cause
        if self.state == ANSWERED and self.dialog is not None:
            bye = self.dialog.request('BYE', self.stack.via(self.peer))
            bye.add('Reason', reason_header(cause))
            self.stack.send_request(bye, self.peer, self)
        elif self.incoming:
            self._respond(sip_status_for_cause(cause),
                          extra=[('Reason', reason_header(cause))])
        elif self.txn is not None:
            self._cancel()
        self._end()

    def on_bye(self, bye: Request, txn: ServerTransaction) -> None:
        self.stack.respond(txn, make_response(bye, 200))
        cause = parse_reason_cause(bye.get('Reason'))
        self.hangup_cause = cause if cause is not None else 16
        self._end()

    def _end(self) -> None:
        if self.state == HANGUP:
            return
        if self.endpoint is not None:
            self.endpoint.close()
        if self.dialog is not None:
            self.stack.remove_dialog(self.dialog)
        if self.incoming and self.txn is not None:
            # the INVITE transaction lingers 32 s to absorb retransmissions; it must not
            # keep the whole call (endpoint, recordings, queue) alive that long
            self.txn.user = None
        self._set_state(HANGUP)

    def on_reinvite(self, req: Request, txn: ServerTransaction) -> None:
        """Hold, resume or a media change from the peer."""
        if not req.body:
            # offerless re-INVITE: we offer, they answer in the ACK
            self._local_offer = None
            self.sdp_version += 1
            resp = make_response(req, 200, to_tag=self.local_tag)
            resp.set('Contact', self.stack.contact(self.peer))
            self.negotiated = None
            self.stack.respond(txn, self._with_body(resp, self._our_offer()))
            return
        try:
            offer = sdp.parse_sdp(req.body)
            self.sdp_version += 1
            answer, neg = sdp.answer_offer(offer, self._local_ip(), self.endpoint.local_port,
                                           session_id=self.session_id, version=self.sdp_version)
        except sdp.SdpError:
            self.stack.respond(txn, make_response(req, 488))
            return
        self._apply(neg)
        log.info('event=reinvite leg=%s direction=%s', self.id, neg.local_direction)
        resp = make_response(req, 200, to_tag=self.local_tag)
        resp.set('Contact', self.stack.contact(self.peer))
        self.stack.respond(txn, self._with_body(resp, answer))

    def on_info(self, req: Request, txn: ServerTransaction) -> None:
        """SIP INFO DTMF (application/dtmf-relay), for phones that use it instead of RFC 4733."""
        if (req.content_type or '').lower().startswith('application/dtmf-relay'):
            fields = dict(line.split('=', 1) for line in req.body.decode('latin-1').splitlines()
                          if '=' in line)
            digit = fields.get('Signal', '').strip()
            ms = fields.get('Duration', '100').strip()
            if len(digit) == 1 and digit in '0123456789*#ABCD':
                self.on_dtmf(self, digit, int(ms) if ms.isdigit() else 100)
        self.stack.respond(txn, make_response(req, 200))

    # --- outbound (UAC) -----------------------------------------------------------
    @classmethod
    async def outbound(cls, stack: 'SipStack', target: Uri, peer: Peer, from_uri: str,
                       display: str | None = None, headers=(),
                       credentials: tuple[str, str] | None = None) -> 'Leg':
        leg = cls(stack, False, peer)
        leg.credentials = credentials
        await leg._ensure_endpoint()
        invite = Request('INVITE', target)
        invite.add('Via', f'{stack.via(peer)};branch={gen_branch()}')
        invite.add('Max-Forwards', '70')
        name = f'"{display}" ' if display else ''
        invite.add('From', f'{name}<{from_uri}>;tag={leg.local_tag}')
        invite.add('To', f'<{target}>')
        invite.add('Call-ID', gen_call_id(stack.host))
        invite.add('CSeq', '1 INVITE')
        invite.add('Contact', stack.contact(peer))
        for name_, value in headers:
            invite.add(name_, value)
        leg._with_body(invite, leg._our_offer())
        leg.invite = invite
        leg.txn = stack.send_request(invite, peer, leg)
        return leg

    @property
    def is_outbound_pending(self) -> bool:
        return not self.incoming and self.state in (CALLING, RINGING, PROGRESS)

    def on_response(self, resp: Response, txn: ClientTransaction) -> None:
        method = resp.cseq.method
        if method == 'INVITE' and txn is self.txn:
            self._on_invite_response(resp)
        elif method == 'INVITE' and 200 <= resp.status < 300 and self.dialog:
            self._send_ack(resp)  # 2xx to a re-INVITE we sent

    def _on_invite_response(self, resp: Response) -> None:
        code = resp.status
        if code in (401, 407) and self._retry_with_auth(resp):
            return
        if code < 200:
            if code == 100:
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
            self._send_ack(resp)
            if self.state == HANGUP:  # we gave up (CANCEL) but the 200 crossed it
                bye = self.dialog.request('BYE', self.stack.via(self.peer))
                self.stack.send_request(bye, self.peer, self)
                self.stack.remove_dialog(self.dialog)
                return
            if resp.body and self.negotiated is None:
                self._take_answer(resp)
            self._set_state(ANSWERED)
            return
        if self.state != HANGUP:
            cause = parse_reason_cause(resp.get('Reason'))
            self.hangup_cause = cause if cause is not None else cause_for_sip_status(code)
            self._end()

    def _retry_with_auth(self, resp: Response) -> bool:
        """Answer a trunk's digest challenge once; a second challenge means wrong credentials."""
        if self.credentials is None or self._auth_sent or self.state == HANGUP:
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
        self.txn = self.stack.send_request(invite, self.peer, self)
        return True

    def _take_answer(self, resp: Response) -> None:
        try:
            self._apply(sdp.process_answer(self._local_offer, sdp.parse_sdp(resp.body)))
        except sdp.SdpError as exc:
            log.info('event=bad-answer leg=%s reason=%s', self.id, exc)

    def _send_ack(self, resp: Response) -> None:
        ack = self.dialog.request('ACK', self.stack.via(self.peer), cseq=resp.cseq.seq)
        self.stack.send_stateless(ack, self.peer)

    def _cancel(self) -> None:
        inv = self.invite
        cancel = Request('CANCEL', inv.uri.copy())
        cancel.add('Via', inv.get_all('Via')[0])
        cancel.add('Max-Forwards', '70')
        cancel.add('From', inv.get('From'))
        cancel.add('To', inv.get('To'))
        cancel.add('Call-ID', inv.call_id)
        cancel.add('CSeq', f'{inv.cseq.seq} CANCEL')
        cancel.add('Reason', reason_header(self.hangup_cause or 16))
        self.stack.send_request(cancel, self.peer, None)

    def on_timeout(self, txn: ClientTransaction) -> None:
        if txn is self.txn and self.state != HANGUP:
            self.hangup_cause = 102
            self._end()
        elif txn.method == 'BYE':
            pass  # the peer vanished after we hung up: nothing more to do
