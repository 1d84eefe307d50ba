"""A running fax moves from G.711 to T.38 when the call does (for the fax apps).

    kw = dict(receive_file=tmp_name, on_done=..., on_progress=..., log_tag=call_id)
    audio = AudioFaxSession(**kw); audio.attach(leg.endpoint)
    accept_t38(leg, audio, kw)                   # the peer may switch: we take it
    t38 = await switch_to_t38(leg, audio, kw)    # or we ask; None: stay on audio

On the switch the audio session is abandoned (no report), a T38FaxSession with the same
file and callbacks starts T.30 afresh on the call's UDPTL socket, on the engine's one
`T38Sessions`; the leg's hangup (BYE) hangs it up, so `on_done` still comes once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..media.fax.session import AudioFaxSession, T38FaxSession

if TYPE_CHECKING:
    from .leg import Leg
    from .t38 import T38Link

__all__ = ['accept_t38', 'switch_to_t38', 'start_t38_fax', 'FaxOnCall']


def start_t38_fax(leg: 'Leg', link: 'T38Link', audio: AudioFaxSession | None,
                  fax_kwargs: dict) -> T38FaxSession:
    """The T.38 session for `fax_kwargs` (AudioFaxSession's keywords) on a switched link;
    the T.30 role stays the audio session's."""
    kw = dict(fax_kwargs)
    if audio is not None:
        kw.setdefault('calling', audio.calling)
        audio.abandon()
    session = T38FaxSession(link.socket.send, **link.options(), **kw)
    link.attach(session)
    if leg.ended:           # the call went while we set up: report how far it got
        link.close()
    else:
        leg.media.t38.add(session)
    return session


def accept_t38(leg: 'Leg', audio: AudioFaxSession | None, fax_kwargs: dict) -> None:
    """Take the peer's T.38 re-INVITE on this call for this fax."""
    leg.t38_handler = lambda leg_, link: start_t38_fax(leg_, link, audio, fax_kwargs)


async def switch_to_t38(leg: 'Leg', audio: AudioFaxSession | None,
                        fax_kwargs: dict) -> T38FaxSession | None:
    """Ask the peer to switch (our re-INVITE): the T.38 session, or None when refused."""
    link = await leg.request_t38()
    if link is None:
        return None
    if link.session is not None:     # their re-INVITE won the glare and its handler ran
        return link.session
    return start_t38_fax(leg, link, audio, fax_kwargs)


class FaxOnCall:
    """The fax session a call runs now: the audio one, then the T.38 one after a switch
    (theirs by `accept()`, ours by `await request()`).  A session that already finished on
    audio is not restarted: its file is complete, and a new T.30 run would write over it."""

    def __init__(self, leg: 'Leg', audio: AudioFaxSession, fax_kwargs: dict) -> None:
        self.leg = leg
        self.session: AudioFaxSession | T38FaxSession = audio
        self.kw = fax_kwargs

    def accept(self) -> None:
        self.leg.t38_handler = self._take

    def _take(self, leg: 'Leg', link: 'T38Link') -> None:
        audio = self.session
        if audio.done or audio.t38:
            return
        self.session = start_t38_fax(leg, link, audio, self.kw)

    async def request(self) -> bool:
        """Our re-INVITE: True when the call is on T.38 now (False: it stays on audio)."""
        link = await self.leg.request_t38()
        if link is not None and link.session is None:
            self._take(self.leg, link)
        return self.session.t38

    def hangup(self) -> None:
        self.session.hangup()
