"""T.38 session parameters of SDP (`m=image <port> udptl t38`, ITU-T T.38 Annex D,
RFC 4612) and their offer/answer -- sans-IO.

    a=T38FaxVersion:0
    a=T38MaxBitRate:14400
    a=T38FaxRateManagement:transferredTCF
    a=T38FaxMaxBuffer:2000
    a=T38FaxMaxDatagram:400
    a=T38FaxUdpEC:t38UDPRedundancy
    a=T38FaxFillBitRemoval            (a flag; also T38FaxTranscodingMMR/JBIG)

Names are matched without regard to case (phones spell them both ways); unknown
attributes are passed over.  T38FaxMaxDatagram is what the side that wrote it can
receive: the other side's UDPTL datagrams must fit in it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

__all__ = ['T38Params', 'T38ParamsError', 'answer', 'session_options', 'OURS']

RATES = (2400, 4800, 7200, 9600, 12000, 14400, 16800, 19200, 21600, 24000, 26400, 28800,
         31200, 33600)
MAX_VERSION = 3
REDUNDANCY = 't38UDPRedundancy'
FEC = 't38UDPFEC'
TRANSFERRED_TCF = 'transferredTCF'
LOCAL_TCF = 'localTCF'
_MAX_ATTRIBUTES = 64    # attribute lines read from one media section


class T38ParamsError(ValueError):
    """An offer we cannot take: the SIP answer is 488 with this text."""


@dataclass(frozen=True)
class T38Params:
    version: int = 0
    max_bit_rate: int = 14400
    rate_management: str = TRANSFERRED_TCF
    max_buffer: int | None = None
    max_datagram: int | None = None
    udp_ec: str | None = REDUNDANCY       # None: no error correction
    fill_bit_removal: bool = False
    transcoding_mmr: bool = False
    transcoding_jbig: bool = False

    @classmethod
    def from_attributes(cls, attributes: Iterable[str]) -> 'T38Params':
        """From the a= values of an image/udptl/t38 media section ('T38FaxVersion:0')."""
        fields: dict = {'udp_ec': None}
        for n, attr in enumerate(attributes):
            if n >= _MAX_ATTRIBUTES:
                raise T38ParamsError('too many attributes in the T.38 media section')
            name, _, value = attr.strip().partition(':')
            key = name.strip().lower()
            value = value.strip()
            if key == 't38faxversion':
                fields['version'] = _int(name, value, 0, 255)
            elif key == 't38maxbitrate':
                fields['max_bit_rate'] = _int(name, value, 300, 100000)
            elif key == 't38faxratemanagement':
                if value.lower() not in (TRANSFERRED_TCF.lower(), LOCAL_TCF.lower()):
                    raise T38ParamsError(f'T38FaxRateManagement {value!r} is not known')
                fields['rate_management'] = (TRANSFERRED_TCF if value.lower()
                                             == TRANSFERRED_TCF.lower() else LOCAL_TCF)
            elif key == 't38faxmaxbuffer':
                fields['max_buffer'] = _int(name, value, 1, 1 << 20)
            elif key == 't38faxmaxdatagram':
                fields['max_datagram'] = _int(name, value, 1, 65535)
            elif key == 't38faxudpec':
                ec = {REDUNDANCY.lower(): REDUNDANCY, FEC.lower(): FEC}.get(value.lower())
                fields['udp_ec'] = ec    # an unknown scheme is no scheme we share
            elif key in _FLAGS:
                fields[_FLAGS[key]] = value not in ('0', 'false')
        return cls(**fields)

    def to_attributes(self) -> list[str]:
        out = [f'T38FaxVersion:{self.version}', f'T38MaxBitRate:{self.max_bit_rate}',
               f'T38FaxRateManagement:{self.rate_management}']
        if self.max_buffer is not None:
            out.append(f'T38FaxMaxBuffer:{self.max_buffer}')
        if self.max_datagram is not None:
            out.append(f'T38FaxMaxDatagram:{self.max_datagram}')
        if self.udp_ec is not None:
            out.append(f'T38FaxUdpEC:{self.udp_ec}')
        for key, field in _FLAGS.items():
            if getattr(self, field):
                out.append(_FLAG_NAMES[key])
        return out


_FLAGS = {'t38faxfillbitremoval': 'fill_bit_removal', 't38faxtranscodingmmr': 'transcoding_mmr',
          't38faxtranscodingjbig': 'transcoding_jbig'}
_FLAG_NAMES = {'t38faxfillbitremoval': 'T38FaxFillBitRemoval',
               't38faxtranscodingmmr': 'T38FaxTranscodingMMR',
               't38faxtranscodingjbig': 'T38FaxTranscodingJBIG'}

#: what we offer: spandsp's terminal does V.17 at most, takes any UDPTL datagram up to 400
OURS = T38Params(version=0, max_bit_rate=14400, max_buffer=2000, max_datagram=400)


def _int(name: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or len(value) > 7 or not low <= int(value) <= high:
        raise T38ParamsError(f'{name} {value!r} is not a number in {low}..{high}')
    return int(value)


def answer(offer: T38Params, ours: T38Params = OURS) -> T38Params:
    """Our answer to a T.38 offer: the lower version and rate, the same rate management,
    redundancy when the offer has any error correction (we do no FEC), no fill-bit
    removal or transcoding (spandsp's terminal does not do them)."""
    if offer.rate_management != TRANSFERRED_TCF:
        raise T38ParamsError('T38FaxRateManagement localTCF is not supported over UDPTL')
    if offer.max_datagram is not None and offer.max_datagram < 32:
        raise T38ParamsError(f'T38FaxMaxDatagram {offer.max_datagram} is too small')
    rate = max((r for r in RATES if r <= min(offer.max_bit_rate, ours.max_bit_rate)),
               default=None)
    if rate is None:
        raise T38ParamsError(f'T38MaxBitRate {offer.max_bit_rate} is below 2400')
    return replace(ours, version=min(offer.version, ours.version, MAX_VERSION),
                   max_bit_rate=rate, udp_ec=REDUNDANCY if offer.udp_ec else None,
                   fill_bit_removal=False, transcoding_mmr=False, transcoding_jbig=False)


def session_options(local: T38Params, remote: T38Params) -> dict:
    """T38FaxSession keyword arguments for the agreed parameters: `local` is what we
    signalled, `remote` what the peer did (its datagram size bounds what we send)."""
    return {'version': min(local.version, remote.version),
            'redundancy': 3 if local.udp_ec == REDUNDANCY and remote.udp_ec else 0,
            'max_datagram': remote.max_datagram if remote.max_datagram is not None else 400}
