"""A call's switch to T.38 by re-INVITE (T.38 Annex D), both ways, for a Leg.

Theirs: a re-INVITE whose offer has a live `m=image udptl t38` section.  A leg whose
`t38_handler` is None (no fax app on the call) answers 488 and keeps its audio; one with
a handler opens a UDPTL socket, answers 200 with our T.38 parameters, and on the ACK the
call is switched: the audio endpoint goes inactive (no RTP, no media timeout) and the
handler gets the `T38Link`.  An offer we cannot take (`T38ParamsError`) gets 488 with the
reason in a Warning.  Glare and overlaps are the INVITE session's (491, 500).

Ours: `await leg.request_t38()` sends the offer and returns the `T38Link` on a 2xx with a
T.38 answer, None otherwise (488 and other failures: the audio stays).  A 491 is retried
by the session's timer with the same offer; if the peer's own T.38 re-INVITE wins the
glare, ours is not sent again and the request returns the peer's link.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..logtext import quoted
from ..media.fax.t38params import OURS, T38Params, T38ParamsError, session_options
from ..media.fax.t38sdp import (answer_t38, build_t38_offer, offers_t38, process_t38_answer,
                                t38_media)
from ..media.fax.transport import UdptlSocket
from ..sdp import SdpError, SessionDescription, parse_sdp
from ..sip import session as ss

if TYPE_CHECKING:
    from ..media.fax.session import T38FaxSession
    from ..sip.transaction import ServerTransaction
    from .leg import Leg

log = logging.getLogger('telephony.calls')


@dataclass(eq=False)
class T38Link:
    """The UDPTL stream of a switched call: our socket, connected to the far end's
    address; the parameters each side signalled."""
    socket: UdptlSocket
    remote: tuple[str, int]
    ours: T38Params
    theirs: T38Params
    session: 'T38FaxSession | None' = None

    def options(self) -> dict:
        """T38FaxSession's version/redundancy/max_datagram for what was agreed."""
        return session_options(self.ours, self.theirs)

    def attach(self, session: 'T38FaxSession') -> None:
        self.session = session
        self.socket.connect(self.remote, session)

    def close(self) -> None:
        """The call ended or left T.38: the fax session reports how far it got."""
        session, self.session = self.session, None
        if session is not None:
            session.hangup()
        self.socket.close()


@dataclass(eq=False)
class _Request:          # our re-INVITE offering T.38, until its final answer
    socket: UdptlSocket
    ours: T38Params
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    offer: SessionDescription | None = None

    def finish(self, link: T38Link | None) -> None:
        if self.done.done():
            return
        self.done.set_result(link)
        if link is None or link.socket is not self.socket:
            self.socket.close()


def _warning(leg: 'Leg', code: int, text: str) -> tuple[str, str]:
    text = text.replace('\\', '').replace('"', "'")
    return ('Warning', f'{code} {leg.stack.host} "{text}"')


# --- theirs -------------------------------------------------------------------------------

def on_offer(leg: 'Leg', offer: SessionDescription, txn: 'ServerTransaction') -> None:
    """Their re-INVITE offers T.38 (the session holds it as the pending re-INVITE)."""
    if leg.t38_handler is None and leg._t38_request is None:
        log.info('event=t38-refused leg=%s reason=no-fax-app', leg.id)
        return leg._feed(ss.AnswerReinvite(
            488, txn, headers=(_warning(leg, 304, 'Media type not available'),)))
    try:
        t38_media(offer)
    except T38ParamsError as exc:
        log.info('event=t38-refused leg=%s reason=%s', leg.id, quoted(exc))
        return leg._feed(ss.AnswerReinvite(488, txn, headers=(_warning(leg, 306, str(exc)),)))
    if leg.t38 is not None:
        return _answer_again(leg, offer, txn)
    leg._t38_task = asyncio.ensure_future(_answer(leg, offer, txn))


def _answer_again(leg: 'Leg', offer: SessionDescription, txn: 'ServerTransaction') -> None:
    """A T.38 offer while on T.38 (a session refresh, a new address): same socket, same
    fax session; only where we send may change."""
    link = leg.t38
    leg.sdp_version += 1
    try:
        sd, local, theirs = answer_t38(offer, leg.media.host, link.socket.local_address[1],
                                       OURS, session_id=leg.session_id, version=leg.sdp_version)
    except T38ParamsError as exc:
        return leg._feed(ss.AnswerReinvite(488, txn, headers=(_warning(leg, 306, str(exc)),)))
    link.remote, link.ours, link.theirs = theirs.address, local, theirs.params
    link.socket.connect(theirs.address, link.session)
    leg._feed(ss.AnswerReinvite(200, txn, body=sd))


async def _answer(leg: 'Leg', offer: SessionDescription, txn: 'ServerTransaction') -> None:
    try:
        sock = await UdptlSocket.open(leg.media.host)
    except OSError as exc:
        log.warning('event=no-udptl-port leg=%s error=%s', leg.id, exc)
        if _still_pending(leg, txn):
            leg._feed(ss.AnswerReinvite(500, txn))
        return
    if not _still_pending(leg, txn):    # BYE (487) or a hangup came while it was bound
        sock.close()
        return
    leg.sdp_version += 1
    try:
        sd, local, theirs = answer_t38(offer, leg.media.host, sock.local_address[1], OURS,
                                       session_id=leg.session_id, version=leg.sdp_version)
    except T38ParamsError as exc:
        sock.close()
        log.info('event=t38-refused leg=%s reason=%s', leg.id, quoted(exc))
        return leg._feed(ss.AnswerReinvite(488, txn, headers=(_warning(leg, 306, str(exc)),)))
    link = T38Link(sock, theirs.address, local, theirs.params)
    sock.connect(theirs.address, None)   # datagrams before the ACK are not the fax's yet
    _drop_answered(leg)
    leg._t38_answered = (txn.request.cseq.seq, link)
    log.info('event=t38-answer leg=%s remote=%s:%d', leg.id, *theirs.address)
    leg._feed(ss.AnswerReinvite(200, txn, body=sd))


def _still_pending(leg: 'Leg', txn: 'ServerTransaction') -> bool:
    return (not leg.ended and leg.session.reinvite is ss.Reinvite.INCOMING
            and not txn.answered)


def _drop_answered(leg: 'Leg') -> None:
    answered, leg._t38_answered = leg._t38_answered, None
    if answered is not None:
        answered[1].close()


def on_ack(leg: 'Leg', cseq: int) -> None:
    """The ACK of our 200 to their T.38 offer completes the switch."""
    answered = leg._t38_answered
    if answered is None or answered[0] != cseq or leg.ended:
        return
    leg._t38_answered = None
    link = answered[1]
    _switched(leg, link)
    request = leg._t38_request
    if request is not None:           # ours lost the glare to theirs: do not send it again
        timer = leg._timers.pop(ss.RETRY_TIMER, None)
        if timer is not None:
            timer.cancel()
        request.finish(link)
    handler = leg.t38_handler
    if handler is not None:
        try:
            handler(leg, link)
        except Exception:
            log.exception('event=t38-handler-error leg=%s', leg.id)


def _switched(leg: 'Leg', link: T38Link) -> None:
    old, leg.t38 = leg.t38, link
    if old is not None:
        old.close()
    ep = leg.endpoint
    if ep is not None:     # no RTP either way, and no media timeout, while on T.38
        ep.configure(remote=None, codec=ep.codec, dtmf_pt=ep.dtmf_pt, direction='inactive')
    log.info('event=t38-switched leg=%s remote=%s:%d', leg.id, *link.remote)


def left_t38(leg: 'Leg') -> None:
    """An audio re-INVITE took the call back from T.38."""
    link, leg.t38 = leg.t38, None
    if link is not None:
        link.close()


# --- ours -----------------------------------------------------------------------------

async def request(leg: 'Leg', ours: T38Params = OURS) -> T38Link | None:
    if leg.ended or leg.endpoint is None or not leg.session.can_reinvite \
            or leg._t38_request is not None:
        return None
    sock = await UdptlSocket.open(leg.media.host)
    if leg.ended or not leg.session.can_reinvite or leg._t38_request is not None:
        sock.close()
        return None
    req = leg._t38_request = _Request(sock, ours)
    try:
        leg._feed(ss.SendReinvite())
        return await req.done
    finally:
        if leg._t38_request is req:
            leg._t38_request = None
        req.finish(None)


def offer_body(leg: 'Leg') -> SessionDescription | None:
    """The body of our re-INVITE (each try: a 491 retry has a new o= version)."""
    req = leg._t38_request
    if req is None or req.done.done():
        return None
    req.offer = build_t38_offer(leg.media.host, req.socket.local_address[1], req.ours,
                                session_id=leg.session_id, version=leg.sdp_version)
    return req.offer


def on_response(leg: 'Leg', status: int, body: bytes) -> bool:
    """A final answer to our T.38 re-INVITE; False when no T.38 request is pending."""
    req = leg._t38_request
    if req is None or req.offer is None or status < 200 or req.done.done():
        # a retransmitted 2xx of the switch made: nothing for the audio side to take
        return 200 <= status < 300 and leg.t38 is not None and _offers_t38(body)
    if status == 491:
        return True     # the session retries after its timer; the request waits
    if status >= 300:
        log.info('event=t38-request-refused leg=%s status=%d', leg.id, status)
        req.finish(None)
        return True
    try:
        theirs = process_t38_answer(req.offer, parse_sdp(body))
    except (SdpError, T38ParamsError) as exc:
        log.info('event=t38-bad-answer leg=%s reason=%s', leg.id, quoted(exc))
        req.finish(None)
        return True
    link = T38Link(req.socket, theirs.address, req.ours, theirs.params)
    link.socket.connect(theirs.address, None)
    _switched(leg, link)
    req.finish(link)
    return True


def _offers_t38(body: bytes) -> bool:
    try:
        return bool(body) and offers_t38(parse_sdp(body))
    except SdpError:
        return False


def ended(leg: 'Leg') -> None:
    """The leg hung up: every T.38 socket it holds is closed."""
    _drop_answered(leg)
    left_t38(leg)
    req, leg._t38_request = leg._t38_request, None
    if req is not None:
        req.finish(None)
