"""What the HTTP API is handed by the server: exactly these parts, nothing else.

The server wires the layers; the API sees it only through this protocol, so the API
cannot grow a dependency on the server's insides without saying so here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..calls.cdr import CdrRecorder
    from ..calls.manager import CallManager
    from ..conference.registry import ConferenceRuntime
    from ..conference.room import ConferenceRooms
    from ..conference.dialout import DialOuts
    from ..config import Settings
    from ..sip.registrar import Registrar
    from ..sip.registrations import TrunkRegistrations
    from ..sip.ua import SipStack
    from ..store.calls import CallHistory
    from ..store.cdr_outbox import CdrOutbox
    from ..store.cdrs import CdrStore
    from ..store.conferences import ConferenceStore
    from ..store.db import Database
    from ..calls.callback import DialplanCalls
    from ..store.dialplans import DialplanStore
    from ..store.ivrs import IvrStore
    from ..store.cospaces import CoSpaceStore
    from ..store.dialrules import DialRuleStore
    from ..store.faxes import FaxStore
    from ..store.objects import ObjectStore
    from ..store.phones import PhoneStore
    from ..store.policy import PolicyStore
    from ..store.profiles import ProfileStore
    from .events import SessionStore


class ApiServices(Protocol):
    settings: 'Settings'
    base_url: str
    db: 'Database'
    dial_rules: 'DialRuleStore'
    sessions: 'SessionStore'
    calls: 'CallManager'
    call_history: 'CallHistory'
    cdrs: 'CdrStore'
    cdr: 'CdrRecorder'          # .completed, .max_active: legs since the start (system/status)
    cdr_outbox: 'CdrOutbox'     # .next_correlator_index() (system/status cdrCorrelatorIndex)
    objects: 'ObjectStore'
    phones: 'PhoneStore'
    dialplans: 'DialplanStore'
    dialplan_calls: 'DialplanCalls'    # callback, callthrough, callreverse (§4.2)
    ivrs: 'IvrStore'
    policy_store: 'PolicyStore'   # partners' call filters, emergency data, usergroups (§9)
    registrar: 'Registrar'
    # trunks' outbound registrations; .status() is a dict per trunk: id (the rule's), proxy,
    # user, state (registered | registering | failed | unregistered), lastStatus, lastReason,
    # expires
    trunk_registrations: 'TrunkRegistrations'
    stack: 'SipStack'
    conferences: 'ConferenceStore'                 # the conference objects (§3.17)
    conference_runtime: 'ConferenceRuntime'        # the rooms running now (.running(uuid))
    cospaces: 'CoSpaceStore'                       # the Cisco coSpaces and access methods (§6)
    conference_rooms: 'ConferenceRooms'            # the rooms themselves (Cisco calls/callLegs)
    profiles: 'ProfileStore'                       # Cisco call/callLeg/dtmf/dial-in profiles
    faxes: 'FaxStore'         # fax objects, reports, page quota (§3.13); .sender: the engine
    dialouts: 'DialOuts'                           # /api/v1-made calls and their dial-outs

    @property
    def stopping(self) -> bool:
        """The server is shutting down: long polls answer now."""
        ...

    def aor(self, user: str) -> str: ...

    def status(self) -> dict: ...
