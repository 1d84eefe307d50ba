"""What Cisco profiles make a conference room do (CMS §8.2 callProfiles, §8.4 callLegProfiles,
§8.8 dtmfProfiles), as pure data and machines: no clock reads, no I/O; times are passed in.

- `RoomRules.from_fields(call)`: a call profile's room-wide rules (participantLimit, locked,
  lockMode, recordingMode).
- `LegRules.from_fields(leg)`: a call leg profile's rules for one participant (audio mutes,
  permissions, needsActivation and deactivation, tone thresholds, maxCallDurationTime).
- `DtmfMatcher`: a dtmf profile's key sequences (`*6`) -> the actions they name, fed digits
  and times, with an inter-digit timeout and a bounded buffer.
- `Activation`: the lobby (needsActivation, activators, locked, lockMode, deactivationMode and
  deactivationModeTime) as a table of per-leg transitions returning effects.

The dicts are keyed by the document's parameter names with the string values the API stores
('true'/'false', numbers as text), and hold only what some profile level set: every other
parameter takes the default written here (docs/decisions.md says why each).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ['RoomRules', 'LegRules', 'DtmfMatcher', 'Activation', 'Admit', 'Hold',
           'Disconnect', 'IllegalTransition', 'DTMF_ACTIONS', 'AUDIO_ACTIONS', 'allowed']


class IllegalTransition(Exception):
    """An event the machine's current state has no transition for."""


# --- profiles as rules ------------------------------------------------------------------------
def _bool(d: Mapping[str, str], name: str, default: bool) -> bool:
    v = str(d.get(name, '')).strip().lower()
    return True if v == 'true' else False if v == 'false' else default


def _int(d: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """A number within [low, high], or None (unset or not a number: the default applies)."""
    try:
        v = int(str(d.get(name, '')).strip())
    except ValueError:
        return None
    return v if low <= v <= high else None


def _choice(d: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    v = str(d.get(name, '')).strip()
    return v if v in choices else choices[0]     # the first is the default


LOCK_MODES = ('needsActivation', 'all')
RECORDING_MODES = ('manual', 'disabled', 'automatic')
DEACTIVATION_MODES = ('deactivate', 'disconnect', 'remainActivated')
MAX_PARTICIPANTS = 10_000       # a participantLimit above this is no limit we could reach
MAX_THRESHOLD = 100             # §8.4: "maximum 100, a value of 0 disables"
MAX_SECONDS = 7 * 24 * 3600     # longer durations/timers are treated as unset


@dataclass(frozen=True)
class RoomRules:
    participant_limit: int | None = None     # None: no limit (today's rooms)
    locked: bool = False
    lock_mode: str = 'needsActivation'
    recording_mode: str = 'manual'

    @classmethod
    def from_fields(cls, call: Mapping[str, str] | None) -> 'RoomRules':
        d = call or {}
        return cls(participant_limit=_int(d, 'participantLimit', 0, MAX_PARTICIPANTS),
                   locked=_bool(d, 'locked', False),
                   lock_mode=_choice(d, 'lockMode', LOCK_MODES),
                   recording_mode=_choice(d, 'recordingMode', RECORDING_MODES))


@dataclass(frozen=True)
class LegRules:
    rx_audio_mute: bool | None = None       # None: the conference's own default (mute_default)
    tx_audio_mute: bool = False
    mute_self_allowed: bool = True
    mute_others_allowed: bool = True
    end_call_allowed: bool = True
    recording_control_allowed: bool = True
    call_lock_allowed: bool = True
    change_join_audio_mute_override_allowed: bool = False
    allow_all_mute_self_allowed: bool = False
    needs_activation: bool = False
    deactivation_mode: str = 'deactivate'
    deactivation_mode_time: int = 0
    join_tone_threshold: int | None = None   # None: a tone for every join (today's rooms)
    leave_tone_threshold: int | None = None
    max_call_duration: int | None = None     # seconds; None: no limit

    @classmethod
    def from_fields(cls, leg: Mapping[str, str] | None) -> 'LegRules':
        d = leg or {}
        rx = _bool(d, 'rxAudioMute', False) if 'rxAudioMute' in d else None
        return cls(
            rx_audio_mute=rx, tx_audio_mute=_bool(d, 'txAudioMute', False),
            mute_self_allowed=_bool(d, 'muteSelfAllowed', True),
            mute_others_allowed=_bool(d, 'muteOthersAllowed', True),
            end_call_allowed=_bool(d, 'endCallAllowed', True),
            recording_control_allowed=_bool(d, 'recordingControlAllowed', True),
            call_lock_allowed=_bool(d, 'callLockAllowed', True),
            change_join_audio_mute_override_allowed=_bool(
                d, 'changeJoinAudioMuteOverrideAllowed', False),
            allow_all_mute_self_allowed=_bool(d, 'allowAllMuteSelfAllowed', False),
            needs_activation=_bool(d, 'needsActivation', False),
            deactivation_mode=_choice(d, 'deactivationMode', DEACTIVATION_MODES),
            deactivation_mode_time=_int(d, 'deactivationModeTime', 0, MAX_SECONDS) or 0,
            join_tone_threshold=_int(d, 'joinToneParticipantThreshold', 0, MAX_THRESHOLD),
            leave_tone_threshold=_int(d, 'leaveToneParticipantThreshold', 0, MAX_THRESHOLD),
            max_call_duration=_int(d, 'maxCallDurationTime', 1, MAX_SECONDS))

    def join_tone(self, participants: int) -> bool:
        """A join tone for the room now holding `participants` (the joiner counted)?"""
        t = self.join_tone_threshold
        return t is None or participants <= t

    def leave_tone(self, participants: int) -> bool:
        """A leave tone for the room that held `participants` (the leaver counted)?"""
        t = self.leave_tone_threshold
        return t is None or participants <= t


# --- DTMF actions and who may run them ----------------------------------------------------------
#: the §8.8 actions with an audio effect here, in the document's order (a shared sequence
#: runs them in this order)
AUDIO_ACTIONS = (
    'lockCall', 'unlockCall', 'muteSelfAudio', 'unmuteSelfAudio', 'toggleMuteSelfAudio',
    'muteAllExceptSelfAudio', 'unmuteAllExceptSelfAudio', 'startRecording', 'stopRecording',
    'allowAllMuteSelf', 'cancelAllowAllMuteSelf', 'muteAllNewAudio', 'unmuteAllNewAudio',
    'defaultMuteAllNewAudio', 'muteAllNewAndAllExceptSelfAudio',
    'unmuteAllNewAndAllExceptSelfAudio', 'endCall', 'getTotalParticipantCount')
#: the §8.8 actions for video, layouts, streaming and presentation: stored, keyed, no effect
OTHER_ACTIONS = ('nextLayout', 'previousLayout', 'startStreaming', 'stopStreaming',
                 'allowAllPresentationContribution', 'cancelAllowAllPresentationContribution')
DTMF_ACTIONS = AUDIO_ACTIONS + OTHER_ACTIONS
DTMF_KEYS = frozenset('0123456789*#ABCD')
MAX_SEQUENCE = 32     # longer sequences are ignored; the buffer never holds more


def allowed(action: str, leg: LegRules, *, allow_all_mute_self: bool = False,
            recording_mode: str = 'manual') -> bool:
    """May a participant with `leg` rules run `action` (§8.4 permissions; §8.2 recordingMode)?"""
    if action in ('muteSelfAudio', 'unmuteSelfAudio', 'toggleMuteSelfAudio'):
        return leg.mute_self_allowed or allow_all_mute_self
    if action in ('muteAllExceptSelfAudio', 'unmuteAllExceptSelfAudio'):
        return leg.mute_others_allowed
    if action in ('muteAllNewAudio', 'unmuteAllNewAudio', 'defaultMuteAllNewAudio'):
        return leg.change_join_audio_mute_override_allowed
    if action in ('muteAllNewAndAllExceptSelfAudio', 'unmuteAllNewAndAllExceptSelfAudio'):
        return leg.mute_others_allowed and leg.change_join_audio_mute_override_allowed
    if action in ('startRecording', 'stopRecording'):
        return leg.recording_control_allowed and recording_mode == 'manual'
    if action in ('lockCall', 'unlockCall'):
        return leg.call_lock_allowed
    if action in ('allowAllMuteSelf', 'cancelAllowAllMuteSelf'):
        return leg.allow_all_mute_self_allowed
    if action == 'endCall':
        return leg.end_call_allowed
    return action == 'getTotalParticipantCount'     # anyone may ask; the rest do nothing


IDLE, PREFIX = 'IDLE', 'PREFIX'


class DtmfMatcher:
    """Keys -> actions. IDLE: nothing buffered. PREFIX: the keys so far begin a longer
    sequence (and may be one themselves: `pending`), until the next key or `deadline`.

    A sequence that no longer one begins with fires at its last key. Keys that lead nowhere
    are dropped from the front, so a stray key before `*6` does not hide it. The buffer
    never holds more than the longest sequence."""

    def __init__(self, dtmf: Mapping[str, str] | None, timeout: float = 3.0) -> None:
        by_seq: dict[str, list[str]] = {}
        for action in DTMF_ACTIONS:
            seq = str((dtmf or {}).get(action, '')).strip().upper()
            if seq and len(seq) <= MAX_SEQUENCE and set(seq) <= DTMF_KEYS:
                by_seq.setdefault(seq, []).append(action)
        self.sequences = {s: tuple(a) for s, a in by_seq.items()}
        self._prefixes = {s[:i] for s in self.sequences for i in range(1, len(s))}
        self.timeout = timeout
        self.state = IDLE
        self.buffer = ''
        self.deadline: float | None = None

    def __bool__(self) -> bool:
        return bool(self.sequences)

    def feed(self, digit: str, now: float) -> list[str]:
        """A key at `now`; the actions it completes."""
        digit = digit.upper()
        if len(digit) != 1 or digit not in DTMF_KEYS:
            raise IllegalTransition(f'not a DTMF key: {digit!r}')
        out: list[str] = []
        if self.state == PREFIX and self.deadline is not None and now >= self.deadline:
            out += self.expire(now)
        buf = self.buffer + digit
        while buf:
            if buf in self._prefixes:          # wait: a longer sequence may follow
                self.state, self.buffer, self.deadline = PREFIX, buf, now + self.timeout
                return out
            if buf in self.sequences:
                out += self.sequences[buf]
                break
            # leads nowhere: a complete shorter sequence at its start still counts
            done = next((buf[:i] for i in range(len(buf) - 1, 0, -1)
                         if buf[:i] in self.sequences), None)
            if done is not None:
                out += self.sequences[done]
                buf = buf[len(done):]
            else:
                buf = buf[1:]
        self._reset()
        return out

    def expire(self, now: float) -> list[str]:
        """The inter-digit timeout passed: the keys buffered are a sequence (its actions)
        or are dropped."""
        if self.state != PREFIX or self.deadline is None or now < self.deadline:
            raise IllegalTransition(f'no timeout due in {self.state} at {now}')
        out = list(self.sequences.get(self.buffer, ()))
        self._reset()
        return out

    def _reset(self) -> None:
        self.state, self.buffer, self.deadline = IDLE, '', None


# --- the lobby ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Admit:
    """The leg joins the mix (from the lobby, or at once)."""
    leg: str


@dataclass(frozen=True)
class Hold:
    """The leg waits in the lobby: it hears the hold prompt, it is not mixed."""
    leg: str


@dataclass(frozen=True)
class Disconnect:
    """deactivationMode `disconnect`: the leg is hung up."""
    leg: str


WAITING, ACTIVE = 'WAITING', 'ACTIVE'


@dataclass
class _Leg:
    needs: bool
    mode: str
    delay: int
    state: str = WAITING
    due: float | None = None       # when its deactivationMode applies (last activator left)


@dataclass
class Activation:
    """Legs in a room: WAITING (the lobby) or ACTIVE (mixed).

    A leg without needsActivation is an activator. A leg enters ACTIVE at once unless the
    call is locked (lockMode `all`: every new leg waits; `needsActivation`: those that need
    activation wait) or it needs activation and no activator is ACTIVE. An activator entering
    admits every waiting leg (unless locked); unlocking admits what may enter then. When the
    last ACTIVE activator leaves, each ACTIVE leg that needs activation takes its
    deactivationMode after its deactivationModeTime, unless an activator is back by then.
    Activated legs stay ACTIVE when the call is locked (§8.2 `locked`)."""
    locked: bool = False
    lock_mode: str = 'needsActivation'
    legs: dict[str, _Leg] = field(default_factory=dict)

    @property
    def deadline(self) -> float | None:
        dues = [g.due for g in self.legs.values() if g.due is not None]
        return min(dues) if dues else None

    def state(self, leg: str) -> str:
        return self.legs[leg].state

    def _activators(self) -> int:
        return sum(1 for g in self.legs.values() if not g.needs and g.state == ACTIVE)

    def _may_enter(self, g: _Leg) -> bool:
        if self.locked and (self.lock_mode == 'all' or g.needs):
            return False
        return not g.needs or self._activators() > 0

    def join(self, leg: str, rules: LegRules, now: float) -> list:
        if leg in self.legs:
            raise IllegalTransition(f'leg {leg} joined twice')
        g = self.legs[leg] = _Leg(rules.needs_activation, rules.deactivation_mode,
                                  rules.deactivation_mode_time)
        if not self._may_enter(g):
            return [Hold(leg)]
        return self._admit(leg, g)

    def leave(self, leg: str, now: float) -> list:
        g = self.legs.pop(leg, None)
        if g is None:
            raise IllegalTransition(f'leg {leg} is not in the room')
        if g.needs or g.state != ACTIVE or self._activators():
            return []
        for other in self.legs.values():    # the last activator left
            if other.needs and other.state == ACTIVE and other.mode != 'remainActivated':
                other.due = now + other.delay
        return self.expire(now, strict=False)

    def lock(self) -> list:
        self.locked = True
        return []

    def unlock(self) -> list:
        self.locked = False
        out: list = []
        for name, g in list(self.legs.items()):          # activators first, then the rest
            if g.state == WAITING and not g.needs and self._may_enter(g):
                out += self._admit(name, g)
        for name, g in list(self.legs.items()):
            if g.state == WAITING and self._may_enter(g):
                out += self._admit(name, g)
        return out

    def expire(self, now: float, strict: bool = True) -> list:
        """The deactivation times due by `now` take effect."""
        due = [(n, g) for n, g in self.legs.items() if g.due is not None and g.due <= now]
        if strict and not due:
            raise IllegalTransition(f'no deactivation due at {now}')
        out: list = []
        for name, g in due:
            g.due = None
            if g.mode == 'disconnect':
                out.append(Disconnect(name))
            else:
                g.state = WAITING
                out.append(Hold(name))
        return out

    def _admit(self, leg: str, g: _Leg) -> list:
        g.state, g.due = ACTIVE, None
        out: list = [Admit(leg)]
        if not g.needs:
            for other in self.legs.values():   # an activator is back: no deactivation
                other.due = None
            if not self.locked:
                for name, other in self.legs.items():
                    if other.state == WAITING and other.needs:
                        other.state = ACTIVE
                        out.append(Admit(name))
        return out
