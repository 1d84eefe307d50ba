"""baresip 1.0 peers against the real server: digest registration, a call between two
accounts through the server (B2BUA) with audio both ways, clean hang-up, and a call to echo.

Each peer plays a different tone as its microphone (aufile) and records what it receives
(sndfile), so "audio flows both ways" is checked on the received recordings.
"""
from __future__ import annotations

import numpy as np
import pytest

from .baresip import Baresip, account_line
from .conftest import wait_for
from .media import RATE, band_energy_ratio, dominant_frequency, frame_energy, write_tone

ALICE_HZ = 500.0     # outside the DTMF bands, far apart from each other
BOB_HZ = 1900.0
TONE_SECONDS = 60    # longer than any call here: aufile ends the source at end of file
WANT_SECONDS = 3.0   # audio that must have arrived before hanging up


def received_pcm(path) -> np.ndarray:
    """Samples of a WAV that sndfile is still writing (its header sizes are not final yet)."""
    data = path.read_bytes()
    i = data.find(b'data')
    if i < 0:
        return np.zeros(0)
    body = data[i + 8:]
    body = body[:len(body) // 2 * 2]
    return np.frombuffer(body, dtype='<i2').astype(np.float64) / 32768.0


def tone_frames(x: np.ndarray, freq: float) -> int:
    """Number of 20 ms frames that carry audible signal dominated by `freq`."""
    n = 0
    for i in range(0, len(x) - 159, 160):
        frame = x[i:i + 160]
        if np.sqrt(np.mean(frame ** 2)) > 0.01 and abs(dominant_frequency(frame) - freq) <= 100:
            n += 1
    return n


def wait_received(peer: Baresip, freq: float, seconds: float, timeout: float = 30.0):
    """Poll the peer's receive recording until it holds `seconds` of the `freq` tone."""
    want = int(seconds * RATE / 160)

    def enough():
        files = sorted(peer.record_dir.glob('dump-*-dec.wav'))
        return files and tone_frames(received_pcm(files[-1]), freq) >= want
    try:
        wait_for(enough, timeout, f'{peer.name} to receive {seconds} s of {freq:.0f} Hz',
                 interval=0.25)
    except AssertionError as e:
        raise AssertionError(f'{e}\n{peer.output()}') from None


def assert_holds_tone(path, freq: float, other: float, seconds: float):
    """The recording holds at least `seconds` of audible `freq` and essentially no `other`."""
    x = received_pcm(path)
    loud = frame_energy(x) > 0.01
    assert loud.sum() * 160 / RATE >= seconds, f'{path.name}: only {loud.sum() * 0.02:.2f} s audible'
    audible = np.concatenate([x[i * 160:(i + 1) * 160] for i in np.flatnonzero(loud)])
    ratio = band_energy_ratio(audible, freq)
    leak = band_energy_ratio(audible, other)
    assert ratio > 0.8, f'{path.name}: {freq:.0f} Hz holds only {ratio:.0%} of the energy'
    assert leak < 0.05, f'{path.name}: {other:.0f} Hz holds {leak:.0%} of the energy'


@pytest.fixture
def peers(tmp_path, peer_tools):
    started: list[Baresip] = []

    def make(name: str, freq: float) -> Baresip:
        wav = tmp_path / f'{name}.wav'
        write_tone(wav, freq, TONE_SECONDS)
        p = Baresip(name, tmp_path / name, wav)
        started.append(p)
        return p
    yield make
    for p in started:
        p.stop()


def test_two_baresips_call_each_other_through_the_server(server, peers):
    server.add_account('alice', 'alice-secret')
    server.add_account('bob', 'bob-secret')
    alice, bob = peers('alice', ALICE_HZ), peers('bob', BOB_HZ)
    bob.start([account_line('bob', 'bob-secret', 'localhost', server.sip_port, answer_auto=True)])
    alice.start([account_line('alice', 'alice-secret', 'localhost', server.sip_port)])

    # both register with digest authentication
    bob.wait_event('REGISTER_OK', fail_on=('REGISTER_FAIL',))
    alice.wait_event('REGISTER_OK', fail_on=('REGISTER_FAIL',))

    # alice calls bob through the server; bob answers automatically
    mark_a, mark_b = len(alice.event_list()), len(bob.event_list())
    assert alice.command('dial', 'sip:bob@localhost')['ok']
    alice.wait_event('CALL_ESTABLISHED', after=mark_a, fail_on=('CALL_CLOSED',))
    bob.wait_event('CALL_ESTABLISHED', after=mark_b, fail_on=('CALL_CLOSED',))
    assert server.health()['calls'] >= 1

    # audio flows both ways: each side receives the other side's tone
    wait_received(alice, BOB_HZ, WANT_SECONDS)
    wait_received(bob, ALICE_HZ, WANT_SECONDS)

    # alice hangs up; both sides see the call closed, the server keeps no call
    assert alice.command('hangup')['ok']
    alice.wait_event('CALL_CLOSED', after=mark_a)
    closed = bob.wait_event('CALL_CLOSED', after=mark_b)
    assert 'peer' in closed.get('param', ''), f'bob closed for another reason: {closed}'
    server.wait_no_calls()
    # the server log shows the B2BUA: alice's inbound leg and the leg to bob both hung up
    invite = server.wait_event('invite')[-1]
    hung_up = {e.get('leg') for e in server.events('leg-state') if e.get('state') == 'hangup'}
    assert invite['call'] in hung_up and len(hung_up) >= 2, server.log_tail()

    assert_holds_tone(alice.recording('dec'), BOB_HZ, ALICE_HZ, WANT_SECONDS)
    assert_holds_tone(bob.recording('dec'), ALICE_HZ, BOB_HZ, WANT_SECONDS)
    assert 'Traceback' not in server.log(), server.log_tail()


def test_baresip_registers_and_hears_itself_from_echo(server, peers):
    server.add_account('carol', 'carol-secret')
    carol = peers('carol', ALICE_HZ)
    carol.start([account_line('carol', 'carol-secret', 'localhost', server.sip_port)])
    carol.wait_event('REGISTER_OK', fail_on=('REGISTER_FAIL',))

    mark = len(carol.event_list())
    assert carol.command('dial', 'sip:echo@localhost')['ok']
    carol.wait_event('CALL_ESTABLISHED', after=mark, fail_on=('CALL_CLOSED',))
    wait_received(carol, ALICE_HZ, WANT_SECONDS)

    assert carol.command('hangup')['ok']
    carol.wait_event('CALL_CLOSED', after=mark)
    server.wait_no_calls()
    assert_holds_tone(carol.recording('dec'), ALICE_HZ, BOB_HZ, WANT_SECONDS)
    assert 'Traceback' not in server.log(), server.log_tail()
