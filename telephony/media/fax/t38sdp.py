"""T.38 in SDP: the `m=image <port> udptl t38` section of a re-INVITE, offer and answer
(RFC 3264 with T.38 Annex D) -- sans-IO.

What gateways send when they switch a call to T.38: Cisco IOS and Asterisk an image
section alone (`m=image 17682 udptl t38`, often with a media-level c=), FreeSWITCH the
same, AudioCodes and Brooktrout the audio section next to it (live, or disabled with
port 0).  An offer with a live image section is a T.38 offer; the audio next to it is
answered rejected (port 0) since the call moves to T.38.  The T38Fax* attributes are
t38params.py's.
"""
from __future__ import annotations

from dataclasses import dataclass

from ... import sdp
from .t38params import T38Params, T38ParamsError, answer

__all__ = ['T38Media', 'offers_t38', 't38_media', 'build_t38_offer', 'answer_t38',
           'process_t38_answer']


@dataclass(frozen=True)
class T38Media:
    """The far end's T.38 stream: where its UDPTL goes and what it signalled."""
    address: tuple[str, int]
    params: T38Params
    index: int               # which m= line


def _is_t38(m: sdp.MediaDescription) -> bool:
    return (m.media.lower() == 'image' and m.proto.lower() == 'udptl'
            and [t.lower() for t in m.fmt_strings()] == ['t38'])


def offers_t38(sd: sdp.SessionDescription) -> bool:
    """Has a live (port != 0) image/udptl/t38 section."""
    return any(_is_t38(m) and m.port != 0 for m in sd.media)


def t38_media(sd: sdp.SessionDescription) -> T38Media:
    """The first live T.38 section; `T38ParamsError` when there is none or it is unusable
    (no address, bad attributes): the SIP answer is 488."""
    for index, m in enumerate(sd.media):
        if not (_is_t38(m) and m.port != 0):
            continue
        host = m.connection or sd.connection
        if host is None or host in ('0.0.0.0', '::'):
            raise T38ParamsError('no connection address for the T.38 stream')
        attrs = [name if value is None else f'{name}:{value}' for name, value in m.attributes]
        return T38Media((host, m.port), T38Params.from_attributes(attrs), index)
    raise T38ParamsError('no T.38 stream (m=image udptl t38) in the SDP')


def _image(port: int, params: T38Params) -> sdp.MediaDescription:
    m = sdp.MediaDescription(media='image', port=port, proto='udptl', format_tokens=['t38'])
    for attr in params.to_attributes():
        name, sep, value = attr.partition(':')
        m.attributes.append((name, value if sep else None))
    return m


def _session(local_ip: str, session_id: int, version: int,
             timing: str = '0 0') -> sdp.SessionDescription:
    return sdp.SessionDescription(
        sess_id=session_id, sess_version=version, addrtype='IP6' if ':' in local_ip else 'IP4',
        address=local_ip, connection=local_ip, timing=timing)


def build_t38_offer(local_ip: str, port: int, params: T38Params, *, session_id: int = 0,
                    version: int = 0) -> sdp.SessionDescription:
    """Our re-INVITE offer: one image section, as Cisco and Asterisk send it."""
    sd = _session(local_ip, session_id, version)
    sd.media.append(_image(port, params))
    return sd


def answer_t38(offer: sdp.SessionDescription, local_ip: str, port: int, ours: T38Params, *,
               session_id: int = 0, version: int = 0
               ) -> tuple[sdp.SessionDescription, T38Params, T38Media]:
    """Our answer to a T.38 offer: (the SDP, the params we signal, the far end's stream).
    Every other m= line is answered rejected (port 0, RFC 3264 §6).  Raises
    `T38ParamsError` for an offer we cannot take."""
    theirs = t38_media(offer)
    local = answer(theirs.params, ours)
    sd = _session(local_ip, session_id, version, offer.timing)
    for index, om in enumerate(offer.media):
        if index == theirs.index:
            sd.media.append(_image(port, local))
        else:
            sd.media.append(sdp.MediaDescription(
                media=om.media, port=0, proto=om.proto, formats=om.formats[:1],
                format_tokens=om.format_tokens[:1], direction='inactive'))
    return sd, local, theirs


def process_t38_answer(offer: sdp.SessionDescription,
                       answer_sd: sdp.SessionDescription) -> T38Media:
    """The far end's T.38 stream from its answer to our offer; `T38ParamsError` when it
    refused the image section (port 0) or answered something else."""
    if len(answer_sd.media) != len(offer.media):
        raise T38ParamsError('the answer has a different number of m= lines than the offer')
    return t38_media(answer_sd)
