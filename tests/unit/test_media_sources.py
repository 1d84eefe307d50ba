import numpy as np
import pytest

from telephony.media.sources import Mixed, Player, Silence, ToneSource


def drain(src, limit=100000):
    out = []
    for _ in range(limit):
        f = src.read()
        if f is None:
            return out
        assert f.dtype == np.int16 and f.shape == (160,)
        out.append(f)
    raise AssertionError('source did not end')


def dominant_freq(pcm):
    spec = np.abs(np.fft.rfft(pcm.astype(float)))
    return np.argmax(spec) * 8000 / len(pcm)


def test_player_frames_and_padding():
    pcm = np.arange(400, dtype=np.int16)
    frames = drain(Player(pcm))
    assert len(frames) == 3
    joined = np.concatenate(frames)
    assert np.array_equal(joined[:400], pcm) and not joined[400:].any()


def test_player_does_not_copy_full_frames():
    pcm = np.arange(320, dtype=np.int16)
    f = Player(pcm).read()
    assert np.shares_memory(f, pcm)


def test_player_loops_seamlessly():
    pcm = np.arange(1, 251, dtype=np.int16)     # 250 samples, not a multiple of 160
    p = Player(pcm, loop=True)
    out = np.concatenate([p.read() for _ in range(10)])
    assert np.array_equal(out, np.tile(pcm, 7)[:1600])
    assert p.loops >= 5


def test_player_empty():
    assert Player(np.zeros(0, np.int16)).read() is None
    assert Player(np.zeros(0, np.int16), loop=True).read() is None


def test_silence():
    assert len(drain(Silence(100))) == 5
    assert len(drain(Silence(30))) == 2
    s = Silence()
    assert all(not s.read().any() for _ in range(1000))


def test_endless_tone_frequency_and_level():
    t = ToneSource([1000], amplitude=8000)
    pcm = np.concatenate([t.read() for _ in range(50)])
    assert dominant_freq(pcm) == pytest.approx(1000, abs=5)
    assert np.abs(pcm).max() == pytest.approx(8000, abs=2)


def test_tone_cadence_and_repetitions():
    # 425 Hz, 1 s on, 4 s off, twice: the interval follows each tone, the last one too
    t = ToneSource([425], duration_ms=1000, interval_ms=4000, loop=2)
    pcm = np.concatenate(drain(t))
    assert len(pcm) == 10 * 8000
    assert np.abs(pcm[:8000]).mean() > 1000
    assert not pcm[8000:40000].any()
    assert np.abs(pcm[40000:48000]).mean() > 1000
    assert not pcm[48000:].any()
    assert dominant_freq(pcm[:8000]) == pytest.approx(425, abs=5)


@pytest.mark.parametrize('duration, interval, loop, frames', [
    (300, 700, 1, 50),      # issue 8: lasted 0.31 s instead of 1 s
    (200, 300, 3, 75),      # issue 8: 1.21 s instead of 1.5 s
    (1000, 0, 2, 100),
    (30, 0, 1, 2),          # a partial last frame is padded, not dropped
])
def test_tone_lasts_loop_times_tone_plus_interval(duration, interval, loop, frames):
    t = ToneSource([440], duration_ms=duration, interval_ms=interval, loop=loop)
    out = drain(t)
    assert len(out) == frames
    loud = [bool(np.abs(f).max() > 100) for f in out]
    assert loud[-1] is (interval == 0)


def test_dual_tone():
    t = ToneSource([350, 440], duration_ms=500, loop=1)
    pcm = np.concatenate(drain(t))
    spec = np.abs(np.fft.rfft(pcm.astype(float)))
    peaks = sorted(np.argsort(spec)[-2:] * 8000 / len(pcm))
    assert peaks == pytest.approx([350, 440], abs=5)


def test_endless_cadence_repeats():
    t = ToneSource([440], duration_ms=100, interval_ms=100)   # loop=0: endless
    frames = [t.read() for _ in range(100)]
    assert all(f is not None for f in frames)
    loud = [bool(np.abs(f).max() > 100) for f in frames]
    assert loud[:10] == [True] * 5 + [False] * 5 and loud[10:20] == loud[:10]


def test_player_payloads_are_its_frames_encoded_once_and_shared():
    from telephony.media.codecs import PCMA, PCMU
    from telephony.media import sources
    pcm = (np.arange(1000) * 37 % 3000 - 1500).astype(np.int16)
    for codec in (PCMU, PCMA):
        for loop in (False, True):
            a, b = Player(pcm, loop=loop), Player(pcm, loop=loop).prepare(codec)
            for _ in range(20):         # past the end, and past a loop's wrap
                frame = a.read()
                payload = b.read_payload(codec)
                assert (payload is None) == (frame is None)
                if frame is None:
                    break
                assert payload == codec.encode(frame)
    assert set(sources._ENCODED[id(pcm)][1]) == {'PCMU', 'PCMA'}
    key = id(pcm)
    del pcm, a, b, frame   # (a frame is a view that keeps the array alive)
    assert key not in sources._ENCODED     # gone with the audio


def test_unprepared_player_never_encodes_the_whole_prompt_on_a_tick():
    """The tick encodes one frame at most; the whole prompt is encoded by prepare()
    (which the play control runs in a worker thread)."""
    from telephony.media.codecs import PCMU, Codec
    sizes = []

    def encode(pcm):
        sizes.append(len(pcm))
        return PCMU.encode(pcm)
    spy = Codec('PCMU', 0, 8000, encode, PCMU.decode, PCMU.silence)
    pcm = np.arange(8000, dtype=np.int16)
    p = Player(pcm)
    first = [p.read_payload(spy) for _ in range(3)]
    assert sizes == [160] * 3
    p.prepare(spy)
    assert sizes[-1] == 8000
    rest = [p.read_payload(spy) for _ in range(47)]
    assert sizes[-1] == 8000 and len(sizes) == 4        # slices of the prepared encoding
    assert b''.join(first + rest) == PCMU.encode(pcm)


def test_mixed_adds_the_tone_under_the_main_source_and_lasts_as_long_as_it():
    main = Player(np.full(160 * 3, 30000, np.int16))
    tone = ToneSource([425], duration_ms=20, loop=1)      # one frame of tone, then it ends
    mixed = Mixed(main, tone)
    first = mixed.read()
    assert first.dtype == np.int16 and first.max() == 32767 and first.min() < 30000   # clipped sum
    assert (mixed.read() == 30000).all()                  # the tone ended: main alone
    assert mixed.read() is not None and mixed.read() is None
