import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
import soxr

from telephony.media.dtmf import dtmf_tone
from telephony.media.vad import SpeechDetector, has_speech


@pytest.fixture(scope='module')
def speech(tmp_path_factory):
    if not shutil.which('espeak-ng'):
        pytest.fail('espeak-ng missing: make test installs it', pytrace=False)
    path = tmp_path_factory.mktemp('vad') / 's.wav'
    subprocess.run(['espeak-ng', '-w', str(path), 'Please leave a message after the tone.'],
                   check=True)
    data, rate = sf.read(path, dtype='float32')
    return (soxr.resample(data, rate, 8000) * 20000).astype(np.int16)


def test_speech_detected(speech):
    assert has_speech(speech)


def test_silence_noise_tone_and_dtmf_are_empty():
    rng = np.random.default_rng(0)
    t = np.arange(24000) / 8000
    assert not has_speech(np.zeros(24000, np.int16))
    assert not has_speech(rng.normal(0, 30, 24000).astype(np.int16))
    for freqs in ([425], [1000], [2100], [350, 440], [440, 480]):   # incl. dial tone, CED
        tone = sum(6000 * np.sin(2 * np.pi * f * t) for f in freqs)
        assert not has_speech(np.clip(tone, -32768, 32767).astype(np.int16)), freqs
    assert not has_speech(np.concatenate([dtmf_tone(d, 150) for d in '123456789']))
    assert not has_speech(np.zeros(0, np.int16))


def test_streaming_detector(speech):
    det = SpeechDetector()
    padded = np.concatenate([np.zeros(8000, np.int16), speech, np.zeros(16000, np.int16)])
    states = [det.feed(padded[i:i + 160]) for i in range(0, len(padded) - 159, 160)]
    assert not any(states[:40]) and any(states) and not states[-1]
