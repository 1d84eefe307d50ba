"""IVR menus (Q-loud §5.1.1) as a sans-IO state machine: events in, actions out.

A menu plays its announcement; a digit leads to a nested menu (`Goto`) or to a
redirect to a number; `other` says what an undefined digit does; `timeout` what
happens when nobody keys anything after the announcement. The program that runs
this over a call's control queue is ivr/menu_app.py; this module does no I/O
and reads no clock (the program turns a running timer into a `TimedOut`).

A caller is never trapped: a menu is repeated at most `max_repeats` times, then
the call ends with a goodbye; each hop to another menu counts for the whole call,
and past `max_hops` (menus, or IVR numbers redirecting to each other) likewise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .steps import Digit, IllegalTransition, TimedOut, Wait  # noqa: F401 (this machine's too)

DIGITS = '0123456789*#'
UUID_RE = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                     r'[0-9a-fA-F]{12}$')
PHONE_RE = re.compile(r'^\+[0-9]{3,20}$')


# --- the menu, from the document's JSON ----------------------------------------------------

@dataclass(frozen=True)
class Timeout:
    seconds: float
    action: str                      # repeat | call | play
    phone: str | None = None         # action call
    announcement: str | None = None  # action play


@dataclass(frozen=True)
class Menu:
    uuid: str
    announcement: str
    digits: dict[str, str]           # digit -> IVR uuid or +number
    other: str | None = None         # repeat | +number | None (undefined digits are ignored)
    timeout: Timeout | None = None

    @classmethod
    def from_json(cls, uuid: str, d: dict) -> 'Menu':
        """From the stored object (the document's field names, as the API validated them)."""
        t = d.get('timeout')
        timeout = None
        if t:
            timeout = Timeout(float(t['seconds']), t['action'], t.get('phone'),
                              t.get('announcement'))
        return cls(uuid, d['announcement'], {k: d[k] for k in DIGITS if d.get(k)},
                   d.get('other'), timeout)


# --- events (Digit and TimedOut are ivr/steps.py's) ----------------------------------------

@dataclass(frozen=True)
class AnnouncementDone:
    """The prompt the last Play asked for has finished (or could not be played)."""


@dataclass(frozen=True)
class Loaded:
    """The menu a Goto asked for; None when it no longer exists."""
    menu: Menu | None


# --- actions (Wait is ivr/steps.py's) ------------------------------------------------------

@dataclass(frozen=True)
class Play:
    announcement: str                # an announcement uuid; digits interrupt it


@dataclass(frozen=True)
class Goto:
    uuid: str                        # load that menu, then feed Loaded


@dataclass(frozen=True)
class Redirect:
    number: str


@dataclass(frozen=True)
class Goodbye:
    """Play the goodbye prompt and hang up."""
    reason: str


@dataclass(frozen=True)
class Hangup:
    """Hang up at once (after a timeout's own announcement)."""
    reason: str


Action = Play | Wait | Goto | Redirect | Goodbye | Hangup
Event = AnnouncementDone | Digit | TimedOut | Loaded

# --- states ------------------------------------------------------------------------------------
PLAYING = 'playing'            # the menu's announcement plays; a digit interrupts it
WAITING = 'waiting'            # announcement done, the timeout runs
CLOSING = 'closing'            # the timeout's own announcement plays, then hang up
LOADING = 'loading'            # a nested menu is being fetched
DONE = 'done'                  # redirected or ended: nothing more happens here


@dataclass
class MenuSession:
    """One call's walk through menus.  `start()` then `feed(event)`, each returning the
    actions to carry out in order."""
    max_repeats: int = 3
    max_hops: int = 20
    default_timeout: float = 10.0     # when a menu has no timeout block: wait, then repeat
    hops: int = 0                     # carried over when a redirect lands on another IVR
    state: str = 'idle'
    menu: Menu | None = None
    repeats: int = 0
    trail: list[str] = field(default_factory=list)   # menu uuids, for the log

    def start(self, menu: Menu) -> list[Action]:
        if self.state != 'idle':
            raise IllegalTransition(f'start in state {self.state}')
        return self._enter(menu)

    def feed(self, event: Event) -> list[Action]:
        handler = _TRANSITIONS.get((self.state, type(event)))
        if handler is None:
            raise IllegalTransition(f'{type(event).__name__} in state {self.state}')
        return handler(self, event)

    # --- transitions ---------------------------------------------------------------------
    def _enter(self, menu: Menu) -> list[Action]:
        self.menu, self.repeats, self.state = menu, 0, PLAYING
        self.trail.append(menu.uuid)
        return [Play(menu.announcement)]

    def _announcement_done(self, _: AnnouncementDone) -> list[Action]:
        self.state = WAITING
        t = self.menu.timeout
        return [Wait(t.seconds if t else self.default_timeout)]

    def _digit(self, ev: Digit) -> list[Action]:
        target = self.menu.digits.get(ev.digit)
        if target is None:
            other = self.menu.other
            if other is None:
                return []                       # undefined digit, no `other`: ignored
            if other == 'repeat':
                return self._repeat('other')
            return self._redirect(other)
        if PHONE_RE.match(target):
            return self._redirect(target)
        self.hops += 1
        if self.hops > self.max_hops:
            return self._end(Goodbye('hops'))
        self.state = LOADING
        return [Goto(target)]

    def _timed_out(self, _: TimedOut) -> list[Action]:
        t = self.menu.timeout
        action = t.action if t else 'repeat'
        if action == 'call' and t.phone:
            return self._redirect(t.phone)
        if action == 'play' and t.announcement:
            self.state = CLOSING
            return [Play(t.announcement)]
        return self._repeat('timeout')

    def _closing_done(self, _: AnnouncementDone) -> list[Action]:
        return self._end(Hangup('timeout-play'))

    def _loaded(self, ev: Loaded) -> list[Action]:
        if ev.menu is None:
            return self._end(Goodbye('missing-menu'))
        return self._enter(ev.menu)

    def _ignore(self, _: Event) -> list[Action]:
        return []

    # --- helpers -------------------------------------------------------------------------
    def _repeat(self, why: str) -> list[Action]:
        self.repeats += 1
        if self.repeats > self.max_repeats:
            return self._end(Goodbye(f'{why}-repeats'))
        self.state = PLAYING
        return [Play(self.menu.announcement)]

    def _redirect(self, number: str) -> list[Action]:
        self.hops += 1      # the number may run another IVR: redirects count as hops too
        if self.hops > self.max_hops:
            return self._end(Goodbye('hops'))
        return self._end(Redirect(number))

    def _end(self, action: Action) -> list[Action]:
        self.state = DONE
        return [action]


_TRANSITIONS = {
    (PLAYING, AnnouncementDone): MenuSession._announcement_done,
    (PLAYING, Digit): MenuSession._digit,
    (WAITING, Digit): MenuSession._digit,
    (WAITING, TimedOut): MenuSession._timed_out,
    (CLOSING, Digit): MenuSession._digit,      # the caller may still choose
    (CLOSING, AnnouncementDone): MenuSession._closing_done,
    (LOADING, Loaded): MenuSession._loaded,
    (LOADING, Digit): MenuSession._ignore,     # keyed before the next menu plays
}
