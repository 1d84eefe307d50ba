"""Profiles inside conference rooms (conference/room.py, actions.py, deadlines.py): real
endpoints on a started MediaEngine, real RTP between them on 127.0.0.1, RFC 4733 keys sent by
a "phone" endpoint to each member's endpoint. The calls are real `Call`s over a stand-in leg
(no SIP here: the integration tests have SIPp for that); every wait is on an event with a
timeout."""
import asyncio
import random
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from telephony.calls.call import Call
from telephony.conference.deadlines import Deadlines
from telephony.conference.registry import ConferenceRegistry
from telephony.conference.room import ConferenceRooms, RoomFull
from telephony.events import EventSink
from telephony.media import audiofile
from telephony.media.codecs import PCMU
from telephony.media.engine import MediaEngine
from telephony.prompts import prompt_path

TIMEOUT = 10


@dataclass
class Profiles:
    call: dict = field(default_factory=dict)
    leg: dict = field(default_factory=dict)
    dtmf: dict = field(default_factory=dict)


@dataclass
class Space:
    """A coSpace's room as the profiles helper hands it over (conference `profiles`)."""
    uuid: str = 'space-1'
    description: str = 'team'
    owner: None = None
    mute_default: bool = False
    active: bool = True
    profiles: Profiles | None = None


class Leg:
    """What a Call needs of a SIP leg: an endpoint, a state, hangup."""
    incoming = True
    invite = None

    def __init__(self, name, ep):
        self.id, self.endpoint = name, ep
        self.state, self.hangup_cause = 'answered', None
        self.negotiated = SimpleNamespace(dtmf_pt=101)
        self.on_state = self.on_dtmf = self.on_confirmed = None
        ep.on_dtmf = lambda digit, ms: self.on_dtmf(self, digit, ms)

    @property
    def ended(self):
        return self.state == 'hangup'

    def hangup(self, cause=16):
        if not self.ended:
            self.state, self.hangup_cause = 'hangup', cause
            self.on_state(self)


class Manager:
    def __init__(self):
        self.calls = {}

    def publish(self, call, kind, fields):
        pass

    def forget(self, call):
        self.calls.pop(call.id, None)

    load_audio = staticmethod(audiofile.load_audio)


class Registry(ConferenceRegistry):
    """The real registry, keeping every detail event for the test to wait on."""

    def __init__(self):
        super().__init__(EventSink())
        self.seen: list[tuple[str, object]] = []
        self.changed = asyncio.Event()

    def detail(self, room, name, member):
        super().detail(room, name, member)
        self.seen.append((name, member))
        self.changed.set()

    async def wait(self, pred):
        async def until():
            while not pred():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), TIMEOUT)

    def updates(self, uuid):
        return [m[uuid] for n, m in self.seen if n == 'conference_update' and uuid in m]


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 200)
    await eng.start()
    yield eng
    await eng.stop()


class Rig:
    def __init__(self, engine, tmp_path=None):
        self.engine = engine
        self.registry = Registry()
        self.rooms = ConferenceRooms(self.registry, engine.mixer, record_dir=tmp_path)
        self.manager = Manager()
        self.tasks = []

    async def caller(self, name):
        """A member's endpoint and the phone endpoint that talks RTP to it."""
        ep, phone = await self.engine.create_endpoint(), await self.engine.create_endpoint()
        ep.configure(remote=('127.0.0.1', phone.local_port), codec=PCMU, dtmf_pt=101)
        phone.configure(remote=('127.0.0.1', ep.local_port), codec=PCMU, dtmf_pt=101)
        call = Call(self.manager, Leg(name, ep), from_='+4922100' + name[-1])
        self.manager.calls[call.id] = call
        call.phone = phone
        return call

    async def join(self, name, space, **kw):
        """A caller joins `space`; returns the call once the room has it (mixed or lobby)."""
        call = await self.caller(name)
        task = asyncio.create_task(self.rooms.join(call, space, **kw))
        self.tasks.append(task)
        await asyncio.sleep(0)       # join runs up to its `await call.ended`
        call.task = task
        return call

    async def key(self, call, digits):
        """The phone keys `digits`; returns once the call has had them all (the room's
        listener, added at its join, runs before this one)."""
        seen = getattr(call, 'seen', None)
        if seen is None:
            seen = call.seen = []
            call.keyed = asyncio.Event()
            call.listeners.append(lambda kind, f: (seen.append(f['digit']), call.keyed.set())
                                  if kind == 'call_dtmf' else None)
        want = len(seen) + len(digits)
        await call.phone.send_dtmf(digits)

        async def until():
            while len(seen) < want:
                call.keyed.clear()
                await call.keyed.wait()
        await asyncio.wait_for(until(), TIMEOUT)

    def room(self, space):
        return self.rooms.rooms[space.uuid]

    def uuid(self, space, call):
        room = self.room(space)
        return next(u for u, m in {**room.legs, **room.lobby}.items() if m.call is call)

    async def close(self):
        for t in self.tasks:
            if not t.done():
                for c in list(self.manager.calls.values()):
                    c.leg.hangup()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), TIMEOUT)


@pytest.fixture
async def rig(engine, tmp_path):
    r = Rig(engine, tmp_path)
    yield r
    await r.close()


def space(call=None, leg=None, dtmf=None, **kw):
    return Space(profiles=Profiles(call or {}, leg or {}, dtmf or {}), **kw)


# --- keys ---------------------------------------------------------------------------------------
async def test_a_member_keys_star_6_and_toggles_its_own_mute(rig):
    s = space(dtmf={'toggleMuteSelfAudio': '*6'})
    a = await rig.join('a1', s)
    ua = rig.uuid(s, a)
    assert a.dtmf_enabled                       # the room collects its keys
    await a.phone.send_dtmf('*6')
    await rig.registry.wait(lambda: rig.registry.updates(ua) == [{'mute': True}])
    assert rig.room(s).legs[ua].mix.mute
    await a.phone.send_dtmf('*6')
    await rig.registry.wait(lambda: rig.registry.updates(ua)[-1:] == [{'mute': False}])
    assert a.digits.empty()                     # nobody reads them: the room drained them


async def test_a_key_the_profile_does_not_allow_does_nothing(rig):
    s = space(leg={'muteSelfAllowed': 'false'},
              dtmf={'toggleMuteSelfAudio': '*6', 'muteAllExceptSelfAudio': '*7'})
    a, b = await rig.join('a1', s), await rig.join('b2', s)
    ua, ub = rig.uuid(s, a), rig.uuid(s, b)
    await a.phone.send_dtmf('*6')              # refused ...
    await a.phone.send_dtmf('*7')              # ... then allowed: muteOthersAllowed (default)
    await rig.registry.wait(lambda: rig.registry.updates(ub) == [{'mute': True}])
    assert rig.registry.updates(ua) == [] and not rig.room(s).legs[ua].mix.mute


async def test_unmute_all_except_self_and_mute_new(rig):
    s = space(leg={'changeJoinAudioMuteOverrideAllowed': 'true'},
              dtmf={'muteAllNewAndAllExceptSelfAudio': '*1', 'unmuteAllExceptSelfAudio': '*2'})
    a, b = await rig.join('a1', s), await rig.join('b2', s)
    ub = rig.uuid(s, b)
    await a.phone.send_dtmf('*1')
    await rig.registry.wait(lambda: rig.registry.updates(ub) == [{'mute': True}])
    assert rig.room(s).join_mute_override is True
    c = await rig.join('c3', s)                 # a new member comes in muted
    assert rig.room(s).legs[rig.uuid(s, c)].mix.mute
    await a.phone.send_dtmf('*2')
    await rig.registry.wait(lambda: rig.registry.updates(ub)[-1:] == [{'mute': False}])
    assert not rig.room(s).legs[rig.uuid(s, a)].mix.mute


async def test_end_call_hangs_up_everyone(rig):
    s = space(dtmf={'endCall': '*0'})
    a, b = await rig.join('a1', s), await rig.join('b2', s)
    await b.phone.send_dtmf('*0')
    await asyncio.wait_for(asyncio.gather(a.ended, b.ended), TIMEOUT)
    await asyncio.wait_for(asyncio.gather(a.task, b.task), TIMEOUT)
    assert s.uuid not in rig.rooms.rooms


async def test_end_call_refused_without_end_call_allowed(rig):
    s = space(leg={'endCallAllowed': 'false'}, dtmf={'endCall': '*0', 'muteSelfAudio': '*9'})
    a = await rig.join('a1', s)
    await rig.key(a, '*0')
    assert not a.ended.done()
    await a.phone.send_dtmf('*9')                # and this one runs
    await rig.registry.wait(lambda: rig.registry.updates(rig.uuid(s, a)) == [{'mute': True}])
    assert not a.ended.done()


async def test_participant_count_is_spoken_to_the_one_who_asked(rig):
    s = space(dtmf={'getTotalParticipantCount': '#9'})
    a, b = await rig.join('a1', s), await rig.join('b2', s)
    await rig.key(a, '#9')
    queued = [a.queue.current, *a.queue.pending]
    assert [c.params['path'] for c in queued] == [prompt_path('digit-2'),
                                                   prompt_path('conference-participants')]
    assert b.queue.current is None              # b hears nothing of it


async def test_start_and_stop_recording_by_keys(rig, tmp_path):
    s = space(dtmf={'startRecording': '*8', 'stopRecording': '*9'})
    a = await rig.join('a1', s)
    room = rig.room(s)
    await rig.key(a, '*8')
    rec = room.mix.recorder
    assert rec is not None and rec.path.startswith(str(tmp_path / s.uuid))
    await a.phone.send_dtmf('*9')
    await asyncio.wait_for(rec.finished, TIMEOUT)
    assert room.mix.recorder is None
    [wav] = (tmp_path / s.uuid).iterdir()
    assert wav.stat().st_size > 44


async def test_recording_keys_do_nothing_when_recording_mode_is_disabled(rig):
    s = space(call={'recordingMode': 'disabled'},
              dtmf={'startRecording': '*8', 'muteSelfAudio': '*9'})
    a = await rig.join('a1', s)
    await a.phone.send_dtmf('*8*9')
    await rig.registry.wait(lambda: rig.registry.updates(rig.uuid(s, a)) == [{'mute': True}])
    assert rig.room(s).mix.recorder is None


async def test_a_longer_sequence_waits_and_the_shorter_fires_on_the_shared_timer(rig):
    s = space(dtmf={'muteSelfAudio': '*6', 'unmuteSelfAudio': '*66'})
    a = await rig.join('a1', s)
    ua = rig.uuid(s, a)
    await a.phone.send_dtmf('*6')
    await rig.registry.wait(lambda: rig.registry.updates(ua) == [{'mute': True}])
    assert not rig.rooms.deadlines                # the timeout fired, nothing left


async def test_a_qloud_conference_ignores_keys(rig):
    q = Space(uuid='conf-q', owner='joe', mute_default=True)
    a = await rig.join('a1', q)
    assert not a.dtmf_enabled and not a.listeners
    assert rig.room(q).legs[rig.uuid(q, a)].mix.mute      # its own mute_default


# --- entry ------------------------------------------------------------------------------------
async def test_rx_and_tx_audio_mute_on_entry(rig):
    s = space(leg={'rxAudioMute': 'true', 'txAudioMute': 'true'})
    a = await rig.join('a1', s)
    ua = rig.uuid(s, a)
    m = rig.room(s).legs[ua].mix
    assert m.mute and m.deaf
    [(name, ev)] = [e for e in rig.registry.seen if e[0] == 'conference_join']
    assert ev[ua]['mute'] is True and ev[ua]['deaf'] is True


async def test_past_the_participant_limit_the_caller_hears_full_and_bye(rig):
    s = space(call={'participantLimit': '1'})
    assert not rig.rooms.full(s) and rig.rooms.full(space(call={'participantLimit': '0'}))
    # (once the room runs, its own rules count: those of its first participant's join)
    a = await rig.join('a1', s)
    assert rig.rooms.full(s) and rig.rooms.full(space()) and not rig.rooms.full(Space('other'))
    b = await rig.caller('b2')
    with pytest.raises(RoomFull):
        await asyncio.wait_for(rig.rooms.join(b, s, raise_full=True), TIMEOUT)
    assert b.ended.done() and b.leg.hangup_cause == 16
    assert len(rig.room(s).legs) == 1 and not a.ended.done()
    c = await rig.caller('c3')                   # without raise_full: told and hung up
    await asyncio.wait_for(rig.rooms.join(c, s), TIMEOUT)
    assert c.ended.done()


async def test_join_tone_threshold(rig):
    s = space(leg={'joinToneParticipantThreshold': '2', 'leaveToneParticipantThreshold': '0'})
    await rig.join('a1', s)
    room = rig.room(s)
    await rig.join('b2', s)
    assert len(room.mix._tones) == 1            # 2 participants: a tone
    room.mix._tones.clear()
    c = await rig.join('c3', s)
    assert not room.mix._tones                   # 3 > 2: none
    c.leg.hangup()
    await asyncio.wait_for(c.task, TIMEOUT)
    assert not room.mix._tones                   # leave tones disabled (0)


async def test_a_qloud_room_tones_every_join(rig):
    q = Space(uuid='conf-q', owner='joe')
    for i in range(1, 5):
        await rig.join(f'c{i}', q)
    assert len(rig.room(q).mix._tones) == 3     # every join after the first


async def test_max_call_duration_ends_the_leg_on_the_shared_timer(rig):
    s = space(leg={'maxCallDurationTime': '1'})
    a = await rig.join('a1', s)
    b = await rig.join('b2', Space(uuid='space-1'))     # same room, no limit for b
    assert len(rig.rooms.deadlines) == 1
    await asyncio.wait_for(a.ended, TIMEOUT)
    await asyncio.wait_for(a.task, TIMEOUT)
    assert not b.ended.done() and len(rig.room(s).legs) == 1


# --- the lobby ----------------------------------------------------------------------------------
GUEST = {'needsActivation': 'true'}


async def test_guests_wait_in_the_lobby_until_an_activator_comes(rig):
    g = await rig.join('g1', space(leg=GUEST))
    room = rig.rooms.rooms['space-1']
    ug = rig.uuid(room, g)
    assert not room.legs and not room.live       # no conference_start for a lobby alone
    assert g.queue.current is not None and g.queue.current.params['path'] == \
        prompt_path('conference-lobby')
    h = await rig.join('h2', space())
    assert set(room.legs) == {ug, rig.uuid(room, h)} and not room.lobby
    assert g.queue.current is None or g.queue.current.control != 'tone'   # hold ended
    h.leg.hangup()                                # the last activator leaves: back to lobby
    await asyncio.wait_for(h.task, TIMEOUT)
    assert list(room.lobby) == [ug] and not room.legs
    assert ('conference_leave', [ug]) in rig.registry.seen


async def test_deactivation_disconnect_after_its_time(rig):
    g = await rig.join('g1', space(leg={**GUEST, 'deactivationMode': 'disconnect',
                                        'deactivationModeTime': '1'}))
    h = await rig.join('h2', space())
    h.leg.hangup()
    await asyncio.wait_for(g.ended, TIMEOUT)     # one second after the host left
    await asyncio.wait_for(g.task, TIMEOUT)
    assert 'space-1' not in rig.rooms.rooms


async def test_locking_by_key_holds_new_guests_and_unlocking_lets_them_in(rig):
    keys = {'lockCall': '*5', 'unlockCall': '*4'}
    h = await rig.join('h1', space(dtmf=keys))
    room = rig.room(Space())
    await rig.key(h, '*5')
    assert room.locked
    g = await rig.join('g2', space(leg=GUEST))
    ug = rig.uuid(room, g)
    assert ug in room.lobby
    await rig.key(h, '*4')
    assert ug in room.legs and not room.locked


async def test_a_locked_call_profile_holds_guests_from_the_start(rig):
    prof = {'locked': 'true'}
    h = await rig.join('h1', space(call=prof))
    g = await rig.join('g2', space(call=prof, leg=GUEST))
    room = rig.room(Space())
    assert rig.uuid(room, h) in room.legs and rig.uuid(room, g) in room.lobby


async def test_a_lobby_leg_counts_toward_the_limit_and_its_keys_do_nothing(rig):
    s = space(call={'participantLimit': '1'}, leg=GUEST, dtmf={'muteSelfAudio': '1'})
    g = await rig.join('g1', s)
    h = await rig.caller('h2')
    with pytest.raises(RoomFull):
        await asyncio.wait_for(rig.rooms.join(h, space(call={'participantLimit': '1'}),
                                              raise_full=True), TIMEOUT)
    await rig.key(g, '1')
    assert not rig.registry.seen


# --- the shared timer ---------------------------------------------------------------------------
async def test_deadlines_one_timer_earliest_first_replace_and_cancel():
    loop = asyncio.get_running_loop()
    d = Deadlines(loop.time)
    fired = []
    done = asyncio.Event()
    t = loop.time()
    d.set('late', t + 0.2, lambda now: (fired.append('late'), done.set()))
    d.set('early', t + 0.05, lambda now: fired.append('early'))
    d.set('gone', t + 0.01, lambda now: fired.append('gone'))
    d.cancel('gone')
    d.set('moved', t + 0.01, lambda now: fired.append('old'))
    d.set('moved', t + 0.1, lambda now: fired.append('moved'))
    d.set('boom', t, lambda now: 1 / 0)          # an error is logged, the rest still fire
    await asyncio.wait_for(done.wait(), TIMEOUT)
    assert fired == ['early', 'moved', 'late'] and len(d) == 0
    d.set('x', None, lambda now: None)
    assert len(d) == 0
