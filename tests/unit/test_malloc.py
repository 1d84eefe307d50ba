"""telephony.malloc: helper threads share two glibc arenas instead of one arena each."""
from __future__ import annotations

import os
import subprocess
import sys

PROBE = r'''
import re, sys, threading
from telephony.malloc import limit_arenas
capped = limit_arenas(2)
together = threading.Barrier(8)
def work():      # eight threads allocating at once: uncapped, each takes an arena of its own
    together.wait()
    keep = [bytearray(200_000) for _ in range(5)]
    together.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
# a thread arena is a heap of 64 MiB aligned to 64 MiB (the main arena is the brk heap)
arenas = sum(1 for line in open('/proc/self/maps')
             if 'rw-p' in line and line.split()[-1] == line.split()[4] == '0'
             and int(line.split('-')[0], 16) % (64 << 20) == 0)
print(capped, arenas)
'''


def _run(env: dict) -> tuple[str, int]:
    out = subprocess.run([sys.executable, '-c', PROBE], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    return out[0], int(out[1])


def test_threads_share_two_arenas():
    env = {k: v for k, v in os.environ.items() if k != 'MALLOC_ARENA_MAX'}
    capped, arenas = _run(env)
    assert capped == 'True'
    assert arenas <= 1          # the main arena and at most one more


def test_operator_setting_wins():
    capped, arenas = _run({**os.environ, 'MALLOC_ARENA_MAX': '4'})
    assert capped == 'False'
    assert arenas <= 3
