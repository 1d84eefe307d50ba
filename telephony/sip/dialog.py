"""Dialog state (RFC 3261 §12), sans-IO: tags, CSeq, route set and remote target.

A Dialog builds the in-dialog requests a leg sends (re-INVITE, BYE, INFO,
NOTIFY, ACK for 2xx) and checks the CSeq of the ones it receives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .message import Request, Response, gen_branch
from .uri import NameAddr, Uri, parse_name_addr

if TYPE_CHECKING:
    from .transaction import ClientTransaction, ServerTransaction, Transaction


class DialogUser(Protocol):
    """Whoever owns an INVITE session (a call leg), as the SIP stack sees it.

    The stack hangs a DialogUser on the INVITE's transactions (`txn.user`) and on the
    dialog table (`SipStack.add_dialog`), answers what needs nobody (OPTIONS, NOTIFY,
    the CANCEL itself, 481 for unknown dialogs) and hands it the rest."""

    def on_request(self, req: Request, txn: 'ServerTransaction | None') -> None:
        """An in-dialog request (BYE, re-INVITE, INFO) to answer through `txn`; or, with
        txn None, an ACK of our 2xx or a CANCEL of the INVITE (the CANCEL has its 200)."""

    def on_response(self, resp: Response, txn: 'ClientTransaction | None') -> None:
        """A response to one of our requests; txn None: a 2xx retransmitted after the
        INVITE transaction ended (it needs its ACK again)."""

    def on_timeout(self, txn: 'Transaction') -> None:
        """A request of ours got no final answer (client txn), or the 2xx we sent to an
        INVITE was never ACKed (server txn)."""


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local: NameAddr          # our From/To identity (without tag)
    remote: NameAddr
    remote_target: Uri       # the peer's Contact
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uas(cls, req: Request, local_tag: str) -> 'Dialog':
        """We answered `req`: the route set is its Record-Route in order (§12.1.1)."""
        contact = req.contacts[0].uri if req.contacts else req.from_.uri
        return cls(
            call_id=req.call_id, local_tag=local_tag, remote_tag=req.from_.tag or '',
            local=_bare(req.to), remote=_bare(req.from_), remote_target=contact,
            route_set=list(req.get_all('Record-Route')), local_cseq=0,
            remote_cseq=req.cseq.seq)

    @classmethod
    def from_uac(cls, req: Request, resp: Response) -> 'Dialog':
        """Our request was answered: the route set is the reversed Record-Route (§12.1.2)."""
        contact = resp.contacts[0].uri if resp.contacts else req.uri
        return cls(
            call_id=req.call_id, local_tag=req.from_.tag or '', remote_tag=resp.to.tag or '',
            local=_bare(req.from_), remote=_bare(req.to), remote_target=contact,
            route_set=list(reversed(resp.get_all('Record-Route'))),
            local_cseq=req.cseq.seq)

    def request(self, method: str, via: str, contact: str | None = None,
                cseq: int | None = None) -> Request:
        """A new in-dialog request; ACK and CANCEL pass the CSeq they must reuse."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        uri = self.remote_target.copy()
        routes = list(self.route_set)
        if routes and ';lr' not in routes[0]:
            # strict router (RFC 2543): the first route becomes the Request-URI
            uri = parse_name_addr(routes.pop(0)).uri
            routes.append(f'<{self.remote_target}>')
        req = Request(method, uri)
        req.add('Via', f'{via};branch={gen_branch()}')
        req.add('Max-Forwards', '70')
        for r in routes:
            req.add('Route', r)
        req.add('From', f'{self.local};tag={self.local_tag}')
        req.add('To', f'{self.remote};tag={self.remote_tag}' if self.remote_tag else str(self.remote))
        req.add('Call-ID', self.call_id)
        req.add('CSeq', f'{cseq} {method}')
        if contact:
            req.add('Contact', contact)
        return req

    def check_remote_cseq(self, req: Request) -> bool:
        """False for an out-of-order request, which gets a 500 (§12.2.2)."""
        seq = req.cseq.seq
        if req.method in ('ACK', 'CANCEL'):
            return True
        if self.remote_cseq is not None and seq <= self.remote_cseq:
            return False
        self.remote_cseq = seq
        return True


def _bare(na: NameAddr) -> NameAddr:
    params = {k: v for k, v in na.params.items() if k != 'tag'}
    return NameAddr(na.display, na.uri, params)
