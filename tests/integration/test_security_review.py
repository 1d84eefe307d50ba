"""Attacks on the real server from the security review of issue 8 (raw sockets on 127.0.0.1).

Each test is an attack that worked before its fix:
  - a binding whose target changes after the REGISTER (its TCP flow closes, so calls go to the
    Contact's port on the flow's host) must still never reach the trunk;
  - one account may not pile up contacts without limit (each costs memory, a database row, and
    at every call an outbound leg with its RTP ports): past the cap the soonest to expire go;
  - a TCP connection trickling a message that never ends (slowloris), or sending only pings,
    counted as active and outlived the idle timeout, holding one of the capped slots;
  - a phone registered before a restart is still heard while its account is being guessed
    (the addresses that authenticated lived in memory only; now restored bindings seed them).
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3

from .conftest import HOST, wait_for
from .rawsip import TcpPeer, UdpPeer, closed_by_server, new_call_id, request
from .test_digest_guessing import Peer
from .test_digest_guessing import register as digest_register
from .test_registrar_wire import PASSWORD, USER, RawSocket, final, register, with_digest


def test_a_closed_tcp_flow_cannot_turn_a_binding_into_a_trunk_call(start_server, peer_tools):
    # The fake trunk shares the attacker's host (as a local SBC or a trunk behind the same NAT
    # address would). Registered over TCP the binding's target is the connection, which is
    # allowed; once the connection is gone the target becomes the Contact's port on that host.
    trunk = RawSocket()
    server = start_server(env={'TELEPHONY_TRUNK': f'{HOST}:{trunk.port}'})
    server.add_account(USER, PASSWORD)
    tcp = TcpPeer(server.sip_port)
    caller = UdpPeer(server.sip_port)
    try:
        register(server, tcp, f'<sip:+4919001234567@{HOST}:{trunk.port};transport=udp>',
                 transport='TCP', port=tcp.port)
        tcp.close()
        # the server has read the FIN (sent before this datagram) once it answers it
        cid = new_call_id()
        caller.send(request('OPTIONS', f'sip:{HOST}', port=caller.port, call_id=cid))
        assert final(caller, cid) is not None
        _, call_id, _ = with_digest(caller, 'INVITE', f'sip:{USER}@{HOST}')
        end = final(caller, call_id, timeout=60)
        assert end is not None and end.status >= 300, end
        assert trunk.drain() == [], 'the trunk was sent an INVITE'
    finally:
        trunk.close()
        caller.close()


def test_an_account_holds_a_bounded_number_of_contacts(start_server, peer_tools):
    server = start_server(env={'TELEPHONY_SIP_MAX_CONTACTS': '3'})
    server.add_account(USER, PASSWORD)
    peer = UdpPeer(server.sip_port)
    try:
        many = ', '.join(f'<sip:{USER}-x{i}@{HOST}:{peer.port}>' for i in range(500))
        ok, _, _ = with_digest(peer, 'REGISTER', f'sip:{HOST}', contact=many)
        assert ok is not None and (ok.status, ok.reason) == (403, 'Too Many Contacts'), ok
        assert server.health()['registrations'] == 0
        for i in range(3):
            register(server, peer, f'<sip:{USER}-{i}@{HOST}:{peer.port}>;expires={600 + i * 60}')
        # one more: the contact that expires soonest makes room, the newest is kept
        ok = register(server, peer, f'<sip:{USER}-new@{HOST}:{peer.port}>')
        contacts = [c.split('>')[0].lstrip('<') for c in ok.all('contact')]
        assert sorted(contacts) == sorted(f'sip:{USER}-{n}@{HOST}:{peer.port}'
                                          for n in ('1', '2', 'new')), contacts
        assert server.health()['registrations'] == 3
    finally:
        peer.close()


def test_a_phone_registered_before_a_restart_is_heard_while_its_account_is_guessed(start_server,
                                                                                  peer_tools):
    env = {'TELEPHONY_AUTH_ACCOUNT_WINDOW': '3600'}   # no refill while the test runs
    server = start_server(env=env)
    server.add_account('alice', PASSWORD)
    phone = Peer(server.sip_port, HOST)
    try:
        assert digest_register(phone, 'alice', PASSWORD).status == 200
        db = server.data_dir / 'telephony.db'

        def stored():
            with sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=10) as conn:
                return conn.execute('SELECT 1 FROM registrations').fetchall()
        wait_for(stored, 20, 'the binding in the database')
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        again = start_server(env=env)
        again.wait_event('bindings-loaded', loaded=1)
        for host in ('127.0.0.2', '127.0.0.3', '127.0.0.4'):   # 12 guesses: the budget is 10
            guesser = Peer(again.sip_port, host)
            try:
                for n in range(4):
                    assert digest_register(guesser, 'alice', f'wrong-{n}').status == 403
            finally:
                guesser.close()
        phone.server = (HOST, again.sip_port)   # the same phone (address), the new port
        ok = digest_register(phone, 'alice', PASSWORD)
        assert ok.status == 200, ok.raw.decode()
    finally:
        phone.close()



def test_a_slow_or_ping_only_tcp_connection_is_closed_at_the_idle_timeout(start_server,
                                                                          peer_tools):
    server = start_server(env={'TELEPHONY_TCP_IDLE_TIMEOUT': '1'})
    slow = socket.create_connection((HOST, server.sip_port))
    pinger = socket.create_connection((HOST, server.sip_port))
    try:
        head = b'OPTIONS sip:127.0.0.1 SIP/2.0\r\nX-Slow: ' + b'a' * 10000
        assert closed_by_server(slow, 60, head), 'the slowloris connection stayed open'
        assert closed_by_server(pinger, 60, b'\r\n\r\n'), 'pings held the connection'
        server.wait_event('tcp-idle-close', count=2)
    finally:
        slow.close()
        pinger.close()
