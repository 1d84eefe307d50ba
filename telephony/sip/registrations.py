"""Registrations to trunks: the asyncio shell around `registration.TrunkRegistration`.

One machine per `TrunkAccount`, driven over the SipStack's client transactions, with one
loop timer each (refresh or retry; not the media clock).  Every state change is one log
line `event=trunk-registration trunk=... state=... status=...` (never the password);
`stop()` unregisters (Expires: 0) and waits a little for the answers.
"""
from __future__ import annotations

import asyncio
import logging
import random
import socket
from typing import TYPE_CHECKING, Callable

from ..logtext import quoted
from . import registration as rg
from .message import Request, Response, gen_branch, gen_call_id, gen_tag
from .transaction import ClientTransaction, Peer, Transaction
from .trunks import TrunkAccount, is_ip
from .uri import parse_uri

if TYPE_CHECKING:
    from ..config import Settings
    from .ua import SipStack

log = logging.getLogger('telephony.trunks')

SETTINGS_TRUNK = 'settings'   # the id of the trunk in the settings (`trunk`, `trunk_user`, ...)
UNREGISTER_WAIT = 3.0         # seconds stop() waits for the answers to Expires: 0


def settings_trunk(s: 'Settings') -> TrunkAccount | None:
    """The settings trunk as a TrunkAccount (None when `trunk` is empty)."""
    if not s.trunk:
        return None
    return TrunkAccount(id=SETTINGS_TRUNK, proxy=s.trunk, user=s.trunk_user,
                        password=s.trunk_password, transport=s.trunk_transport.lower(),
                        domain=s.trunk_domain, expires=s.trunk_register_expiry,
                        register=s.trunk_register,
                        addresses=tuple(a.strip() for a in s.trunk_addresses.split(',')
                                        if a.strip()))


def _int(value: str | None) -> int | None:
    """The leading integer of Expires, Min-Expires, Retry-After ('120 (later);duration=60')."""
    if not value:
        return None
    digits = value.strip().split(None, 1)[0].split(';', 1)[0].split('(', 1)[0]
    return int(digits) if digits.isdigit() and len(digits) <= 10 else None


class _Registration:
    """One trunk's machine and what the shell keeps for it (a DialogUser of the stack)."""

    def __init__(self, owner: 'TrunkRegistrations', account: TrunkAccount):
        self.owner = owner
        self.stack = owner.stack
        self.account = account
        self.machine = rg.TrunkRegistration(account, owner.backoff, owner.jitter)
        self.call_id = gen_call_id(self.stack.host)   # one per boot, CSeq counts (§10.2)
        self.from_tag = gen_tag()
        self.txn: ClientTransaction | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.peer: Peer | None = None
        self.bound_until: float | None = None
        self.done = asyncio.Event()          # unregistered (again)
        self.done.set()

    # --- the machine ----------------------------------------------------------------
    def feed(self, event: rg.Event, now: float | None = None) -> None:
        try:
            actions = self.machine.handle(event, self.stack.now() if now is None else now)
        except rg.IllegalTransition as exc:
            log.warning('event=trunk-registration-ignored trunk=%s reason=%s',
                        quoted(self.account.id), quoted(exc))
            return
        for action in actions:
            if isinstance(action, rg.SendRegister):
                self._send(action)
            elif isinstance(action, rg.Schedule):
                self._arm(action.at)
            elif isinstance(action, rg.Report):
                self._report(action)

    def _arm(self, at: float | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = None
        if at is not None:
            self.timer = asyncio.get_running_loop().call_at(at, self._tick, at)

    def _tick(self, at: float) -> None:
        self.timer = None
        # the loop runs a timer up to its clock resolution early (uvloop: a millisecond);
        # it is due all the same
        self.feed(rg.Tick(), now=max(self.stack.now(), at))

    def _report(self, r: rg.Report) -> None:
        now = self.stack.now()
        self.bound_until = now + r.expires if r.expires is not None else None
        if r.state is rg.State.UNREGISTERED:
            self.done.set()
        else:
            self.done.clear()
        a = self.account
        retry = f'{r.retry_at - now:.1f}' if r.retry_at is not None else '-'
        log.info('event=trunk-registration trunk=%s state=%s phase=%s status=%s reason=%s '
                 'expires=%s retry_in=%s proxy=%s user=%s', quoted(a.id), r.public,
                 r.state.value, r.status if r.status is not None else '-', quoted(r.reason),
                 r.expires if r.expires is not None else '-', retry, quoted(a.proxy),
                 quoted(a.user))
        for listener in self.owner.on_change:
            listener(a.id)

    # --- the wire ---------------------------------------------------------------------
    def _send(self, action: rg.SendRegister) -> None:
        if self.txn is not None:
            self.txn.user = None   # its answer, if any comes, no longer counts
            self.txn = None
        host = self.account.host
        if is_ip(host):
            return self._send_to(action, host)
        asyncio.get_running_loop().create_task(self._resolve_and_send(action, host))

    async def _resolve_and_send(self, action: rg.SendRegister, host: str) -> None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, self.account.port, family=socket.AF_INET, proto=socket.IPPROTO_UDP)
        except OSError as exc:
            log.info('event=trunk-resolve-failed trunk=%s host=%s error=%s',
                     quoted(self.account.id), quoted(host), quoted(exc))
            if self.machine.cseq == action.cseq:   # nothing newer was sent meanwhile
                self.feed(rg.Timeout())
            return
        if self.machine.cseq == action.cseq:
            self._send_to(action, infos[0][4][0])

    def _send_to(self, action: rg.SendRegister, ip: str) -> None:
        a = self.account
        stack = self.stack
        self.peer = peer = Peer(a.transport.upper(), (ip, a.port))
        req = Request('REGISTER', parse_uri(a.registrar_uri))
        req.add('Via', f'{stack.via(peer)};branch={gen_branch()}')
        req.add('Max-Forwards', '70')
        req.add('From', f'<{a.aor}>;tag={self.from_tag}')
        req.add('To', f'<{a.aor}>')
        req.add('Call-ID', self.call_id)
        req.add('CSeq', f'{action.cseq} REGISTER')
        req.add('Contact', stack.contact(peer, self._contact_user()))
        req.add('Expires', str(action.expires))
        for name, value in action.headers:
            req.add(name, value)
        self.txn = stack.send_request(req, peer, self)

    def _contact_user(self) -> str:
        return self.account.user or 'telephony'

    def _granted(self, resp: Response) -> int | None:
        """Our Contact's expires in the 200 (it lists every binding of the AoR), else its
        Expires header."""
        user = self._contact_user()
        try:
            contacts = resp.contacts
        except ValueError:
            contacts = []
        for c in contacts:
            u = c.uri
            if u.user == user and u.host == self.stack.host and u.port == self.stack.port:
                n = _int(c.params.get('expires'))
                if n is not None:
                    return n
        return _int(resp.get('Expires'))

    # --- sip.dialog.DialogUser ------------------------------------------------------------
    def on_response(self, resp: Response, txn: ClientTransaction | None) -> None:
        if txn is None or txn is not self.txn or resp.status < 200:
            return
        self.txn = None
        name = 'Proxy-Authenticate' if resp.status == 407 else 'WWW-Authenticate'
        self.feed(rg.Response(resp.status, resp.reason, expires=self._granted(resp),
                              challenges=tuple(resp.get_all(name)),
                              min_expires=_int(resp.get('Min-Expires')),
                              retry_after=_int(resp.get('Retry-After'))))

    def on_timeout(self, txn: Transaction) -> None:
        if txn is self.txn:
            self.txn = None
            self.feed(rg.Timeout())

    def on_request(self, req, txn) -> None:   # a REGISTER has no dialog
        pass

    def close(self) -> None:
        self._arm(None)
        if self.txn is not None:
            self.txn.user = None
            self.txn = None

    def status(self) -> dict:
        m = self.machine
        left = None
        if self.bound_until is not None and m.public == 'registered':
            left = max(0, round(self.bound_until - self.stack.now()))
        return {'id': self.account.id, 'proxy': self.account.proxy, 'user': self.account.user,
                'state': m.public, 'lastStatus': m.last_status, 'lastReason': m.last_reason,
                'expires': left}


class TrunkRegistrations:
    """Registers every TrunkAccount with `register` on; `status()` for the API and /health."""

    def __init__(self, stack: 'SipStack', backoff: rg.Backoff = rg.Backoff(),
                 jitter: Callable[[], float] = random.random):
        self.stack = stack
        self.backoff = backoff
        self.jitter = jitter
        self._regs: dict[str, _Registration] = {}
        self._started = False
        # called with a trunk's id at each change of its state (after the log line)
        self.on_change: list[Callable[[str], None]] = []

    def add(self, account: TrunkAccount) -> None:
        """Register `account` (replacing one with its id); nothing if `register` is off.
        The same account again changes nothing: reloading unchanged rules must not send an
        unregister that could cross the new REGISTER of the same Contact."""
        old = self._regs.get(account.id)
        if old is not None and old.account == account:
            return
        self.remove(account.id)
        if not account.register:
            return
        reg = self._regs[account.id] = _Registration(self, account)
        if self._started:
            reg.feed(rg.Start())

    def remove(self, trunk_id: str) -> None:
        """Unregister and forget a trunk (its rule was deleted or changed)."""
        reg = self._regs.pop(trunk_id, None)
        if reg is not None:
            reg.feed(rg.Stop())
            # the answer to Expires: 0 is not waited for; a challenge to it goes unanswered
            reg.close()

    async def start(self) -> None:
        """After the SIP stack started."""
        self._started = True
        for reg in self._regs.values():
            reg.feed(rg.Start())

    async def stop(self, timeout: float = UNREGISTER_WAIT) -> None:
        """Unregister everything (Expires: 0), waiting up to `timeout` for the answers;
        before the SIP stack stops."""
        self._started = False
        regs = list(self._regs.values())
        for reg in regs:
            reg.feed(rg.Stop())
        waits = [asyncio.create_task(reg.done.wait()) for reg in regs]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for t in pending:
                t.cancel()
        for reg in regs:
            if not reg.done.is_set():
                log.info('event=trunk-unregister-unanswered trunk=%s', quoted(reg.account.id))
            reg.close()

    def uses(self, conn) -> bool:
        """A TCP connection one of our registrations goes over (kept open when idle: the
        provider sends its calls down it)."""
        addr = getattr(getattr(conn, 'peer', None), 'addr', None)
        return any(r.peer is not None and r.peer.reliable and r.peer.addr == addr
                   for r in self._regs.values())

    def status(self) -> list[dict]:
        """One dict per registering trunk: id, proxy, user, state
        (registered|registering|failed|unregistered), lastStatus, lastReason, expires
        (seconds the binding has left while registered, else None)."""
        return [reg.status() for reg in self._regs.values()]
