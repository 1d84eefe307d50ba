import os

import numpy as np
import pytest
import soundfile as sf

from telephony.media import audiofile
from telephony.media.audiofile import cache_info, clear_cache, load_audio, save_wav


def sine(rate, seconds, freq=1000, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def dominant(pcm):
    spec = np.abs(np.fft.rfft(pcm.astype(float)))
    return np.argmax(spec) * 8000 / len(pcm)


@pytest.mark.parametrize('fmt,ext,rate,channels', [
    ('WAV', 'wav', 44100, 2), ('WAV', 'wav', 16000, 1), ('FLAC', 'flac', 48000, 1),
    ('OGG', 'ogg', 22050, 2)])
def test_load_any_rate_and_channels(tmp_path, fmt, ext, rate, channels):
    path = tmp_path / f'p.{ext}'
    sf.write(path, sine(rate, 1.0, channels=channels), rate, format=fmt)
    pcm = load_audio(path)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert abs(len(pcm) - 8000) <= 2
    assert dominant(pcm) == pytest.approx(1000, abs=5)
    assert 14000 < np.abs(pcm).max() < 18000


def test_8k_mono_pcm16_is_bit_exact(tmp_path):
    pcm = (np.arange(8000) % 2000 - 1000).astype(np.int16)
    path = tmp_path / 'exact.wav'
    save_wav(path, pcm)
    assert np.array_equal(load_audio(path), pcm)


def test_cache_hits_and_reload_on_change(tmp_path):
    clear_cache()
    path = tmp_path / 'c.wav'
    save_wav(path, np.ones(800, np.int16))
    # other tests' prompt loads may still run in worker threads: count this path's hits only
    a = load_audio(path)
    hits = cache_info()['hits']
    b = load_audio(str(path))
    assert a is b and cache_info()['hits'] >= hits + 1
    assert not a.flags.writeable
    save_wav(path, np.full(1600, 7, np.int16))
    os.utime(path, ns=(1, 2_000_000_000))   # be sure the mtime differs
    c = load_audio(path)
    assert len(c) == 1600 and c[0] == 7
    assert load_audio(path) is c      # the new audio replaced the old entry


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(OSError):
        load_audio(tmp_path / 'nope.wav')
    bad = tmp_path / 'bad.wav'
    bad.write_bytes(b'not audio at all')
    with pytest.raises(RuntimeError):
        load_audio(bad)


def test_save_wav_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / 'out.wav'
    save_wav(path, np.zeros(160, np.int16))

    def boom(*a, **kw):
        raise OSError('disk full')
    monkeypatch.setattr(audiofile.sf, 'write', boom)
    with pytest.raises(OSError):
        save_wav(path, np.ones(320, np.int16))
    assert sf.info(path).frames == 160               # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ['out.wav']  # no temporary left behind


async def test_load_async(tmp_path):
    path = tmp_path / 'a.wav'
    save_wav(path, np.ones(320, np.int16))
    assert len(await audiofile.load_audio_async(path)) == 320
