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
import itertools
import os
import signal
import sys
import time
import tracemalloc
import weakref
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


def _sqlite() -> str:
    """SQLite's own allocations (page caches of every connection, statements)."""
    import _sqlite3
    lib = ctypes.CDLL(_sqlite3.__file__)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    lib.sqlite3_memory_highwater.restype = ctypes.c_int64
    return (f'sqlite: memory_used={lib.sqlite3_memory_used() >> 10} KiB '
            f'highwater={lib.sqlite3_memory_highwater(0) >> 10} KiB')


def _types() -> Counter:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def _edge(a, b) -> str:
    """How a refers to b, as an attribute or key name where there is one."""
    if isinstance(a, dict):
        for k, v in a.items():
            if v is b:
                return f'[{k!r}]'
    d = getattr(a, '__dict__', None)
    if isinstance(d, dict):
        for k, v in d.items():
            if v is b:
                return f'.{k}'
    for k in getattr(type(a), '__slots__', ()):
        if getattr(a, k, None) is b:
            return f'.{k}'
    if a.__class__.__name__ == 'cell':
        return '.cell_contents'
    if b is getattr(a, '__self__', None):
        return '.__self__'
    return ''


def _cycles(garbage: list, per_type: int = 1) -> list[str]:
    """For one object of each type in the garbage: the shortest path of references that
    leads back to it (a cycle that keeps it from being freed by reference counting)."""
    ids = {id(o) for o in garbage}
    seen_types: Counter = Counter()
    out = []
    for start in garbage:
        t = type(start).__qualname__
        if seen_types[t] >= per_type or isinstance(start, (dict, tuple, list, cell_type)):
            continue
        prev = {id(start): None}
        objs = {id(start): start}
        queue = [start]
        found = None
        while queue and found is None:
            nxt = []
            for o in queue:
                for r in gc.get_referents(o):
                    if r is start:
                        found = o
                        break
                    if id(r) in ids and id(r) not in prev:
                        prev[id(r)] = o
                        objs[id(r)] = r
                        nxt.append(r)
                if found is not None:
                    break
            queue = nxt
        if found is None:
            continue
        seen_types[t] += 1
        path = [start]
        o = found
        while o is not start:
            path.append(o)
            o = prev[id(o)]
        path = [start] + path[1:][::-1] + [start]
        text = type(start).__qualname__
        for a, b in itertools.pairwise(path):
            text += f'{_edge(a, b)} -> {type(b).__qualname__}'
        out.append(text)
    return out


def _cell_of(x):
    return lambda: x


cell_type = type(_cell_of(0).__closure__[0])


def report(_signum=None, _frame=None) -> None:
    _state['n'] += 1
    out = []
    types0 = _types()
    out.append(f'rss={_rss_kb()} KiB gc_tracked={sum(types0.values())} '
               f'frozen={gc.get_freeze_count()} counts={gc.get_count()}')
    out.append(_malloc())
    out.append(_sqlite())
    t0 = time.perf_counter()
    gc.set_debug(gc.DEBUG_SAVEALL)       # what the collection finds goes to gc.garbage
    try:
        freed = gc.collect()
    finally:
        gc.set_debug(0)
    garbage = Counter(type(o).__qualname__ for o in gc.garbage)
    cycles = _cycles(gc.garbage) if os.environ.get('INSPECT_CYCLES') else []
    gc.garbage.clear()
    gc.collect()                         # now free it for real
    out.append(f'gc.collect() freed {freed} objects in {time.perf_counter() - t0:.2f} s; '
               f'rss={_rss_kb()} KiB')
    out.append(_malloc())
    out.append('garbage (objects in unreachable cycles) by type:')
    out.extend(f'  {n:8d} {name}' for name, n in garbage.most_common(40))
    if cycles:
        out.append('shortest reference cycle through one object of each type in the garbage:')
        out.extend(f'  {c}' for c in cycles)
    types1 = _types()
    out.append('objects by type after collection (count, change since last report):')
    prev = _state['types']
    for name, n in types1.most_common(40):
        out.append(f'  {n:8d} {n - prev.get(name, 0):+8d} {name}')
    grown = sorted(((n - prev.get(k, 0), k) for k, n in types1.items()), reverse=True)[:25]
    out.append('types that grew most since last report:')
    out.extend(f'  {d:+8d} {k}' for d, k in grown if d > 0)
    _state['types'] = types1
    refs = Counter()
    everything = gc.get_objects()
    for o in everything:
        if type(o) is weakref.ReferenceType:
            target = o()
            holders = [type(h).__qualname__ for h in gc.get_referrers(o)
                       if h is not everything][:2]
            refs[(type(target).__qualname__ if target is not None else 'dead', tuple(holders))] += 1
    lists = Counter()
    for o in everything:
        if type(o) is weakref.ReferenceType and o() is None:
            for h in gc.get_referrers(o):
                if isinstance(h, list) and h is not everything:
                    owners = [type(x).__qualname__ + (f'[{len(x)}]' if isinstance(x, dict) else '')
                              for x in gc.get_referrers(h) if x is not everything][:3]
                    lists[(id(h), len(h), tuple(owners))] += 1
    out.append('lists holding dead weak references (length, owners):')
    out.extend(f'  {n:6d} dead of {k[1]} in a list held by {", ".join(k[2]) or "-"}'
               for k, n in lists.most_common(5))
    out.append('weak references by referent type and holder:')
    out.extend(f'  {n:8d} {k[0]} held by {", ".join(k[1]) or "-"}' for k, n in refs.most_common(12))
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
