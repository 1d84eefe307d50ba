"""Wires the layers onto one event loop and starts and stops them."""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from functools import partial
from pathlib import Path

import uvicorn

from ivr.apps import Applications

from .admission import Admission
from .api.app import create_app
from .api.events import SessionStore
from .api.limits import guarded_http
from .api.qloud.sip import publish_bindings
from .calls.callback import DialplanCalls
from .calls.cdr import CdrRecorder
from .calls.cdr_delivery import CdrDelivery, receivers_from
from .calls.fax_send import FaxSending
from .calls.manager import CallManager
from .calls.trunk_rules import TrunkRules
from .calls.policy import OutgoingPolicy
from .conference.dialout import DialOuts, enter
from .conference.registry import ConferenceRegistry
from .conference.room import ConferenceRooms
from .config import Settings
from .events import EventSink
from .media.engine import MediaEngine
from .media.recorder import recover_all
from .sip.access import Authenticator
from .sip.message import make_response
from .sip.registrar import Registrar, RegisterError, ok_headers
from .sip.registration import Backoff
from .sip.registrations import SETTINGS_TRUNK, TrunkRegistrations, settings_trunk
from .sip.transport import resolve
from .sip.trunks import TrunkLogins, TrunkMatcher, is_ip
from .sip.ua import SipStack
from .store.bindings import BindingStore
from .store.calls import CallHistory
from .store.cdr_outbox import CdrOutbox
from .store.cdrs import CdrStore
from .store.conferences import ConferenceStore
from .store.db import Database
from .store.dialplans import DialplanStore
from .store.ivrs import IvrStore
from .store.cospaces import CoSpaceStore
from .store.dialrules import DialRuleStore
from .store.faxes import FaxStore
from .store.objects import ObjectStore
from .store.phones import PhoneStore
from .store.policy import PolicyStore
from .store.profiles import ProfileStore

log = logging.getLogger('telephony')

SWEEP_INTERVAL = 10.0
WS_MAX_FRAME = 65536   # the event WebSocket ignores what clients send: no need for 16 MiB frames


class Server:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.db = Database.for_data_dir(self.data_dir, settings.database_url or None)
        self.media = MediaEngine(settings.rtp_host, settings.rtp_port_min, settings.rtp_port_max,
                                 media_timeout=settings.media_timeout)
        self.stack = SipStack(settings.sip_host, settings.sip_port)
        self.registrar = Registrar(forbidden=resolve([settings.trunk]),  # never a target
                                   max_contacts=settings.sip_max_contacts)
        self.binding_store = BindingStore(self.db, self.registrar, lambda: self.stack.now())
        self.stack.transport.limit_tcp(
            settings.tcp_max_connections, settings.tcp_idle_timeout,
            held=lambda c: self.registrar.uses(c) or self.trunk_registrations.uses(c) or any(
                call.leg.peer.conn is c for call in self.calls.calls.values()))
        # trunks: the settings one registers when trunk_register is on; inbound calls are
        # "from a trunk" by their source address only
        self.trunk_registrations = TrunkRegistrations(
            self.stack, Backoff(settings.trunk_register_retry, settings.trunk_register_retry_max))
        trunk = settings_trunk(settings)
        if trunk is not None:
            self.trunk_registrations.add(trunk)
        self.trunk_matcher = TrunkMatcher({SETTINGS_TRUNK: self._settings_trunk_addresses()})
        self._domains: set[str] = {settings.domain}
        self.auth = Authenticator(self._secret(), settings.domain, self.db_account_in,
                                  lambda: self._domains, lambda: self.stack.now(),
                                  algorithms=[a.strip() for a in settings.digest_algorithms.split(',')
                                              if a.strip()],
                                  allow_rfc2069=settings.digest_allow_rfc2069,
                                  account_guesses=settings.auth_account_guesses,
                                  account_window=settings.auth_account_window)
        # events flow up: calls/, store/ and the applications publish, the API's sessions listen
        self.events = EventSink()
        self.sessions = SessionStore(settings.api_session_idle, settings.api_max_anonymous_sessions,
                                     max_per_user=settings.api_max_user_sessions)
        self.events.subscribe(self.sessions)
        self.objects = ObjectStore(self.db, self.data_dir, self.events,
                                   max_upload_bytes=settings.upload_max_bytes,
                                   max_upload_seconds=settings.upload_max_seconds)
        self.faxes = FaxStore(self.db, self.objects, self.events,
                              max_upload_bytes=settings.fax_upload_max_bytes,
                              max_pages=settings.fax_max_pages,
                              convert_timeout=settings.fax_convert_timeout,
                              pages_per_month=settings.fax_pages_per_month,
                              downloads_at_once=settings.fax_downloads_at_once)
        self.phones = PhoneStore(self.db)
        self.dialplans = DialplanStore(self.db)
        self.ivrs = IvrStore(self.db)
        self.conferences = ConferenceStore(self.db, self.events)
        # the rooms running now (the API's view), and the rooms themselves over the mixer
        self.conference_runtime = ConferenceRegistry(self.events,
                                                     settings.conference_status_interval)
        self.conference_rooms = ConferenceRooms(self.conference_runtime, self.media.mixer,
                                                tap_dir=settings.conference_tap_dir or None,
                                                record_dir=self.data_dir / 'conference-recordings')
        self.dial_rules = DialRuleStore(self.db)   # Cisco /api/v1 dial plans, CDR receivers
        self.cospaces = CoSpaceStore(self.db, settings.cospaces_max,
                                     settings.cospace_access_methods_max)
        self.call_history = CallHistory(self.db)
        # CDRs: Q-loud rows for /api/partner/cdr, Cisco records for the CDR receivers
        self.cdrs = CdrStore(self.db)
        self.cdr_outbox = CdrOutbox(self.db, settings.cdr_outbox_limit)
        receivers = receivers_from(settings.cdr_receivers, self.dial_rules.receivers)
        self.cdr_delivery = CdrDelivery(self.cdr_outbox, receivers, retry_min=settings.cdr_retry_min,
                                        retry_max=settings.cdr_retry_max)
        self.cdr = CdrRecorder(self.cdrs, self.events, self.cdr_outbox, receivers,
                               queued=self.cdr_delivery.notify)
        self.calls = CallManager(
            stack=self.stack, media=self.media, settings=settings, events=self.events, auth=self.auth,
            registrar=self.registrar, db=self.db, phones=self.phones, objects=self.objects,
            history=self.call_history, recordings_dir=self.data_dir / 'recordings', cdr=self.cdr,
            trunks=self.trunk_matcher, dial_rules=self.dial_rules, dialplans=self.dialplans,
            apps=Applications(self.phones, self.objects, self.events, demo_services=settings.demo,
                              ivrs=self.ivrs, settings=settings, conferences=self.conferences))
        self.calls.apps.conference_join = self.conference_rooms.join   # after the right PIN
        # calls /api/v1 makes and the legs it dials into them (§8.1.2, §8.1.6, §8.3.2)
        self.dialouts = DialOuts(self.conference_rooms, self.calls, settings)
        # the `conference` control: the conference read again when the control runs
        self.calls.apps.conference_enter = partial(enter, self.conference_rooms,
                                                   current=self.conferences.get)
        self.calls.outgoing.cospaces = self.cospaces    # inbound rules' resolveToCoSpaces/Ivrs
        self.calls.apps.cospaces = self.cospaces        # the IVRs' call IDs
        self.profiles = ProfileStore(self.db)   # Cisco profiles; a coSpace dial-in reads them
        self.calls.apps.profiles = self.profiles
        self.calls.apps.faxes = self.faxes            # received faxes (ivr/fax_app.py)
        self.dialouts.profiles = self.profiles   # a dial-out's room and callLegProfile
        # what partners set for their users' outgoing calls (§9): filters, limits, extensions
        self.policy_store = PolicyStore(self.db)
        self.calls.outgoing.policy = OutgoingPolicy(self.policy_store, self.phones, settings,
                                                    lambda: self.calls.calls.values())
        # POST /api/fax/(uuid)/send: the store's checked sends go out as calls
        self.fax_sending = FaxSending(
            self.calls, self.faxes, at_once=settings.fax_calls_at_once,
            queue_max=settings.fax_queue_max, retries=settings.fax_retry_count,
            retry_delay=settings.fax_retry_delay, ring_timeout=settings.fax_ring_timeout,
            per_user=settings.fax_calls_per_user, queue_per_user=settings.fax_queue_per_user)
        self.faxes.sender = self.fax_sending
        self.dialplan_calls = DialplanCalls(self.calls, self.dialplans, self.events)
        self.calls.dialplan_calls = self.dialplan_calls
        self.stack.on_invite = self.calls.on_invite
        # outbound rules with a sipProxy are trunks: registrations and source addresses follow them
        self.trunk_rules = TrunkRules(self.calls.outgoing.rules, self.trunk_registrations,
                                      self._settings_trunk_addresses(), self._set_trunk_matcher,
                                      set_logins=self._set_trunk_logins)
        self.dial_rules.listeners.append(self.trunk_rules.changed)
        self.stack.on_register = self.on_register
        self.admission = Admission(settings, self.media, self.stack, lambda: len(self.calls.calls))
        self.stack.shed = self.admission.shed
        self.http: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task] = []
        self.started = time.time()

    def _secret(self) -> bytes:
        """Nonce-signing key, kept in the data dir so nonces survive a restart."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / 'secret'
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    def _settings_trunk_addresses(self) -> list[str]:
        """Where the settings trunk's INVITEs come from: its host (resolved at start), and
        trunk_addresses."""
        s = self.settings
        hosts = sorted(h for h, _ in resolve([s.trunk]) if is_ip(h)) if s.trunk else []
        return hosts + [a.strip() for a in s.trunk_addresses.split(',') if a.strip()]

    def _set_trunk_matcher(self, matcher: TrunkMatcher) -> None:
        self.trunk_matcher = self.calls.trunks = matcher

    def _set_trunk_logins(self, logins: TrunkLogins) -> None:
        self.auth.trunk_logins = logins

    # --- accounts -------------------------------------------------------------------
    def aor(self, user: str) -> str:
        return f'{user}@{self.settings.domain}'

    async def db_account_in(self, user: str, domain: str):
        return await self.db.sip_account(user, domain)

    async def db_account(self, user: str):
        return await self.db_account_in(user, self.settings.domain)

    # --- REGISTER ---------------------------------------------------------------------
    async def on_register(self, req, txn, peer) -> None:
        outcome = await self.auth.check(req, peer)
        if outcome.response is not None:
            return self.stack.respond(txn, outcome.response)
        # a trunk's inbound credential is for its calls, not for registering as an account
        if outcome.trunk is not None or (req.to.uri.user or '') != outcome.user:
            return self.stack.respond(txn, make_response(req, 403, 'Not Your Address'))
        aor = self.aor(outcome.user)
        before = self.registrar.lookup(aor, self.stack.now())
        try:
            bindings = self.registrar.update(aor, req, peer, self.stack.now())
        except RegisterError as exc:
            resp = make_response(req, exc.status, exc.reason)
            if exc.min_expires:
                resp.add('Min-Expires', str(exc.min_expires))
            return self.stack.respond(txn, resp)
        resp = make_response(req, 200)
        now = self.stack.now()
        for name, value in ok_headers(req, bindings, now):
            resp.add(name, value)
        log.info('event=register aor=%s contacts=%d from=%s:%s', aor, len(bindings), *peer.addr)
        self.stack.respond(txn, resp)
        self.binding_store.changed(aor)   # written behind the 200
        # sip_register for the bindings this REGISTER made or refreshed, sip_unregister for
        # the ones it removed
        kept = {b.contact for b in bindings}
        await publish_bindings(
            self, [b for b in bindings if b.call_id == req.call_id and b.cseq == req.cseq.seq],
            [b for b in before if b.contact not in kept])

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            gone = self.registrar.sweep(self.stack.now())
            self.binding_store.changed(*{b.aor for b in gone})
            for b in gone:
                log.info('event=registration-expired aor=%s contact=%s', b.aor, b.contact)
            await publish_bindings(self, unregistered=gone)

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self.http is not None and self.http.should_exit

    def status(self) -> dict:
        return {'calls': len(self.calls.calls), 'uptime': round(time.time() - self.started, 1),
                'registrations': sum(len(v) for v in self.registrar.bindings.values()),
                'shed': self.stack.stats['shed'], 'shed_by': self.admission.reasons,
                'overloaded': self.admission.overloaded(),
                'loop_cpu_percent': round(self.admission.loop_cpu * 100, 1),
                'pending_invites': self.stack.pending_invites,
                'auth_blocked': self.auth.refused,
                'trunks': self.trunk_registrations.status(),
                'loop_lag_ms': round(self.media.clock.lag * 1000, 1)}

    async def start(self) -> None:
        await self.db.open()
        lost = await self.cdrs.lost_calls(time.time())   # read before end_live marks them ended
        ended = await self.call_history.end_live()   # calls cut off by a crash or kill
        if ended:
            log.info('event=calls-ended-at-start count=%d', ended)
        await self.cdr.start(lost)
        await self.cdr_delivery.start()
        recover_all(self.calls.recordings_dir)  # recordings cut short by a crash stay playable
        await self.objects.recover()            # ... and recordings/conversions in progress finish
        await self.faxes.recover()              # ... and fax conversions; cut-off faxes end
        await self.media.start()
        await self.stack.start()
        await self.trunk_rules.sync()
        await self.trunk_registrations.start()
        await self.binding_store.load()   # phones registered before a restart stay reachable
        for contacts in self.registrar.bindings.values():   # ... and heard during guessing
            for b in contacts.values():
                self.auth.remember_source(b.aor, b.peer.addr[0])
        self._tasks.append(asyncio.create_task(self._sweep()))
        self._tasks.append(asyncio.create_task(
            self.trunk_rules.resolve_forever(self.settings.trunk_resolve_interval)))
        self._tasks.append(asyncio.create_task(self.sessions.sweep_forever()))
        s = self.settings
        config = uvicorn.Config(create_app(self), host=s.http_host, port=s.http_port,
                                log_level='warning', lifespan='off',
                                http=guarded_http(s.http_max_connections, s.http_head_timeout),
                                ws_max_size=WS_MAX_FRAME,
                                log_config=None)   # uvicorn logs through the CLI's formatter
        self.http = uvicorn.Server(config)
        self.http.install_signal_handlers = lambda: None
        self._tasks.append(asyncio.create_task(self.http.serve()))
        while not self.http.started:  # noqa: ASYNC110 -- uvicorn offers no event to wait on
            await asyncio.sleep(0.01)
        self.http_port = self.http.servers[0].sockets[0].getsockname()[1]
        self.base_url = f'http://{s.http_host}:{self.http_port}'

    async def stop(self) -> None:
        self.fax_sending.close()   # its calls end below; their reports end `error` at start
        for call in list(self.calls.calls.values()):
            call.leg.hangup(cause=41)
        if self.http:
            self.http.should_exit = True
        for t in self._tasks:
            if t is not self._tasks[-1]:
                t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.trunk_registrations.stop()    # Expires: 0, while the stack still runs
        await self.stack.stop()
        await self.media.stop()
        await self.cdr.close()            # the CDRs of the calls just ended, and their records
        await self.cdr_delivery.stop()
        await self.binding_store.flush()
        await self.db.close()
