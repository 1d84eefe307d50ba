import asyncio
import logging


from telephony.media.clock import MediaClock, due_ticks

P = 0.020


def test_nothing_due_before_the_next_tick():
    assert due_ticks(100.0, P, 1, 100.019) == (1, 0, 0)


def test_on_time_runs_one():
    assert due_ticks(100.0, P, 0, 100.0) == (0, 1, 0)
    assert due_ticks(100.0, P, 1, 100.020) == (1, 1, 0)
    assert due_ticks(100.0, P, 5, 100.1001) == (5, 1, 0)


def test_exact_boundaries_despite_float_error():
    # 0.06 / 0.02 is 2.9999999999999996 in floating point
    assert due_ticks(0.0, P, 3, 0.06) == (3, 1, 0)


def test_late_wakeup_catches_up_back_to_back():
    # woke 70 ms late: ticks 1..4 are due
    assert due_ticks(100.0, P, 1, 100.090) == (1, 4, 0)


def test_far_behind_skips_ahead_and_counts():
    # 1 s stall: 50 ticks due, run the newest 5, skip 45
    first, count, skipped = due_ticks(100.0, P, 1, 101.005, max_catchup=5)
    assert (first, count, skipped) == (46, 5, 45)
    assert first + count - 1 == 50


def test_no_drift_over_a_day():
    # schedule is absolute: tick n at start + n * period, whatever happened before
    n = 24 * 3600 * 50
    assert due_ticks(5.0, P, n, 5.0 + n * P) == (n, 1, 0)
    assert due_ticks(5.0, P, n, 5.0 + n * P - 0.001) == (n, 0, 0)


def test_run_ticks_with_manual_time():
    clock = MediaClock(max_catchup=3)
    clock.start_time = 10.0
    seen = []
    clock.add(seen.append)
    assert clock.run_ticks(10.0) == 1
    assert clock.run_ticks(10.005) == 0
    assert clock.run_ticks(10.061) == 3            # ticks 1, 2, 3
    assert clock.run_ticks(10.5) == 3              # ticks 4..25 due: 19 skipped
    assert seen == [0, 1, 2, 3, 23, 24, 25]
    assert clock.skipped == 19 and clock.late_runs == 2


def test_callback_errors_do_not_stop_the_clock(caplog):
    clock = MediaClock()
    clock.start_time = 0.0
    calls = []

    def bad(n):
        calls.append(('bad', n))
        raise RuntimeError('boom')

    clock.add(bad)
    clock.add(lambda n: calls.append(('good', n)))
    with caplog.at_level(logging.ERROR, logger='telephony.media'):
        clock.run_ticks(0.0)
        clock.run_ticks(0.02)
    assert calls == [('bad', 0), ('good', 0), ('bad', 1), ('good', 1)]
    assert 'media-clock-callback-error' in caplog.text


def test_add_remove():
    clock = MediaClock()
    clock.start_time = 0.0
    seen = []
    cb = seen.append
    clock.add(cb)
    clock.add(cb)                                  # once only
    clock.run_ticks(0.0)
    clock.remove(cb)
    clock.remove(cb)                               # harmless
    clock.run_ticks(0.02)
    assert seen == [0]


async def test_real_clock_ticks_in_order_and_stops():
    clock = MediaClock()
    seen = []
    done = asyncio.get_running_loop().create_future()

    def cb(n):
        seen.append(n)
        if len(seen) == 10 and not done.done():
            done.set_result(None)
    clock.add(cb)
    clock.start()
    assert clock.running
    await asyncio.wait_for(done, 5)
    await clock.stop()
    assert not clock.running
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert clock.ticks + clock.skipped == seen[-1] + 1


async def test_remove_during_tick():
    clock = MediaClock()
    seen = []
    done = asyncio.get_running_loop().create_future()

    def once(n):
        seen.append(n)
        clock.remove(once)

    def other(n):
        if n >= 3 and not done.done():
            done.set_result(None)
    clock.add(once)
    clock.add(other)
    clock.start()
    await asyncio.wait_for(done, 5)
    await clock.stop()
    assert len(seen) == 1
