"""The applications a call can be handed to, each given what it needs.

The call manager routes; it asks this for the program to run on a call and never
reaches into the server for stores (the applications sit above calls/).
"""
from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Awaitable, Callable

from telephony.calls.call import Call
from telephony.calls.controls import Control as C
from telephony.calls.outgoing import DialFailed, bridge_when_answered
from telephony.config import Settings
from telephony.dialplan.numbers import CONFERENCE, precedence
from telephony.store.phones import Phone

from . import demo
from .guess_limit import GuessGuard
from .cisco_ivr_app import run_ivr
from .cospace_app import no_profiles, run_cospace
from .fax_app import receive_fax, voice_or_fax
from .menu_app import MenuRuntime, run_menu
from .pin_app import PinRuntime, run_pin
from .unlock import unlock
from .voicemail import voicemail

if TYPE_CHECKING:
    from telephony.calls.manager import App
    from telephony.events import EventSink
    from telephony.store.conferences import Conference, ConferenceStore
    from telephony.store.cospaces import CoSpaceStore, Entry
    from telephony.store.faxes import FaxStore
    from telephony.store.ivrs import IvrStore
    from telephony.store.objects import ObjectStore
    from telephony.store.phones import PhoneStore
    from telephony.store.profiles import ProfileStore

log = logging.getLogger('telephony.ivr')
NO_ROUTE = 3     # Q.850 no route to destination: a redirect to a number we cannot reach


class Applications:
    def __init__(self, phones: 'PhoneStore', objects: 'ObjectStore', events: 'EventSink',
                 demo_services: bool = True, ivrs: 'IvrStore | None' = None,
                 settings: Settings | None = None, conferences: 'ConferenceStore | None' = None):
        self.phones = phones
        self.conferences = conferences
        self.cospaces: 'CoSpaceStore | None' = None   # where a Cisco IVR's call IDs lead
        self.profiles: 'ProfileStore | None' = None   # the Cisco profiles a coSpace call gets
        self.faxes: 'FaxStore | None' = None   # where received faxes go (none: no CNG watch)
        # what a caller with the right PIN is handed to; the conference rooms replace it
        self.conference_join: Callable[[Call, 'Conference'], Awaitable[None]] = no_room
        self.objects = objects
        self.events = events
        self.ivrs = ivrs
        self.settings = settings or Settings()
        s = self.settings    # one guard for every PIN, passcode and call ID entry
        self.guesses = GuessGuard(s.pin_source_failures, s.pin_source_window, s.pin_source_block,
                                  s.pin_target_guesses, s.pin_target_window, s.pin_guard_max_keys)
        self.services: dict[str, 'App'] = dict(demo.APPS) if demo_services else {}
        # menu hops a call has made, so redirects between IVR numbers stay bounded
        self._hops: weakref.WeakKeyDictionary[Call, int] = weakref.WeakKeyDictionary()

    def service(self, name: str) -> 'App | None':
        """A demo service (echo@, hello@, ...) by the user part it answers to."""
        return self.services.get(name.lower())

    def unlock(self, phone: Phone) -> 'App':
        return lambda call: unlock(call, phone, self.phones, self.events)

    def voicemail(self, phone: Phone) -> 'App':
        """Voice mail; with fax_enable a calling fax machine's CNG switches to reception."""
        app = self.record(phone.owner, phone.announcement,
                          announcement_only=phone.play_announcement_only)
        if not phone.fax_enable or self.faxes is None:
            return app
        return lambda call: voice_or_fax(call, app, self._fax(phone.owner, answer=False))

    def fax(self, phone: Phone) -> 'App':
        """A fax number (§3.9 fax_enable): answer and receive one fax for the owner."""
        return self._fax(phone.owner, answer=True)

    def _fax(self, owner: str, answer: bool) -> 'App':
        faxes, limit = self.faxes, float(self.settings.fax_receive_limit)
        t38_request = self.settings.fax_t38_request

        async def app(call: Call) -> None:
            if faxes is None:    # no fax store wired: nobody could read it
                await call.run(C.make('hangup', hangup_cause=NO_ROUTE))
                return
            await receive_fax(call, faxes, owner, limit=limit, answer=answer,
                              t38_request=t38_request)
        return app

    def record(self, owner: str, announcement: str | None, *, announcement_only: bool = False,
               limit: float | None = None) -> 'App':
        """Voice mail for `owner` (the dial plan's `record` action uses this too)."""
        s = self.settings
        return lambda call: voicemail(call, self.objects, owner, announcement,
                                      announcement_only=announcement_only,
                                      limit=limit or s.voicemail_limit,
                                      silence=s.voicemail_silence)

    def ivr(self, phone: Phone) -> 'App':
        """The number's IVR menu (§3.9 `ivr`)."""
        return self.menu(phone.owner, phone.ivr)

    def menu(self, owner: str, ivr: str) -> 'App':
        """The owner's IVR menu `ivr` (a dial plan may name one too)."""
        return lambda call: self._menu(call, ivr, owner)

    async def _menu(self, call: Call, first: str, owner: str) -> None:
        s = self.settings
        rt = MenuRuntime(self.ivrs.get, self.objects, self.redirect, s.ivr_max_repeats,
                         s.ivr_max_hops, s.ivr_default_timeout, self._hops.__setitem__)
        await run_menu(call, first, owner, rt, self._hops.get(call, 0))

    def conference(self, phone: Phone) -> 'App':
        """PIN entry for the number owner's conferences (§3.17), then `conference_join`."""
        s = self.settings
        rt = PinRuntime(self.conferences.by_pin, lambda call, c: self.conference_join(call, c),
                        s.conference_pin_tries, s.conference_pin_timeout, s.conference_pin_prompts,
                        guard=self.guesses)
        return lambda call: run_pin(call, phone.owner, rt)

    def cospace(self, entries: list['Entry']) -> 'App':
        """A coSpace's dial-in (§7.3 resolveToCoSpaces): passcode entry if a way in has one,
        then `conference_join`, the same rooms the Q-loud conferences use."""
        s = self.settings
        return lambda call: run_cospace(call, entries, self.conference_join,
                                        s.conference_pin_tries, s.conference_pin_timeout,
                                        s.conference_pin_prompts, self.guesses, self._resolve())

    def cisco_ivr(self, ivr: dict) -> 'App':
        """A Cisco IVR (§8.9): a call ID ended by #, then that coSpace's dial-in."""
        s = self.settings
        find = self.cospaces.by_call_id if self.cospaces is not None else _nothing
        return lambda call: run_ivr(call, ivr, find, self.conference_join,
                                    s.conference_pin_tries, s.conference_pin_timeout,
                                    s.conference_pin_prompts, self.guesses, self._resolve())

    def _resolve(self):
        """How a coSpace call finds its profiles (none without the store)."""
        return self.profiles.resolve_profiles if self.profiles is not None else no_profiles

    async def redirect(self, call: Call, number: str) -> None:
        """An IVR's redirect. A number of ours with a menu or a mailbox runs it on this call;
        any other number is an outgoing call with the menu owner's rights (policy service
        `ivr`, transforms, outbound rules; one of our numbers with a dial plan is reached
        through its own routing), bridged when it answers."""
        phone = await self.phones.get(number)
        app = self._app_for(phone) if phone is not None else None
        if app is not None:
            # the message or menu belongs to the number's owner from now on
            call.owner = phone.owner
            call.update(to=phone.number)
            await app(call)
            return
        try:
            out = await call.manager.dial(call.owner, call.info.get('to') or '', number, None,
                                          bool(call.info.get('clir')), parent=call, api=False,
                                          service='ivr')
        except DialFailed as exc:
            log.info('event=ivr-redirect-refused call=%s number=%s reason="%s"', call.id, number,
                     exc.reason)
            await call.run(C.make('hangup', hangup_cause=NO_ROUTE))
            return
        log.info('event=ivr-redirect-out call=%s number=%s leg=%s', call.id, number, out.id)
        await bridge_when_answered(call, out)

    def _app_for(self, phone: Phone) -> 'App | None':
        """What a redirected (already answered) call to one of our numbers runs."""
        if phone.unlock_code or phone.dialplan or phone.dialplan_enable or phone.call_enable:
            return None      # locked, dial plans (router issue) and the call API: not here
        if phone.ivr:
            return self.ivr(phone)
        if phone.recording_enable:
            return self.voicemail(phone)
        if precedence(phone) == CONFERENCE:
            return self.conference(phone)
        return None


async def no_room(call: Call, conference: 'Conference') -> None:
    """`conference_join` of Applications built without rooms (the server wires them): say so
    in the log and end the call."""
    log.info('event=conference-join call=%s conference=%s room=none', call.id, conference.uuid)
    await call.run(C.make('hangup'))


async def _nothing(_call_id: str) -> list:
    return []
