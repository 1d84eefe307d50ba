"""Outbound registration to a trunk (RFC 3261 §10), sans-IO: one transition table.

`TrunkRegistration.handle(event, now)` checks the event against `TABLE`, moves to the
next state and returns `Action`s for the shell: send a REGISTER (with these headers),
set the one timer, report the state.  No socket, no clock, no randomness inside: the
time is passed in, and so is the jitter of the back-off (`jitter()` in [0, 1)).  An
event the table does not list for the current state raises `IllegalTransition`.

    UNREGISTERED --Start--> REGISTERING --401/407--> CHALLENGED --2xx--> REGISTERED
    REGISTERED --Tick (refresh time)--> REFRESHING --2xx--> REGISTERED
    REGISTERING/CHALLENGED/REFRESHING --refused, 5xx, 6xx, Timeout--> FAILED
    FAILED --Tick (back-off over)--> REGISTERING
    any bound or pending --Stop--> UNREGISTERING (Expires: 0) --answer/Timeout--> UNREGISTERED

Timers and retries (docs/decisions.md, "Trunk registration and identification"):
- refresh at max(granted/2, granted - 30 s) after the 200, at least 1 s: 30 s before
  the end of an hour, half-way through a short grant;
- a refresh re-uses the last challenge (nonce count + 1, RFC 3261 §22.3), so it costs one
  round trip while the provider keeps the nonce;
- a challenge is answered once per nonce: a 401/407 naming a nonce we answered already, or
  a second one without stale=true after we answered a fresh one, means the credentials
  are refused (failed, no loop); at most MAX_CHALLENGES per attempt in any case;
- 423 raises the expiry we ask for to Min-Expires (once per attempt, up to MAX_EXPIRES);
- a failure retries after min(cap, base * 2^(n-1)) for the n-th failure in a row, times
  a jitter factor in [0.5, 1); refusals that will not heal by themselves (3xx, 4xx: 403
  forbidden, 404 unknown user, credentials refused) wait the cap; a Retry-After wins.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

from .auth import AuthHeaderError, DigestClient, parse_auth_header
from .session import IllegalTransition, advance  # noqa: F401  (one stepper and error for every machine)
from .trunks import MAX_EXPIRES, TrunkAccount

REFRESH_MARGIN = 30.0      # refresh this long before the binding ends (half-way if shorter)
MIN_REFRESH = 1.0
MAX_CHALLENGES = 3         # 401/407 answered per attempt, whatever the nonces
MAX_RETRY_AFTER = 86400    # a provider's Retry-After is followed up to a day
BACKOFF_BASE = 30.0
BACKOFF_CAP = 900.0


class State(str, enum.Enum):
    UNREGISTERED = 'unregistered'
    REGISTERING = 'registering'      # REGISTER sent, no challenge answered yet
    CHALLENGED = 'challenged'        # REGISTER answering a challenge sent
    REGISTERED = 'registered'        # bound; the refresh timer runs
    REFRESHING = 'refreshing'        # still bound; the refresh is on its way
    FAILED = 'failed'                # refused or unreachable; the back-off timer runs
    UNREGISTERING = 'unregistering'  # Expires: 0 sent


# What status() and the log call each state: registered|registering|failed|unregistered
PUBLIC = {State.UNREGISTERED: 'unregistered', State.REGISTERING: 'registering',
          State.CHALLENGED: 'registering', State.REGISTERED: 'registered',
          State.REFRESHING: 'registered', State.FAILED: 'failed',
          State.UNREGISTERING: 'unregistered'}


@dataclass(frozen=True)
class Backoff:
    base: float = BACKOFF_BASE   # the first retry waits about this long
    cap: float = BACKOFF_CAP     # and no retry longer (a Retry-After excepted)

    def __post_init__(self):
        if not 0 < self.base <= self.cap:
            raise ValueError(f'back-off base {self.base} must be above 0 and at most the cap '
                             f'{self.cap}')

    def delay(self, failures: int | None, jitter: float) -> float:
        """The wait after the `failures`-th failure in a row (None: the longest); jitter
        in [0, 1) spreads it over [half, all] of it, so trunks that failed together do
        not retry together."""
        raw = self.cap if failures is None else \
            min(self.cap, self.base * 2 ** min(max(failures - 1, 0), 32))
        return raw * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


# --- events ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class Start(Event):       # local: begin registering
    pass


@dataclass(frozen=True)
class Stop(Event):        # local: unregister (shutdown, trunk removed)
    pass


@dataclass(frozen=True)
class Tick(Event):        # the timer of the last Schedule came due
    pass


@dataclass(frozen=True)
class Timeout(Event):     # our REGISTER got no final answer (transaction timer F)
    pass


@dataclass(frozen=True)
class Response(Event):    # a response to our latest REGISTER
    status: int
    reason: str = ''
    expires: int | None = None        # granted: our Contact's expires, else Expires
    challenges: tuple[str, ...] = ()  # WWW-Authenticate (401) / Proxy-Authenticate (407)
    min_expires: int | None = None    # of a 423
    retry_after: int | None = None


# --- actions --------------------------------------------------------------------------

@dataclass(frozen=True)
class SendRegister:
    cseq: int
    expires: int                       # 0: unregister
    headers: tuple[tuple[str, str], ...] = ()   # Authorization / Proxy-Authorization


@dataclass(frozen=True)
class Schedule:
    at: float | None                   # Tick at this time; None: no timer


@dataclass(frozen=True)
class Report:
    state: State
    status: int | None                 # the last SIP status (408 for no answer)
    reason: str
    expires: int | None                # granted, while registered
    retry_at: float | None             # when FAILED retries

    @property
    def public(self) -> str:
        return PUBLIC[self.state]


Action = SendRegister | Schedule | Report


@dataclass
class _Challenge:
    header: str     # Authorization | Proxy-Authorization
    value: str      # the WWW-/Proxy-Authenticate value
    nonce: str
    nc: int = 0


# --- the machine ----------------------------------------------------------------------

class TrunkRegistration:
    def __init__(self, account: TrunkAccount, backoff: Backoff = Backoff(),
                 jitter: Callable[[], float] = lambda: 0.5,
                 digest: DigestClient | None = None):
        self.account = account
        self.backoff = backoff
        self.jitter = jitter
        self.digest = digest or DigestClient()
        self.state = State.UNREGISTERED
        self.cseq = 0
        self.expires = account.expires     # what we ask for (a 423 raises it)
        self.granted: int | None = None
        self.last_status: int | None = None
        self.last_reason = ''
        self.failures = 0                  # in a row
        self.due: float | None = None      # the timer
        self.retry_at: float | None = None
        self._challenge: _Challenge | None = None   # the last one, re-used by refreshes
        self._new_attempt()
        self._now = 0.0
        self._out: list[Action] = []

    def __repr__(self) -> str:
        return f'<TrunkRegistration {self.account.id} {self.state.value}>'

    @property
    def public(self) -> str:
        return PUBLIC[self.state]

    def handle(self, event: Event, now: float) -> list[Action]:
        before = self.state
        advance(self, TABLE, event, now)
        if self.state is not before:
            self._out.append(Report(self.state, self.last_status, self.last_reason,
                                    self.granted if self.public == 'registered' else None,
                                    self.retry_at if self.state is State.FAILED else None))
        out, self._out = self._out, []
        return out

    # --- helpers ----------------------------------------------------------------------
    def _new_attempt(self) -> None:
        self._nonces: set[str] = set()   # answered during this attempt
        self._answered_fresh = False     # a challenge of this attempt was answered
        self._challenges = 0
        self._brief = False              # a 423 came during this attempt

    def _schedule(self, at: float | None) -> None:
        self.due = at
        self._out.append(Schedule(at))

    def _send(self, expires: int) -> None:
        """The next REGISTER; re-uses the last challenge when there is one (§22.3)."""
        self.cseq += 1
        headers: tuple = ()
        ch = self._challenge
        if ch is not None:
            ch.nc += 1
            self._nonces.add(ch.nonce)
            headers = ((ch.header, self._authorization(ch)),)
        self._out.append(SendRegister(self.cseq, expires, headers))

    def _authorization(self, ch: _Challenge) -> str:
        a = self.account
        return self.digest.build_authorization(ch.value, 'REGISTER', a.registrar_uri, a.user,
                                               a.password, nc=ch.nc)

    def _pending_expiry(self) -> int:
        return 0 if self.state is State.UNREGISTERING else self.expires

    def _fail(self, status: int | None, reason: str, permanent: bool,
              retry_after: int | None = None) -> State:
        self.last_status, self.last_reason = status, reason
        self.granted = None
        self._challenge = None     # a fresh start: the next attempt is challenged anew
        if self.state is State.UNREGISTERING:
            self._schedule(None)
            return State.UNREGISTERED
        self.failures += 1
        if retry_after is not None:
            delay = float(max(1, min(retry_after, MAX_RETRY_AFTER)))
        elif permanent:
            delay = self.backoff.delay(None, self.jitter())
        else:
            delay = self.backoff.delay(self.failures, self.jitter())
        self.retry_at = self._now + delay
        self._schedule(self.retry_at)
        return State.FAILED

    # --- steps ------------------------------------------------------------------------
    def _start(self, ev: Start) -> State:
        self._new_attempt()
        self._send(self.expires)
        return State.REGISTERING

    def _ignore(self, ev: Event) -> None:
        return None

    def _due(self, ev: Tick) -> bool:
        return self.due is not None and self._now >= self.due

    def _refresh(self, ev: Tick) -> State | None:
        if not self._due(ev):
            return None     # a timer that was replaced meanwhile
        self.due = None
        self._new_attempt()
        self._send(self.expires)
        return State.REFRESHING

    def _retry(self, ev: Tick) -> State | None:
        if not self._due(ev):
            return None
        self.due = self.retry_at = None
        self._new_attempt()
        self._send(self.expires)
        return State.REGISTERING

    def _stop(self, ev: Stop) -> State:
        self._schedule(None)
        self._new_attempt()
        self._send(0)
        return State.UNREGISTERING

    def _stop_idle(self, ev: Stop) -> State:
        self._schedule(None)
        self.retry_at = None
        return State.UNREGISTERED

    def _timeout(self, ev: Timeout) -> State:
        return self._fail(408, 'No Response', permanent=False)

    def _response(self, ev: Response) -> State | None:
        code = ev.status
        if code < 200:
            return None
        if code < 300:
            return self._ok(ev)
        if code in (401, 407):
            return self._challenged(ev)
        if code == 423 and self.state is not State.UNREGISTERING:
            return self._too_brief(ev)
        permanent = code < 500 and code not in (408, 480)
        return self._fail(code, ev.reason, permanent, ev.retry_after)

    def _ok(self, ev: Response) -> State:
        self.last_status, self.last_reason = ev.status, ev.reason
        if self.state is State.UNREGISTERING:
            self.granted = None
            self._schedule(None)
            return State.UNREGISTERED
        granted = ev.expires if ev.expires is not None else self.expires
        if granted <= 0:
            return self._fail(ev.status, 'No Binding Granted', permanent=False)
        self.granted = granted
        self.failures = 0
        self.retry_at = None
        self._schedule(self._now + max(MIN_REFRESH, granted / 2, granted - REFRESH_MARGIN))
        return State.REGISTERED

    def _challenged(self, ev: Response) -> State | None:
        a = self.account
        if not a.user or not a.password:
            return self._fail(ev.status, 'No Credentials', permanent=True)
        try:
            value = DigestClient.choose_challenge(ev.challenges)
            params = parse_auth_header(value)[1]
        except AuthHeaderError:
            return self._fail(ev.status, 'Unusable Challenge', permanent=True)
        nonce = params.get('nonce', '')
        stale = params.get('stale', '').lower() == 'true'
        if nonce in self._nonces or (self._answered_fresh and not stale):
            return self._fail(ev.status, 'Credentials Refused', permanent=True)
        if self._challenges >= MAX_CHALLENGES:
            return self._fail(ev.status, 'Too Many Challenges', permanent=True)
        ch = _Challenge('Authorization' if ev.status == 401 else 'Proxy-Authorization', value,
                        nonce)
        ch.nc += 1
        try:
            header = (ch.header, self._authorization(ch))
        except ValueError:    # AuthHeaderError: no realm, qop auth-int only
            return self._fail(ev.status, 'Unusable Challenge', permanent=True)
        self._challenge = ch
        self._nonces.add(nonce)
        self._answered_fresh = True
        self._challenges += 1
        self.last_status, self.last_reason = ev.status, ev.reason
        self.cseq += 1
        self._out.append(SendRegister(self.cseq, self._pending_expiry(), (header,)))
        return State.CHALLENGED if self.state is State.REGISTERING else None

    def _too_brief(self, ev: Response) -> State | None:
        wanted = ev.min_expires
        if self._brief or wanted is None or not self.expires < wanted <= MAX_EXPIRES:
            return self._fail(ev.status, ev.reason or 'Interval Too Brief', permanent=True)
        self._brief = True
        self.expires = wanted
        self.last_status, self.last_reason = ev.status, ev.reason
        self._send(self.expires)
        return None


S = State
TR = TrunkRegistration

# The whole machine.  A Tick of a replaced timer, a Stop twice, an answer that arrives
# after we gave up are explicit no-ops, so a missing entry is a real error.
TABLE: dict[tuple[State, type], Callable[[TrunkRegistration, Event], State | None]] = {
    (S.UNREGISTERED, Start): TR._start,
    (S.UNREGISTERED, Stop): TR._ignore,
    (S.UNREGISTERED, Tick): TR._ignore,
    (S.UNREGISTERED, Response): TR._ignore,     # the answer to an unregister we gave up on
    (S.UNREGISTERED, Timeout): TR._ignore,
    (S.REGISTERED, Tick): TR._refresh,
    (S.REGISTERED, Stop): TR._stop,
    (S.FAILED, Tick): TR._retry,
    (S.FAILED, Stop): TR._stop_idle,
    (S.UNREGISTERING, Response): TR._response,
    (S.UNREGISTERING, Timeout): lambda m, e: m._fail(408, 'No Response', permanent=False),
    (S.UNREGISTERING, Stop): TR._ignore,
    (S.UNREGISTERING, Tick): TR._ignore,
}
for _pending in (S.REGISTERING, S.CHALLENGED, S.REFRESHING):
    TABLE[(_pending, Response)] = TR._response
    TABLE[(_pending, Timeout)] = TR._timeout
    TABLE[(_pending, Stop)] = TR._stop        # the REGISTER in flight may still bind us
    TABLE[(_pending, Tick)] = TR._ignore
