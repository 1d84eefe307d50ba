"""Q-loud dial plans (§4.1 v2, §4.2 v1) as pure decisions: the plan's JSON, the call's facts
and the time in, what to do with the call out.

`from_json` takes a body the API has already validated (document field names, as stored) and
raises ValueError naming the field for anything it cannot use. Nothing here reads a clock:
`now` is passed in, and every time is UTC (§4.1: "The server timezone is UTC").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from .regexes import PatternError, compile_pattern, fullmatch

PHONE = re.compile(r'\+[0-9]{3,20}')
SIP = re.compile(r'[a-z0-9]{2,20}_[0-9]{2}')
WEEKDAYS = ('MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN')
V2_ACTIONS = ('reject', 'record', 'parallel', 'linear', 'cyclic')
HUNTS = ('parallel', 'linear', 'cyclic')
V1_ACTIONS = ('none', 'redirect', 'reject', 'sip', 'record')
MAX_PROFILES = 100   # bounded work per call; the API caps what it stores the same way
MAX_TARGETS = 50


def _fail(name: str, why: str) -> ValueError:
    return ValueError(f'{name}: {why}')


def _obj(d: Any, name: str) -> dict:
    if not isinstance(d, dict):
        raise _fail(name, 'must be a JSON object')
    return d


def _bool(d: dict, key: str, name: str, default: bool = False) -> bool:
    v = d.get(key, default)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise _fail(name, 'must be true or false')
    return v


def _text(d: dict, key: str, name: str, rx: re.Pattern | None = None) -> str | None:
    """An optional string field; '' means unset (§4.2: an empty string deletes a field)."""
    v = d.get(key)
    if v is None or v == '':
        return None
    if not isinstance(v, str) or (rx is not None and not rx.fullmatch(v)):
        raise _fail(name, f'{v!r} is not valid')
    return v


def _seconds(v: Any, name: str) -> float | None:
    """A timeout: "if set to lower than 1 ... won't stop until network disconnect" (None)."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(name, 'must be a number of seconds')
    return float(v) if v >= 1 else None


@dataclass(frozen=True)
class Target:
    """A phone number (reached by an outgoing call) or one of the owner's SIP accounts."""
    value: str
    timeout: float | None = None     # seconds this target rings; None: until it ends itself

    @property
    def kind(self) -> str:
        return 'phone' if self.value.startswith('+') else 'sip'

    @classmethod
    def from_json(cls, t: Any, name: str) -> 'Target':
        # parallel targets are strings in §4.1's example, linear/cyclic ones objects
        if isinstance(t, str):
            t = {'target': t}
        t = _obj(t, name)
        value = t.get('target')
        if not isinstance(value, str) or not (PHONE.fullmatch(value) or SIP.fullmatch(value)):
            raise _fail(f'{name}.target', f'{value!r} is neither a phone number nor a SIP account')
        return cls(value, _seconds(t.get('timeout'), f'{name}.timeout'))


def _targets(d: dict, name: str) -> tuple[Target, ...]:
    ts = d.get('targets')
    if not isinstance(ts, list) or not ts:
        raise _fail(f'{name}.targets', 'at least one target is needed')
    if len(ts) > MAX_TARGETS:
        raise _fail(f'{name}.targets', f'at most {MAX_TARGETS} targets')
    return tuple(Target.from_json(t, f'{name}.targets[{i}]') for i, t in enumerate(ts))


@dataclass(frozen=True)
class Ringtone:
    """What the caller hears while targets ring: an announcement, with ringing mixed in."""
    announcement: str
    mix: bool = False


# --- v2 time filters --------------------------------------------------------------------------

def _date(v: Any, name: str) -> date | None:
    if v is None or v == '':
        return None
    try:
        return datetime.strptime(v, '%d.%m.%Y').date()
    except (TypeError, ValueError):
        raise _fail(name, f'{v!r} is not dd.MM.yyyy') from None


def _clock(v: Any, name: str) -> time | None:
    if v is None or v == '':
        return None
    if not isinstance(v, str) or not re.fullmatch(r'[0-9]{2}:[0-9]{2}', v):
        raise _fail(name, f'{v!r} is not hh:mm')
    h, m = int(v[:2]), int(v[3:])
    if h > 23 or m > 59:
        raise _fail(name, f'{v!r} is not a time of day')
    return time(h, m)


@dataclass(frozen=True)
class TimeFilter:
    """§4.1 `time`. The day fields (date, date_start/date_end, weekdays) are checked against
    the day the time window starts on: MON 22:00-02:00 matches Tuesday 01:00."""
    date: date | None = None
    date_start: date | None = None
    date_end: date | None = None
    weekdays: frozenset[int] | None = None    # 0 = Monday, as datetime.weekday()
    time_start: time | None = None
    time_end: time | None = None

    @classmethod
    def from_json(cls, t: Any, name: str = 'time') -> 'TimeFilter':
        t = _obj(t, name)
        days = t.get('weekdays')
        weekdays = None
        if days is not None:
            if not isinstance(days, list) or any(d not in WEEKDAYS for d in days):
                raise _fail(f'{name}.weekdays', f'a list of {", ".join(WEEKDAYS)}')
            weekdays = frozenset(WEEKDAYS.index(d) for d in days)
        f = cls(_date(t.get('date'), f'{name}.date'), _date(t.get('date_start'), f'{name}.date_start'),
                _date(t.get('date_end'), f'{name}.date_end'), weekdays,
                _clock(t.get('time_start'), f'{name}.time_start'),
                _clock(t.get('time_end'), f'{name}.time_end'))
        if f.date_start and f.date_end and f.date_end < f.date_start:
            raise _fail(f'{name}.date_end', 'precedes date_start')
        return f

    def _day_ok(self, day: date) -> bool:
        return ((self.date is None or day == self.date)
                and (self.date_start is None or day >= self.date_start)
                and (self.date_end is None or day <= self.date_end)
                and (self.weekdays is None or day.weekday() in self.weekdays))

    def matches(self, now: datetime) -> bool:
        now = utc(now)
        t = now.time().replace(second=0, microsecond=0)
        start, end = self.time_start, self.time_end
        if start is None and end is None:
            return self._day_ok(now.date())
        if start is not None and end is not None and start >= end:
            # "time_end refers to the following day": the window began today or yesterday
            if t >= start:
                return self._day_ok(now.date())
            return t < end and self._day_ok(now.date() - timedelta(days=1))
        in_window = (start is None or t >= start) and (end is None or t < end)
        return in_window and self._day_ok(now.date())


def utc(now: datetime) -> datetime:
    """A naive datetime is taken as UTC already."""
    return now if now.tzinfo is None else now.astimezone(timezone.utc).replace(tzinfo=None)


# --- v2 -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CallFacts:
    """What a dial plan may look at: the caller as From showed it, whether CLIR was asked for
    (Privacy: id, or an anonymous From), and the number called."""
    caller: str = ''
    clir: bool = False
    called: str = ''

    @property
    def shown_caller(self) -> str:
        """§4.1: the `caller` regex "anonymous" matches calls with clir enabled."""
        return 'anonymous' if self.clir or not self.caller else self.caller


@dataclass(frozen=True)
class Profile:
    action: str
    caller: re.Pattern | None = None
    time: TimeFilter | None = None
    targets: tuple[Target, ...] = ()
    timeout: float | None = None           # the whole action's (parallel|linear|cyclic)
    announcement: str | None = None        # record

    @classmethod
    def from_json(cls, p: Any, name: str) -> 'Profile':
        p = _obj(p, name)
        actions = [a for a in V2_ACTIONS if a in p]
        if len(actions) != 1:
            raise _fail(name, 'needs exactly one action of ' + '|'.join(V2_ACTIONS))
        action = actions[0]
        body = _obj(p[action] if p[action] is not None else {}, f'{name}.{action}')
        caller = time_filter = None
        flt = p.get('filter')
        if flt is not None:
            flt = _obj(flt, f'{name}.filter')
            if flt.get('caller') not in (None, ''):
                try:
                    caller = compile_pattern(flt['caller'])
                except PatternError as exc:
                    raise _fail(f'{name}.filter.caller', str(exc)) from None
            if flt.get('time') is not None:
                time_filter = TimeFilter.from_json(flt['time'], f'{name}.filter.time')
        targets, timeout, announcement = (), None, None
        if action in HUNTS:
            targets = _targets(body, f'{name}.{action}')
            timeout = _seconds(body.get('timeout'), f'{name}.{action}.timeout')
        elif action == 'record':
            announcement = _text(body, 'announcement', f'{name}.record.announcement')
        return cls(action, caller, time_filter, targets, timeout, announcement)

    def matches(self, facts: CallFacts, now: datetime) -> bool:
        """§4.1: no filter, or all of its criteria match. `caller` must match the whole
        number ("+4922112345" is an exact match)."""
        if self.caller is not None and not fullmatch(self.caller, facts.shown_caller):
            return False
        return self.time is None or self.time.matches(now)


@dataclass(frozen=True)
class DialplanV2:
    profiles: tuple[Profile, ...] = ()
    ringtone: Ringtone | None = None
    description: str = ''

    @classmethod
    def from_json(cls, d: Any) -> 'DialplanV2':
        d = _obj(d, 'dialplan')
        if isinstance(d.get('dialplan'), dict):     # the POST/GET body around the object
            d = d['dialplan']
        ringtone = None
        if d.get('ringtone') is not None:
            r = _obj(d['ringtone'], 'ringtone')
            ann = _text(r, 'announcement', 'ringtone.announcement')
            mix = _bool(r, 'mix', 'ringtone.mix')
            ringtone = Ringtone(ann, mix) if ann else None
        profiles = d.get('profiles')
        profiles = [] if profiles is None else profiles
        if not isinstance(profiles, list):
            raise _fail('profiles', 'must be a list')
        if len(profiles) > MAX_PROFILES:
            raise _fail('profiles', f'at most {MAX_PROFILES} profiles')
        desc = d.get('description') or ''
        if not isinstance(desc, str):
            raise _fail('description', 'must be a string')
        return cls(tuple(Profile.from_json(p, f'profiles[{i}]') for i, p in enumerate(profiles)),
                   ringtone, desc)


@dataclass(frozen=True)
class V2Decision:
    """`action` is the matching profile's, or 'none' when no profile matched. `profile` is
    its index: with the plan's uuid it keys the cyclic rotation state the runtime keeps."""
    action: str
    profile: int | None = None
    targets: tuple[Target, ...] = ()
    timeout: float | None = None
    announcement: str | None = None
    ringtone: Ringtone | None = None


def v2_refusal(decision: V2Decision) -> 'Step | None':
    """The SIP answer for a v2 decision that rings nobody and records nothing: `reject`
    ("will hang up the call") declines, and a plan none of whose profiles matched is
    unavailable; None for the actions that go on."""
    if decision.action == 'reject':
        return REJECT
    if decision.action == 'none':
        return UNAVAILABLE
    return None


def evaluate_v2(plan: DialplanV2, facts: CallFacts, now: datetime) -> V2Decision:
    """§4.1: "first to last element in this list will be evaluated"; the first profile whose
    filter matches decides. The ringtone plays while a hunt's targets ring."""
    for i, p in enumerate(plan.profiles):
        if p.matches(facts, now):
            return V2Decision(p.action, i, p.targets, p.timeout, p.announcement,
                              plan.ringtone if p.action in HUNTS else None)
    return V2Decision('none')


# --- v1 -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One thing to do with the call: ring targets (in parallel), reject it, or take a
    voice message. `status` is the SIP answer of a reject."""
    action: str                            # 'ring' | 'reject' | 'record'
    targets: tuple[Target, ...] = ()
    status: int = 0
    reason: str = ''


REJECT = Step('reject', status=603, reason='Decline')
RECORD = Step('record')
UNAVAILABLE = Step('reject', status=480, reason='Temporarily Unavailable')
BUSY = Step('reject', status=486, reason='Busy Here')
NO_ANSWER = Step('reject', status=480, reason='No Answer')


@dataclass(frozen=True)
class Fallback:
    """§4.2 `timeout`/`unavailable`/`busy`: an action with its own phone/sip target."""
    action: str
    phone: str | None = None
    sip: str | None = None

    @classmethod
    def from_json(cls, f: Any, name: str, allow_none: bool) -> 'Fallback':
        f = _obj(f, name)
        action = f.get('action', 'none')
        if action not in V1_ACTIONS or (action == 'none' and not allow_none):
            raise _fail(f'{name}.action', f'{action!r} is not possible here')
        return cls(action, _text(f, 'phone', f'{name}.phone', PHONE),
                   _text(f, 'sip', f'{name}.sip', SIP))


def _step(action: str, phone: str | None, sip: str | None, name: str) -> Step | None:
    """The step an action names; None for `none` (nothing beyond the pools)."""
    if action == 'reject':
        return REJECT
    if action == 'record':
        return RECORD
    if action == 'redirect':
        if not phone:
            raise _fail(f'{name}phone', 'action redirect needs a phone number')
        return Step('ring', (Target(phone),))
    if action == 'sip':
        if not sip:
            raise _fail(f'{name}sip', 'action sip needs a SIP account')
        return Step('ring', (Target(sip),))
    return None


def _pool(v: Any, name: str, rx: re.Pattern, as_map: bool) -> tuple[str, ...]:
    """phone_pool is {number: active}, sip_pool a list (GET form). A stored POST form
    (`{"add": ...}`) is read by its `add` part."""
    if v is None:
        return ()
    if isinstance(v, dict) and 'add' in v:
        v = v['add']
    if as_map:
        v = _obj(v, name)
        items = [k for k, on in v.items() if on is True]
    else:
        if not isinstance(v, list):
            raise _fail(name, 'must be a list')
        items = list(v)
    if len(items) > MAX_TARGETS:
        raise _fail(name, f'at most {MAX_TARGETS} entries')
    for x in items:
        if not isinstance(x, str) or not rx.fullmatch(x):
            raise _fail(name, f'{x!r} is not valid')
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class DialplanV1:
    action: str = 'none'
    announcement: str | None = None
    mix_ringtone: bool = False
    phone: str | None = None
    sip: str | None = None
    phone_pool: tuple[str, ...] = ()       # the active entries only
    sip_pool: tuple[str, ...] = ()
    timeout: float | None = None           # `timeout.timeout`
    on_timeout: Fallback | None = None
    unavailable: Fallback | None = None
    busy: Fallback | None = None
    dial_prefix: str | None = None
    clip_number: str | None = None
    clir_enable: bool = False
    cti_via: str | None = None
    callreverse_enable: bool = False

    @classmethod
    def from_json(cls, d: Any) -> 'DialplanV1':
        d = _obj(d, 'dialplan')
        action = d.get('action') or 'none'
        if action not in V1_ACTIONS:
            raise _fail('action', f'{action!r} is not one of ' + '|'.join(V1_ACTIONS))
        timeout, on_timeout = None, None
        if d.get('timeout') is not None:
            t = _obj(d['timeout'], 'timeout')
            timeout = _seconds(t.get('timeout'), 'timeout.timeout')
            on_timeout = Fallback.from_json(t, 'timeout', allow_none=False)
        unavailable = busy = None
        if d.get('unavailable') is not None:
            unavailable = Fallback.from_json(d['unavailable'], 'unavailable', allow_none=False)
        if d.get('busy') is not None:
            busy = Fallback.from_json(d['busy'], 'busy', allow_none=True)
        plan = cls(action, _text(d, 'announcement', 'announcement'),
                   _bool(d, 'mix_ringtone', 'mix_ringtone'),
                   _text(d, 'phone', 'phone', PHONE), _text(d, 'sip', 'sip', SIP),
                   _pool(d.get('phone_pool'), 'phone_pool', PHONE, as_map=True),
                   _pool(d.get('sip_pool'), 'sip_pool', SIP, as_map=False),
                   timeout, on_timeout, unavailable, busy,
                   _text(d, 'dial_prefix', 'dial_prefix', PHONE),
                   _text(d, 'clip_number', 'clip_number', PHONE),
                   _bool(d, 'clir_enable', 'clir_enable'),
                   _text(d, 'cti_via', 'cti_via', PHONE),
                   _bool(d, 'callreverse_enable', 'callreverse_enable'))
        plan.first_step()     # redirect without phone, sip without sip: refuse now
        for name in ('on_timeout', 'unavailable', 'busy'):
            f = getattr(plan, name)
            if f is not None:
                _step(f.action, f.phone, f.sip, f'{"timeout" if name == "on_timeout" else name}.')
        return plan

    def first_step(self) -> Step:
        """The action's own target (redirect: `phone`, sip: `sip`) and the active pool
        entries ring together; reject and record act at once."""
        own = _step(self.action, self.phone, self.sip, '')
        if own is not None and own.action != 'ring':
            return own
        targets = (own.targets if own else ()) + tuple(Target(x) for x in self.phone_pool) \
            + tuple(Target(x) for x in self.sip_pool)
        return Step('ring', tuple(dict.fromkeys(targets)))


@dataclass(frozen=True)
class V1Decision:
    first: Step
    timeout: float | None = None            # no answer within: on_timeout
    on_timeout: Step = NO_ANSWER
    on_unavailable: Step = UNAVAILABLE
    on_busy: Step = BUSY
    ringtone: Ringtone | None = None
    callreverse: bool = False               # the call-reverse function is one more target

    def after(self, reason: str) -> Step:
        """What follows when the ringing gives up (hunt.GiveUp reason)."""
        return {'timeout': self.on_timeout, 'busy': self.on_busy,
                'unavailable': self.on_unavailable}[reason]


def _fallback(f: Fallback | None, default: Step, name: str) -> Step:
    if f is None:
        return default
    return _step(f.action, f.phone, f.sip, name) or default


def evaluate_v1(plan: DialplanV1, facts: CallFacts | None = None) -> V1Decision:
    """§4.2 for a call to the user's dial plan. A fallback rings its target with no further
    fallback (no chains, no loops); with nothing to ring the call is unavailable at once."""
    first = plan.first_step()
    unavailable = _fallback(plan.unavailable, UNAVAILABLE, 'unavailable.')
    if first.action == 'ring' and not first.targets:
        first = unavailable
    ringtone = Ringtone(plan.announcement, plan.mix_ringtone) if plan.announcement else None
    return V1Decision(first, plan.timeout, _fallback(plan.on_timeout, NO_ANSWER, 'timeout.'),
                      unavailable, _fallback(plan.busy, BUSY, 'busy.'), ringtone,
                      plan.callreverse_enable)


@dataclass(frozen=True)
class Placed:
    """A call placed from one of the user's SIP accounts, after §4.2's quick dialling, CLIP
    and CLIR: the number to dial, the number to show (None: the account's default)."""
    number: str
    clip: str | None = None
    clir: bool = False


def placed_call(plan: DialplanV1 | None, dialled: str) -> Placed:
    """`dial_prefix` is prepended to a short number: digits only, not starting with 0 (a
    national or international number) and short enough that the result is still a valid
    number. Emergency numbers and extensions are decided before this (see policy)."""
    if plan is None:
        return Placed(dialled)
    number = dialled
    if plan.dial_prefix and dialled.isdigit() and not dialled.startswith('0') \
            and PHONE.fullmatch(plan.dial_prefix + dialled):
        number = plan.dial_prefix + dialled
    return Placed(number, plan.clip_number, plan.clir_enable)


@dataclass(frozen=True)
class Callback:
    """§4.2 POST /api/dialplan/callback: ring `cti_via` first, then `to`, and show `from` on
    both legs (with the plan's CLIP and CLIR)."""
    first: str
    second: str
    caller: str
    clip: str | None = None
    clir: bool = False


def callback(plan: DialplanV1 | None, from_: str, to: str) -> Callback:
    """Raises ValueError('no-via: ...') (the document's status) without a `cti_via`."""
    if plan is None or not plan.cti_via:
        raise ValueError("no-via: no cti_via field is set in the user's dial plan")
    return Callback(plan.cti_via, to, from_, plan.clip_number, plan.clir_enable)


__all__ = ['Callback', 'callback', 'v2_refusal', 'CallFacts', 'DialplanV1', 'DialplanV2', 'Fallback', 'Placed', 'Profile', 'Ringtone',
           'Step', 'Target', 'TimeFilter', 'V1Decision', 'V2Decision', 'evaluate_v1', 'evaluate_v2',
           'placed_call']
