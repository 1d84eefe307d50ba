"""The pyVoIP reference: an answering phone registered to a Kamailio registrar.

    python -m bench.pyvoip_phone --registrar 127.0.0.1:PORT --user pyvoip --sip-port PORT

It answers every call and waits until the caller hangs up (at most --call-seconds). Prints
`pyvoip ready` once registered; stops on SIGTERM, or after --max-seconds. pyVoIP (PyPI
`pyVoIP`, the `bench` extra) runs a thread per call (started a second after the INVITE) and two
polling threads per RTP stream: that is what this reference measures.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--registrar', required=True)
    p.add_argument('--user', default='pyvoip')
    p.add_argument('--password', default='pyvoip-secret')
    p.add_argument('--sip-port', type=int, required=True)
    p.add_argument('--rtp-low', type=int, default=30100)
    p.add_argument('--rtp-high', type=int, default=32700)
    p.add_argument('--call-seconds', type=float, default=30.0)
    p.add_argument('--max-seconds', type=float, default=3600.0)
    args = p.parse_args()

    from pyVoIP.VoIP import CallState, InvalidStateError, PhoneStatus, VoIPPhone

    host, port = args.registrar.rsplit(':', 1)
    answered = [0]
    errors = [0]

    def on_call(call):
        try:
            call.answer()
            answered[0] += 1
            deadline = time.monotonic() + args.call_seconds
            while call.state != CallState.ENDED and time.monotonic() < deadline:
                time.sleep(0.05)   # pyVoIP has no call-ended wait; poll
            if call.state != CallState.ENDED:
                try:
                    call.hangup()
                except InvalidStateError:
                    pass
        except Exception as e:   # a failed call is counted, the phone goes on
            errors[0] += 1
            print(f'call error: {type(e).__name__}: {e}', file=sys.stderr, flush=True)

    phone = VoIPPhone(host, int(port), args.user, args.password, myIP='127.0.0.1',
                      callCallback=on_call, sipPort=args.sip_port, rtpPortLow=args.rtp_low,
                      rtpPortHigh=args.rtp_high)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    phone.start()
    deadline = time.monotonic() + 30
    while phone.get_status() != PhoneStatus.REGISTERED and time.monotonic() < deadline:
        time.sleep(0.05)
    if phone.get_status() != PhoneStatus.REGISTERED:
        print(f'pyvoip not registered: {phone.get_status()}', file=sys.stderr, flush=True)
        phone.stop()
        return 1
    print('pyvoip ready', flush=True)
    stop.wait(args.max_seconds)
    print(f'answered={answered[0]} errors={errors[0]}', file=sys.stderr, flush=True)
    try:
        phone.stop()
    except Exception as e:
        print(f'stop: {e}', file=sys.stderr, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
