"""`telephony`, run with the cyclic garbage collector off, for tests that check that an ended
call is freed by reference counting alone.

    python -m tests.integration.refcount_server serve ...   (the arguments of `telephony`)

On SIGUSR1 it writes `$REFCOUNT_OUT` (JSON): how many objects of each type in COUNTED are
alive. With the collector off, an object caught in a reference cycle stays forever, so a
count that does not return to zero after the calls ended names a cycle.
"""
from __future__ import annotations

import gc
import json
import os
import signal
import sys

COUNTED = ('Leg', 'Call', 'ControlQueue', 'RtpEndpoint', 'Dialog', 'ServerTransaction',
           'Player', 'WavRecorder')


def dump(_signum=None, _frame=None) -> None:
    counts = dict.fromkeys(COUNTED, 0)
    for o in gc.get_objects():
        name = type(o).__name__
        if name in counts:
            counts[name] += 1
    path = os.environ['REFCOUNT_OUT']
    with open(path + '.tmp', 'w') as f:
        json.dump(counts, f)
    os.replace(path + '.tmp', path)


def main() -> int:
    gc.disable()            # the server's own gc.collect() at start still runs; nothing after
    signal.signal(signal.SIGUSR1, dump)
    from telephony.cli import main as telephony_main
    return telephony_main(sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main())
