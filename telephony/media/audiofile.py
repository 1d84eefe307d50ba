"""Loading prompts (any rate/channels, WAV/Ogg/FLAC) as 8 kHz int16 mono, and saving WAVs."""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import tempfile
import threading
from collections import OrderedDict

import numpy as np
import soundfile as sf
import soxr

from .codecs import SAMPLE_RATE

__all__ = ['load_audio', 'load_audio_async', 'save_wav', 'clear_cache', 'cache_info',
           'file_executor']

_CACHE_MAX_ENTRIES = 128
_CACHE_MAX_SAMPLES = 8000 * 60 * 60  # an hour of audio, ~58 MB
_cache: 'OrderedDict[tuple, np.ndarray]' = OrderedDict()
_cache_samples = 0
_lock = threading.Lock()
_hits = 0
_misses = 0


_files: concurrent.futures.ThreadPoolExecutor | None = None


def file_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The one thread for small file writes that must stay in order (recordings, job
    files): off the event loop, whose stalls stall every call's audio."""
    global _files
    with _lock:
        if _files is None:
            _files = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix='media-files')
        return _files


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def _decode(path: str) -> np.ndarray:
    info = sf.info(path)
    if info.samplerate == SAMPLE_RATE and info.channels == 1 and info.subtype == 'PCM_16':
        pcm, _ = sf.read(path, dtype='int16', always_2d=False)  # bit-exact, no round trip
        return np.ascontiguousarray(pcm)
    data, rate = sf.read(path, dtype='float32', always_2d=True)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != SAMPLE_RATE and len(mono):
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality='HQ')
    return _to_int16(mono)


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """A file as int16 mono 8 kHz (read-only array, shared by all callers).

    Cached by (path, mtime, size): a prompt played to a hundred calls is
    decoded once; a replaced file is decoded again.  Raises OSError when the
    file is missing and sf.LibsndfileError (a RuntimeError) when it is not audio.
    """
    global _cache_samples, _hits, _misses
    path = os.path.abspath(os.fspath(path))
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    with _lock:
        pcm = _cache.get(key)
        if pcm is not None:
            _cache.move_to_end(key)
            _hits += 1
            return pcm
        _misses += 1
    pcm = _decode(path)
    pcm.flags.writeable = False
    with _lock:
        for k in [k for k in _cache if k[0] == path]:  # older versions of the file
            _cache_samples -= len(_cache.pop(k))
        _cache[key] = pcm
        _cache_samples += len(pcm)
        while len(_cache) > 1 and (len(_cache) > _CACHE_MAX_ENTRIES
                                   or _cache_samples > _CACHE_MAX_SAMPLES):
            _, old = _cache.popitem(last=False)
            _cache_samples -= len(old)
    return pcm


async def load_audio_async(path: str | os.PathLike) -> np.ndarray:
    """load_audio in the default executor (a cache hit returns at once)."""
    return await asyncio.get_running_loop().run_in_executor(None, load_audio, path)


def clear_cache() -> None:
    global _cache_samples
    with _lock:
        _cache.clear()
        _cache_samples = 0


def cache_info() -> dict:
    with _lock:
        return {'entries': len(_cache), 'samples': _cache_samples, 'hits': _hits, 'misses': _misses}


def save_wav(path: str | os.PathLike, pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write a 16-bit mono WAV atomically."""
    write_atomic(path, lambda f: sf.write(f, np.asarray(pcm, dtype=np.int16), sample_rate,
                                          subtype='PCM_16', format='WAV'))


def write_atomic(path: str | os.PathLike, write) -> None:
    """Call write(file) on a temporary file in the same folder, then rename it into place:
    a reader (or a crash) never sees half a file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise