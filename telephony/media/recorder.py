"""Crash-safe WAV recording: 16-bit 8 kHz mono written as it goes.

The file grows as `<path>.part`; the samples of each second are appended and the
RIFF and data sizes in its header rewritten (and the file flushed) once per second
of audio, so a crash leaves a playable file up to the last second.  close()
finalises the header, fsyncs and renames the file to its real name.
recover_partial() repairs a leftover `.part` file from its length (call it on
server start).

The file work (open, writes, fsync, rename) runs where `executor` says: inline
by default, or -- for the media engine, whose loop carries every call's audio --
on the one file thread (`audiofile.file_executor()`), in order.  `finished`
then tells when the file is complete under its real name.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import struct
from typing import Callable

import numpy as np

from .codecs import SAMPLE_RATE

__all__ = ['WavRecorder', 'recover_partial', 'recover_all', 'wav_header', 'PART_SUFFIX']

log = logging.getLogger('telephony.media')
PART_SUFFIX = '.part'
HEADER_BYTES = 44

def wav_header(data_bytes: int, sample_rate: int = SAMPLE_RATE, channels: int = 1,
               bits: int = 16) -> bytes:
    block = channels * bits // 8
    return struct.pack('<4sI4s4sIHHIIHH4sI', b'RIFF', 36 + data_bytes, b'WAVE', b'fmt ', 16, 1,
                       channels, sample_rate, sample_rate * block, block, bits, b'data',
                       data_bytes)


class WavRecorder:
    def __init__(self, path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
                 header_every_samples: int | None = None,
                 executor: concurrent.futures.Executor | None = None) -> None:
        self.path = os.fspath(path)
        self.part_path = self.path + PART_SUFFIX
        self.sample_rate = sample_rate
        self._every = header_every_samples or sample_rate   # once per second of audio
        self._executor = executor
        self._file = None
        self.error: OSError | None = None   # the first file error (the rest is skipped)
        self.samples = 0          # handed to the file (payload bytes awaiting decode apart)
        self._since_header = 0
        self._pcm = bytearray()   # samples of the current second, not handed over yet
        self._coded = bytearray()
        self._decode: Callable[[bytes], np.ndarray] | None = None
        self.closed = False
        self.duration: float | None = None
        self._last: concurrent.futures.Future = self._submit(self._io_open)

    # --- the file side (in the executor, or inline) ---------------------------------------
    def _submit(self, fn, *args) -> concurrent.futures.Future:
        if self._executor is not None:
            return self._executor.submit(self._guarded, fn, *args)
        fut: concurrent.futures.Future = concurrent.futures.Future()
        fut.set_result(fn(*args))     # inline: an OSError reaches the caller, as it always did
        return fut

    def _guarded(self, fn, *args):
        if self.error is not None and fn is not self._io_abort:
            return None
        try:
            return fn(*args)
        except OSError as e:
            self.error = e
            log.error('event=record-error path=%s error=%s', self.path, e)
            if self._file is not None:
                try:
                    self._file.close()
                except OSError:
                    pass
            return None

    def _io_open(self) -> None:
        self._file = open(self.part_path, 'wb')
        self._file.write(wav_header(0, self.sample_rate))
        self._file.flush()

    def _io_append(self, data: bytes, total_samples: int) -> None:
        f = self._file
        f.write(data)
        f.flush()
        size = total_samples * 2
        f.seek(4)
        f.write(struct.pack('<I', 36 + size))
        f.seek(40)
        f.write(struct.pack('<I', size))
        f.seek(0, os.SEEK_END)
        f.flush()

    def _io_close(self, data: bytes, total_samples: int) -> None:
        try:
            self._io_append(data, total_samples)
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        os.replace(self.part_path, self.path)

    def _io_abort(self) -> None:
        if self._file is not None:
            self._file.close()
        try:
            os.unlink(self.part_path)
        except OSError:
            pass

    # --- the audio side (the caller's thread: the event loop) -----------------------------
    def write(self, pcm: np.ndarray) -> None:
        """Append int16 samples (normally one 160-sample frame)."""
        if self.closed:
            return
        self._drain()
        self._append(pcm)
        if self._since_header >= self._every:
            self.flush()

    def write_encoded(self, data: bytes, decode: Callable[[bytes], np.ndarray]) -> None:
        """Append G.711 payload bytes, decoded a second at a time rather than per frame
        (decoding is most of a recording's cost)."""
        if self.closed:
            return
        if decode is not self._decode:
            self._drain()
            self._decode = decode
        self._coded += data
        if len(self._coded) + self._since_header >= self._every:
            self.flush()

    def _drain(self) -> None:
        if self._coded:
            pcm = self._decode(bytes(self._coded))
            self._coded.clear()
            self._append(pcm)

    def _append(self, pcm: np.ndarray) -> None:
        if pcm.dtype != np.int16:
            pcm = pcm.astype(np.int16)
        if not pcm.flags.c_contiguous:
            pcm = np.ascontiguousarray(pcm)
        self._pcm += memoryview(pcm).cast('B')
        n = len(pcm)
        self.samples += n
        self._since_header += n

    def _take(self) -> bytes:
        self._drain()
        data = bytes(self._pcm)
        self._pcm.clear()
        self._since_header = 0
        return data

    def flush(self) -> None:
        """Hand everything so far to the file and rewrite the header sizes for it."""
        if self.closed:
            return
        self._last = self._submit(self._io_append, self._take(), self.samples)

    @property
    def finished(self) -> 'asyncio.Future':
        """Resolves (on the running loop) once the last file operation handed over is done:
        after close(), the file is complete under its real name (or gone, after abort())."""
        return asyncio.wrap_future(self._last)

    def close(self) -> float:
        """Finish the file and give it its real name.  Returns the duration in seconds."""
        if self.closed:
            return self.duration or 0.0
        data = self._take()
        self.closed = True
        self.duration = self.samples / self.sample_rate
        self._last = self._submit(self._io_close, data, self.samples)
        return self.duration

    def abort(self) -> None:
        """Stop and delete the partial file."""
        if not self.closed:
            self.closed = True
            self._pcm.clear()
            self._coded.clear()
            self._last = self._submit(self._io_abort)
        self.duration = 0.0

    def __enter__(self) -> 'WavRecorder':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def recover_partial(path_part: str | os.PathLike) -> str:
    """Fix the header sizes of a leftover `.part` recording from its length and
    rename it to its final name, which is returned.  ValueError if it is not a
    16-bit PCM WAV of ours."""
    path_part = os.fspath(path_part)
    if not path_part.endswith(PART_SUFFIX):
        raise ValueError(f'not a partial recording: {path_part}')
    final = path_part[:-len(PART_SUFFIX)]
    with open(path_part, 'r+b') as f:
        head = f.read(HEADER_BYTES)
        if len(head) < HEADER_BYTES or head[:4] != b'RIFF' or head[8:12] != b'WAVE' \
                or head[36:40] != b'data':
            raise ValueError(f'not a recording header: {path_part}')
        size = os.fstat(f.fileno()).st_size
        data = (size - HEADER_BYTES) & ~1
        f.truncate(HEADER_BYTES + data)
        f.seek(4)
        f.write(struct.pack('<I', 36 + data))
        f.seek(40)
        f.write(struct.pack('<I', data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(path_part, final)
    log.info('event=recording-recovered path=%s bytes=%d', final, data)
    return final


def recover_all(folder: str | os.PathLike) -> list[str]:
    """recover_partial() every `*.part` recording under folder; returns the final paths."""
    out = []
    for root, _dirs, files in os.walk(os.fspath(folder)):
        for name in files:
            if name.endswith(PART_SUFFIX):
                p = os.path.join(root, name)
                try:
                    out.append(recover_partial(p))
                except (OSError, ValueError) as e:
                    log.warning('event=recording-recover-failed path=%s error=%s', p, e)
    return out
