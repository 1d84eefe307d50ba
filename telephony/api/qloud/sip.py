"""/api/sip (§3.21): a user's SIP accounts, and the sip_* events of §7.15.

These are the registrar's accounts. Only digest HA1 values are stored, never the
password, so `GET /api/sip` cannot show the `password` field of the document's
example; it shows everything else, plus `contact`/`expire` while registered.

Account names are `<api username>_NN` (the document's `joe_08`), the lowest free NN.
The only valid domain is the server's configured one (`wrong-domain` otherwise).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from ...logtext import quoted
from ...sip.message import Request as SipRequest, gen_branch, gen_call_id, gen_tag
from ..events import Session
from .common import ApiError, Body, get_user_session, ok, server_of

if TYPE_CHECKING:
    from ..services import ApiServices
    from ...sip.registrar import Binding
    from ...store.db import SipAccount

log = logging.getLogger('telephony.api.sip')

router = APIRouter(prefix='/api/sip', tags=['sip'])

PASSWORD_RE = r'^.{5,50}$'
DESCRIPTION_RE = r'^.{0,100}$'
LINE_200_RE = r'^[^\r\n]{0,200}$'      # §3.21 says ^.{0,200}$; a header value has no line break
_create_locks: dict[str, asyncio.Lock] = {}


class NewAccount(Body):
    password: str = Field(pattern=PASSWORD_RE)
    description: str = Field('', pattern=DESCRIPTION_RE)
    domain: str | None = Field(None, max_length=255)


class AccountChange(Body):
    password: str | None = Field(None, pattern=PASSWORD_RE)
    description: str | None = Field(None, pattern=DESCRIPTION_RE)
    domain: str | None = Field(None, max_length=255)


class Notify(Body):
    event_string: str = Field(alias='event-string', pattern=r'^[^\r\n]{1,200}$')
    content_type: str = Field(alias='content-type', pattern=LINE_200_RE)
    # a body: line breaks allowed (message-summary needs them), length as §3.21 says
    content: str = Field('', max_length=2500)


# --- helpers --------------------------------------------------------------------------------

def _domain(server: 'ApiServices', wanted: str | None) -> str:
    domain = server.settings.domain
    if wanted is not None and wanted.lower() != domain.lower():
        raise ApiError('wrong-domain', f'the only SIP domain here is {domain}')
    return domain


async def _own_account(server: 'ApiServices', s: Session, user: str) -> 'SipAccount':
    acct = await server.db.sip_account(user, server.settings.domain)
    if acct is None or acct.owner != s.user:
        raise ApiError('wrong-sip', 'no such SIP account')
    return acct


def contact_of(b: 'Binding') -> str:
    """§7.15.4: IP address and port the registration came from."""
    host, port = b.peer.addr[0], b.peer.addr[1]
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


def expire_of(b: 'Binding', now: float) -> int:
    """Absolute expiry in seconds since the epoch (bindings count on the loop clock)."""
    return int(time.time() + b.remaining(now))


def _bindings(server: 'ApiServices', user: str) -> list['Binding']:
    return server.registrar.lookup(server.aor(user), server.stack.now())


def _split_aor(aor: str) -> tuple[str, str]:
    user, _, domain = aor.rpartition('@')
    return user, domain


async def publish_bindings(server: 'ApiServices', registered: list['Binding'] = (),
                           unregistered: list['Binding'] = (), owner: str | None = None) -> None:
    """sip_register / sip_unregister to the owners of the accounts (none for CLI accounts),
    looked up unless `owner` is given. Called by the server after a REGISTER and by the
    expiry sweep; never raises."""
    try:
        owners: dict[str, str | None] = {}
        now = server.stack.now()
        for name, bindings in (('sip_register', registered), ('sip_unregister', unregistered)):
            for b in bindings:
                user, domain = _split_aor(b.aor)
                if owner is not None:
                    owners[user] = owner
                elif user not in owners:
                    acct = await server.db.sip_account(user, domain)
                    owners[user] = acct.owner if acct is not None else None
                fields = {'user': user, 'domain': domain, 'contact': contact_of(b)}
                if name == 'sip_register':
                    fields['expire'] = expire_of(b, now)
                server.sessions.publish(owners[user], name, fields)
    except Exception:
        log.exception('event=sip-event-error')


class _NotifyOutcome:
    """The transaction user of an API NOTIFY: nobody waits for it, its end is logged."""

    def __init__(self, account: str, contact: str):
        self.account = account
        self.contact = contact

    def on_response(self, resp, txn) -> None:
        if resp.status >= 200:
            log.info('event=notify-response account=%s contact=%s status=%d', self.account,
                     self.contact, resp.status)

    def on_timeout(self, txn) -> None:
        log.info('event=notify-timeout account=%s contact=%s', self.account, self.contact)


# --- endpoints --------------------------------------------------------------------------------

@router.post('')
async def create_account(body: NewAccount, request: Request,
                         s: Session = Depends(get_user_session)) -> dict:
    """Create a SIP account named `<username>_NN`; answers its `user` and `domain`."""
    server = server_of(request)
    domain = _domain(server, body.domain)
    me = await server.db.user_by(uuid_=s.user)
    if me is None:
        raise ApiError('no-auth', 'the session user no longer exists')
    limit = server.settings.sip_account_limit
    async with _create_locks.setdefault(s.user, asyncio.Lock()):
        if len(await server.db.sip_accounts(owner=s.user)) >= limit:
            raise ApiError('quota-exceeded', f'at most {limit} SIP accounts per user')
        prefix = f'{me.username}_'
        taken = await server.db.sip_user_names(domain, prefix)
        n = 1
        while True:
            name = f'{prefix}{n:02d}'
            if name not in taken:
                acct = await server.db.create_sip_account(name, domain, body.password,
                                                          body.description, s.user)
                if acct is not None:
                    break
            n += 1
    event = {'user': name, 'domain': domain}
    if body.description:
        event['description'] = body.description
    server.sessions.publish(s.user, 'sip_new', event)
    log.info('event=sip-account-new account=%s@%s owner=%s', name, domain, s.user)
    return ok(user=name, domain=domain)


@router.get('')
async def list_accounts(request: Request, s: Session = Depends(get_user_session)) -> dict:
    """The user's accounts; `contact`/`expire` while a device is registered. No password:
    only digest hashes are stored."""
    server = server_of(request)
    now = server.stack.now()
    out = {}
    for acct in await server.db.sip_accounts(owner=s.user):
        entry: dict = {'domain': acct.domain}
        if acct.description:
            entry['description'] = acct.description
        bindings = _bindings(server, acct.user)
        if bindings:
            b = max(bindings, key=lambda b: b.expires_at)
            entry['contact'] = contact_of(b)
            entry['expire'] = expire_of(b, now)
        out[acct.user] = entry
    return ok(sip=out)


@router.post('/{sip_user}')
async def modify_account(sip_user: str, body: AccountChange, request: Request,
                         s: Session = Depends(get_user_session)) -> dict:
    """Change password, description or domain of one of the user's accounts."""
    server = server_of(request)
    acct = await _own_account(server, s, sip_user)
    _domain(server, body.domain)
    await server.db.update_sip_account(acct.user, acct.domain, password=body.password,
                                       description=body.description)
    event = {'user': acct.user, 'domain': acct.domain}
    if body.description is not None and body.description != acct.description:
        event['description'] = body.description
    server.sessions.publish(s.user, 'sip_modify', event)
    return ok()


@router.delete('/{sip_user}')
async def delete_account(sip_user: str, request: Request,
                         s: Session = Depends(get_user_session)) -> dict:
    """Delete one of the user's accounts; its registrations end with it."""
    server = server_of(request)
    acct = await _own_account(server, s, sip_user)
    if not await server.db.delete_sip_account(acct.user, acct.domain):
        raise ApiError('wrong-sip', 'no such SIP account')
    gone = _bindings(server, acct.user)
    server.registrar.bindings.pop(server.aor(acct.user), None)
    server.binding_store.changed(server.aor(acct.user))   # and leave the database too
    await publish_bindings(server, unregistered=gone, owner=s.user)
    server.sessions.publish(s.user, 'sip_delete', {'user': acct.user, 'domain': acct.domain})
    log.info('event=sip-account-delete account=%s@%s', acct.user, acct.domain)
    return ok()


@router.post('/{sip_user}/notify')
async def notify(sip_user: str, body: Notify, request: Request,
                 s: Session = Depends(get_user_session)) -> dict:
    """Send an out-of-dialog NOTIFY (e.g. `check-sync`) to every registered contact."""
    server = server_of(request)
    acct = await _own_account(server, s, sip_user)
    bindings = _bindings(server, acct.user)
    if not bindings:
        raise ApiError('not-registered', 'no device is registered with this account')
    stack = server.stack
    for b in bindings:
        req = SipRequest('NOTIFY', b.contact)
        req.add('Via', f'{stack.via(b.peer)};branch={gen_branch()}')
        req.add('Max-Forwards', '70')
        req.add('From', f'<sip:{acct.domain}>;tag={gen_tag()}')
        req.add('To', f'<sip:{acct.user}@{acct.domain}>')
        req.add('Call-ID', gen_call_id(stack.host))
        req.add('CSeq', '1 NOTIFY')
        req.add('Contact', stack.contact(b.peer))
        req.add('Event', body.event_string)
        req.add('Subscription-State', 'terminated')
        if body.content_type:
            req.add('Content-Type', body.content_type)
        req.body = body.content.encode('utf-8')
        stack.send_request(req, b.peer, _NotifyOutcome(acct.user, contact_of(b)))
        log.info('event=notify-sent account=%s contact=%s event=%s', acct.user, b.contact,
                 quoted(body.event_string))   # the client's text: one field, always
    return ok()
