"""RFC 3261 §17 transactions, sans-IO, with RFC 6026's Accepted state.

Timers are data: every transaction keeps the absolute times of its pending
timers, and the TransactionLayer keeps one heap of them. The asyncio shell
calls `poll(now)` when `next_deadline()` comes due, so a thousand calls still
need one timer handle in the event loop, not one per transaction.

Inputs are parsed messages plus the time; outputs are `Outgoing` messages to
send and `TuEvent`s for the transaction user (the UA).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from .message import Request, Response, SipMessage

T1 = 0.5
T2 = 4.0
T4 = 5.0


@dataclass(frozen=True)
class Peer:
    """Where a message came from or goes to: transport, address, and for TCP the connection."""
    transport: str  # 'UDP' | 'TCP'
    addr: tuple[str, int]
    conn: Any = None  # transport-specific connection handle for TCP

    @property
    def reliable(self) -> bool:
        return self.transport != 'UDP'


@dataclass
class Outgoing:
    message: SipMessage | bytes   # bytes: a stored answer sent again
    peer: Peer


@dataclass
class TuEvent:
    """kind: 'request' (new request; txn is the server transaction, None for ACK to a 2xx),
    'response' (txn is the client transaction), 'timeout' (client txn got no final answer),
    'ack-timeout' (a 2xx we sent was never ACKed), 'stray-response' (2xx retransmission
    or response with no transaction: the UA may need to re-ACK)."""
    kind: str
    message: SipMessage | None
    txn: Any
    peer: Peer | None = None


def _branch(msg: SipMessage) -> str:
    return msg.vias[0].branch or ''


def server_key(req: Request) -> tuple:
    via = req.vias[0]
    method = 'INVITE' if req.method == 'ACK' else req.method
    return (via.branch or '', via.host, via.port, method)


class Transaction:
    def __init__(self, layer: 'TransactionLayer', peer: Peer):
        self.layer = layer
        self.peer = peer
        self.state = ''
        self.timers: dict[str, float] = {}
        self.user: Any = None  # the UA hangs its own state here (e.g. the call leg)

    def _set(self, name: str, at: float) -> None:
        self.timers[name] = at
        heapq.heappush(self.layer._heap, (at, id(self), name, self))

    def _send(self, msg: SipMessage) -> None:
        self.layer.outbox.append(Outgoing(msg, self.peer))

    def _terminate(self) -> None:
        self.state = 'terminated'
        self.timers.clear()
        self.layer._forget(self)


class ClientTransaction(Transaction):
    def __init__(self, layer, request: Request, peer: Peer, now: float):
        super().__init__(layer, peer)
        self.request = request
        self.method = request.method
        self.key = (_branch(request), request.method)
        self.interval = T1
        self.last_response: Response | None = None
        self.state = 'calling' if self.method == 'INVITE' else 'trying'
        self._send(request)
        if not peer.reliable:
            self._set('A' if self.method == 'INVITE' else 'E', now + T1)
        self._set('B' if self.method == 'INVITE' else 'F', now + 64 * T1)

    def on_response(self, resp: Response, now: float) -> bool:
        """Returns True when the response must go up to the TU."""
        self.last_response = resp
        code = resp.status
        if self.method == 'INVITE':
            if self.state in ('calling', 'proceeding'):
                self.timers.pop('A', None)
                if code < 200:
                    self.state = 'proceeding'
                    self.timers.pop('B', None)
                    return True
                self.timers.pop('B', None)
                if code < 300:
                    self.state = 'accepted'
                    self._set('M', now + 64 * T1)
                    return True
                self.state = 'completed'
                self._send(self._ack_for(resp))
                self._set('D', now + (0 if self.peer.reliable else 32.0))
                return True
            if self.state == 'accepted' and 200 <= code < 300:
                return True  # retransmitted 2xx: the TU re-sends its ACK
            if self.state == 'completed' and code >= 300:
                self._send(self._ack_for(resp))
            return False
        # non-INVITE
        if self.state in ('trying', 'proceeding'):
            if code < 200:
                self.state = 'proceeding'
                return True
            self.timers.pop('E', None)
            self.timers.pop('F', None)
            self.state = 'completed'
            self._set('K', now + (0 if self.peer.reliable else T4))
            return True
        return False

    def _ack_for(self, resp: Response) -> Request:
        """ACK for a non-2xx final response (§17.1.1.3): same branch, To from the response."""
        req = self.request
        ack = Request('ACK', req.uri.copy())
        ack.add('Via', req.get_all('Via')[0])
        for name in ('Route',):
            for v in req.get_all(name):
                ack.add(name, v)
        ack.add('Max-Forwards', '70')
        ack.add('From', req.get('From'))
        ack.add('To', resp.get('To'))
        ack.add('Call-ID', req.get('Call-ID'))
        ack.add('CSeq', f'{req.cseq.seq} ACK')
        return ack

    def fire(self, name: str, now: float) -> None:
        if name in ('A', 'E'):
            self._send(self.request)
            if name == 'A':
                self.interval *= 2
            else:
                self.interval = min(self.interval * 2, T2) if self.state == 'trying' else T2
            self._set(name, now + self.interval)
        elif name in ('B', 'F'):
            self.layer.events.append(TuEvent('timeout', None, self, self.peer))
            self._terminate()
        elif name in ('D', 'K', 'M'):
            self._terminate()


class ServerTransaction(Transaction):
    """Once a final answer is given, only its bytes are kept: the transaction lingers up
    to 32 s to absorb retransmissions, and at a thousand calls a second whole parsed
    messages would cost hundreds of megabytes."""

    def __init__(self, layer, request: Request, peer: Peer, now: float):
        super().__init__(layer, peer)
        self.request: Request | None = request
        self.method = request.method
        self.key = server_key(request)
        self.last_response: Response | None = None   # the latest provisional answer
        self.final: int | None = None                # status of the final answer
        self._wire: bytes | None = None              # the final answer, as sent
        self._accepted_key: tuple | None = None
        self.interval = T1
        self.state = 'proceeding' if self.method == 'INVITE' else 'trying'

    @property
    def answered(self) -> bool:
        return self.final is not None

    def _resend(self) -> None:
        if self._wire is not None:
            self._send(self._wire)
        elif self.last_response is not None:
            self._send(self.last_response)

    def on_retransmission(self, req: Request, now: float) -> None:
        if req.method == 'ACK':
            if self.state == 'completed':
                self.state = 'confirmed'
                self.timers.pop('G', None)
                self.timers.pop('H', None)
                self._set('I', now + (0 if self.peer.reliable else T4))
            return
        if self.state in ('proceeding', 'completed', 'accepted'):
            self._resend()

    def respond(self, resp: Response, now: float) -> None:
        if self.final is not None or self.state in ('terminated', 'confirmed'):
            return  # a final answer was already given
        code = resp.status
        if code < 200:
            self.last_response = resp
            self._send(resp)
            if self.state == 'trying':
                self.state = 'proceeding'
            return
        self.final = code
        self._wire = resp.to_bytes()
        self.last_response = None
        self._send(self._wire)
        if self.method == 'INVITE':
            if code < 300:
                # RFC 6026: stay to absorb INVITE retransmits and to resend the 2xx until ACK;
                # the request stays for the ack-timeout report.
                self.state = 'accepted'
                self._accepted_key = (resp.call_id, resp.cseq.seq)
                self.layer._accepted[self._accepted_key] = self
            else:
                self.state = 'completed'
                self.request = None
            if not self.peer.reliable:
                self._set('G', now + T1)
            self._set('H', now + 64 * T1)
        else:
            self.state = 'completed'
            self.request = None
            self._set('J', now + (0 if self.peer.reliable else 64 * T1))

    def acked(self, now: float) -> None:
        """ACK for our 2xx arrived: stop retransmitting, keep absorbing INVITE copies for a while."""
        self.timers.pop('G', None)
        self.timers.pop('H', None)
        self.state = 'accepted-acked'
        self.request = None
        self._set('L', now + 64 * T1)

    def fire(self, name: str, now: float) -> None:
        if name == 'G':
            self._resend()
            self.interval = min(self.interval * 2, T2)
            self._set('G', now + self.interval)
        elif name == 'H':
            if self.state == 'accepted':
                self.layer.events.append(TuEvent('ack-timeout', self.request, self, self.peer))
            self._terminate()
        elif name in ('I', 'J', 'L'):
            self._terminate()


@dataclass
class TransactionLayer:
    outbox: list[Outgoing] = field(default_factory=list)
    events: list[TuEvent] = field(default_factory=list)

    def __post_init__(self):
        self._clients: dict[tuple, ClientTransaction] = {}
        self._servers: dict[tuple, ServerTransaction] = {}
        self._accepted: dict[tuple, ServerTransaction] = {}
        self._heap: list = []

    # --- inputs -----------------------------------------------------------
    def receive(self, msg: SipMessage, peer: Peer, now: float) -> None:
        if isinstance(msg, Response):
            self._receive_response(msg, peer, now)
        else:
            self._receive_request(msg, peer, now)

    def _receive_response(self, resp: Response, peer: Peer, now: float) -> None:
        txn = self._clients.get((_branch(resp), resp.cseq.method))
        if txn is None:
            self.events.append(TuEvent('stray-response', resp, None, peer))
        elif txn.on_response(resp, now):
            self.events.append(TuEvent('response', resp, txn, peer))

    def _receive_request(self, req: Request, peer: Peer, now: float) -> None:
        key = server_key(req)
        txn = self._servers.get(key)
        if req.method == 'ACK':
            if txn is not None and txn.state in ('completed', 'confirmed'):
                txn.on_retransmission(req, now)  # ACK for our non-2xx: absorbed here
                return
            acc = self._accepted.pop((req.call_id, req.cseq.seq), None)
            if acc is not None:
                acc.acked(now)
            self.events.append(TuEvent('request', req, None, peer))  # ACK for 2xx goes to the dialog
            return
        if txn is not None:
            txn.on_retransmission(req, now)
            return
        txn = ServerTransaction(self, req, peer, now)
        self._servers[key] = txn
        self.events.append(TuEvent('request', req, txn, peer))

    def send_request(self, req: Request, peer: Peer, now: float) -> ClientTransaction:
        txn = ClientTransaction(self, req, peer, now)
        self._clients[txn.key] = txn
        return txn

    def send_stateless(self, msg: SipMessage, peer: Peer) -> None:
        """ACK for 2xx, and answers that need no transaction (e.g. 400 to junk)."""
        self.outbox.append(Outgoing(msg, peer))

    def find_invite_server(self, cancel: Request) -> ServerTransaction | None:
        via = cancel.vias[0]
        return self._servers.get((via.branch or '', via.host, via.port, 'INVITE'))

    # --- time ---------------------------------------------------------------
    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            at, _, name, txn = heap[0]
            if txn.timers.get(name) == at:
                return at
            heapq.heappop(heap)  # stale entry: timer was stopped or re-armed
        return None

    def poll(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, name, txn = heapq.heappop(heap)
            if txn.timers.get(name) != at:
                continue
            del txn.timers[name]
            txn.fire(name, now)

    def _forget(self, txn: Transaction) -> None:
        if isinstance(txn, ClientTransaction):
            if self._clients.get(txn.key) is txn:
                del self._clients[txn.key]
        else:
            if self._servers.get(txn.key) is txn:
                del self._servers[txn.key]
            k = txn._accepted_key
            if k is not None and self._accepted.get(k) is txn:
                del self._accepted[k]

    def counts(self) -> dict[str, int]:
        return {'client': len(self._clients), 'server': len(self._servers)}
