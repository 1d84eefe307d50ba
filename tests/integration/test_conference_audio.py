"""Conference audio with real peers (issue 10): three SIPp callers and one baresip key the
PIN (RFC 4733: SIPp plays the sip-tester captures, baresip sends `sndcode`) and join one
room, each playing its own pure tone. What each member receives is recorded - by baresip
itself (sndfile), and for every member by the server's tap (`conference_tap_dir`) - and
measured per tone (one Goertzel bin): a member hears the others' tones and never its own.
Then the owner's API session controls the room and the recordings change after each event:
a muted talker's tone leaves the others' audio, a deaf member's tap (and baresip's
recording) goes silent, a kicked caller gets the BYE and the others stop hearing it, and a
talker's volume_in turned down makes it that much quieter to the others.

Windows are placed on the media clock: the server logs `tick=` with each tap start, member
update and leave, and a tap holds one frame per tick from its own start, so "after the
mute" is a frame range of every tap, not a wall-clock guess. The test waits for the taps
to have grown past each window before the next step (their `.part` files), never sleeps.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from telephony.media.mixing import gain
from tests.api import conftest as api_fixtures
from tests.api.test_call_api import Events
from tests.integration.baresip import Baresip
from tests.integration.conftest import HOST, assert_sipp_ok, wait_for
from tests.integration.media import read_wav, tone, tone_level, write_rtp_pcap, write_tone
from tests.integration.test_conference_pin import DIAL_IN, conference, keyed
from tests.integration.test_conference_room import is_
from tests.integration.uac_steps import NO_SHEDDING, pause, play, write

start_api = api_fixtures.start_api

PIN = '2468'
# more than 5 % from the DTMF pitches and the join/leave tones (660/880 Hz), and 160 Hz or
# more from every harmonic and intermodulation product of the four up to the third order
# (G.711 and the mix make them), so one Goertzel bin tells each tone apart
HZ = {'a': 1070.0, 'b': 1790.0, 'c': 2350.0, 'd': 2690.0}    # d is baresip
TICKS = 50                  # media clock ticks (tap frames) per second
WINDOW = 3 * TICKS          # frames measured after each change
SETTLE = TICKS // 2         # frames skipped after a change (tones of a join or leave: 280 ms)
HEARD = 0.05                # a tone sent at 0.2 arrives well above this ...
ABSENT = 0.01               # ... and one not in the mix well below this (G.711 noise)


def tones_in(x: np.ndarray, strict: bool = True) -> set[str] | None:
    """The members whose tone `x` carries. A tone neither clearly in nor out fails the test
    (`strict`) or makes the answer None (a window across a change)."""
    out = set()
    for who, hz in HZ.items():
        level = tone_level(x, hz)
        if ABSENT <= level <= HEARD:
            assert not strict, f'{who} ({hz:.0f} Hz) at {level:.3f}: unclear'
            return None
        if level > HEARD:
            out.add(who)
    return out


class Taps:
    """The server's per-member taps of one conference, addressed in media clock ticks."""

    def __init__(self, api, folder: Path):
        self.api = api
        self.folder = folder
        self.start: dict[str, int] = {}      # member -> tick its tap started at

    def started(self, member: str) -> None:
        e = self.api.server.wait_event('conference-tap', member=member)[0]
        assert Path(e['path']) == self.folder / f'{member}.wav'
        self.start[member] = int(e['tick'])

    def _frames(self, member: str) -> int:
        for p in (self.folder / f'{member}.wav', self.folder / f'{member}.wav.part'):
            try:
                return max(0, p.stat().st_size - 44) // 320
            except FileNotFoundError:
                continue
        return 0

    def wait_past(self, member: str, tick: int) -> None:
        """Until `member`'s tap holds the frames of ticks up to `tick` (written to its file)."""
        need = tick - self.start[member]
        wait_for(lambda: self._frames(member) >= need, 60, f'tap of {member} up to tick {tick}',
                 interval=0.2)

    def final(self, member: str) -> np.ndarray:
        path = self.folder / f'{member}.wav'
        wait_for(path.exists, 20, f'{path} finished')
        x, rate = read_wav(path)
        assert rate == 8000
        return x

    def window(self, audio: dict[str, np.ndarray], member: str, tick: int) -> np.ndarray:
        """WINDOW frames of `member`'s tap from SETTLE frames after `tick`."""
        first = (tick - self.start[member] + SETTLE) * 160
        x = audio[member][first:first + WINDOW * 160]
        assert len(x) == WINDOW * 160, f'tap of {member} ends before tick {tick} + {WINDOW}'
        return x


def test_members_hear_each_other_and_control_changes_the_audio(start_api, sipp, peer_tools,
                                                                tmp_path):
    taps_dir = tmp_path / 'taps'
    api = start_api(**NO_SHEDDING, TELEPHONY_CONFERENCE_TAP_DIR=str(taps_dir))
    api.add_user('joe')
    api.cli('phone', 'add', DIAL_IN, '--user', 'joe', '--conference-enable')
    c = api.login('joe')
    conf = conference(c, PIN)
    assert c.get(f'/api/conference/{conf}/event').json() == {'status': 'ok', 'busy': False}
    events = Events(c)
    taps = Taps(api, taps_dir / conf)
    target = f'127.0.0.1:{api.server.sip_port}'
    member: dict[str, str] = {}          # a b c d -> member uuid
    runs = {}

    def joined(who: str) -> None:
        seen = set(member.values())
        e = events.wait(lambda e: is_('conference_join', conf)(e) and set(e['member']) - seen,
                        what=f'{who} joining')
        [member[who]] = e['member']
        taps.started(member[who])

    # three SIPp callers: the PIN after the prompt has begun, then their tone for the rest
    for who in 'abc':
        pcap = tmp_path / f'tone-{who}.pcap'
        write_rtp_pcap(pcap, tone(HZ[who], 100))   # outlasts the BYE wait (90 s)
        runs[who] = sipp.start(target, scenario=write(tmp_path / f'{who}.xml', [
            pause(2000), *keyed(PIN), pause(200), play(pcap)]), service=DIAL_IN,
            global_timeout=110)
        joined(who)

    # baresip: its microphone is its tone; it keys the PIN digit by digit (RFC 4733)
    wav = tmp_path / 'tone-d.wav'
    write_tone(wav, HZ['d'], 120, level=0.2)
    d = Baresip('d', tmp_path / 'baresip', wav)
    try:
        d.start([f'<sip:+4922100088@{HOST};transport=udp>;regint=0'])
        before = len(api.server.events('conference-pin'))
        assert d.command('dial', f'sip:{DIAL_IN}@{target};transport=udp')['ok']
        d.wait_event('CALL_ESTABLISHED', fail_on=('CALL_CLOSED',))
        call = api.server.wait_event('conference-pin', count=before + 1)[before]['call']
        for n, digit in enumerate(PIN, 1):
            assert d.command('sndcode', digit)['ok']
            api.server.wait_event('dtmf', call=call, count=n)
        joined('d')
        _talk_and_control(api, c, conf, events, taps, member, runs, sipp, d)
    finally:
        d.stop()


def _talk_and_control(api, c, conf, events, taps, member, runs, sipp, d):
    a, b, cc, dd = (member[k] for k in 'abcd')
    name = {v: k for k, v in member.items()}

    def change(update: dict) -> int:
        """POST .../member; the tick it took effect at (from the server's log)."""
        before = len(api.server.events('conference-member-update'))
        assert c.post(f'/api/conference/{conf}/member', json={'update': update}).json() == \
            {'status': 'ok'}
        e = api.server.wait_event('conference-member-update', count=before + 1)[before]
        return int(e['tick'])

    # all four in: everyone's tone goes to the others
    everyone = int(api.server.events('conference-join')[-1]['tick'])
    taps.wait_past(a, everyone + SETTLE + WINDOW)

    # mute a: the others stop hearing it; a still hears them
    mark = events.mark()
    muted = change({a: {'mute': True}})
    events.wait(lambda e: is_('conference_update', conf)(e)
                and e['member'].get(a, {}).get('mute') is True, since=mark, what='the mute')
    taps.wait_past(a, muted + SETTLE + WINDOW)

    # deaf d (baresip): its tap goes silent; the others still hear it
    mark = events.mark()
    deafened = change({dd: {'deaf': True}})
    events.wait(lambda e: is_('conference_update', conf)(e)
                and e['member'].get(dd, {}).get('deaf') is True, since=mark, what='the deaf')
    taps.wait_past(a, deafened + SETTLE + WINDOW)

    # kick c: it gets our BYE, leaves, and the others stop hearing it
    assert c.post(f'/api/conference/{conf}/member', json={'delete': [cc]}).json() == \
        {'status': 'ok'}
    events.wait(lambda e: is_('conference_leave', conf)(e) and e['member'] == [cc],
                what='c leaving')
    assert_sipp_ok(sipp.wait(*runs['c'], timeout=60), calls=1, server=api.server)
    kicked = int(api.server.wait_event('conference-leave', member=cc)[0]['tick'])
    taps.wait_past(a, kicked + SETTLE + WINDOW)

    # b's volume_in down 2 steps (6 dB): a hears b that much quieter, d as loud as before
    quieter = change({b: {'volume_in': -2}})
    taps.wait_past(a, quieter + SETTLE + WINDOW)

    # the rest are kicked too (baresip sees its call closed); the conference stops
    mark = len(d.event_list())
    for who in (a, b, dd):
        assert c.post(f'/api/conference/{conf}/member', json={'delete': [who]}).json() == \
            {'status': 'ok'}
        events.wait(lambda e: is_('conference_leave', conf)(e) and e['member'] == [who],
                    what=f'{name[who]} leaving')
    events.wait(is_('conference_stop', conf), what='conference_stop')
    for who in 'ab':
        assert_sipp_ok(sipp.wait(*runs[who], timeout=60), calls=1, server=api.server)
    d.wait_event('CALL_CLOSED', after=mark)
    api.server.wait_no_calls()

    # the taps, window by window (what each member was sent after each change)
    audio = {m: taps.final(m) for m in member.values()}

    def heard(m: str, tick: int) -> set[str]:
        return tones_in(taps.window(audio, m, tick))
    assert {m: heard(m, everyone) for m in (a, b, cc, dd)} == {
        a: {'b', 'c', 'd'}, b: {'a', 'c', 'd'}, cc: {'a', 'b', 'd'}, dd: {'a', 'b', 'c'}}
    assert {m: heard(m, muted) for m in (a, b, cc, dd)} == {
        a: {'b', 'c', 'd'}, b: {'c', 'd'}, cc: {'b', 'd'}, dd: {'b', 'c'}}
    silent = taps.window(audio, dd, deafened)
    assert not silent.any(), 'a deaf member is sent digital silence'
    assert {m: heard(m, deafened) for m in (a, b, cc)} == {
        a: {'b', 'c', 'd'}, b: {'c', 'd'}, cc: {'b', 'd'}}
    assert {m: heard(m, kicked) for m in (a, b)} == {a: {'b', 'd'}, b: {'d'}}
    x = taps.window(audio, a, quieter)
    assert tones_in(x) == {'b', 'd'}
    ratio = tone_level(x, HZ['b']) / tone_level(x, HZ['d'])
    assert abs(ratio - float(gain(-2))) < 0.1 * float(gain(-2)), ratio
    assert len(audio[cc]) // 160 <= kicked - taps.start[cc] + 1, "c's tap ends when it leaves"

    # baresip's own recording, second by second and in order: the three others, then the
    # two not muted, then (deaf) silence to the end; never its own tone
    received, rate = read_wav(d.recording('dec'))
    assert rate == 8000
    seconds = [received[i:i + 8000] for i in range(0, len(received) - 7999, 8000)]
    heard_d = ['quiet' if np.sqrt(np.mean(s ** 2)) < 0.002 else tones_in(s, strict=False)
               for s in seconds]
    assert not any(isinstance(h, set) and 'd' in h for h in heard_d), heard_d
    def after(i: int, what) -> int:
        assert what in heard_d[i:], f'no second with {what} after second {i}: {heard_d}'
        return heard_d.index(what, i)
    deaf = after(after(after(0, {'a', 'b', 'c'}), {'b', 'c'}), 'quiet')
    assert set(heard_d[deaf:]) == {'quiet'}, heard_d
