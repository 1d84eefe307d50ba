"""ConferenceMixer tick by tick: each test leaves an inbound frame on every member's endpoint
(what the engine's inbound phase does), runs `mixer.tick(n)` and reads what the mixer left for
the outbound phase. No clock, no network traffic: the endpoints are real but nobody sends."""
import random
from pathlib import Path

import numpy as np
import pytest

from telephony.media.audiofile import load_audio
from telephony.media.codecs import PCMA, PCMU
from telephony.media.engine import MediaEngine
from telephony.media.mixer import TALK_ATTACK, TALK_HANGOVER
from telephony.media.sources import ToneSource

SPEECH = load_audio(Path(__file__).parents[2] / 'prompts' / 'hello.wav')


@pytest.fixture
async def engine():
    base = random.randrange(40000, 60000, 2)
    eng = MediaEngine('127.0.0.1', base, base + 100)
    yield eng
    await eng.stop()


async def endpoints(engine, n, codec=PCMU):
    eps = [await engine.create_endpoint() for _ in range(n)]
    for ep in eps:
        ep.configure(remote=('127.0.0.1', 9), codec=codec)   # discard port: never ticked
    return eps


class Feeder:
    """Frames per member per tick: a ToneSource, speech, or None (nothing arrived)."""

    def __init__(self, mixer, eps):
        self.mixer = mixer
        self.eps = eps
        self.tick = 0

    def step(self, frames):
        for ep, f in zip(self.eps, frames):
            ep._in_frame = None if f is None else ep.codec.encode(f)
            ep._in_codec = ep.codec
        self.mixer.tick(self.tick)
        self.tick += 1
        outs = [ep._mix_out for ep in self.eps]
        for ep in self.eps:
            ep._mix_out = None
            ep._in_frame = None
        return outs


def tone(f, amplitude=4000.0):
    return ToneSource([f], amplitude=amplitude)


def speech(scale=1.0):
    pcm = np.clip(SPEECH.astype(np.float64) * scale, -32768, 32767).astype(np.int16)
    return [pcm[i:i + 160] for i in range(0, len(pcm) - 159, 160)]


async def test_members_contributing_nothing_share_one_encoded_frame(engine):
    eps = await endpoints(engine, 5)
    room = engine.mixer.room('r')
    ms = [room.add(ep) for ep in eps]
    ms[4].volume_out = 2
    feed = Feeder(engine.mixer, eps)
    a, b = tone(540), tone(830)
    outs = feed.step([a.read(), b.read(), None, None, None])
    assert outs[2] is outs[3]                     # the same bytes object: encoded once
    assert outs[4] is not outs[2] and outs[4] != outs[2]     # another volume_out
    assert len({id(o) for o in outs}) == 4
    before = engine.mixer.frames_encoded
    feed.step([a.read(), b.read(), None, None, None])
    assert engine.mixer.frames_encoded - before == 4   # two own mixes + two shared totals
    # a frame under the noise gate counts as nothing too
    hum = np.full(160, 20, np.int16)
    outs = feed.step([a.read(), b.read(), hum, None, None])
    assert outs[2] is outs[3]


async def test_shared_frames_are_per_codec(engine):
    eps = await endpoints(engine, 2) + await endpoints(engine, 2, PCMA)
    room = engine.mixer.room('r')
    for ep in eps:
        room.add(ep)
    feed = Feeder(engine.mixer, eps)
    a = tone(540)
    outs = feed.step([a.read(), None, None, None])
    assert outs[2] is outs[3] and outs[1] is not outs[2]
    diff = PCMU.decode(outs[1]).astype(int) - PCMA.decode(outs[2])
    assert np.abs(diff).max() < 200               # the same tone, each in its own law


async def test_deaf_member_gets_silence_and_still_counts(engine):
    eps = await endpoints(engine, 3)
    room = engine.mixer.room('r')
    ms = [room.add(ep) for ep in eps]
    ms[0].deaf = True
    feed = Feeder(engine.mixer, eps)
    a = tone(540)
    outs = feed.step([a.read(), None, None])
    assert outs[0] == PCMU.silence
    assert np.abs(PCMU.decode(outs[1])).max() > 3000      # the others still hear it


async def test_rooms_are_mixed_apart(engine):
    eps = await endpoints(engine, 4)
    r1, r2 = engine.mixer.room(1), engine.mixer.room(2)
    r1.add(eps[0]), r2.add(eps[1]), r1.add(eps[2]), r2.add(eps[3])
    feed = Feeder(engine.mixer, eps)
    outs = feed.step([tone(540).read(), None, None, None])
    assert np.abs(PCMU.decode(outs[2])).max() > 3000
    assert outs[1] == outs[3] == PCMU.silence
    engine.mixer.close_room(1)
    assert eps[0].member is None and 1 not in engine.mixer.rooms
    outs = feed.step([tone(540).read(), None, None, None])
    assert outs[0] is None and outs[2] is None


async def test_talk_follows_speech_with_attack_and_hangover(engine):
    eps = await endpoints(engine, 2)
    room = engine.mixer.room('r')
    ms = [room.add(ep) for ep in eps]
    seen = []
    room.on_change = lambda m, change: seen.append((ms.index(m), change, feed.tick))
    feed = Feeder(engine.mixer, eps)
    frames = speech()[:100]
    for f in frames:
        feed.step([f, None])
    talk = [(i, c) for i, c, _ in seen if 'talk' in c]
    assert talk[0] == (0, {'talk': True})
    assert seen[0][2] >= TALK_ATTACK - 1          # not before the attack's last frame
    assert ms[0].talk and not ms[1].talk
    assert ms[0].floor and ('floor' in seen[1][1])
    n = len(seen)
    for _ in range(TALK_HANGOVER + 40):
        feed.step([None, None])
    assert not ms[0].talk
    assert seen[n:] and seen[-1][:2] == (0, {'talk': False})
    assert ms[0].floor                           # a silent room keeps the last speaker


async def test_a_steady_tone_is_not_talk(engine):
    eps = await endpoints(engine, 2)
    room = engine.mixer.room('r')
    ms = [room.add(ep) for ep in eps]
    feed = Feeder(engine.mixer, eps)
    a = tone(540, 8000)
    for _ in range(50):
        feed.step([a.read(), None])
    assert not ms[0].talk and not ms[0].floor


async def test_floor_moves_to_a_clearly_louder_speaker_after_a_while(engine):
    eps = await endpoints(engine, 2)
    room = engine.mixer.room('r')
    ms = [room.add(ep) for ep in eps]
    changes = []
    room.on_change = lambda m, c: changes.append((ms.index(m), c, feed.tick)) if 'floor' in c else None
    feed = Feeder(engine.mixer, eps)
    quiet, loud = speech(0.15), speech(1.0)
    for f in quiet[:20]:
        feed.step([f, None])
    assert ms[0].floor
    start = feed.tick
    for q, f in zip(quiet[20:120], loud[:100]):
        feed.step([q, f])
    assert ms[1].floor and not ms[0].floor
    moved = [t for i, c, t in changes if i == 1 and c == {'floor': True}]
    assert moved and moved[0] - start >= 15      # not at once: after the hold time
    assert (0, {'floor': False}, moved[0]) in changes


async def test_muted_member_talks_but_cannot_take_the_floor(engine):
    eps = await endpoints(engine, 2)
    room = engine.mixer.room('r')
    ms = [room.add(ep, mute=True) for ep in eps[:1]] + [room.add(eps[1])]
    feed = Feeder(engine.mixer, eps)
    for f in speech()[:60]:
        outs = feed.step([f, None])
    assert ms[0].talk and not ms[0].floor
    assert not np.abs(PCMU.decode(outs[1])).any()  # the others do not hear it


async def test_add_refuses_what_it_cannot_mix(engine):
    a, b, c = await endpoints(engine, 3)
    room = engine.mixer.room('r')
    a.bridge(b)
    with pytest.raises(ValueError):
        room.add(a)
    a.unbridge()
    c.echo = True
    with pytest.raises(ValueError):
        room.add(c)
    c.echo = False
    m = room.add(a)
    with pytest.raises(ValueError):
        engine.mixer.room('other').add(a)        # one room at a time
    with pytest.raises(ValueError):
        a.bridge(b)                              # no bridge while in a room
    with pytest.raises(ValueError):
        a.echo = True
    with pytest.raises(ValueError):
        room.add(b, volume_in=5)
    with pytest.raises(TypeError):
        m.volume_out = 1.5
    other = MediaEngine('127.0.0.1', 1000, 1100)
    with pytest.raises(ValueError):
        other.mixer.room('x').add(c)
    room.remove(m)
    assert a.member is None
    a.bridge(b)                                  # out of the room it can be bridged again
    engine.mixer.close_room('r')
    with pytest.raises(ValueError):
        room.add(c)


async def test_a_callback_may_remove_members(engine):
    eps = await endpoints(engine, 3)
    room = engine.mixer.room('r')
    ms = [room.add(ep) for ep in eps]
    calls = []

    def on_change(m, change):
        calls.append((ms.index(m), change))
        if change == {'talk': True}:
            room.remove(ms[2])           # e.g. kicked by the application
            room.remove(m)
    room.on_change = on_change
    feed = Feeder(engine.mixer, eps)
    for f in speech()[:30]:
        outs = feed.step([f, None, None])
    assert calls[0] == (0, {'talk': True})
    assert all(i == 0 for i, _ in calls)          # nothing for members removed meanwhile
    assert room.members == [ms[1]]
    assert outs[0] is None and outs[2] is None    # out of the room: no mix for them
    assert not np.abs(PCMU.decode(outs[1])).any()  # alone: it hears silence
