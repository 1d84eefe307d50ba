"""ConferenceMixer: every room's mix on the engine's one clock.

The MediaEngine runs `tick()` once per 20 ms tick, after every endpoint's inbound phase
(which leaves each member's 20 ms frame, still encoded, on the endpoint) and before the
outbound phase (which sends what the mixer left there). One pass serves all members of all
rooms as (members, 160) matrices: decode, level, gate, gains, per-room totals, total minus
self, encode. No task or timer per member or room.

    room = engine.mixer.room(key)
    member = room.add(endpoint, mute=False, deaf=False, volume_in=0, volume_out=0)
    member.mute = True                  # live; so are deaf, volume_in, volume_out
    room.on_change = lambda member, change: ...   # {'talk': bool} or {'floor': bool}
    room.play_tone('join')
    room.start_recording(path); room.stop_recording()
    member.start_tap(path); member.stop_tap()    # what one member hears, server side
    room.remove(member); engine.mixer.close_room(key)

A member's frame counts in the mix when it is not muted and it is above the noise gate or
talking (webrtcvad on every other frame, with attack and hangover). Members that add nothing
hear the plain total: those with the same volume_out and codec share one encoded frame. Deaf
members send digital silence. A frame missing from the jitter buffer counts as silence. While in a room an endpoint cannot be
bridged or echo; a source played on it (a private prompt) is mixed into what it hears.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Callable, Hashable

import numpy as np
import webrtcvad

from .audiofile import file_executor
from .codecs import FRAME_SAMPLES, PCMA, SAMPLE_RATE, decode_rows, encode_rows
from .mixing import (FloorHysteresis, check_volume, contributions, frame_rms, gain,
                     hear_minus_self, hear_total, room_totals, saturate)
from .recorder import WavRecorder
from .sources import SILENCE_FRAME, Player
from .vad import tonal_rows

if TYPE_CHECKING:
    from .endpoint import RtpEndpoint
    from .engine import MediaEngine

__all__ = ['ConferenceMixer', 'Room', 'Member', 'TONES']

log = logging.getLogger('telephony.media')

GATE_RMS = 64.0        # below this a non-talking member's frame is left out (about -54 dBFS)
VAD_RMS = 100.0        # quieter frames are not shown to webrtcvad: not speech, and it saves CPU
VAD_EVERY = 2          # each member's voice activity is judged on every 2nd frame (half the cost)
TALK_ATTACK = 2        # judged frames voiced in a row before `talk` (40..80 ms)
TALK_HANGOVER = 10     # judged frames unvoiced in a row before `talk` ends (400 ms)
LEVEL_ALPHA = 0.2      # level smoothing per tick for the floor (time constant ~100 ms)
MAX_QUEUED_TONES = 4   # join/leave tones waiting in a room; more drop the oldest
_SILENT_IN = bytes([0xFF]) * FRAME_SAMPLES   # mu-law silence, stands in for a missing frame


def _tone(freqs: tuple[float, ...], ms: int = 100, gap_ms: int = 40,
          amplitude: float = 3000.0) -> np.ndarray:
    """Beeps of the given pitches one after the other, with 10 ms fades (no clicks)."""
    n, fade = SAMPLE_RATE * ms // 1000, SAMPLE_RATE // 100
    env = np.ones(n)
    env[:fade] = env[-fade:][::-1] = np.linspace(0.0, 1.0, fade)
    t = np.arange(n) / SAMPLE_RATE
    gap = np.zeros(SAMPLE_RATE * gap_ms // 1000)
    parts = []
    for f in freqs:
        parts += [amplitude * env * np.sin(2 * np.pi * f * t), gap]
    pcm = np.round(np.concatenate(parts)).astype(np.int16)
    pcm.flags.writeable = False
    return pcm


TONES = {'join': _tone((660.0, 880.0)), 'leave': _tone((880.0, 660.0))}


class Member:
    """One endpoint in one room. mute/deaf/volume_in/volume_out are settable live;
    talk and floor are the mixer's."""

    __slots__ = ('room', 'endpoint', '_mute', '_deaf', '_volume_in', '_volume_out', '_talk',
                 '_floor', '_on', '_off', '_level', '_vad', '_tap')

    def __init__(self, room: 'Room', endpoint: 'RtpEndpoint', mute: bool, deaf: bool,
                 volume_in: int, volume_out: int) -> None:
        self.room = room
        self.endpoint = endpoint
        self._mute = bool(mute)
        self._deaf = bool(deaf)
        self._volume_in = check_volume(volume_in)
        self._volume_out = check_volume(volume_out)
        self._talk = False
        self._floor = False
        self._on = 0          # voiced frames in a row
        self._off = 0         # unvoiced frames in a row
        self._level = 0.0     # smoothed level of what it adds to the mix
        self._vad = webrtcvad.Vad(3)   # its own: webrtcvad adapts to each stream's noise
        self._tap: WavRecorder | None = None

    def __repr__(self) -> str:
        return f'<Member port={self.endpoint.local_port} room={self.room.key!r}>'

    def _changed(self) -> None:
        self.room.mixer._dirty = True

    @property
    def mute(self) -> bool:
        return self._mute

    @mute.setter
    def mute(self, on: bool) -> None:
        self._mute = bool(on)
        self._changed()

    @property
    def deaf(self) -> bool:
        return self._deaf

    @deaf.setter
    def deaf(self, on: bool) -> None:
        self._deaf = bool(on)
        self._changed()

    @property
    def volume_in(self) -> int:
        return self._volume_in

    @volume_in.setter
    def volume_in(self, steps: int) -> None:
        self._volume_in = check_volume(steps)
        self._changed()

    @property
    def volume_out(self) -> int:
        return self._volume_out

    @volume_out.setter
    def volume_out(self, steps: int) -> None:
        self._volume_out = check_volume(steps)
        self._changed()

    @property
    def talk(self) -> bool:
        return self._talk

    # --- the tap: what this member hears, recorded on the server's side ----------------------
    def start_tap(self, path: str) -> WavRecorder:
        """Record the mix this member is sent (after deaf and volume_out; a private prompt
        played on its endpoint is not in it) to `path`, like a room recording."""
        self.stop_tap()
        self._tap = WavRecorder(path, executor=file_executor())
        self._changed()
        return self._tap

    def stop_tap(self, discard: bool = False) -> float:
        """Finish (discard: delete) the tap; its duration in seconds (0.0: none)."""
        tap, self._tap = self._tap, None
        if tap is None:
            return 0.0
        self._changed()
        if discard:
            tap.abort()
            return 0.0
        return tap.close()

    @property
    def tap(self) -> WavRecorder | None:
        return self._tap

    @property
    def floor(self) -> bool:
        return self._floor


class Room:
    """The members mixed together, their tones and the recording of their mix."""

    def __init__(self, mixer: 'ConferenceMixer', key: Hashable) -> None:
        self.mixer = mixer
        self.key = key
        self.members: list[Member] = []
        #: on_change(member, {'talk': bool} | {'floor': bool}), called from the tick
        self.on_change: Callable[[Member, dict], None] | None = None
        self._floor = FloorHysteresis()
        self._tones: deque[Player] = deque(maxlen=MAX_QUEUED_TONES)
        self._recorder: WavRecorder | None = None
        self.closed = False

    def __repr__(self) -> str:
        return f'<Room {self.key!r} members={len(self.members)}>'

    def add(self, endpoint: 'RtpEndpoint', *, mute: bool = False, deaf: bool = False,
            volume_in: int = 0, volume_out: int = 0) -> Member:
        """Mix `endpoint` into this room. Refused (ValueError) for a closed room or
        endpoint, an endpoint of another engine, one in a room already, and one bridged
        or echoing: the call that bridged it must split it first."""
        if self.closed:
            raise ValueError('room is closed')
        if endpoint.engine is not self.mixer.engine:
            raise ValueError('endpoint belongs to another MediaEngine')
        if endpoint.closed:
            raise ValueError('endpoint is closed')
        if endpoint._member is not None:
            raise ValueError('endpoint is in a room already')
        if endpoint.bridged_to is not None or endpoint.echo:
            raise ValueError('endpoint is bridged or echoing: split it first')
        member = Member(self, endpoint, mute, deaf, volume_in, volume_out)
        self.members.append(member)
        endpoint._join(member)
        self.mixer._dirty = True
        log.info('event=conference-add room=%s port=%d members=%d', self.key,
                 endpoint.local_port, len(self.members))
        return member

    def remove(self, member: Member) -> None:
        """Take `member` out of the mix (no callbacks for it after this)."""
        if member.room is not self or member not in self.members:
            return
        self.members.remove(member)
        self._floor.drop(member)
        member._floor = member._talk = False
        member.stop_tap()
        member.endpoint._leave(member)
        self.mixer._dirty = True
        log.info('event=conference-remove room=%s port=%d members=%d', self.key,
                 member.endpoint.local_port, len(self.members))

    def play_tone(self, kind: str) -> None:
        """Queue a 'join' or 'leave' tone; everyone in the room hears it."""
        try:
            pcm = TONES[kind]
        except KeyError:
            raise ValueError(f'unknown tone {kind!r} (one of {", ".join(TONES)})') from None
        self._tones.append(Player(pcm))
        self.mixer._dirty = True

    def _tone_frame(self) -> np.ndarray | None:
        tones = self._tones
        while tones:
            frame = tones[0].read()
            if frame is not None:
                return frame
            tones.popleft()
        return None

    # --- recording ---------------------------------------------------------------------------
    def start_recording(self, path: str) -> WavRecorder:
        """Record the room's mix (every member's contribution and the tones) to `path`,
        written as `path.part` on the file thread and renamed by stop_recording; the
        recorder's `finished` says when the file is complete. Ticks without members are
        not recorded."""
        if self._recorder is not None:
            self.stop_recording()
        self._recorder = WavRecorder(path, executor=file_executor())
        self.mixer._dirty = True
        log.info('event=conference-record-start room=%s path=%s', self.key, path)
        return self._recorder

    def stop_recording(self, discard: bool = False) -> float:
        """Finish (discard: delete) the recording; its duration in seconds (0.0: none)."""
        rec, self._recorder = self._recorder, None
        if rec is None:
            return 0.0
        if discard:
            rec.abort()
            return 0.0
        duration = rec.close()
        log.info('event=conference-record-stop room=%s path=%s duration=%.2f', self.key,
                 rec.path, duration)
        return duration

    @property
    def recorder(self) -> WavRecorder | None:
        return self._recorder

    def _record(self, total: np.ndarray) -> None:
        if not _write(self._recorder, saturate(total), self.key):
            self._recorder = None


def _write(rec: WavRecorder, pcm: np.ndarray, room_key) -> bool:
    """One frame to a room recording or a tap; False (and the file aborted) once it failed."""
    try:
        rec.write(pcm)
    except OSError:
        log.exception('event=conference-record-error room=%s path=%s', room_key, rec.path)
        rec.error = rec.error or OSError('write failed')
    if rec.error is not None:   # the file thread failed: stop buffering for it
        rec.abort()
        return False
    return True


class _Snapshot:
    """The members of every non-empty room as arrays, rows grouped by room; rebuilt when
    membership or a setting changes, reused by every tick in between."""

    def __init__(self, rooms: list[Room]) -> None:
        self.rooms = tuple(r for r in rooms if r.members)
        self.members = tuple(m for r in self.rooms for m in r.members)
        self.endpoints = tuple(m.endpoint for m in self.members)
        sizes = [len(r.members) for r in self.rooms]
        self.starts = np.cumsum([0] + sizes[:-1]).astype(np.intp)
        self.room_of = np.repeat(np.arange(len(self.rooms)), sizes).astype(np.intp)
        self.room_keys = [tuple(r.members) for r in self.rooms]
        ms = self.members
        self.mute = np.array([m._mute for m in ms], bool)
        self.deaf = np.array([m._deaf for m in ms], bool)
        vin = np.array([m._volume_in for m in ms], np.int64)
        self.vout = np.array([m._volume_out for m in ms], np.int64)
        self.gain_in = gain(vin) if vin.any() else None
        self.gain_out = gain(self.vout) if self.vout.any() else None
        self.gain_out_all = gain(self.vout)
        self.on = np.array([m._on for m in ms], np.int32)
        self.off = np.array([m._off for m in ms], np.int32)
        self.talk = np.array([m._talk for m in ms], bool)
        self.rows = np.arange(len(ms))
        self.level = np.array([m._level for m in ms], np.float32)
        self.is_speech = tuple(m._vad.is_speech for m in ms)
        self.extras = [i for i, r in enumerate(self.rooms) if r._tones or r._recorder]
        self.taps = [i for i, m in enumerate(ms) if m._tap is not None]

    def save(self) -> None:
        """Hand the per-member state back before the next rebuild."""
        for m, on, off, lv in zip(self.members, self.on.tolist(), self.off.tolist(),
                                  self.level.tolist()):
            m._on, m._off, m._level = on, off, lv


class ConferenceMixer:
    """Owned by the MediaEngine (`engine.mixer`); the engine calls tick() every tick."""

    def __init__(self, engine: 'MediaEngine') -> None:
        self.engine = engine
        self.rooms: dict[Hashable, Room] = {}
        self._snap: _Snapshot | None = None
        self._dirty = False
        self.frames_encoded = 0     # distinct encoded outputs (shared frames count once)
        self.frames_sent = 0        # member outputs handed out
        self.errors = 0             # ticks that raised (counted and logged by the engine)

    def room(self, key: Hashable) -> Room:
        """The room called `key`, created on first use."""
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = Room(self, key)
        return room

    def close_room(self, key: Hashable) -> None:
        """Remove every member, finish the recording and forget the room."""
        room = self.rooms.pop(key, None)
        if room is None:
            return
        for m in list(room.members):
            room.remove(m)
        room.stop_recording()
        room._tones.clear()
        room.closed = True
        self._dirty = True

    @property
    def active(self) -> bool:
        return self._snap is not None or self._dirty

    def stats(self) -> dict:
        return {'rooms': len(self.rooms), 'members': sum(len(r.members) for r in self.rooms.values()),
                'frames_encoded': self.frames_encoded, 'frames_sent': self.frames_sent}

    # --- the tick ----------------------------------------------------------------------------
    def tick(self, tick: int) -> None:
        if self._dirty:
            if self._snap is not None:
                self._snap.save()
            snap = _Snapshot(list(self.rooms.values()))
            self._snap = snap if snap.members else None
            self._dirty = False
        s = self._snap
        if s is None:
            return
        changes: list[tuple[Room, Member, dict]] = []
        eps = s.endpoints
        n = len(eps)
        frames = [ep._in_frame for ep in eps]
        present = np.fromiter((f is not None for f in frames), bool, n)
        alaw = np.fromiter((ep._in_codec is PCMA for ep in eps), bool, n)
        data = b''.join(f if f is not None else _SILENT_IN for f in frames)
        pcm = decode_rows(data, n, alaw if alaw.any() else None)
        pcm[~present] = 0
        rms = frame_rms(pcm)
        self._talk(s, tick, pcm, rms, changes)
        heard = ~s.mute & present & ((rms >= GATE_RMS) | s.talk)
        contrib = contributions(pcm, s.gain_in, heard)
        totals = room_totals(contrib, s.starts)
        for ri in s.extras:
            room = s.rooms[ri]
            tone = room._tone_frame()
            if tone is not None:
                totals[ri] += tone
            if room._recorder is not None:
                room._record(totals[ri])
        level = rms if s.gain_in is None else rms * s.gain_in
        s.level += LEVEL_ALPHA * (np.where(heard, level, 0.0) - s.level)
        self._floor(s, changes)
        self._hand_out(s, totals, contrib, heard)
        for i in s.taps:
            self._tap(s, i, totals, contrib, heard)
        for room, member, change in changes:
            cb = room.on_change
            if cb is not None and member.room is room and member in room.members:
                try:
                    cb(member, change)
                except Exception:
                    log.exception('event=conference-callback-error room=%s', room.key)

    def _talk(self, s: _Snapshot, tick: int, pcm: np.ndarray, rms: np.ndarray,
              changes: list) -> None:
        """Voice activity per member: webrtcvad (mode 3) on loud, non-tonal frames only,
        each member judged on every VAD_EVERY-th tick (members take turns)."""
        due = (s.rows + tick) % VAD_EVERY == 0
        voiced = np.zeros(len(rms), bool)
        loud = np.flatnonzero(due & (rms >= VAD_RMS))
        if len(loud):
            rows = pcm[loud]
            speechy = ~tonal_rows(rows)
            data = rows[speechy].tobytes()      # one copy, sliced per member (not row.tobytes())
            step = 2 * FRAME_SAMPLES
            is_speech = s.is_speech
            for k, i in enumerate(loud[speechy].tolist()):
                voiced[i] = is_speech[i](data[k * step:(k + 1) * step], SAMPLE_RATE)
        s.on = np.where(due, np.where(voiced, s.on + 1, 0), s.on)
        s.off = np.where(due, np.where(voiced, 0, s.off + 1), s.off)
        talk = (s.talk | (s.on >= TALK_ATTACK)) & (s.off < TALK_HANGOVER)
        for i in np.flatnonzero(talk != s.talk).tolist():
            m = s.members[i]
            m._talk = bool(talk[i])
            changes.append((m.room, m, {'talk': m._talk}))
        s.talk = talk

    def _floor(self, s: _Snapshot, changes: list) -> None:
        # rooms where someone talks, or a challenger's count must restart (nobody talks now)
        talking = np.add.reduceat(s.talk.astype(np.int32), s.starts)
        due = set(np.flatnonzero(talking).tolist())
        due.update(i for i, r in enumerate(s.rooms) if r._floor.challenger is not None)
        for ri in due:
            room = s.rooms[ri]
            floor = room._floor
            old = floor.holder
            lo = s.starts[ri]
            hi = lo + len(s.room_keys[ri])
            if floor.step(s.room_keys[ri], s.level[lo:hi].tolist(), s.talk[lo:hi].tolist()):
                if old is not None:
                    old._floor = False
                    changes.append((room, old, {'floor': False}))
                new = floor.holder
                new._floor = True
                changes.append((room, new, {'floor': True}))

    def _hand_out(self, s: _Snapshot, totals: np.ndarray, contrib: np.ndarray,
                  heard: np.ndarray) -> None:
        """Leave each member's frame on its endpoint: encoded bytes (shared where the
        output is the same), or PCM for a member with a private prompt playing."""
        eps = s.endpoints
        n = len(eps)
        has_source = np.fromiter((ep._source is not None for ep in eps), bool, n)
        own = ~s.deaf & (heard | has_source)          # hears total minus self: its own row
        shared = ~s.deaf & ~own
        outs: list = [None] * n
        own_rows = np.flatnonzero(own)
        if len(own_rows):
            pcm = hear_minus_self(totals, contrib, s.room_of, own_rows, s.gain_out)
            self._encode_into(outs, own_rows, pcm, eps, has_source)
        shared_rows = np.flatnonzero(shared)
        if len(shared_rows):
            # one output per (room, volume_out): a key per row, the distinct ones mixed once
            keys = s.room_of[shared_rows] * 16 + s.vout[shared_rows] + 8
            distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            rep = shared_rows[first]
            pcm = hear_total(totals, s.room_of[rep], s.gain_out_all[rep])
            by_codec: dict = {}
            for row, j in zip(shared_rows.tolist(), inverse.tolist()):
                codec = eps[row].codec
                enc = by_codec.get(codec)
                if enc is None:     # each distinct output encoded once per codec, then shared
                    blob = encode_rows(pcm, codec).tobytes()
                    enc = by_codec[codec] = [blob[k * FRAME_SAMPLES:(k + 1) * FRAME_SAMPLES]
                                             for k in range(len(distinct))]
                    self.frames_encoded += len(distinct)
                outs[row] = enc[j]
        for ep, out, deaf in zip(eps, outs, s.deaf.tolist()):
            ep._mix_out = ep.codec.silence if deaf else out
        self.frames_sent += n

    @staticmethod
    def _tap(s: _Snapshot, i: int, totals: np.ndarray, contrib: np.ndarray,
             heard: np.ndarray) -> None:
        m = s.members[i]
        if m._tap is None:
            return
        if s.deaf[i]:
            pcm = SILENCE_FRAME
        else:
            rows = np.array([i])
            pcm = hear_minus_self(totals, contrib, s.room_of, rows, s.gain_out)[0] if heard[i] \
                else hear_total(totals, s.room_of[rows], s.gain_out_all[rows])[0]
        if not _write(m._tap, pcm, m.room.key):
            m._tap = None

    def _encode_into(self, outs: list, rows: np.ndarray, pcm: np.ndarray, eps, has_source) -> None:
        by_codec: dict = {}
        n = FRAME_SAMPLES
        for k, row in enumerate(rows.tolist()):
            ep = eps[row]
            if has_source[row]:
                outs[row] = pcm[k]       # mixed with the prompt by the endpoint
                continue
            blob = by_codec.get(ep.codec)
            if blob is None:             # all rows at once, then a bytes slice per member
                blob = by_codec[ep.codec] = encode_rows(pcm, ep.codec).tobytes()
            outs[row] = blob[k * n:(k + 1) * n]
        self.frames_encoded += len(rows)
