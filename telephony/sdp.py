"""SDP (RFC 4566) parsing/serialisation and RFC 3264 offer/answer for G.711 audio.

Sans-IO: every function is pure; session ids/versions are supplied by the caller.

Supported media: one RTP audio stream with PCMU (pt 0), PCMA (pt 8) and
telephone-event (RFC 4733, dynamic pt).  Everything else in an offer is
answered as rejected (port 0), as RFC 3264 §6 requires.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

__all__ = [
    "SdpError",
    "NoCommonCodec",
    "MediaDescription",
    "SessionDescription",
    "Negotiated",
    "parse_sdp",
    "audio_address",
    "codec_of",
    "build_offer",
    "answer_offer",
    "process_answer",
    "is_hold",
    "is_hold_media",
    "reoffer",
    "hold_offer",
    "resume_offer",
    "sdp_changed",
    "DIRECTIONS",
]


class SdpError(ValueError):
    """Malformed SDP or a failed negotiation."""


class NoCommonCodec(SdpError):
    """Offer/answer found no audio codec in common (the SIP layer answers 488)."""

    def __init__(self, msg: str = "no common codec") -> None:
        super().__init__(msg)


DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 3551 static payload types, so formats without an rtpmap can still be named.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int, int | None]] = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1),
    7: ("LPC", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    10: ("L16", 44100, 2),
    11: ("L16", 44100, 1),
    12: ("QCELP", 8000, 1),
    13: ("CN", 8000, 1),
    15: ("G728", 8000, 1),
    18: ("G729", 8000, 1),
}

# Codecs this server can actually encode/decode, by canonical name.
_AUDIO_CODECS: dict[str, tuple[int, int]] = {"PCMU": (0, 8000), "PCMA": (8, 8000)}
_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")  # no SRTP: SAVP offers are rejected
_HOLD_ADDRESSES = ("0.0.0.0", "::")
PTIME_RANGE = (10, 120)  # ms per packet we send and mirror (120 ms of G.711 fits an MTU)


# --------------------------------------------------------------------------- model


@dataclass
class MediaDescription:
    media: str = "audio"
    port: int = 0
    proto: str = "RTP/AVP"
    formats: list[int] = field(default_factory=list)
    rtpmap: dict[int, tuple[str, int, int | None]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str = "sendrecv"
    connection: str | None = None
    ptime: int | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    # Non-numeric formats (e.g. 't38' on m=image udptl); used instead of `formats`.
    format_tokens: list[str] = field(default_factory=list)
    # m=<media> <port>/<count>; rare, kept for round-tripping.
    port_count: int | None = None
    # Other media-level lines (i=, b=, k=) as (type, value), kept verbatim.
    extra: list[tuple[str, str]] = field(default_factory=list)

    def encoding(self, pt: int) -> tuple[str, int, int | None] | None:
        """(name, rate, channels) for a payload type: rtpmap first, then the static table."""
        return codec_of(self, pt)

    @property
    def rejected(self) -> bool:
        return self.port == 0

    def fmt_strings(self) -> list[str]:
        return self.format_tokens or [str(f) for f in self.formats]


@dataclass
class SessionDescription:
    username: str = "-"
    sess_id: int = 0
    sess_version: int = 0
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"
    session_name: str = "-"
    connection: str | None = None
    timing: str = "0 0"
    media: list[MediaDescription] = field(default_factory=list)
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    # Other session-level lines (i=, u=, e=, p=, b=, r=, z=, k=) kept verbatim.
    extra: list[tuple[str, str]] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return _serialise(self).encode("utf-8")

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def first_audio(self) -> MediaDescription | None:
        for m in self.media:
            if m.media == "audio":
                return m
        return None


# --------------------------------------------------------------------------- parsing


def _int(value: str, what: str) -> int:
    # int() accepts '+1', ' 1', '1_0'; SDP numbers are plain digits.
    if not value.isascii() or not value.isdigit():
        raise SdpError(f"non-numeric {what}: {value!r}")
    return int(value)


def _parse_connection(value: str) -> tuple[str, str]:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN":
        raise SdpError(f"bad c= line: {value!r}")
    return parts[1], parts[2]


def _parse_attribute(value: str) -> tuple[str, str | None]:
    name, sep, rest = value.partition(":")
    return (name.strip(), rest if sep else None)


def _digits(text: str) -> bool:
    # str.isdigit() is also true for '²' or '٣', which int() refuses (found by fuzzing:
    # 'a=rtpmap:² PCMU/8000' raised ValueError out of parse_sdp).
    return text.isascii() and text.isdigit()


def _apply_media_attribute(m: MediaDescription, name: str, value: str | None) -> bool:
    """Interpret a known media attribute; False means 'keep as a generic attribute'."""
    if name in DIRECTIONS and value is None:
        m.direction = name
        return True
    if value is None:
        return False
    if name == "rtpmap":
        pt_s, _, enc = value.strip().partition(" ")
        parts = enc.strip().split("/")
        if not _digits(pt_s) or len(parts) < 2 or not _digits(parts[1]) or not parts[0]:
            return False  # tolerate junk rather than failing the whole call
        channels = int(parts[2]) if len(parts) > 2 and _digits(parts[2]) else None
        m.rtpmap[int(pt_s)] = (parts[0], int(parts[1]), channels)
        return True
    if name == "fmtp":
        pt_s, _, params = value.strip().partition(" ")
        if not _digits(pt_s):
            return False
        m.fmtp[int(pt_s)] = params.strip()
        return True
    if name == "ptime":
        try:
            # Some stacks send "20.0"; fractional ptime isn't meaningful for G.711 here.
            ptime = int(float(value.strip()))
        except (ValueError, OverflowError):
            return False
        if not 0 < ptime <= 1000:
            return False
        m.ptime = ptime
        return True
    return False


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body.  Tolerates LF-only endings and unknown lines."""
    if isinstance(data, (bytes, bytearray)):
        text = bytes(data).decode("utf-8", errors="replace")
    else:
        text = data
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise SdpError("empty SDP")

    sd = SessionDescription()
    seen_v = seen_o = False
    session_direction: str | None = None
    current: MediaDescription | None = None
    explicit_dir: list[bool] = []

    for ln in lines:
        if len(ln) < 2 or ln[1] != "=" or not ln[0].isalpha():
            raise SdpError(f"malformed SDP line: {ln[:60]!r}")
        typ, value = ln[0], ln[2:]
        if not seen_v:
            if typ != "v":
                raise SdpError("SDP must start with v=")
            if value.strip() != "0":
                raise SdpError(f"unsupported SDP version {value!r}")
            seen_v = True
            continue
        if typ == "v":
            raise SdpError("duplicate v= line")
        if typ == "o":
            if seen_o or current is not None:
                raise SdpError("unexpected o= line")
            parts = value.split()
            if len(parts) != 6:
                raise SdpError(f"bad o= line: {value!r}")
            sd.username = parts[0]
            sd.sess_id = _int(parts[1], "o= sess-id")
            sd.sess_version = _int(parts[2], "o= sess-version")
            sd.nettype, sd.addrtype, sd.address = parts[3], parts[4], parts[5]
            seen_o = True
            continue
        if not seen_o:
            raise SdpError("o= must follow v=")
        if typ == "m":
            parts = value.split()
            if len(parts) < 3:
                raise SdpError(f"bad m= line: {value!r}")
            port_s, _, count_s = parts[1].partition("/")
            current = MediaDescription(media=parts[0], port=_int(port_s, "m= port"), proto=parts[2])
            if current.port > 65535:
                raise SdpError(f"m= port out of range: {port_s}")
            if count_s:
                current.port_count = _int(count_s, "m= port count")
            fmts = parts[3:]
            if all(f.isascii() and f.isdigit() for f in fmts):
                current.formats = [int(f) for f in fmts]
            else:
                current.format_tokens = fmts
            sd.media.append(current)
            explicit_dir.append(False)
            continue
        if typ == "c":
            addrtype, addr = _parse_connection(value)
            if current is None:
                sd.connection = addr
            else:
                current.connection = addr
            continue
        if typ == "a":
            name, aval = _parse_attribute(value)
            if current is None:
                if name in DIRECTIONS and aval is None:
                    session_direction = name
                sd.attributes.append((name, aval))
            else:
                if _apply_media_attribute(current, name, aval):
                    if name in DIRECTIONS:
                        explicit_dir[-1] = True
                else:
                    current.attributes.append((name, aval))
            continue
        if current is None:
            if typ == "s":
                sd.session_name = value
            elif typ == "t":
                sd.timing = value.strip()
            else:
                sd.extra.append((typ, value))
        else:
            current.extra.append((typ, value))

    if not seen_o:
        raise SdpError("missing o= line")
    # RFC 4566 §6: a session-level direction applies to media without their own.
    if session_direction:
        for m, explicit in zip(sd.media, explicit_dir):
            if not explicit:
                m.direction = session_direction
    return sd


# --------------------------------------------------------------------------- serialising

_SESSION_ORDER = {t: i for i, t in enumerate("vosiuepcbtrzka")}
_MEDIA_ORDER = {t: i for i, t in enumerate("micbka")}


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _serialise(sd: SessionDescription) -> str:
    out = [
        "v=0",
        f"o={sd.username} {sd.sess_id} {sd.sess_version} {sd.nettype} {sd.addrtype} {sd.address}",
        f"s={sd.session_name or '-'}",
    ]
    extras = sorted(sd.extra, key=lambda e: _SESSION_ORDER.get(e[0], 99))
    out += [f"{t}={v}" for t, v in extras if _SESSION_ORDER.get(t, 99) < _SESSION_ORDER["c"]]
    if sd.connection is not None:
        out.append(f"c=IN {_addrtype(sd.connection)} {sd.connection}")
    out += [f"{t}={v}" for t, v in extras if t == "b"]
    out.append(f"t={sd.timing}")
    out += [f"{t}={v}" for t, v in extras if _SESSION_ORDER.get(t, 99) > _SESSION_ORDER["t"]]
    out += [_attr(n, v) for n, v in sd.attributes]
    for m in sd.media:
        port = f"{m.port}/{m.port_count}" if m.port_count else str(m.port)
        out.append(" ".join(["m=" + m.media, port, m.proto, *m.fmt_strings()]))
        mextra = sorted(m.extra, key=lambda e: _MEDIA_ORDER.get(e[0], 99))
        out += [f"{t}={v}" for t, v in mextra if t == "i"]
        if m.connection is not None:
            out.append(f"c=IN {_addrtype(m.connection)} {m.connection}")
        out += [f"{t}={v}" for t, v in mextra if t != "i"]
        done: set[int] = set()
        for pt in [*m.formats, *m.rtpmap, *m.fmtp]:
            if pt in done:
                continue
            done.add(pt)
            if pt in m.rtpmap:
                enc, rate, ch = m.rtpmap[pt]
                out.append(f"a=rtpmap:{pt} {enc}/{rate}" + (f"/{ch}" if ch else ""))
            if pt in m.fmtp:
                out.append(f"a=fmtp:{pt} {m.fmtp[pt]}")
        out += [_attr(n, v) for n, v in m.attributes]
        if m.ptime:
            out.append(f"a=ptime:{m.ptime}")
        out.append(f"a={m.direction}")
    return "\r\n".join(out) + "\r\n"


def _attr(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


# --------------------------------------------------------------------------- helpers


def codec_of(m: MediaDescription, pt: int) -> tuple[str, int, int | None] | None:
    if pt in m.rtpmap:
        return m.rtpmap[pt]
    # Static types may be used without an rtpmap (RFC 3551); dynamic ones may not.
    return STATIC_PAYLOAD_TYPES.get(pt) if pt < 96 else None


def _is_hold_address(addr: str | None) -> bool:
    return addr is not None and addr.split("/")[0] in _HOLD_ADDRESSES


def _media_address(sd: SessionDescription, m: MediaDescription) -> str | None:
    addr = m.connection if m.connection is not None else sd.connection
    return addr.split("/")[0] if addr is not None else None


def audio_address(sd: SessionDescription) -> tuple[str, int]:
    """(ip, port) of the first audio stream.  Port 0 means rejected; ip 0.0.0.0 means hold."""
    m = sd.first_audio()
    if m is None:
        raise SdpError("no audio stream")
    addr = _media_address(sd, m)
    if addr is None:
        raise SdpError("no connection address for audio stream")
    return addr, m.port


def _flags(direction: str) -> tuple[bool, bool]:
    """direction -> (sends, receives)."""
    if direction not in DIRECTIONS:
        raise SdpError(f"bad direction {direction!r}")
    return direction in ("sendrecv", "sendonly"), direction in ("sendrecv", "recvonly")


def _direction(send: bool, recv: bool) -> str:
    return {(True, True): "sendrecv", (True, False): "sendonly",
            (False, True): "recvonly", (False, False): "inactive"}[(send, recv)]


def _effective_remote_direction(sd: SessionDescription, m: MediaDescription) -> str:
    send, recv = _flags(m.direction)
    if _is_hold_address(_media_address(sd, m)):
        recv = False  # RFC 2543 hold: the peer doesn't want to receive anything
    return _direction(send, recv)


def _mirror(remote: str) -> str:
    # RFC 3264 §6.1: we may send only if they receive, receive only if they send.
    send, recv = _flags(remote)
    return _direction(recv, send)


def is_hold(sd: SessionDescription) -> bool:
    """True if the first active audio stream signals hold: sendonly, inactive or c=0.0.0.0."""
    for m in sd.media:
        if m.media == "audio" and m.port != 0:
            return m.direction in ("sendonly", "inactive") or _is_hold_address(_media_address(sd, m))
    return False


def sdp_changed(previous: SessionDescription | None, new: SessionDescription) -> bool:
    """RFC 3264 §8: an unchanged o= version means the session description is unchanged."""
    if previous is None:
        return True
    def key(sd: SessionDescription) -> tuple:
        return (sd.username, sd.sess_id, sd.sess_version, sd.address)
    return key(previous) != key(new)


# --------------------------------------------------------------------------- offer/answer


@dataclass
class Negotiated:
    codec_name: str  # 'PCMU' | 'PCMA'
    payload_type: int  # pt we put on outgoing RTP (peer's numbering)
    dtmf_pt: int | None  # peer's telephone-event pt, None if not negotiated
    remote_ip: str
    remote_port: int
    remote_direction: str  # as written by the peer
    local_direction: str  # what we may do: sendrecv/sendonly/recvonly/inactive
    ptime: int = 20  # packetisation the peer asked for (a=ptime), default 20: we send it
    clock_rate: int = 8000
    remote_hold: bool = False  # peer signalled hold (sendonly/inactive/c=0.0.0.0)
    media_index: int = 0  # which m= line carries the audio

    @property
    def may_send(self) -> bool:
        return _flags(self.local_direction)[0]

    @property
    def may_receive(self) -> bool:
        return _flags(self.local_direction)[1]


def _canonical(name: str) -> str:
    up = name.upper()
    if up not in _AUDIO_CODECS:
        raise SdpError(f"unsupported codec {name!r}")
    return up


def _audio_media(port: int, codecs: list[str], dtmf_pt: int | None, direction: str,
                 ptime: int | None, dtmf_fmtp: str = "0-16", proto: str = "RTP/AVP",
                 pts: dict[str, int] | None = None) -> MediaDescription:
    m = MediaDescription(media="audio", port=port, proto=proto, direction=direction, ptime=ptime)
    for name in codecs:
        canon = _canonical(name)
        pt = (pts or {}).get(canon, _AUDIO_CODECS[canon][0])
        m.formats.append(pt)
        m.rtpmap[pt] = (canon, _AUDIO_CODECS[canon][1], None)
    if dtmf_pt is not None:
        if dtmf_pt in m.formats:
            raise SdpError(f"telephone-event pt {dtmf_pt} collides with a codec")
        m.formats.append(dtmf_pt)
        m.rtpmap[dtmf_pt] = ("telephone-event", 8000, None)
        m.fmtp[dtmf_pt] = dtmf_fmtp
    return m


def build_offer(local_ip: str, port: int, codecs: list[str] | tuple[str, ...] = ("PCMU", "PCMA"),
                dtmf_pt: int | None = 101, direction: str = "sendrecv", session_id: int = 0,
                version: int = 0, *, ptime: int | None = 20, username: str = "-",
                session_name: str = "-") -> SessionDescription:
    """Initial (or re-) offer with one audio stream; codecs in preference order."""
    _flags(direction)
    if dtmf_pt is not None and not 96 <= dtmf_pt <= 127:
        raise SdpError(f"telephone-event pt must be dynamic (96-127), got {dtmf_pt}")
    return SessionDescription(
        username=username, sess_id=session_id, sess_version=version,
        addrtype=_addrtype(local_ip), address=local_ip, session_name=session_name,
        connection=local_ip,
        media=[_audio_media(port, list(codecs), dtmf_pt, direction, ptime)],
    )


def _pick_telephone_event(m: MediaDescription, formats: list[int]) -> int | None:
    # Only 8 kHz events make sense alongside G.711; ignore e.g. telephone-event/48000.
    for pt in formats:
        enc = m.rtpmap.get(pt)
        if enc and enc[0].lower() == "telephone-event" and enc[1] == 8000:
            return pt
    return None


def _pick_codec(m: MediaDescription, supported: set[str]) -> tuple[int, str] | None:
    for pt in m.formats:
        enc = codec_of(m, pt)
        if enc is None:
            continue
        name, rate, channels = enc
        if name.upper() in supported and rate == 8000 and channels in (None, 1):
            return pt, name.upper()
    return None


def _usable_audio(m: MediaDescription) -> bool:
    return m.media == "audio" and m.port != 0 and m.proto.upper() in _RTP_PROTOS


def answer_offer(offer: SessionDescription, local_ip: str, port: int,
                 supported: list[str] | tuple[str, ...] = ("PCMU", "PCMA"),
                 session_id: int = 0, version: int = 0, hold: bool = False, *,
                 ptime: int | None = 20, username: str = "-",
                 session_name: str = "-") -> tuple[SessionDescription, Negotiated]:
    """Answer an offer (RFC 3264 §6).  Raises NoCommonCodec (an SdpError) -> SIP 488."""
    supported_set = {_canonical(s) for s in supported}
    answer = SessionDescription(
        username=username, sess_id=session_id, sess_version=version,
        addrtype=_addrtype(local_ip), address=local_ip, session_name=session_name,
        connection=local_ip, timing=offer.timing,  # t= must match the offer (RFC 3264 §6)
    )
    negotiated: Negotiated | None = None
    for index, om in enumerate(offer.media):
        chosen = None
        if negotiated is None and _usable_audio(om):
            chosen = _pick_codec(om, supported_set)
            remote_ip = _media_address(offer, om)
            if remote_ip is None:
                raise SdpError("no connection address for audio stream")
        if chosen is None:
            # Rejected stream: same media and proto, port 0, at least one format echoed.
            answer.media.append(MediaDescription(
                media=om.media, port=0, proto=om.proto,
                formats=om.formats[:1], format_tokens=om.format_tokens[:1],
                direction="inactive"))
            continue
        pt, name = chosen
        dtmf = _pick_telephone_event(om, om.formats)
        remote_dir = _effective_remote_direction(offer, om)
        local = _mirror(remote_dir)
        if hold:
            # RFC 3264 §8.4: holding means we stop receiving (sendrecv->sendonly, recvonly->inactive).
            local = _direction(_flags(local)[0], False)
        # a=ptime is what each side wants to receive: mirror the peer's (within what we
        # send, 10-120 ms) so a bridge between two 30 ms phones relays 30 ms both ways
        ours = om.ptime if om.ptime and PTIME_RANGE[0] <= om.ptime <= PTIME_RANGE[1] else ptime
        am = _audio_media(port, [name], None, local, ours, proto=om.proto, pts={name: pt})
        if dtmf is not None:
            am.formats.append(dtmf)
            am.rtpmap[dtmf] = ("telephone-event", 8000, None)
            am.fmtp[dtmf] = om.fmtp.get(dtmf, "0-15")
        answer.media.append(am)
        negotiated = Negotiated(
            codec_name=name, payload_type=pt, dtmf_pt=dtmf,
            remote_ip=remote_ip, remote_port=om.port,
            remote_direction=om.direction, local_direction=local,
            ptime=om.ptime or 20, remote_hold=is_hold_media(offer, om), media_index=index,
        )
    if negotiated is None:
        raise NoCommonCodec()
    return answer, negotiated


def is_hold_media(sd: SessionDescription, m: MediaDescription) -> bool:
    return m.direction in ("sendonly", "inactive") or _is_hold_address(_media_address(sd, m))


def process_answer(offer: SessionDescription, answer: SessionDescription) -> Negotiated:
    """Validate an answer to our offer and extract what was agreed (RFC 3264 §7)."""
    if len(answer.media) != len(offer.media):
        raise SdpError("answer has a different number of m= lines than the offer")
    for index, (om, am) in enumerate(zip(offer.media, answer.media)):
        if om.media != am.media:
            raise SdpError(f"m= line {index} media type changed in answer")
        if not (_usable_audio(om) and am.port != 0):
            continue
        # Match by codec name: the answerer SHOULD keep our numbering, but send with theirs.
        offered = set()
        for pt in om.formats:
            enc = codec_of(om, pt)
            if enc and enc[0].upper() in _AUDIO_CODECS:
                offered.add(enc[0].upper())
        chosen = _pick_codec(am, offered)
        if chosen is None:
            continue
        pt, name = chosen
        offered_dtmf = _pick_telephone_event(om, om.formats) is not None
        dtmf = _pick_telephone_event(am, am.formats) if offered_dtmf else None
        remote_ip = _media_address(answer, am)
        if remote_ip is None:
            raise SdpError("no connection address for audio stream")
        remote_dir = _effective_remote_direction(answer, am)
        ours = _flags(om.direction)
        mirrored = _flags(_mirror(remote_dir))
        local = _direction(ours[0] and mirrored[0], ours[1] and mirrored[1])
        return Negotiated(
            codec_name=name, payload_type=pt, dtmf_pt=dtmf,
            remote_ip=remote_ip, remote_port=am.port,
            remote_direction=am.direction, local_direction=local,
            ptime=am.ptime or 20, remote_hold=is_hold_media(answer, am), media_index=index,
        )
    raise NoCommonCodec()


def reoffer(previous: SessionDescription, direction: str | None = None,
            port: int | None = None) -> SessionDescription:
    """Copy of our last SDP with o= version bumped (RFC 3264 §8) and optionally new direction/port."""
    sd = copy.deepcopy(previous)
    sd.sess_version += 1
    for m in sd.media:
        if m.media == "audio" and m.port != 0:
            if direction is not None:
                _flags(direction)
                m.direction = direction
            if port is not None:
                m.port = port
            break
    return sd


def hold_offer(previous: SessionDescription) -> SessionDescription:
    """Re-offer putting the peer on hold: stop receiving (sendrecv->sendonly, recvonly->inactive)."""
    m = previous.first_audio()
    current = m.direction if m is not None else "sendrecv"
    return reoffer(previous, _direction(_flags(current)[0], False))


def resume_offer(previous: SessionDescription, direction: str = "sendrecv") -> SessionDescription:
    return reoffer(previous, direction)
