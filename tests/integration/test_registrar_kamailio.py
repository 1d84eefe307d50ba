"""Path through a real proxy: a phone registers through Kamailio (Debian `kamailio`, module
`path`), and a call to it goes back through Kamailio instead of around it (RFC 3327).

Kamailio runs in the foreground on 127.0.0.1 with a small edge-proxy config written here:
REGISTER gets `add_path()` and is relayed to our server; any other request has Kamailio's
own Route taken off (`loose_route()`) and is relayed to its Request-URI, the phone's Contact.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from .conftest import HOST, free_port, stop_process, wait_for
from .rawsip import UdpPeer, new_call_id, request
from .test_registrar_wire import PASSWORD, USER, RawSocket, call_and_ring, header_of, register

CFG = """#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=no

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "path.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "xlog.so"

request_route {
	if (is_method("OPTIONS") && $rU == "ping") {
		sl_send_reply("200", "OK");
		exit;
	}
	if (is_method("REGISTER")) {
		add_path();
		xlog("L_INFO", "register $ru from $si:$sp\n");
		$du = "sip:REGISTRAR";
		t_relay();
		exit;
	}
	# anything else (our INVITE preloaded with the Path as Route, the ACK, a BYE): take our
	# own Route off if it is there and relay to the Request-URI (only 127.0.0.1 here)
	loose_route();
	xlog("L_INFO", "relay $rm $ru\n");
	if (!t_relay()) sl_reply_error();
}
"""


@pytest.fixture
def kamailio(server, tmp_path):
    if shutil.which('kamailio') is None:
        pytest.fail('kamailio is not installed: apt-get install kamailio (Debian)', pytrace=False)
    port = free_port('udp')
    cfg = tmp_path / 'edge.cfg'
    cfg.write_text(CFG.replace('REGISTRAR', f'{HOST}:{server.sip_port}'))
    log = open(tmp_path / 'kamailio.log', 'w')
    proc = subprocess.Popen(['kamailio', '-DD', '-E', '-f', str(cfg), '-l', f'udp:{HOST}:{port}',
                             '-n', '1', '-m', '64', '-M', '8', '-Y', str(tmp_path),
                             '-P', str(tmp_path / 'kamailio.pid')],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()

    def answers():
        if proc.poll() is not None:
            raise AssertionError((tmp_path / 'kamailio.log').read_text()[-3000:])
        peer = UdpPeer(port)
        try:
            cid = new_call_id()
            peer.send(request('OPTIONS', f'sip:ping@{HOST}:{port}', port=peer.port, call_id=cid))
            return peer.recv(0.5) is not None
        finally:
            peer.close()
    try:
        wait_for(answers, 30, 'kamailio to answer OPTIONS', interval=0.2)
        yield port, tmp_path / 'kamailio.log'
    finally:
        stop_process(proc)


def test_a_phone_registered_through_kamailio_is_called_through_it(server, kamailio):
    kamailio, kamailio_log = kamailio
    server.add_account(USER, PASSWORD)
    phone = RawSocket(kamailio)          # the phone's outbound proxy is Kamailio
    try:
        ok = register(server, phone, f'<sip:{USER}@{HOST}:{phone.port}>',
                      extra=['Supported: path'])
        (path,) = ok.all('path')
        assert f'{HOST}:{kamailio}' in path, path
        invite = call_and_ring(server, phone)
        # it came from Kamailio, which took its own Route off and relayed to the Contact
        top_via = header_of(invite, 'Via')[0]
        assert f'{HOST}:{kamailio}' in top_via, top_via
        assert header_of(invite, 'Route') == []
        assert invite.split(b' ')[1] == f'sip:{USER}@{HOST}:{phone.port}'.encode()
    except AssertionError as e:
        raise AssertionError(f'{e}\n--- kamailio log (tail) ---\n'
                             f'{kamailio_log.read_text()[-3000:]}') from None
    finally:
        phone.close()
