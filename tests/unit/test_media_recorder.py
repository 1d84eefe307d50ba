import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from telephony.media.recorder import WavRecorder, recover_all, recover_partial

FRAME = (np.arange(160) * 100 % 20000 - 10000).astype(np.int16)


def test_record_and_close(tmp_path):
    path = tmp_path / 'rec.wav'
    rec = WavRecorder(path)
    assert os.path.exists(str(path) + '.part') and not path.exists()
    for _ in range(75):
        rec.write(FRAME)
    assert rec.close() == pytest.approx(1.5)
    assert path.exists() and not os.path.exists(str(path) + '.part')
    data, rate = sf.read(path, dtype='int16')
    assert rate == 8000 and len(data) == 75 * 160
    assert np.array_equal(data[:160], FRAME)
    assert rec.close() == pytest.approx(1.5)      # idempotent


def test_header_valid_while_recording(tmp_path):
    rec = WavRecorder(tmp_path / 'r.wav')
    for _ in range(120):                          # 2.4 s: header rewritten at 1 s and 2 s
        rec.write(FRAME)
    assert sf.info(rec.part_path).frames == 100 * 160
    rec.flush()
    assert sf.info(rec.part_path).frames == 120 * 160
    rec.close()


CRASH = textwrap.dedent('''
    import os, sys
    import numpy as np
    from telephony.media.recorder import WavRecorder
    rec = WavRecorder(sys.argv[1])
    frame = np.full(160, 1000, np.int16)
    for _ in range(int(sys.argv[2])):
        rec.write(frame)
    if sys.argv[3] == 'flush':
        rec.flush()
    os._exit(0)          # a crash: no close(), no Python buffers flushed
''')


def crash(path, frames, flush):
    subprocess.run([sys.executable, '-c', CRASH, str(path), str(frames), flush], check=True,
                   cwd=os.getcwd())
    return str(path) + '.part'


def test_crash_leaves_playable_part_file(tmp_path):
    part = crash(tmp_path / 'c.wav', 130, 'noflush')
    data, rate = sf.read(part, dtype='int16')     # playable as is
    assert rate == 8000 and len(data) == 100 * 160  # up to the last header rewrite
    assert (data == 1000).all()
    final = recover_partial(part)
    assert final == str(tmp_path / 'c.wav') and not os.path.exists(part)
    n = sf.info(final).frames
    assert 100 * 160 <= n <= 130 * 160


def test_crash_after_flush_keeps_everything(tmp_path):
    part = crash(tmp_path / 'd.wav', 37, 'flush')
    assert sf.info(part).frames == 37 * 160
    assert sf.info(recover_partial(part)).frames == 37 * 160


def test_recover_all_and_garbage(tmp_path):
    crash(tmp_path / 'a.wav', 10, 'flush')
    sub = tmp_path / 'sub'
    sub.mkdir()
    crash(sub / 'b.wav', 60, 'noflush')
    (tmp_path / 'junk.part').write_bytes(b'xx')
    found = sorted(recover_all(tmp_path))
    assert found == sorted([str(tmp_path / 'a.wav'), str(sub / 'b.wav')])
    with pytest.raises(ValueError):
        recover_partial(tmp_path / 'junk.part')


def test_odd_byte_tail_is_trimmed(tmp_path):
    part = crash(tmp_path / 'o.wav', 5, 'flush')
    with open(part, 'ab') as f:
        f.write(b'\x01')
    assert sf.info(recover_partial(part)).frames == 5 * 160


def test_encoded_frames_are_decoded_a_second_at_a_time(tmp_path):
    from telephony.media.codecs import PCMA, PCMU
    rec = WavRecorder(tmp_path / 'e.wav')
    ulaw, alaw = PCMU.encode(FRAME), PCMA.encode(FRAME)
    for _ in range(60):                 # 1.2 s of mu-law: the first second is in the file
        rec.write_encoded(ulaw, PCMU.decode)
    assert sf.info(rec.part_path).frames == 50 * 160 and rec.samples == 50 * 160
    for _ in range(10):                 # the codec changes (re-INVITE): A-law from here
        rec.write_encoded(alaw, PCMA.decode)
    rec.write(FRAME)                    # and samples mix in, in order
    assert rec.close() == pytest.approx(71 * 160 / 8000)
    data, _ = sf.read(tmp_path / 'e.wav', dtype='int16')
    frames = data.reshape(71, 160)
    assert (frames[:60] == PCMU.decode(ulaw)).all()
    assert (frames[60:70] == PCMA.decode(alaw)).all()
    assert (frames[70] == FRAME).all()
