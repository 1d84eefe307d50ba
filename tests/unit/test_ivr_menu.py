"""ivr/menu.py, the IVR state machine, transition by transition (Q-loud §5.1.1)."""
from __future__ import annotations

import pytest

from ivr.menu import (CLOSING, DONE, LOADING, PLAYING, WAITING, AnnouncementDone, Digit,
                      Goodbye, Goto, Hangup, IllegalTransition, Loaded, Menu, MenuSession, Play,
                      Redirect, TimedOut, Timeout, Wait)

ANN = 'ce19884c-8fed-11e2-93fe-0024e8f90cc1'
ANN2 = 'ce19884c-8fed-11e2-93fe-0024e8f90cc9'
SUB = 'ce19884c-8fed-11e2-93fe-0024e8f90cc2'
ROOT = 'ce19884c-8fed-11e2-93fe-0024e8f90cc0'

# the document's example body (§5.1.1 POST /api/ivr)
EXAMPLE = {
    'description': 'Company Welcome',
    'announcement': ANN,
    '1': SUB,
    '2': 'ce19884c-8fed-11e2-93fe-0024e8f90cc3',
    '4': '+4922116696000',
    '*': 'ce19884c-8fed-11e2-93fe-0024e8f90cc5',
    'other': 'repeat',
    'timeout': {'seconds': 10, 'action': 'play', 'announcement': ANN2},
}


def menu(**changes) -> Menu:
    body = {**EXAMPLE, **changes}
    return Menu.from_json(ROOT, {k: v for k, v in body.items() if v is not None})


def started(m: Menu | None = None, **kw) -> MenuSession:
    s = MenuSession(**kw)
    assert s.start(m or menu()) == [Play(ANN)]
    assert s.state == PLAYING
    return s


def test_from_json_reads_the_documents_example():
    m = menu()
    assert m.announcement == ANN and m.other == 'repeat'
    assert m.digits == {'1': SUB, '2': EXAMPLE['2'], '4': '+4922116696000', '*': EXAMPLE['*']}
    assert m.timeout == Timeout(10.0, 'play', None, ANN2)
    assert Menu.from_json(ROOT, {'announcement': ANN, '#': SUB}).timeout is None


def test_start_plays_the_announcement_and_only_once():
    s = started()
    with pytest.raises(IllegalTransition):
        s.start(menu())


def test_announcement_done_waits_for_the_timeout():
    s = started()
    assert s.feed(AnnouncementDone()) == [Wait(10.0)]
    assert s.state == WAITING


def test_without_timeout_block_the_default_wait_then_repeat():
    s = started(menu(timeout=None), default_timeout=7)
    assert s.feed(AnnouncementDone()) == [Wait(7)]
    assert s.feed(TimedOut()) == [Play(ANN)]
    assert s.state == PLAYING


@pytest.mark.parametrize('state_events', [[], [AnnouncementDone()]])
def test_digit_to_a_nested_menu_loads_it(state_events):
    s = started()
    for ev in state_events:
        s.feed(ev)
    assert s.feed(Digit('1')) == [Goto(SUB)]
    assert s.state == LOADING and s.hops == 1


def test_loaded_menu_plays_its_own_announcement_with_fresh_repeats():
    s = started()
    s.feed(Digit('1'))
    sub = Menu.from_json(SUB, {'announcement': ANN2, '0': ROOT})
    s.repeats = 2
    assert s.feed(Loaded(sub)) == [Play(ANN2)]
    assert s.state == PLAYING and s.menu is sub and s.repeats == 0
    assert s.trail == [ROOT, SUB]


def test_loaded_nothing_says_goodbye():
    s = started()
    s.feed(Digit('1'))
    assert s.feed(Loaded(None)) == [Goodbye('missing-menu')]
    assert s.state == DONE


def test_digits_while_loading_are_ignored():
    s = started()
    s.feed(Digit('1'))
    assert s.feed(Digit('2')) == []
    assert s.state == LOADING


def test_digit_to_a_number_redirects():
    s = started()
    assert s.feed(Digit('4')) == [Redirect('+4922116696000')]
    assert s.state == DONE


def test_other_repeat_replays_the_announcement():
    s = started()
    assert s.feed(Digit('9')) == [Play(ANN)]
    assert s.state == PLAYING and s.repeats == 1


def test_other_number_redirects():
    s = started(menu(other='+4930555000'))
    s.feed(AnnouncementDone())
    assert s.feed(Digit('#')) == [Redirect('+4930555000')]


def test_undefined_digit_without_other_is_ignored():
    s = started(menu(other=None))
    assert s.feed(Digit('9')) == []
    assert s.state == PLAYING
    s.feed(AnnouncementDone())
    assert s.feed(Digit('9')) == []
    assert s.state == WAITING


def test_timeout_repeat_is_bounded_then_goodbye():
    s = started(menu(timeout={'seconds': 3, 'action': 'repeat'}), max_repeats=3)
    for _ in range(3):
        assert s.feed(AnnouncementDone()) == [Wait(3.0)]
        assert s.feed(TimedOut()) == [Play(ANN)]
    s.feed(AnnouncementDone())
    assert s.feed(TimedOut()) == [Goodbye('timeout-repeats')]
    assert s.state == DONE


def test_other_repeat_is_bounded_too():
    s = started(max_repeats=1)
    assert s.feed(Digit('0')) == [Play(ANN)]
    assert s.feed(Digit('0')) == [Goodbye('other-repeats')]


def test_timeout_call_redirects_to_its_phone():
    s = started(menu(timeout={'seconds': 5, 'action': 'call', 'phone': '+4930555001'}))
    s.feed(AnnouncementDone())
    assert s.feed(TimedOut()) == [Redirect('+4930555001')]
    assert s.state == DONE


def test_timeout_play_plays_its_announcement_then_hangs_up():
    s = started()
    s.feed(AnnouncementDone())
    assert s.feed(TimedOut()) == [Play(ANN2)]
    assert s.state == CLOSING
    assert s.feed(AnnouncementDone()) == [Hangup('timeout-play')]
    assert s.state == DONE


def test_a_digit_during_the_timeout_announcement_still_counts():
    s = started()
    s.feed(AnnouncementDone())
    s.feed(TimedOut())
    assert s.feed(Digit('4')) == [Redirect('+4922116696000')]


def test_menus_that_lead_to_each_other_end_after_max_hops():
    a = Menu.from_json(ROOT, {'announcement': ANN, '1': SUB})
    b = Menu.from_json(SUB, {'announcement': ANN2, '1': ROOT})
    s = started(a, max_hops=4)
    for i in range(4):
        assert s.feed(Digit('1')) == [Goto(SUB if i % 2 == 0 else ROOT)]
        s.feed(Loaded(b if i % 2 == 0 else a))
    assert s.feed(Digit('1')) == [Goodbye('hops')]
    assert s.state == DONE


def test_hops_carry_over_from_an_earlier_menu_run():
    a = Menu.from_json(ROOT, {'announcement': ANN, '1': ROOT})
    s = started(a, max_hops=2, hops=2)
    assert s.feed(Digit('1')) == [Goodbye('hops')]


@pytest.mark.parametrize('state,event', [
    ('idle', AnnouncementDone()), ('idle', Digit('1')),
    (PLAYING, TimedOut()), (PLAYING, Loaded(None)),
    (WAITING, AnnouncementDone()), (WAITING, Loaded(None)),
    (LOADING, AnnouncementDone()), (LOADING, TimedOut()),
    (CLOSING, TimedOut()),
    (DONE, Digit('1')), (DONE, AnnouncementDone()), (DONE, TimedOut()), (DONE, Loaded(None)),
])
def test_illegal_transitions_raise(state, event):
    s = MenuSession()
    s.menu, s.state = menu(), state
    with pytest.raises(IllegalTransition):
        s.feed(event)


def test_redirects_count_as_hops():
    """A redirect may land on another IVR number whose menu redirects back."""
    s = started(max_hops=3, hops=2)
    assert s.feed(Digit('4')) == [Redirect('+4922116696000')]
    assert s.hops == 3
    s = started(max_hops=3, hops=3)
    assert s.feed(Digit('4')) == [Goodbye('hops')]
    assert s.state == DONE
