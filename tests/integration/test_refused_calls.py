"""Every refused call leaves one log line with its reason (issue 8 §5): the 480s of a number
whose call API client is away, or that has no service switched on, used to leave no trace."""
from __future__ import annotations

import subprocess

from .conftest import HOST, ROOT
from .rawsip import UdpPeer, new_call_id, request, sdp_offer

API_NUMBER = '+4930555001'
DEAD_NUMBER = '+4930555002'


def cli(server, *args: str) -> None:
    r = subprocess.run(server._cli(*args), cwd=ROOT, env=server.env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, f'{args}: {r.stderr}'


def test_every_refused_call_logs_its_reason(server):
    cli(server, 'user', 'add', 'joe', '--password', 'secret12345')
    cli(server, 'phone', 'add', API_NUMBER, '--user', 'joe', '--call-enable')
    cli(server, 'phone', 'add', DEAD_NUMBER, '--user', 'joe')
    peer = UdpPeer(server.sip_port)
    try:
        for number, reason in [(API_NUMBER, 'No Call API Client'),
                               (DEAD_NUMBER, 'Number Not In Service')]:
            call_id = new_call_id()
            peer.send(request('INVITE', f'sip:{number}@{HOST}', port=peer.port, call_id=call_id,
                              from_user='caller', body=sdp_offer(40000),
                              content_type='application/sdp'))
            final, _ = peer.final(call_id)
            assert final is not None and (final.status, final.reason) == (480, reason), final
            line = server.wait_event('call-refused', call_id=call_id)[0]
            assert line['status'] == '480' and line['reason'] == reason, line
            assert number in line['to'] and 'caller' in line['from'], line
            assert len(server.events('call-refused')) == len(
                {e['call_id'] for e in server.events('call-refused')}), 'one line per call'
    finally:
        peer.close()
