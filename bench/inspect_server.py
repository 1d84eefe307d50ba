"""`telephony` with a memory report on SIGUSR1, for bench.rss_rounds --inspect.

    python -m bench.inspect_server serve ...     (the arguments of `telephony`)

On SIGUSR1 the server writes `$INSPECT_OUT/report-N.txt`: glibc's malloc totals (in use vs
free but kept), the object counts of the cyclic collector by type before and after a full
collection, and (under PYTHONTRACEMALLOC) the traced allocations that grew since the last
report. The report runs on the event loop's thread between two callbacks, so it pauses the
calls for as long as it takes: use it on idle servers only.
"""
from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys
import time
import tracemalloc
from collections import Counter


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks', 'fsmblks', 'uordblks',
        'fordblks', 'keepcost')]


_libc = ctypes.CDLL(None)
_libc.mallinfo2.restype = _Mallinfo2
_state = {'n': 0, 'snap': None, 'types': Counter()}


def _rss_kb() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def _malloc() -> str:
    m = _libc.mallinfo2()
    return (f'malloc: in_use={m.uordblks >> 10} KiB free_kept={m.fordblks >> 10} KiB '
            f'arena_total={m.arena >> 10} KiB mmapped={m.hblkhd >> 10} KiB ({m.hblks} chunks) '
            f'free_chunks={m.ordblks}')


def _types() -> Counter:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def report(_signum=None, _frame=None) -> None:
    _state['n'] += 1
    out = []
    types0 = _types()
    out.append(f'rss={_rss_kb()} KiB gc_tracked={sum(types0.values())} '
               f'frozen={gc.get_freeze_count()} counts={gc.get_count()}')
    out.append(_malloc())
    t0 = time.perf_counter()
    freed = gc.collect()
    out.append(f'gc.collect() freed {freed} objects in {time.perf_counter() - t0:.2f} s; '
               f'rss={_rss_kb()} KiB')
    out.append(_malloc())
    types1 = _types()
    out.append('objects by type after collection (count, change since last report):')
    prev = _state['types']
    for name, n in types1.most_common(40):
        out.append(f'  {n:8d} {n - prev.get(name, 0):+8d} {name}')
    grown = sorted(((n - prev.get(k, 0), k) for k, n in types1.items()), reverse=True)[:25]
    out.append('types that grew most since last report:')
    out.extend(f'  {d:+8d} {k}' for d, k in grown if d > 0)
    _state['types'] = types1
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        cur, peak = tracemalloc.get_traced_memory()
        out.append(f'tracemalloc: traced={cur >> 10} KiB peak={peak >> 10} KiB')
        if _state['snap'] is not None:
            for st in snap.compare_to(_state['snap'], 'traceback')[:15]:
                out.append(f'  {st.size_diff >> 10:+6d} KiB {st.count_diff:+7d} blocks')
                out.extend(f'      {line}' for line in st.traceback.format(limit=6))
        _state['snap'] = snap
    folder = os.environ.get('INSPECT_OUT', '.')
    path = os.path.join(folder, f'report-{_state["n"]}.txt')
    with open(path + '.tmp', 'w') as f:
        f.write('\n'.join(out) + '\n')
    os.replace(path + '.tmp', path)


def main() -> int:
    signal.signal(signal.SIGUSR1, report)
    from telephony.cli import main as telephony_main
    return telephony_main(sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main())
