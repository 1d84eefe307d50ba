"""Call detail records from the call lifecycle: the Q-loud CDR of every leg when it ends
(§9.1.4, with the `cdr` event of §9.2.1), and the Cisco records (callStart, callLegStart,
callLegEnd, callEnd) for the CDR receivers.

The call manager tells us when a leg starts (`started`, with the leg that caused it, if
any) and when it ends (`ended`); both are synchronous and never wait. What they produce
is queued in memory and written by one task, in order and in batches, so a burst of calls
costs few transactions; the CDR receivers' outbox is in the database before anything is
sent, so a record is not lost across a restart.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable
from xml.sax.saxutils import escape, quoteattr

from ..ids import new_uuid
from ..store.cdr_outbox import OpenLeg, Record
from ..store.cdrs import shown
from .cdr_delivery import MAX_RECEIVERS, refusal
from .leg import ANSWERED

if TYPE_CHECKING:
    from ..events import EventSink
    from ..store.cdr_outbox import CdrOutbox
    from ..store.cdrs import CdrStore
    from .call import Call

log = logging.getLogger('telephony.cdr')

Receivers = Callable[[], Awaitable[list[str]]]
RECORDING_WAIT = 60.0     # s a CDR waits for its recording object before going out without it
CRASH_TEARDOWN = 'localTeardown'   # a leg the server lost in a crash: it ended on our side


def rfc3339(t: float) -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))


def _addr(uri) -> str:
    if uri is None:
        return ''
    user = uri.user or ''
    return f'{user}@{uri.host}' if user and uri.host else user or uri.host or ''


def _element(tag: str, value) -> str:
    if value is None or value == '':
        return f'<{tag}/>'
    if isinstance(value, bool):
        value = 'true' if value else 'false'
    return f'<{tag}>{escape(str(value))}</{tag}>'


def cisco_record(kind: str, tag: str, ident: str, fields: dict) -> str:
    """A record's inner XML: `<call id="...">` or `<callLeg id="...">` and its fields."""
    inner = ''.join(_element(k, v) for k, v in fields.items())
    return f'<{tag} id={quoteattr(ident)}>{inner}</{tag}>'


@dataclass
class Leg:
    """What a CDR needs of a leg, kept from its start to its end."""
    id: str
    incoming: bool
    created: float
    cisco_call: str
    parent: str | None = None
    root: str | None = None
    phone: str | None = None
    owner: str | None = None
    answered: float | None = None


@dataclass
class Group:
    """The legs of one Cisco call (a root leg and those it caused)."""
    started: float
    active: int = 0
    max_active: int = 0
    completed: int = 0


@dataclass
class Pending:
    rows: list = field(default_factory=list)
    records: list = field(default_factory=list)
    opened: list = field(default_factory=list)
    closed: list = field(default_factory=list)


class CdrRecorder:
    def __init__(self, store: 'CdrStore', events: 'EventSink', outbox: 'CdrOutbox | None' = None,
                 receivers: Receivers | None = None, queued: Callable[[], None] | None = None):
        self.store = store
        self.events = events
        self.outbox = outbox
        self.receivers = receivers
        self.queued = queued or (lambda: None)   # the delivery has new records to send
        self.session = new_uuid()   # Cisco: a new session GUID each time the server starts
        self.legs: dict[str, Leg] = {}
        self.groups: dict[str, Group] = {}
        self._pending = Pending()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None
        self._followers: set[asyncio.Task] = set()
        # system/status since this start: legs ended (callLegsCompleted), most up at once
        self.completed = 0
        self.max_active = 0

    # --- lifecycle ------------------------------------------------------------------
    async def start(self, lost_calls: list[dict] | None = None) -> None:
        """Write the CDRs of calls a crash cut off (`CdrStore.lost_calls`) and the Cisco end
        records of legs whose end was never queued; then take new calls."""
        now = time.time()
        if lost_calls:
            await self._write_rows(lost_calls)
            log.info('event=cdr-lost-calls count=%d', len(lost_calls))
        if self.outbox is not None:
            open_legs = await self.outbox.open_legs()
            if open_legs:
                self._end_lost_legs(open_legs, now)
                log.info('event=cdr-lost-legs count=%d', len(open_legs))
        self._task = asyncio.get_running_loop().create_task(self._writer())
        if self._pending.records:
            self._kick()

    async def close(self) -> None:
        """Write what is queued (the server is stopping) and stop."""
        await self.flush()
        for t in list(self._followers):
            t.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        if self._task is not None and not self._task.done():
            await self._idle.wait()

    # --- what the call manager tells us -----------------------------------------------
    def started(self, call: 'Call', parent: 'Call | None' = None) -> None:
        now = time.time()
        up = self.legs.get(parent.id) if parent is not None else None
        leg = Leg(call.id, call.leg.incoming, now, up.cisco_call if up else new_uuid())
        if up is not None:
            leg.parent, leg.root = up.id, up.root or up.id
            leg.phone, leg.owner = up.phone, up.owner
        if call.owner is not None:
            leg.owner = call.owner
            leg.phone = call.info.get('to') if leg.incoming else call.info.get('from')
        self.legs[call.id] = leg
        self.max_active = max(self.max_active, len(self.legs))
        call.listeners.append(lambda kind, fields: self._on_update(leg, kind, fields))
        group = self.groups.get(leg.cisco_call)
        if group is None:
            group = self.groups[leg.cisco_call] = Group(now)
            self._record('callStart', now, 'call', leg.cisco_call, {
                'name': call.info.get('to') or call.leg.callee, 'callType': 'forwarding',
                'callCorrelator': leg.cisco_call})
        group.active += 1
        group.max_active = max(group.max_active, group.active)
        invite = call.leg.invite
        far, near = ((invite.from_.uri, invite.uri) if leg.incoming
                     else (invite.uri, invite.from_.uri)) if invite else (None, None)
        self._record('callLegStart', now, 'callLeg', leg.id, {
            'displayName': (invite.from_.display if invite and leg.incoming else '') or '',
            'remoteParty': _addr(far), 'localAddress': _addr(near), 'type': 'sip',
            'direction': 'incoming' if leg.incoming else 'outgoing', 'call': leg.cisco_call,
            'sipCallId': invite.call_id if invite else ''})
        self._pending.opened.append(OpenLeg(leg.id, leg.cisco_call, now, group.started))
        self._kick()

    def _on_update(self, leg: Leg, kind: str, fields: dict) -> None:
        if kind != 'call_update':
            return
        if fields.get('status') == ANSWERED and leg.answered is None:
            leg.answered = time.time()
        other = self.legs.get(fields.get('bridge') or '')
        if other is not None and leg.parent is None and other.parent is None \
                and other.created <= leg.created and other.root != leg.id:
            # bridged by the call API to an older leg: that leg caused this one
            leg.parent, leg.root = other.id, other.root or other.id
            leg.phone = leg.phone or other.phone
            leg.owner = leg.owner or other.owner

    def ended(self, call: 'Call') -> None:
        leg = self.legs.pop(call.id, None)
        if leg is None:
            return
        self.completed += 1
        now = time.time()
        info = call.info
        incoming = leg.incoming
        service = getattr(call, 'cdr_service', None) or (
            'mailbox' if incoming and call.owner and not call.api else 'call')
        row = {
            'id': leg.id, 'date': int(leg.created * 1000), 'service': service, 'phone': leg.phone,
            'a_number': (info.get('from') or call.leg.caller or 'anonymous') if incoming else None,
            'b_number': None if incoming else (info.get('to') or call.leg.callee),
            'parent': leg.parent, 'root': leg.root,
            't_pre': round((leg.answered or now) - leg.created),
            't_post': round(now - leg.answered) if leg.answered else 0,
            'recording_id': info.get('recording'), 'owner': leg.owner, 'written': now,
            # a fax call (ivr/fax_app.py): the fax object and the pages received
            'fax_id': getattr(call, 'fax_id', None), 'page_count': getattr(call, 'page_count', None),
        }
        stored = getattr(call, 'record_stored', None)
        if stored is not None and not stored.done():
            row['_recording'] = (call, stored)     # the recording object is still being made
        self._pending.rows.append(row)
        self._end_leg(leg.id, leg.cisco_call, leg.created, now,
                      'localTeardown' if call.leg.ended_here else 'remoteTeardown')
        self._kick()

    # --- Cisco records ------------------------------------------------------------------
    def _record(self, kind: str, t: float, tag: str, ident: str, fields: dict) -> None:
        self._pending.records.append(Record(kind, rfc3339(t), cisco_record(kind, tag, ident, fields),
                                            self.session))

    def _end_leg(self, leg_id: str, call_id: str, started: float, now: float, reason: str,
                 group: Group | None = None) -> None:
        self._record('callLegEnd', now, 'callLeg', leg_id, {
            'reason': reason, 'remoteTeardown': reason == 'remoteTeardown',
            'durationSeconds': round(now - started)})
        self._pending.closed.append(leg_id)
        group = group or self.groups.get(call_id)
        if group is None:
            return
        group.active -= 1
        group.completed += 1
        if group.active <= 0:
            self.groups.pop(call_id, None)
            self._record('callEnd', now, 'call', call_id, {
                'callLegsCompleted': group.completed, 'callLegsMaxActive': group.max_active,
                'durationSeconds': round(now - group.started)})

    def _end_lost_legs(self, legs: list[OpenLeg], now: float) -> None:
        groups: dict[str, Group] = {}
        for o in legs:
            g = groups.setdefault(o.call, Group(o.call_started))
            g.active += 1
            g.max_active += 1
        for o in legs:
            self._end_leg(o.leg, o.call, o.started, now, CRASH_TEARDOWN, groups[o.call])

    # --- the writer ---------------------------------------------------------------------
    def _kick(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, Pending()
            try:
                await self._write_rows(batch.rows)
            except Exception:
                log.exception('event=cdr-write-failed count=%d', len(batch.rows))
            try:
                await self._write_records(batch)
            except Exception:
                log.exception('event=cdr-records-failed count=%d', len(batch.records))
            if not self._wake.is_set():
                self._idle.set()

    async def _write_rows(self, rows: list[dict]) -> None:
        if not rows:
            return
        partners = await self.store.partners({r['owner'] for r in rows if r.get('owner')})
        follow = []
        for r in rows:
            r['partner'] = partners.get(r.get('owner'))
            pending = r.pop('_recording', None)
            if pending is not None:
                follow.append((r, *pending))
        await self.store.add(rows)
        waiting = {id(r) for r, _, _ in follow}
        for r in rows:
            if id(r) not in waiting:
                self._announce(r)
        for r, call, stored in follow:
            task = asyncio.get_running_loop().create_task(self._with_recording(r, call, stored))
            self._followers.add(task)
            task.add_done_callback(self._followers.discard)

    async def _with_recording(self, row: dict, call: 'Call', stored: asyncio.Future) -> None:
        """The CDR names the recording the leg made once its object exists."""
        try:
            await asyncio.wait_for(asyncio.shield(stored), RECORDING_WAIT)
        except (asyncio.TimeoutError, Exception):   # noqa: BLE001 -- the CDR goes out without it
            pass
        recording = call.info.get('recording')
        if recording:
            row['recording_id'] = recording
            try:
                await self.store.set_recording(row['id'], recording)
            except Exception:
                log.exception('event=cdr-write-failed id=%s', row['id'])
        self._announce(row)

    def _announce(self, row: dict) -> None:
        """The `cdr` event (§9.2.1) to one of the partner's sessions that asked for it."""
        if row.get('partner'):
            self.events.publish_elected(row['partner'], 'cdr', 'cdr', {'cdr': shown(row)})

    async def _write_records(self, batch: Pending) -> None:
        if self.outbox is None or not (batch.records or batch.closed):
            return
        receivers = await self.receivers() if self.receivers is not None else []
        receivers = [u for u in receivers if refusal(u) is None][:MAX_RECEIVERS]
        if not receivers:
            return
        dropped = await self.outbox.append(batch.records, receivers, batch.opened, batch.closed)
        if dropped:
            log.warning('event=cdr-outbox-full dropped=%d limit=%d', dropped, self.outbox.limit)
        self.queued()
