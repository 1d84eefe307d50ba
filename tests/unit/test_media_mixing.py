"""The pure conference arithmetic (telephony/media/mixing.py), fed arrays and level sequences."""
import numpy as np
import pytest

from telephony.media.mixing import (FloorHysteresis, check_volume, contributions, frame_rms,
                                    gain, hear_minus_self, hear_total, room_totals, saturate)


def frames(*values):
    """One constant 160-sample row per value."""
    return np.array([[v] * 160 for v in values], np.int16)


def mix(pcm, starts, room_of, gin=None, gout=None, heard=None):
    heard = np.ones(len(pcm), bool) if heard is None else np.asarray(heard)
    c = contributions(pcm, gin, heard)
    t = room_totals(c, np.asarray(starts))
    return hear_minus_self(t, c, np.asarray(room_of), np.arange(len(pcm)), gout), t


def test_each_hears_the_others_never_itself():
    out, totals = mix(frames(100, 20, 3), [0], [0, 0, 0])
    assert totals[0, 0] == 123
    assert out[:, 0].tolist() == [23, 103, 120]


def test_rooms_do_not_leak():
    out, totals = mix(frames(100, 20, 7, 5000), [0, 2], [0, 0, 1, 1])
    assert totals[:, 0].tolist() == [120, 5007]
    assert out[:, 0].tolist() == [20, 100, 5000, 7]


def test_sum_is_int32_then_saturated():
    # four members at full scale: the int16 sum would wrap; int32 holds it, the output clips
    out, totals = mix(frames(30000, 30000, 30000, -30000), [0], [0, 0, 0, 0])
    assert totals[0, 0] == 60000
    assert out[:, 0].tolist() == [30000, 30000, 30000, 32767]
    assert saturate(np.array([-70000, 70000, 5])).tolist() == [-32768, 32767, 5]


def test_subtraction_is_exact_with_gains():
    # a member's own voice leaves no residue, whatever the gains
    pcm = np.random.default_rng(1).integers(-8000, 8000, (5, 160)).astype(np.int16)
    gin = gain(np.array([4, -4, 1, 0, -1]))
    c = contributions(pcm, gin, np.ones(5, bool))
    t = room_totals(c, np.array([0]))
    for i in range(5):
        others = np.delete(c, i, axis=0).sum(axis=0)
        assert np.array_equal(t[0] - c[i], others)


def test_gain_steps_are_3_db():
    g = gain(np.arange(-4, 5))
    assert g[4] == 1.0
    db = 20 * np.log10(g.astype(np.float64))
    assert np.allclose(np.diff(db), 3.0, atol=1e-4)
    assert db[0] == pytest.approx(-12, abs=1e-3) and db[-1] == pytest.approx(12, abs=1e-3)


def test_volume_in_and_out():
    # volume_in +4 (x3.98) on member 0; member 2 hears at volume_out -4 (x0.25)
    gin = gain(np.array([4, 0, 0]))
    gout = gain(np.array([0, 0, -4]))
    out, _ = mix(frames(1000, 0, 0), [0], [0, 0, 0], gin, gout)
    assert out[1, 0] == round(1000 * 10 ** (12 / 20))
    assert out[2, 0] == round(round(1000 * 10 ** (12 / 20)) * 10 ** (-12 / 20))


def test_muted_member_is_not_heard_but_hears():
    out, totals = mix(frames(100, 20, 3), [0], [0, 0, 0], heard=[False, True, True])
    assert totals[0, 0] == 23
    assert out[:, 0].tolist() == [23, 3, 20]


def test_non_contributor_hears_the_plain_total_once_per_gain():
    pcm = frames(100, 20, 0, 0)
    c = contributions(pcm, None, np.array([True, True, False, False]))
    t = room_totals(c, np.array([0]))
    shared = hear_total(t, np.array([0, 0]), gain(np.array([0, 4])))
    assert shared[:, 0].tolist() == [120, round(120 * 10 ** (12 / 20))]
    own = hear_minus_self(t, c, np.zeros(4, np.intp), np.array([2, 3]), None)
    assert np.array_equal(own[0], shared[0]) and np.array_equal(own[1], shared[0])


def test_frame_rms():
    assert frame_rms(frames(0, 100, -300)).tolist() == [0.0, 100.0, 300.0]


@pytest.mark.parametrize('bad', [5, -5, 1.5, True, '2'])
def test_volume_range(bad):
    with pytest.raises((TypeError, ValueError)):
        check_volume(bad)


def test_volume_accepts_the_range():
    assert [check_volume(v) for v in range(-4, 5)] == list(range(-4, 5))


# --- floor -----------------------------------------------------------------------------------

A, B, C = 'a', 'b', 'c'


def run(floor, steps):
    """Feed (levels, talking) pairs for keys A, B, C; the holder after each step."""
    out = []
    for levels, talking in steps:
        floor.step((A, B, C), levels, talking)
        out.append(floor.holder)
    return out


def test_free_floor_goes_to_the_loudest_talker_at_once():
    f = FloorHysteresis()
    assert f.step((A, B, C), [0.0, 0.0, 0.0], [False] * 3) is False and f.holder is None
    assert f.step((A, B, C), [100.0, 300.0, 50.0], [True, True, True]) is True
    assert f.holder == B


def test_holder_keeps_floor_until_another_is_clearly_louder_long_enough():
    f = FloorHysteresis(ratio=2.0, hold=3)
    f.step((A, B, C), [100.0, 0.0, 0.0], [True, False, False])
    # B louder, but not twice as loud: A keeps the floor
    assert run(f, [([100.0, 190.0, 0.0], [True, True, False])] * 5) == [A] * 5
    # B twice as loud: takes it on the third step in a row
    assert run(f, [([100.0, 200.0, 0.0], [True, True, False])] * 3) == [A, A, B]


def test_a_challenger_that_drops_back_restarts_the_count():
    f = FloorHysteresis(ratio=2.0, hold=3)
    f.step((A, B, C), [100.0, 0.0, 0.0], [True, False, False])
    loud = ([100.0, 250.0, 0.0], [True, True, False])
    back = ([100.0, 120.0, 0.0], [True, True, False])
    assert run(f, [loud, loud, back, loud, loud]) == [A] * 5
    assert run(f, [loud]) == [B]


def test_a_new_challenger_restarts_the_count():
    f = FloorHysteresis(ratio=2.0, hold=3)
    f.step((A, B, C), [100.0, 0.0, 0.0], [True, False, False])
    b_loud = ([100.0, 300.0, 200.0], [True, True, True])
    c_loud = ([100.0, 200.0, 300.0], [True, True, True])
    assert run(f, [b_loud, b_loud, c_loud, c_loud]) == [A] * 4
    assert run(f, [c_loud]) == [C]


def test_silent_room_keeps_the_last_speaker():
    f = FloorHysteresis(hold=2)
    f.step((A, B, C), [100.0, 0.0, 0.0], [True, False, False])
    assert run(f, [([0.0, 0.0, 0.0], [False] * 3)] * 10) == [A] * 10


def test_quiet_or_muted_talker_cannot_take_the_floor():
    # talking with level 0 (muted: contributes nothing) is not a candidate
    f = FloorHysteresis(hold=1)
    f.step((A, B, C), [0.0, 0.0, 0.0], [True, True, False])
    assert f.holder is None


def test_holder_leaving_frees_the_floor():
    f = FloorHysteresis(hold=5)
    f.step((A, B, C), [100.0, 50.0, 0.0], [True, True, False])
    assert f.drop(B) is False and f.holder == A
    assert f.drop(A) is True and f.holder is None
    assert f.step((B, C), [50.0, 0.0], [True, False]) is True and f.holder == B
