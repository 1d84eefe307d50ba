import warnings

import numpy as np
import pytest

from telephony.media.codecs import (CODECS_BY_NAME, CODECS_BY_PT, FRAME_SAMPLES, PCMA, PCMU,
                                    alaw_decode, alaw_encode, codec_for, ulaw_decode, ulaw_encode)

with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import audioop  # the reference on 3.11

ALL16 = np.arange(65536, dtype=np.uint16).view(np.int16)
ALL8 = bytes(range(256))


def test_ulaw_encode_bit_exact_all_samples():
    assert ulaw_encode(ALL16) == audioop.lin2ulaw(ALL16.tobytes(), 2)


def test_alaw_encode_bit_exact_all_samples():
    assert alaw_encode(ALL16) == audioop.lin2alaw(ALL16.tobytes(), 2)


def test_ulaw_decode_bit_exact_all_codes():
    assert ulaw_decode(ALL8).tobytes() == audioop.ulaw2lin(ALL8, 2)


def test_alaw_decode_bit_exact_all_codes():
    assert alaw_decode(ALL8).tobytes() == audioop.alaw2lin(ALL8, 2)


def test_codec_objects():
    assert PCMU.payload_type == 0 and PCMA.payload_type == 8
    assert CODECS_BY_NAME['PCMU'] is PCMU and CODECS_BY_PT[8] is PCMA
    assert PCMU.clock_rate == 8000 and FRAME_SAMPLES == 160
    assert codec_for('pcma') is PCMA and codec_for(0) is PCMU and codec_for(PCMU) is PCMU
    with pytest.raises(ValueError):
        codec_for('G729')


@pytest.mark.parametrize('codec', [PCMU, PCMA])
def test_frame_round_trip_is_close(codec):
    t = np.arange(FRAME_SAMPLES) / 8000
    pcm = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    payload = codec.encode(pcm)
    assert len(payload) == FRAME_SAMPLES
    back = codec.decode(payload)
    assert back.dtype == np.int16 and back.shape == (FRAME_SAMPLES,)
    assert np.max(np.abs(back.astype(int) - pcm)) < 300   # G.711 quantisation
    assert codec.decode(codec.silence).max() - codec.decode(codec.silence).min() <= 16


def test_encode_accepts_other_dtypes_and_views():
    pcm = np.arange(0, 3200, 10, dtype=np.int32)[::2]
    assert ulaw_encode(pcm) == ulaw_encode(pcm.astype(np.int16))
