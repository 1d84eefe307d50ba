"""What a participant's keys do in a room (CMS §8.8 dtmfProfiles): its dtmf profile's
sequences, matched by dialplan/roomrules.py's DtmfMatcher, run the actions its call leg
profile allows (`allowed`). Mutes show as conference_update events (room.update), a lock and a
recording as the room's state (`locked`, the mixer's recorder), the count as a prompt to the
member who asked, and endCall as every participant's BYE.

Keys reach the room as the call's `call_dtmf` events (the call collects DTMF while it is in
the room); the digits queue that IVR programs read is drained here, so it stays empty."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..calls.controls import Control as C
from ..dialplan.roomrules import DTMF_KEYS, allowed
from ..prompts import prompt_path
from . import lobby

if TYPE_CHECKING:
    from .room import ConferenceRoom, _Member

log = logging.getLogger('telephony.conference')
COUNT = 'conference-participants'      # prompts/prompts.toml, after the number's digits


def listen(room: 'ConferenceRoom', uuid: str, member: '_Member') -> None:
    """Take the member's keys while it is in the room."""
    call = member.call

    def on_event(kind: str, fields: dict) -> None:
        if kind != 'call_dtmf':
            return
        while not call.digits.empty():      # nobody else reads them here: keep none
            call.digits.get_nowait()
        key(room, uuid, member, str(fields.get('digit', '')))

    member.listener = on_event
    call.listeners.append(on_event)
    call.set_dtmf_collect(True)


def unlisten(room: 'ConferenceRoom', uuid: str, member: '_Member') -> None:
    if member.listener is None:
        return
    room.rooms.deadlines.cancel(('keys', uuid))
    if member.listener in member.call.listeners:
        member.call.listeners.remove(member.listener)
    member.listener = None


def key(room: 'ConferenceRoom', uuid: str, member: '_Member', digit: str) -> None:
    """A key from a member: the actions it completes. Keys from the lobby do nothing."""
    keys = member.keys
    if keys is None or uuid not in room.legs or digit.upper() not in DTMF_KEYS:
        return
    now = room.rooms.now()
    done = keys.feed(digit, now)
    room.rooms.deadlines.set(('keys', uuid), keys.deadline,
                             lambda t: _run_all(room, uuid, keys.expire(t)))
    _run_all(room, uuid, done)


def _run_all(room: 'ConferenceRoom', uuid: str, names: list[str]) -> None:
    for name in names:
        run(room, uuid, name)


def run(room: 'ConferenceRoom', uuid: str, action: str) -> bool:
    """Run `action` for member `uuid` if its rules allow it; whether it ran."""
    member = room.legs.get(uuid)
    if member is None:           # it left (an endCall before it, say)
        return False
    if not allowed(action, member.rules, allow_all_mute_self=room.allow_all_mute_self,
                   recording_mode=room.rules.recording_mode):
        log.info('event=conference-dtmf-refused conference=%s member=%s action=%s',
                 room.uuid, uuid, action)
        return False
    log.info('event=conference-dtmf-action conference=%s member=%s action=%s', room.uuid, uuid,
             action)
    handler = _HANDLERS.get(action)
    if handler is not None:
        handler(room, uuid, member)
    return handler is not None


def _mute_others(room: 'ConferenceRoom', uuid: str, on: bool) -> None:
    for other in list(room.legs):
        if other != uuid:
            room.update(other, {'mute': on})


def _new(room: 'ConferenceRoom', override: bool | None) -> None:
    room.join_mute_override = override
    log.info('event=conference-join-mute conference=%s override=%s', room.uuid,
             'default' if override is None else str(override).lower())


def _lock(room: 'ConferenceRoom', on: bool) -> None:
    lobby.apply(room, room.activation.lock() if on else room.activation.unlock())
    log.info('event=conference-%s conference=%s', 'lock' if on else 'unlock', room.uuid)


def _allow_all_mute_self(room: 'ConferenceRoom', on: bool) -> None:
    room.allow_all_mute_self = on
    log.info('event=conference-allow-all-mute-self conference=%s on=%s', room.uuid,
             str(on).lower())


def start_recording(room: 'ConferenceRoom') -> None:
    """Record the room's mix to <record_dir>/<conference>/<time>.wav (none without a dir)."""
    record_dir = room.rooms.record_dir
    if record_dir is None:
        log.warning('event=conference-record-refused conference=%s reason="no recording '
                    'directory"', room.uuid)
        return
    if room.mix.recorder is not None:
        return
    path = record_dir / room.uuid / f'{time.strftime("%Y%m%dT%H%M%S")}-{room.call_id}.wav'
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning('event=conference-record-refused conference=%s reason="%s"', room.uuid, exc)
        return
    room.mix.start_recording(str(path))


def end_call(room: 'ConferenceRoom') -> None:
    """Every participant (the one who asked too, and the lobby) is hung up."""
    for other in [*room.legs.values(), *room.lobby.values()]:
        other.call.leg.hangup()


def speak_count(room: 'ConferenceRoom', member: '_Member') -> None:
    """The number of participants, digit by digit, to this member only (a private prompt:
    the mixer mixes it into what the member hears)."""
    names = {'*': 'star', '#': 'pound'}
    digits = str(room.participants())
    plays = [C.make('play', path=prompt_path(f'digit-{names.get(d, d)}')) for d in digits]
    member.call.queue.enqueue(plays + [C.make('play', path=prompt_path(COUNT))], 'break')


_HANDLERS = {
    'muteSelfAudio': lambda r, u, m: r.update(u, {'mute': True}),
    'unmuteSelfAudio': lambda r, u, m: r.update(u, {'mute': False}),
    'toggleMuteSelfAudio': lambda r, u, m: r.update(u, {'mute': not m.mix.mute}),
    'muteAllExceptSelfAudio': lambda r, u, m: _mute_others(r, u, True),
    'unmuteAllExceptSelfAudio': lambda r, u, m: _mute_others(r, u, False),
    'startRecording': lambda r, u, m: start_recording(r),
    'stopRecording': lambda r, u, m: r.mix.stop_recording(),
    'lockCall': lambda r, u, m: _lock(r, True),
    'unlockCall': lambda r, u, m: _lock(r, False),
    'allowAllMuteSelf': lambda r, u, m: _allow_all_mute_self(r, True),
    'cancelAllowAllMuteSelf': lambda r, u, m: _allow_all_mute_self(r, False),
    'muteAllNewAudio': lambda r, u, m: _new(r, True),
    'unmuteAllNewAudio': lambda r, u, m: _new(r, False),
    'defaultMuteAllNewAudio': lambda r, u, m: _new(r, None),
    'muteAllNewAndAllExceptSelfAudio': lambda r, u, m: (_new(r, True), _mute_others(r, u, True)),
    'unmuteAllNewAndAllExceptSelfAudio': lambda r, u, m: (_new(r, False),
                                                          _mute_others(r, u, False)),
    'endCall': lambda r, u, m: r.end(),
    'getTotalParticipantCount': lambda r, u, m: speak_count(r, m),
}
