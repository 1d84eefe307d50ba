"""The lobby of a room (CMS §8.4 needsActivation, §8.2 locked): what dialplan/roomrules.py's
`Activation` decides, carried out on the room. A leg held there is out of the mix and hears
the `conference-lobby` prompt, then a soft beep every 5 s, until it is admitted (the room's
`_admit`), deactivated back here, or disconnected."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..calls.controls import Control as C
from ..dialplan.roomrules import Admit, Hold
from ..prompts import prompt_path

if TYPE_CHECKING:
    from .room import ConferenceRoom

log = logging.getLogger('telephony.conference')
LOBBY = 'conference-lobby'    # prompts/prompts.toml
HOLD_TONE = {'frequency': 425, 'duration': 200, 'interval': 4800, 'loop': 0}   # every 5 s


def apply(room: 'ConferenceRoom', effects: list) -> None:
    """Carry out `effects`, then arm the room's next deactivation time (if any)."""
    for effect in effects:
        if isinstance(effect, Admit):
            room._admit(effect.leg)
        elif isinstance(effect, Hold):
            hold(room, effect.leg)
        else:                                   # Disconnect
            member = room.member(effect.leg)
            if member is not None:
                log.info('event=conference-deactivated conference=%s member=%s mode=disconnect',
                         room.uuid, effect.leg)
                member.call.leg.hangup()
    room.rooms.deadlines.set(('lobby', room.uuid), room.activation.deadline,
                             lambda now: apply(room, room.activation.expire(now)))


def hold(room: 'ConferenceRoom', uuid: str) -> None:
    """Into the lobby (out of the mix when deactivated): a prompt, then a soft tone."""
    member = room._members.pop(uuid, None)
    if member is not None:
        room._unmix(uuid, member)
        room._lobby[uuid] = member
        log.info('event=conference-deactivated conference=%s member=%s mode=deactivate',
                 room.uuid, uuid)
    member = room._lobby[uuid]
    member.held = True
    log.info('event=conference-lobby conference=%s member=%s call=%s waiting=%d', room.uuid,
             uuid, member.call.id, len(room._lobby))
    member.call.queue.enqueue([C.make('play', path=prompt_path(LOBBY)),
                               C.make('tone', **HOLD_TONE)], 'break')
