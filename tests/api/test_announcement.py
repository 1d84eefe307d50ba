"""/api/announcement (§3.15) and /api/trash (§3.11) through a real HTTP client against the
real server: uploads converted to 8 kHz mono, downloads, text2speech by espeak-ng, events,
the trash, download ids, and every status string these calls answer."""
from __future__ import annotations

import base64
import hashlib
import io
import time

import numpy as np
import pytest
import soundfile as sf

from telephony.media.vad import has_speech
from tests.integration.conftest import wait_for

UUID_UNKNOWN = '5e1f0c3a-0000-11ef-8000-0024e8f90cc0'


def speechlike(seconds: float, rate: int) -> np.ndarray:
    """Vowel-like audio (float, -0.5..0.5): harmonics of a gliding pitch, syllable envelope."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    x = x * (0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2)
    return x / np.abs(x).max() * 0.5


def encode(x: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def dkey(uuid: str, sid: str) -> str:
    return base64.urlsafe_b64encode(hashlib.md5((uuid.lower() + sid).encode()).digest()).decode()


class Events:
    """Reads a session's events through GET /api/event (long poll), remembering `next`."""

    def __init__(self, client):
        self.client = client
        self.next = 0
        self.seen: list[dict] = []

    def wait(self, name: str, timeout: float = 20.0, **match) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for e in self.seen:
                if e['event'] == name and all(e.get(k) == v for k, v in match.items()):
                    self.seen.remove(e)
                    return e
            left = deadline - time.monotonic()
            assert left > 0, f'no {name} {match} event; saw {self.seen}'
            body = self.client.get('/api/event', params={
                'next': self.next, 'timeout': max(1, min(5, int(left)))}).json()
            assert body['status'] in ('ok', 'timeout'), body
            self.seen.extend(body['event'])
            self.next = body['next']


def create(c, description: str | None = None) -> str:
    body = c.post('/api/announcement', json={} if description is None
                  else {'description': description}).json()
    assert body['status'] == 'ok', body
    return body['uuid']


def status_of(c, uuid: str) -> str:
    return c.get(f'/api/announcement/{uuid}').json()['announcement']['status']


def wait_status(c, uuid: str, timeout: float = 30.0) -> str:
    return wait_for(lambda: (s := status_of(c, uuid)) not in ('convert', 'record') and s,
                    timeout, f'announcement {uuid} converted')


def wav_of(response) -> tuple[np.ndarray, sf._SoundFileInfo]:
    assert response.status_code == 200, response.status_code
    info = sf.info(io.BytesIO(response.content))
    pcm, _ = sf.read(io.BytesIO(response.content), dtype='int16')
    return pcm, info


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


@pytest.fixture
def joe(api):
    api.add_user('joe')
    return api.login('joe')


def test_uploads_at_any_rate_and_channel_count_become_8k_mono(api, joe):
    ev = Events(joe)
    uuid = create(joe, 'Meine Standardansage')
    new = ev.wait('object_new', object=uuid)
    assert new['type'] == 'announcement' and new['description'] == 'Meine Standardansage'
    got = joe.get(f'/api/announcement/{uuid}').json()
    assert got['status'] == 'ok'
    a = got['announcement']
    assert a['status'] == 'empty' and a['description'] == 'Meine Standardansage'
    assert a['tag'] == [] and isinstance(a['time'], int) and a['owner']
    assert joe.get(f'/api/announcement/{uuid}/x.wav').status_code == 404   # no contents yet

    # 44.1 kHz stereo Ogg Vorbis, 2.5 s
    x = speechlike(2.5, 44100)
    ogg = encode(np.stack([x, x * 0.5], 1), 44100, 'OGG', 'VORBIS')
    r = joe.post(f'/api/announcement/{uuid}/greeting.ogg', content=ogg,
                 headers={'content-type': 'audio/ogg'})
    assert r.json() == {'status': 'ok'}
    conv = ev.wait('announcement_convert', announcement=uuid)
    assert conv['success'] is True
    assert status_of(joe, uuid) == 'ok'
    pcm, info = wav_of(joe.get(f'/api/announcement/{uuid}/greeting.wav'))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, 'PCM_16')
    assert abs(info.frames / 8000 - 2.5) <= 0.1
    assert rms(pcm) > 1000 and has_speech(pcm)
    r = joe.get(f'/api/announcement/{uuid}/greeting.ogg')
    assert r.status_code == 200 and r.headers['content-type'].startswith('audio/ogg')
    assert r.headers['content-disposition'].startswith('attachment')
    pcm, info = sf.read(io.BytesIO(r.content), dtype='int16')
    assert info == 8000 and abs(len(pcm) / 8000 - 2.5) <= 0.1 and rms(pcm) > 1000
    r = joe.get(f'/api/announcement/{uuid}/greeting.wav', params={'inline': ''})
    assert r.headers['content-disposition'].startswith('inline')
    assert r.headers['content-type'] in ('audio/wav', 'audio/x-wav')

    # replaced by a 16 kHz mono WAV of 1.2 s
    wav = encode(speechlike(1.2, 16000), 16000, 'WAV', 'PCM_16')
    assert joe.post(f'/api/announcement/{uuid}/other.wav', content=wav).json() == {'status': 'ok'}
    assert ev.wait('announcement_convert', announcement=uuid)['success'] is True
    pcm, info = wav_of(joe.get(f'/api/announcement/{uuid}/a.wav'))
    assert (info.samplerate, info.channels) == (8000, 1)
    assert abs(info.frames / 8000 - 1.2) <= 0.1 and rms(pcm) > 1000
    pcm, rate = sf.read(io.BytesIO(joe.get(f'/api/announcement/{uuid}/a.ogg').content))
    assert rate == 8000 and abs(len(pcm) / 8000 - 1.2) <= 0.1   # the Ogg copy was redone

    # a silent upload converts fine and is `empty`: no contents to play or download
    silent = encode(np.zeros(16000), 16000, 'WAV', 'PCM_16')
    assert joe.post(f'/api/announcement/{uuid}/s.wav', content=silent).json()['status'] == 'ok'
    assert ev.wait('announcement_convert', announcement=uuid)['success'] is True
    assert status_of(joe, uuid) == 'empty'
    r = joe.get(f'/api/announcement/{uuid}/s.wav')
    assert r.status_code == 404 and r.content == b''


@pytest.mark.parametrize('locale,text', [
    ('en-GB', 'Hello, you have reached the mailbox of John. Please leave a message.'),
    (None, 'Guten Tag, Sie sind mit der Mailbox von Hans verbunden.'),   # default de-DE
    ('fr-FR', 'Bonjour, vous êtes sur la messagerie de Jean.'),
])
def test_text2speech_speaks(api, joe, locale, text):
    ev = Events(joe)
    uuid = create(joe)
    body = {'text': text} if locale is None else {'text': text, 'locale': locale}
    assert joe.post(f'/api/announcement/{uuid}/text2speech', json=body).json() == {'status': 'ok'}
    assert ev.wait('announcement_convert', announcement=uuid, timeout=60)['success'] is True
    assert status_of(joe, uuid) == 'ok'
    pcm, info = wav_of(joe.get(f'/api/announcement/{uuid}/tts.wav'))
    assert info.samplerate == 8000 and info.channels == 1
    assert info.frames / 8000 > 0.5 and has_speech(pcm)


def test_description_trash_purge_and_events(api, joe):
    ev = Events(joe)
    a, b = create(joe, 'first'), create(joe)
    assert joe.post(f'/api/announcement/{a}', json={'description': 'Ansage Büro'}).json() == \
        {'status': 'ok'}
    mod = ev.wait('object_modify', object=a)
    assert mod['description'] == 'Ansage Büro' and mod['type'] == 'announcement'
    assert mod['user'] == mod['owner']
    assert joe.get(f'/api/announcement/{a}').json()['announcement']['description'] == 'Ansage Büro'
    assert joe.post(f'/api/announcement/{a}', json={}).json() == {'status': 'ok'}   # optional
    assert joe.get(f'/api/announcement/{a}').json()['announcement']['description'] == 'Ansage Büro'
    listed = joe.get('/api/announcement').json()
    assert listed['status'] == 'ok' and set(listed['announcement']) == {a, b}

    # DELETE moves to the trash: still visible, no longer writable
    assert joe.delete(f'/api/announcement/{a}').json() == {'status': 'ok'}
    gone = ev.wait('object_delete', object=a)
    assert 'purge' not in gone
    assert joe.get(f'/api/announcement/{a}').json()['announcement']['trash'] is True
    assert joe.post(f'/api/announcement/{a}', json={'description': 'x'}).json()['status'] == \
        'access-denied'
    assert joe.post(f'/api/announcement/{a}/text2speech', json={'text': 'hallo'}).json()[
        'status'] == 'access-denied'
    # DELETE ?purge deletes at once
    assert joe.delete(f'/api/announcement/{b}', params={'purge': ''}).json() == {'status': 'ok'}
    assert ev.wait('object_delete', object=b)['purge'] is True
    assert joe.get(f'/api/announcement/{b}').json()['status'] == 'wrong-announcement'
    # DELETE /api/trash empties the trash
    assert joe.delete('/api/trash').json() == {'status': 'ok'}
    assert ev.wait('object_delete', object=a)['purge'] is True
    ev.wait('trash_purge')
    assert joe.get(f'/api/announcement/{a}').json()['status'] == 'wrong-announcement'
    assert joe.get('/api/announcement').json()['announcement'] == {}


def test_other_users_objects_are_invisible(api, joe):
    api.add_user('eve')
    eve = api.login('eve')
    uuid = create(joe, 'private')
    wav = encode(speechlike(1.0, 8000), 8000, 'WAV', 'PCM_16')
    assert joe.post(f'/api/announcement/{uuid}/a.wav', content=wav).json()['status'] == 'ok'
    assert wait_status(joe, uuid) == 'ok'
    for r in (eve.get(f'/api/announcement/{uuid}'),
              eve.post(f'/api/announcement/{uuid}', json={'description': 'mine now'}),
              eve.delete(f'/api/announcement/{uuid}', params={'purge': ''}),
              eve.post(f'/api/announcement/{uuid}/a.wav', content=wav),
              eve.post(f'/api/announcement/{uuid}/text2speech', json={'text': 'hi'})):
        assert r.json()['status'] == 'wrong-announcement'
    assert eve.get('/api/announcement').json()['announcement'] == {}
    for fmt in ('wav', 'ogg'):
        r = eve.get(f'/api/announcement/{uuid}/a.{fmt}')
        assert r.status_code == 404 and r.content == b''
        # eve's own did with a correct dkey still does not reach joe's object
        r = api.client().get(f'/api/announcement/{uuid}/a.{fmt}',
                             params={'did': eve.did, 'dkey': dkey(uuid, eve.sid)})
        assert r.status_code == 404 and r.content == b''
    assert eve.delete('/api/trash').json() == {'status': 'ok'}
    assert status_of(joe, uuid) == 'ok'


def test_download_with_did_and_dkey(api, joe):
    uuid = create(joe)
    wav = encode(speechlike(1.0, 22050), 22050, 'WAV', 'PCM_16')
    assert joe.post(f'/api/announcement/{uuid}/a.wav', content=wav).json()['status'] == 'ok'
    assert wait_status(joe, uuid) == 'ok'
    anon = api.client()
    for fmt in ('wav', 'ogg'):
        r = anon.get(f'/api/announcement/{uuid}/x.{fmt}',
                     params={'did': joe.did, 'dkey': dkey(uuid, joe.sid), 'inline': '1'})
        assert r.status_code == 200 and r.headers['content-disposition'].startswith('inline')
        assert sf.info(io.BytesIO(r.content)).samplerate == 8000
        # the dkey is for this object and this session only
        for params in ({'did': joe.did, 'dkey': dkey(UUID_UNKNOWN, joe.sid)},
                       {'did': joe.did, 'dkey': 'AAAAAAAAAAAAAAAAAAAAAA=='},
                       {'did': 'nope', 'dkey': dkey(uuid, joe.sid)},
                       {'did': joe.did}, {}):
            r = anon.get(f'/api/announcement/{uuid}/x.{fmt}', params=params)
            assert r.status_code == 404 and r.content == b'', params
    # unknown object, unknown format, bad uuid: 404 with an empty body as well
    for path in (f'/api/announcement/{UUID_UNKNOWN}/x.wav', f'/api/announcement/{uuid}/x.mp3',
                 '/api/announcement/not-a-uuid/x.wav'):
        r = joe.get(path)
        assert r.status_code == 404 and r.content == b'', path


def test_every_status_string(api, joe):
    uuid = create(joe)
    wav = encode(speechlike(1.0, 8000), 8000, 'WAV', 'PCM_16')
    # no-session / no-auth
    assert api.client().get(f'/api/announcement/{uuid}').json()['status'] == 'no-session'
    assert api.client('bogus-sid').post('/api/announcement', json={}).json()['status'] == \
        'no-session'
    anon_sid = api.client().get('/api/session').json()['sid']
    anon = api.client(anon_sid)
    assert anon.get(f'/api/announcement/{uuid}').json()['status'] == 'no-auth'
    assert anon.post(f'/api/announcement/{uuid}/a.wav', content=wav).json()['status'] == 'no-auth'
    assert anon.delete('/api/trash').json()['status'] == 'no-auth'
    # wrong-announcement
    for r in (joe.get(f'/api/announcement/{UUID_UNKNOWN}'),
              joe.post(f'/api/announcement/{UUID_UNKNOWN}', json={'description': 'x'}),
              joe.delete(f'/api/announcement/{UUID_UNKNOWN}'),
              joe.post(f'/api/announcement/{UUID_UNKNOWN}/a.wav', content=wav),
              joe.post(f'/api/announcement/{UUID_UNKNOWN}/text2speech', json={'text': 'x'})):
        assert r.json()['status'] == 'wrong-announcement'
    # wrong-syntax
    for r in (joe.get('/api/announcement/not-a-uuid'),
              joe.post('/api/announcement', json={'description': 'x' * 201}),
              joe.post(f'/api/announcement/{uuid}', json={'description': 'x' * 201}),
              joe.post(f'/api/announcement/{uuid}/text2speech',
                       json={'text': 'hallo', 'locale': 'de-AT'}),
              joe.post(f'/api/announcement/{uuid}/text2speech', json={'text': 'x' * 5001}),
              joe.post(f'/api/announcement/{uuid}/text2speech', json={'text': ''})):
        assert r.json()['status'] == 'wrong-syntax', r.json()
    # missing-element
    assert joe.post(f'/api/announcement/{uuid}/text2speech', json={'locale': 'en-US'}).json()[
        'status'] == 'missing-element'
    # malformed-file: not audio, a truncated header, an empty body
    for bad in (b'this is not a sound file at all' * 20, wav[:30], b''):
        assert joe.post(f'/api/announcement/{uuid}/a.wav', content=bad).json()['status'] == \
            'malformed-file'
    assert joe.post(f'/api/announcement/{uuid}/a.ogg', content=b'OggS' + bytes(500)).json()[
        'status'] == 'malformed-file'
    # too-large: by size (over 20 MB) and by length of audio (over 15 minutes)
    big = bytearray(encode(np.zeros(10), 8000, 'WAV', 'PCM_16')) + bytes(21 * 1024 * 1024)
    assert joe.post(f'/api/announcement/{uuid}/big.wav', content=bytes(big)).json()['status'] \
        == 'too-large'
    long = encode(np.zeros(1000 * 16 * 60, dtype=np.int16), 1000, 'WAV', 'PCM_U8')
    assert joe.post(f'/api/announcement/{uuid}/long.wav', content=long).json()['status'] == \
        'too-large'
    # none of the failures touched the object, and the server still works
    assert status_of(joe, uuid) == 'empty'
    assert joe.post(f'/api/announcement/{uuid}/a.wav', content=wav).json()['status'] == 'ok'
    assert wait_status(joe, uuid) == 'ok'
