"""Keys inside a conference room without profiles (a coSpace that links none, as every room
is before the Cisco profiles are linked): SIPp joins it, keys `*6` and `*0` with RFC 4733
captures; the server hears each key, and the room does nothing with them: no action, no
member change, and the caller stays until its own BYE.

`keyed_in_order` is shared with test_conference_profiles.py: the sip-tester captures carry
fixed RTP sequence numbers (1..9, *, #, 0 rising), so a key whose capture would go back in
sequence is played as a retimed copy (uac_steps.key_again) later than the one before."""
from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

from tests.api import conftest as api_fixtures
from tests.api.cisco import add_admin, create
from tests.integration.conftest import assert_sipp_ok
from tests.integration.uac_steps import DTMF_NAMES, NO_SHEDDING, key, key_again, pause, write

start_api = api_fixtures.start_api
DOMAIN = 'meet.example.com'
GAP = 300      # ms between keys (each capture lasts 140 ms)
ROUND_SEQ = 10000    # what uac_steps.key_again moves a capture's sequence numbers on per round
PCAPS = Path(__file__).resolve().parents[2] / 'sipp-scenarios' / 'pcap'


@cache
def _seqs(digit: str) -> tuple[int, int]:
    """The first and last RTP sequence number of a digit's capture."""
    data = (PCAPS / f'dtmf_2833_{DTMF_NAMES.get(digit, digit)}.pcap').read_bytes()
    seqs, off = [], 24
    while off < len(data):
        incl = struct.unpack('<I', data[off + 8:off + 12])[0]
        pkt = data[off + 16:off + 16 + incl]
        udp = 14 + (pkt[14] & 15) * 4
        seqs.append(struct.unpack('!H', pkt[udp + 10:udp + 12])[0])
        off += 16 + incl
    return min(seqs), max(seqs)


def keyed_in_order(code: str, folder: Path, gap: int = GAP) -> list[str]:
    """Steps keying `code`, each key's packets later in sequence than the key before."""
    steps: list[str] = []
    last = -1
    for d in code:
        first, end = _seqs(d)
        r = 0
        while first + ROUND_SEQ * r <= last:
            r += 1
        last = end + ROUND_SEQ * r
        steps += [pause(gap)] if steps else []
        steps.append(key(d) if r == 0 else key_again(d, r, folder))
    return steps


def test_keys_in_a_room_without_profiles_do_nothing(start_api, sipp, tmp_path):
    api = start_api(**NO_SHEDDING)
    admin = add_admin(api)
    create(admin, 'inboundDialPlanRules', domain=DOMAIN)
    space = create(admin, 'coSpaces', name='Plain', uri='plain')
    scenario = write(tmp_path / 'keys.xml',
                     [pause(1500), *keyed_in_order('*6*0', tmp_path), pause(1500)],
                     wait_bye=False, domain=DOMAIN)
    result = sipp.run(f'127.0.0.1:{api.server.sip_port}', scenario=scenario, service='plain',
                      timeout=120, global_timeout=110)
    assert_sipp_ok(result, calls=1, server=api.server)      # SIPp's own BYE ended it
    call = api.server.wait_event('cospace-call')[0]['call']
    assert api.server.wait_event('conference-join', call=call)[0]['conference'] == space
    heard = api.server.wait_event('dtmf', call=call, count=4)
    assert [e['n'] for e in heard] == ['1', '2', '3', '4']   # keys are counted, never logged
    api.server.wait_event('conference-leave', call=call)
    assert not api.server.events('conference-dtmf-action')
    assert not api.server.events('conference-dtmf-refused')
    assert not api.server.events('conference-member-update')
    api.server.wait_no_calls()
