"""SIPp caller scenarios made from a list of steps (pauses and pcaps to play), for tests
that key their way through IVR menus or leave a voice message.

SIPp cannot take the name of a pcap from a -key, so each test writes its own scenario:
call, ACK, the steps, then either wait for the server's BYE (`wait_bye=True`) or send one.
Run with the Sipp helper: its working directory is sipp-scenarios/, so `pcap/...` resolves.
"""
from __future__ import annotations

import struct
from pathlib import Path

CALLER = '+4922100077'
# Functional tests of applications, not of admission control: on a machine shared with
# other test runs the loop's CPU share or a late clock would answer some of their calls 503.
NO_SHEDDING = {'TELEPHONY_MAX_LOOP_CPU': '0', 'TELEPHONY_OVERLOAD_LAG_MS': '60000'}
_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="UAC steps">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:CALLER@[local_ip]:[local_port]>;tag=[pid]SIPpTagS[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" timeout="30000"/>
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:CALLER@[local_ip]:[local_port]>;tag=[pid]SIPpTagS[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
""".replace('CALLER', CALLER)

_WAIT_BYE = """  <recv request="BYE" timeout="90000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

_SEND_BYE = """  <send retrans="500">
    <![CDATA[

      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:CALLER@[local_ip]:[local_port]>;tag=[pid]SIPpTagS[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
""".replace('CALLER', CALLER)

DTMF_NAMES = {'*': 'star', '#': 'pound'}


def pause(ms: int) -> str:
    return f'  <pause milliseconds="{int(ms)}"/>\n'


def play(pcap: str | Path) -> str:
    """Play a capture from sipp-scenarios/pcap/ (or one at an absolute path)."""
    src = pcap if Path(pcap).is_absolute() else f'pcap/{pcap}'
    return f'  <nop><action><exec play_pcap_audio="{src}"/></action></nop>\n'


def key(digit: str) -> str:
    """One RFC 4733 digit (the sip-tester captures; keep digits in the order their RTP
    sequence numbers rise: 0 last, 1 3 5 7 9 * # as dtmf_2833.xml plays them)."""
    return play(f'dtmf_2833_{DTMF_NAMES.get(digit, digit)}.pcap')


def key_again(digit: str, round_: int, folder: Path) -> str:
    """The same RFC 4733 digit once more in one call: the receiver knows an event by its RTP
    timestamp and drops one it has seen, so the capture is copied into `folder` with its
    sequence numbers and timestamps moved on by `round_` (1, 2, ...: later than every
    capture of the rounds before). Played by absolute path."""
    name = DTMF_NAMES.get(digit, digit)
    dst = folder / f'dtmf_2833_{name}.round{round_}.pcap'
    if not dst.exists():
        src = Path(__file__).resolve().parents[2] / 'sipp-scenarios' / 'pcap' / f'dtmf_2833_{name}.pcap'
        dst.write_bytes(retimed(src.read_bytes(), 10000 * round_, 160000 * round_))
    return play(dst)


def retimed(pcap: bytes, seq_shift: int, ts_shift: int) -> bytes:
    """A classic pcap of Ethernet/IPv4/UDP/RTP packets with the RTP sequence numbers and
    timestamps shifted; the UDP checksum is cleared (0: none, valid for IPv4)."""
    out, off = bytearray(pcap[:24]), 24
    while off < len(pcap):
        incl = struct.unpack('<I', pcap[off + 8:off + 12])[0]
        pkt = bytearray(pcap[off + 16:off + 16 + incl])
        udp = 14 + (pkt[14] & 15) * 4
        pkt[udp + 6:udp + 8] = b'\0\0'
        seq, ts = struct.unpack('!HI', pkt[udp + 10:udp + 16])
        pkt[udp + 10:udp + 16] = struct.pack('!HI', (seq + seq_shift) & 0xFFFF,
                                             (ts + ts_shift) & 0xFFFFFFFF)
        out += pcap[off:off + 16] + pkt
        off += 16 + incl
    return bytes(out)


def write(path: Path, steps: list[str], wait_bye: bool = True, domain: str | None = None) -> Path:
    """`domain`: the INVITE's Request-URI and To name it (sip:[service]@domain) instead of the
    server's address (an inbound rule's domain); the call still goes to the server."""
    head = _HEAD
    if domain is not None:
        head = head.replace('INVITE sip:[service]@[remote_ip]:[remote_port]',
                            f'INVITE sip:[service]@{domain}') \
            .replace('To: <sip:[service]@[remote_ip]:[remote_port]>', f'To: <sip:[service]@{domain}>')
    path.write_text(head + ''.join(steps) + (_WAIT_BYE if wait_bye else _SEND_BYE))
    return path
