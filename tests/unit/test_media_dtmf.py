import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr

from telephony.media.codecs import PCMA, PCMU
from telephony.media.dtmf import (DTMF_FREQS, EVENT_CHARS, GoertzelDetector, InbandDtmfGenerator,
                                  Rfc4733Receiver, Rfc4733Sender, build_telephone_event,
                                  dtmf_tone, parse_telephone_event)
from telephony.media.rtp import RtpPacket


# --- RFC 4733 ---------------------------------------------------------------------------------

def test_parse_telephone_event():
    assert parse_telephone_event(b'\x0b\x8a\x03\x20') == (11, True, 10, 800)
    assert parse_telephone_event(build_telephone_event(3, False, 7, 160)) == (3, False, 7, 160)
    with pytest.raises(ValueError):
        parse_telephone_event(b'\x01\x02')


class Stream:
    """Numbers telephone-event packets like a phone does."""

    def __init__(self):
        self.seq = 1000
        self.ts = 50000

    def event(self, digit, frames=5, ends=3, pt=101):
        e = EVENT_CHARS.index(digit)
        out = []
        for i in range(1, frames):
            out.append(self._pkt(build_telephone_event(e, False, 10, 160 * i), i == 1, pt))
        for _ in range(ends):
            out.append(self._pkt(build_telephone_event(e, True, 10, 160 * frames), False, pt))
        self.ts += 160 * (frames + ends)
        return out

    def _pkt(self, payload, marker, pt):
        self.seq += 1
        return RtpPacket(pt, self.seq & 0xFFFF, self.ts, 1, payload, marker)


def run(rx, packets):
    out = []
    for p in packets:
        out += rx.feed(p)
    return out


def test_each_digit_once_despite_three_end_packets():
    s, rx = Stream(), Rfc4733Receiver()
    packets = s.event('1') + s.event('2') + s.event('3') + s.event('#')
    assert run(rx, packets) == [('1', 100), ('2', 100), ('3', 100), ('#', 100)]


def test_same_digit_twice_is_two_digits():
    s, rx = Stream(), Rfc4733Receiver()
    assert run(rx, s.event('5') + s.event('5', frames=8)) == [('5', 100), ('5', 160)]


def test_retransmits_and_late_duplicates_are_dropped():
    s, rx = Stream(), Rfc4733Receiver()
    a, b = s.event('7'), s.event('8')
    packets = a[:3] + a[2:3] + a[3:] + b[:2] + [a[-1], a[0]] + b[2:] + [b[-1], a[-2]]
    assert run(rx, packets) == [('7', 100), ('8', 100)]


def test_lost_end_packets_emitted_when_next_event_starts():
    s, rx = Stream(), Rfc4733Receiver()
    a, b = s.event('4'), s.event('9')
    out = run(rx, a[:3])                       # all end packets lost
    assert out == []
    assert run(rx, b) == [('4', 60), ('9', 100)]


def test_lost_end_expires_without_a_following_event():
    s, rx = Stream(), Rfc4733Receiver(timeout=1.0)
    for p in s.event('0')[:2]:
        rx.feed(p, now=10.0)
    assert rx.pending and rx.expire(10.5) == []
    assert rx.expire(11.0) == [('0', 40)]
    assert not rx.pending


def test_only_end_packets_seen():
    s, rx = Stream(), Rfc4733Receiver()
    a = s.event('*')
    assert run(rx, a[-3:]) == [('*', 100)]


def test_non_dtmf_events_and_garbage_ignored():
    rx = Rfc4733Receiver()
    flash = RtpPacket(101, 1, 0, 1, build_telephone_event(16, True, 10, 800))
    assert rx.feed(flash) == []
    assert rx.feed(RtpPacket(101, 2, 160, 1, b'\x01')) == []


def test_sender_payloads():
    ticks = list(Rfc4733Sender('#', duration_ms=100))
    assert len(ticks) == 7
    parsed = [parse_telephone_event(p) for p, _m, _e in ticks]
    assert [d for _e, _end, _v, d in parsed] == [160, 320, 480, 640, 800, 800, 800]
    assert [end for _e, end, _v, _d in parsed] == [False] * 4 + [True] * 3
    assert {e for e, *_ in parsed} == {11}
    assert [m for _p, m, _e in ticks] == [True] + [False] * 6
    short = list(Rfc4733Sender('1', duration_ms=20))
    assert [(m, e) for _p, m, e in short] == [(True, True), (False, True), (False, True)]


def test_sender_receiver_round_trip():
    rx, out, seq = Rfc4733Receiver(), [], 0
    ts = 1000
    for d in '0123456789*#ABCD':
        for payload, marker, _end in Rfc4733Sender(d, 80):
            seq += 1
            out += rx.feed(RtpPacket(101, seq, ts, 5, payload, marker))
        ts += 160 * 7
    assert out == [(d, 80) for d in '0123456789*#ABCD']


# --- in-band ---------------------------------------------------------------------------------

def detect(signal, det=None):
    det = det or GoertzelDetector()
    n = len(signal) - len(signal) % 160
    out = []
    for i in range(0, n, 160):
        out += det.feed(signal[i:i + 160])
    return out


def tone_sequence(digits, rng, on_ms=100, off_ms=60, noise=300.0, offset=0, amplitude=5000):
    parts = [np.zeros(offset)]
    for d in digits:
        parts.append(dtmf_tone(d, on_ms, amplitude=amplitude).astype(float))
        parts.append(np.zeros(8 * off_ms))
    parts.append(np.zeros(1600))
    sig = np.concatenate(parts)
    sig += rng.normal(0, noise, len(sig))
    return np.clip(sig, -32768, 32767).astype(np.int16)


def test_all_sixteen_digits_with_noise_and_misalignment():
    rng = np.random.default_rng(1)
    digits = '0123456789*#ABCD'
    for offset in (0, 37, 80, 123):
        sig = tone_sequence(digits, rng, offset=offset)
        assert ''.join(detect(sig)) == digits, offset


@pytest.mark.parametrize('codec', [PCMU, PCMA])
def test_digits_survive_g711(codec):
    rng = np.random.default_rng(2)
    sig = tone_sequence('159#', rng, noise=50)
    assert ''.join(detect(codec.decode(codec.encode(sig)))) == '159#'


def test_debounce_long_press_once_short_gap_repeats():
    rng = np.random.default_rng(3)
    assert detect(tone_sequence('5', rng, on_ms=1000)) == ['5']
    # the same digit after >= 40 ms of silence is a new press
    assert detect(tone_sequence('55', rng, on_ms=80, off_ms=60)) == ['5', '5']


def test_short_blip_and_dropout_ignored():
    rng = np.random.default_rng(4)
    assert detect(tone_sequence('3', rng, on_ms=20)) == []
    # a 20 ms dropout in the middle of one press does not make two digits
    sig = np.concatenate([dtmf_tone('3', 100), np.zeros(160, np.int16), dtmf_tone('3', 100),
                          np.zeros(800, np.int16)])
    assert detect(sig) == ['3']


def test_rejects_single_tone_bad_twist_and_weak_signal():
    t = np.arange(8000) / 8000
    single = (8000 * np.sin(2 * np.pi * 697 * t)).astype(np.int16)
    assert detect(single) == []
    lo, hi = DTMF_FREQS['6']
    twisted = (8000 * np.sin(2 * np.pi * lo * t) + 800 * np.sin(2 * np.pi * hi * t)).astype(np.int16)
    assert detect(twisted) == []                       # 20 dB twist
    assert detect(dtmf_tone('6', 1000, amplitude=40)) == []


def test_rejects_music_like_chords():
    t = np.arange(16000) / 8000
    chord = sum(3000 * np.sin(2 * np.pi * f * t) for f in (440, 554.37, 659.25, 880))
    assert detect(chord.astype(np.int16)) == []
    sweep = 6000 * np.sin(2 * np.pi * (300 * t + 400 * t * t))
    assert detect(sweep.astype(np.int16)) == []


@pytest.fixture(scope='module')
def speech(tmp_path_factory):
    if not shutil.which('espeak-ng'):
        pytest.fail('espeak-ng missing: make test installs it', pytrace=False)
    text = ('Hello and welcome. Please enter your PIN number, followed by the hash key. '
            'One two three four five six seven eight nine zero. Press star to go back. '
            'Your call is important to us, please hold the line.')
    out = []
    for voice in ('en', 'en-us', 'de', 'fr'):
        path = tmp_path_factory.mktemp('speech') / f'{voice}.wav'
        subprocess.run(['espeak-ng', '-v', voice, '-w', str(path), text], check=True)
        data, rate = sf.read(path, dtype='float32')
        pcm = soxr.resample(data, rate, 8000)
        out.append(np.clip(pcm * 32767 * 2.5, -32768, 32767).astype(np.int16))
    return out


def test_speech_gives_no_false_digits(speech):
    for pcm in speech:
        assert detect(pcm) == []
        assert detect(PCMU.decode(PCMU.encode(pcm))) == []


def test_digits_still_found_after_speech(speech):
    rng = np.random.default_rng(5)
    sig = np.concatenate([speech[0], tone_sequence('42', rng)])
    assert detect(sig) == ['4', '2']


def test_inband_generator_frames():
    gen = InbandDtmfGenerator('12', duration_ms=100, gap_ms=60)
    frames = list(gen)
    assert len(frames) == 16 and all(f.shape == (160,) for f in frames)
    assert ''.join(detect(np.concatenate(frames + [np.zeros(480, np.int16)]))) == '12'
