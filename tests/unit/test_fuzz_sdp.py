"""Property-based fuzzing of the SDP codec and offer/answer (issue 4, item 2).

(i)  Random and mutated bodies: parse_sdp, and what a call does with a parsed offer or
     answer (answer_offer, process_answer, audio_address, is_hold, re-offers, serialising
     the answer), raise nothing but SdpError.
(ii) Generated session descriptions (random codecs and payload types, rtpmap/fmtp, ports
     and port counts, directions, IPv4/IPv6 connections at session or media level, ptime,
     non-RTP media with token formats, extra lines) round-trip: parse(serialise(x)) == x.

Derandomised; FUZZ_EXAMPLES=N runs a longer random hunt instead.
"""
from __future__ import annotations

import ipaddress
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.sdp import (DIRECTIONS, MediaDescription, SdpError, SessionDescription,
                           answer_offer, audio_address, build_offer, hold_offer, is_hold,
                           parse_sdp, process_answer, resume_offer)

HUNT = int(os.environ.get('FUZZ_EXAMPLES', '0'))


def fuzz(max_examples: int = 300):
    return settings(max_examples=HUNT or max_examples, derandomize=not HUNT, deadline=None,
                    database=None, print_blob=bool(HUNT),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


SEEDS = [
    b'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n'
    b'm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n'
    b'a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n',
    b'v=0\no=user1 53655765 2353687637 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n'
    b'm=audio 6000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n',
    b'v=0\r\no=- 1683436006 3196224417 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\n'
    b't=0 0\r\nm=audio 10942 RTP/AVP 111 9 0 8 101\r\nb=AS:64\r\n'
    b'a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1;sprop-stereo=1\r\na=rtpmap:9 G722/8000\r\n'
    b'a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n'
    b'a=fmtp:101 0-15\r\na=rtcp-mux\r\na=ptime:20\r\na=sendrecv\r\na=label:1\r\n',
    b'v=0\r\no=alice 2890844526 2890844526 IN IP6 ::1\r\ns=\r\nc=IN IP6 ::1\r\nt=0 0\r\n'
    b'm=video 51372 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\nm=audio 49170/2 RTP/AVP 8 0 96\r\n'
    b'c=IN IP4 0.0.0.0\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n'
    b'm=image 0 udptl t38\r\na=T38FaxVersion:0\r\n',
    b'v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\na=inactive\r\n'
    b'm=audio 4000 RTP/SAVP 0\r\nc=IN IP4 10.0.0.1/127\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 '
    b'inline:xyz\r\n',
]

SDP_TOKENS = [b'v=0', b'o=', b's=', b'c=IN IP4 ', b'c=IN IP6 ', b't=0 0', b'm=audio ',
              b'm=image ', b'a=rtpmap:', b'a=fmtp:', b'a=ptime:', b'a=sendonly', b'a=inactive',
              b'a=recvonly', b'a=sendrecv', b'RTP/AVP', b'PCMU/8000', b'PCMA/8000',
              b'telephone-event/8000', b'/', b' ', b'\r\n', b'\n', b'\r', b'0', b'8', b'101',
              b'65536', b'-1', b'1e400', b'nan', b'inf', b'0.0.0.0', b'::', b'\xc2\xb2',
              b'\xd9\xa3', b'\xef\xbc\x91', b'\x00', b'\xff', b':', b'=', b'99999999999999999999']


def use_offer(sd: SessionDescription) -> None:
    """What the server does with a parsed offer (leg.answer, on_reinvite)."""
    try:
        answer, neg = answer_offer(sd, '127.0.0.1', 20000, session_id=1, version=2)
    except SdpError:
        pass
    else:
        assert neg.codec_name in ('PCMU', 'PCMA')
        assert 0 <= neg.remote_port <= 65535 and neg.ptime > 0
        again = parse_sdp(answer.to_bytes())
        assert len(again.media) == len(sd.media)
    for fn in (audio_address, is_hold, hold_offer, resume_offer):
        try:
            fn(sd)
        except SdpError:
            pass
    try:
        process_answer(build_offer('127.0.0.1', 20000), sd)   # as the answer to our offer
    except SdpError:
        pass


def exercise(data: bytes) -> None:
    try:
        sd = parse_sdp(data)
    except SdpError:
        return
    use_offer(sd)
    assert parse_sdp(sd.to_bytes()).to_bytes() == sd.to_bytes()


@fuzz()
@given(st.binary(max_size=2000))
def test_random_bytes(data):
    exercise(data)


@fuzz()
@given(st.lists(st.sampled_from(SDP_TOKENS) | st.binary(max_size=6), max_size=60))
def test_sdp_shaped_noise(parts):
    exercise(b''.join(parts))


def mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for kind, pos, value in ops:
        i = pos % (len(buf) + 1)
        if kind == 'insert' or not buf:
            buf[i:i] = value
        elif kind == 'replace':
            buf[i:i + len(value)] = value
        elif kind == 'delete':
            del buf[i:i + 1 + len(value)]
        elif kind == 'truncate':
            del buf[i:]
    return bytes(buf)


@fuzz()
@given(st.sampled_from(SEEDS),
       st.lists(st.tuples(st.sampled_from(['insert', 'replace', 'delete', 'truncate']),
                          st.integers(0, 600), st.sampled_from(SDP_TOKENS) | st.binary(max_size=4)),
                min_size=1, max_size=6))
def test_mutated_bodies(seed, ops):
    exercise(mutate(seed, ops))


def test_unicode_digits_are_not_numbers():
    """str.isdigit() is true for '²' and '٣', which int() refuses: an rtpmap or fmtp with
    such a payload type, rate or channel count must be ignored, not raise ValueError."""
    for line in ('a=rtpmap:\u00b2 PCMU/8000', 'a=rtpmap:0 PCMU/\u0663000',
                 'a=rtpmap:0 PCMU/8000/\u00b2', 'a=fmtp:\u00b2 0-15'):
        sd = parse_sdp('v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n'
                       f'm=audio 4000 RTP/AVP 0\r\n{line}\r\n')
        use_offer(sd)


# ---------------------------------------------------------------- (ii) round trip

ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
word = st.text(ALNUM + '-_.+', min_size=1, max_size=10)
text = st.text(st.characters(blacklist_characters='\r\n', blacklist_categories=('Cs',)),
               min_size=1, max_size=20).filter(lambda s: s.strip() != '')
ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: ipaddress.IPv6Address(n).compressed)
address = ipv4 | ipv6 | st.sampled_from(['0.0.0.0', '::']) | \
    st.builds(lambda a, t: f'{a}/{t}', ipv4, st.integers(0, 255))
codecs = st.sampled_from([('PCMU', 8000, None), ('PCMA', 8000, None), ('G722', 8000, None),
                          ('opus', 48000, 2), ('telephone-event', 8000, None), ('CN', 8000, None),
                          ('telephone-event', 48000, None), ('G729', 8000, 1)]) | \
    st.tuples(word.filter(lambda w: '/' not in w), st.integers(1, 192000),
              st.none() | st.integers(1, 8))
fmtp_value = st.text(st.characters(blacklist_characters='\r\n', blacklist_categories=('Cs',)),
                     max_size=20).map(str.strip)
ATTR_RESERVED = {'rtpmap', 'fmtp', 'ptime', *DIRECTIONS}
attr_name = word.filter(lambda n: n not in ATTR_RESERVED)
attributes = st.lists(st.tuples(attr_name, st.none() | st.just('') |
                                st.text(st.characters(blacklist_characters='\r\n',
                                                      blacklist_categories=('Cs',)), max_size=20)),
                      max_size=3)


@st.composite
def rtp_media(draw) -> MediaDescription:
    pts = draw(st.lists(st.integers(0, 127), min_size=1, max_size=6, unique=True))
    rtpmap = {pt: draw(codecs) for pt in pts if pt >= 96 or draw(st.booleans())}
    fmtp = {pt: draw(fmtp_value) for pt in pts if draw(st.integers(0, 3)) == 0}
    ptime = draw(st.none() | st.integers(1, 1000))
    m = MediaDescription(
        media=draw(st.sampled_from(['audio', 'audio', 'video', 'text'])),
        port=draw(st.integers(0, 65535)),
        proto=draw(st.sampled_from(['RTP/AVP', 'RTP/AVPF', 'RTP/SAVP', 'UDP/TLS/RTP/SAVPF'])),
        formats=pts, rtpmap=rtpmap, fmtp=fmtp,
        direction=draw(st.sampled_from(DIRECTIONS)),
        connection=draw(st.none() | address), ptime=ptime,
        attributes=draw(attributes),
        port_count=draw(st.none() | st.integers(1, 8)),
        extra=draw(st.lists(st.tuples(st.sampled_from('ibk'), text), max_size=2)))
    return m


@st.composite
def token_media(draw) -> MediaDescription:
    tokens = draw(st.lists(word.filter(lambda w: not w.isdigit()), min_size=1, max_size=3))
    return MediaDescription(media=draw(st.sampled_from(['image', 'application'])),
                            port=draw(st.integers(0, 65535)),
                            proto=draw(st.sampled_from(['udptl', 'TCP/MRCPv2', 'UDP/BFCP'])),
                            format_tokens=tokens, direction=draw(st.sampled_from(DIRECTIONS)),
                            attributes=draw(attributes))


@st.composite
def sessions(draw) -> SessionDescription:
    addr = draw(ipv4 | ipv6)
    return SessionDescription(
        username=draw(word), sess_id=draw(st.integers(0, 2**64)),
        sess_version=draw(st.integers(0, 2**64)),
        addrtype='IP6' if ':' in addr else 'IP4', address=addr,
        session_name=draw(st.just('-') | text),
        connection=draw(st.none() | address),
        timing=draw(st.builds(lambda a, b: f'{a} {b}', st.integers(0, 2**40), st.integers(0, 2**40))),
        media=draw(st.lists(rtp_media() | token_media(), max_size=4)),
        attributes=draw(attributes),
        extra=draw(st.lists(st.tuples(st.sampled_from('iuepbrzk'), text), max_size=3)))


SESSION_ORDER = {t: i for i, t in enumerate('vosiuepcbtrzka')}
MEDIA_ORDER = {'i': 0, 'b': 1, 'k': 2}


def normalised(sd: SessionDescription) -> SessionDescription:
    """The serialiser writes extra lines in RFC 4566 order; the parser keeps wire order."""
    sd.extra.sort(key=lambda e: SESSION_ORDER[e[0]])
    for m in sd.media:
        m.extra.sort(key=lambda e: MEDIA_ORDER[e[0]])
    return sd


@fuzz(200)
@given(sessions())
def test_sessions_round_trip(sd):
    wire = sd.to_bytes()
    again = parse_sdp(wire)
    assert again == normalised(sd)
    assert again.to_bytes() == wire
    use_offer(again)


@fuzz(200)
@given(sessions())
def test_lf_only_endings_parse_the_same(sd):
    wire = sd.to_bytes()
    assert parse_sdp(wire.replace(b'\r\n', b'\n')) == parse_sdp(wire)


@fuzz(200)
@given(st.sampled_from(['127.0.0.1', '::1', '192.0.2.7']), st.integers(1, 65535),
       st.lists(st.sampled_from(['PCMU', 'PCMA']), min_size=1, max_size=2, unique=True),
       st.none() | st.integers(96, 127), st.sampled_from(DIRECTIONS), st.none() | st.integers(1, 200))
def test_offer_answer_agree(ip, port, names, dtmf, direction, ptime):
    """Our offer, answered by our own answerer, is accepted by process_answer with the
    codec, telephone-event and mirrored direction RFC 3264 requires."""
    offer = parse_sdp(build_offer(ip, port, names, dtmf, direction, 7, 1, ptime=ptime).to_bytes())
    answer, neg = answer_offer(offer, '10.0.0.1', 30000)
    assert neg.codec_name == names[0] and neg.remote_ip == ip and neg.remote_port == port
    assert neg.dtmf_pt == dtmf
    back = process_answer(offer, parse_sdp(answer.to_bytes()))
    assert back.codec_name == names[0] and back.remote_port == 30000
    assert back.local_direction == direction
