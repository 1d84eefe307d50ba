"""The applications a call can be handed to, each given what it needs.

The call manager routes; it asks this for the program to run on a call and never
reaches into the server for stores (the applications sit above calls/).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from telephony.store.phones import Phone

from . import demo
from .unlock import unlock
from .voicemail import voicemail

if TYPE_CHECKING:
    from telephony.calls.manager import App
    from telephony.events import EventSink
    from telephony.store.objects import ObjectStore
    from telephony.store.phones import PhoneStore


class Applications:
    def __init__(self, phones: 'PhoneStore', objects: 'ObjectStore', events: 'EventSink',
                 demo_services: bool = True):
        self.phones = phones
        self.objects = objects
        self.events = events
        self.services: dict[str, 'App'] = dict(demo.APPS) if demo_services else {}

    def service(self, name: str) -> 'App | None':
        """A demo service (echo@, hello@, ...) by the user part it answers to."""
        return self.services.get(name.lower())

    def unlock(self, phone: Phone) -> 'App':
        return lambda call: unlock(call, phone, self.phones, self.events)

    def voicemail(self, phone: Phone) -> 'App':
        return lambda call: voicemail(call, phone, self.objects)
