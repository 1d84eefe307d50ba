"""T.38 in SDP (media/fax/t38sdp.py): what gateways send in a re-INVITE, our answer and
our own offer."""
from __future__ import annotations

import pytest

from telephony import sdp
from telephony.media.fax.t38params import OURS, T38Params, T38ParamsError
from telephony.media.fax.t38sdp import (answer_t38, build_t38_offer, offers_t38,
                                        process_t38_answer, t38_media)

# Cisco IOS's switchover re-INVITE (its own c= in the image section, flags written ":0")
CISCO = ('v=0\r\no=CiscoSystemsSIP-GW-UserAgent 3745 9509 IN IP4 10.0.0.2\r\ns=SIP Call\r\n'
         'c=IN IP4 10.0.0.2\r\nt=0 0\r\nm=image 17682 udptl t38\r\nc=IN IP4 10.0.0.3\r\n'
         'a=T38FaxVersion:0\r\na=T38MaxBitRate:7200\r\na=T38FaxFillBitRemoval:0\r\n'
         'a=T38FaxTranscodingMMR:0\r\na=T38FaxTranscodingJBIG:0\r\n'
         'a=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxBuffer:200\r\n'
         'a=T38FaxMaxDatagram:180\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n')
# AudioCodes: the audio stream next to the image one, both live
AUDIOCODES = ('v=0\r\no=AudiocodesGW 1938931006 1938930708 IN IP4 10.8.6.55\r\ns=Phone-Call\r\n'
              'c=IN IP4 10.8.6.55\r\nt=0 0\r\nm=audio 6010 RTP/AVP 18 97\r\n'
              'a=rtpmap:18 G729/8000\r\na=rtpmap:97 telephone-event/8000\r\na=sendrecv\r\n'
              'm=image 6012 udptl t38\r\na=T38FaxVersion:3\r\na=T38MaxBitRate:33600\r\n'
              'a=T38FaxMaxBuffer:1024\r\na=T38FaxMaxDatagram:122\r\n'
              'a=T38FaxRateManagement:transferredTCF\r\na=T38FaxUdpEC:t38UDPRedundancy\r\n')
# FreeSWITCH-style: the audio disabled (port 0) before the image section
AUDIO_OFF = ('v=0\r\no=FreeSWITCH 1 2 IN IP4 192.0.2.9\r\ns=FreeSWITCH\r\nc=IN IP4 192.0.2.9\r\n'
             't=0 0\r\nm=audio 0 RTP/AVP 0\r\nm=image 4002 udptl t38\r\n'
             'a=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\na=T38FaxFillBitRemoval\r\n'
             'a=T38FaxRateManagement:transferredTCF\r\na=T38FaxUdpEC:t38UDPFEC\r\n')


def test_cisco_offer_is_t38_with_its_media_address_and_params():
    offer = sdp.parse_sdp(CISCO)
    assert offers_t38(offer)
    m = t38_media(offer)
    assert m.address == ('10.0.0.3', 17682) and m.index == 0
    assert m.params == T38Params(version=0, max_bit_rate=7200, max_buffer=200, max_datagram=180)


def test_answer_to_cisco_has_our_port_and_the_lower_rate():
    answer, local, theirs = answer_t38(sdp.parse_sdp(CISCO), '127.0.0.1', 30000, OURS,
                                       session_id=7, version=3)
    assert local.max_bit_rate == 7200 and local.udp_ec == 't38UDPRedundancy'
    text = answer.to_bytes().decode()
    assert 'm=image 30000 udptl t38\r\n' in text and 'c=IN IP4 127.0.0.1\r\n' in text
    assert 'o=- 7 3 IN IP4 127.0.0.1' in text
    back = t38_media(sdp.parse_sdp(text))      # what the peer reads from our answer
    assert back.address == ('127.0.0.1', 30000) and back.params == local
    assert theirs.params.max_datagram == 180


def test_audio_next_to_image_is_answered_rejected():
    offer = sdp.parse_sdp(AUDIOCODES)
    answer, local, theirs = answer_t38(offer, '127.0.0.1', 30000, OURS)
    assert [(m.media, m.port) for m in answer.media] == [('audio', 0), ('image', 30000)]
    assert theirs.index == 1 and theirs.address == ('10.8.6.55', 6012)
    assert local.version == 0 and local.max_bit_rate == 14400   # spandsp has no V.34
    assert process_t38_answer(offer, answer).address == ('127.0.0.1', 30000)


def test_disabled_audio_and_fec_offer():
    offer = sdp.parse_sdp(AUDIO_OFF)
    answer, local, _ = answer_t38(offer, '127.0.0.1', 30002, OURS)
    assert answer.media[0].port == 0 and answer.media[0].media == 'audio'
    assert local.udp_ec == 't38UDPRedundancy' and not local.fill_bit_removal


def test_audio_offer_and_image_port_zero_are_not_t38():
    audio = sdp.build_offer('127.0.0.1', 4000)
    assert not offers_t38(audio)
    off = sdp.parse_sdp(CISCO.replace('m=image 17682', 'm=image 0'))
    assert not offers_t38(off)
    with pytest.raises(T38ParamsError, match='no T.38 stream'):
        t38_media(off)


@pytest.mark.parametrize('change, reason', [
    (('a=T38FaxRateManagement:transferredTCF', 'a=T38FaxRateManagement:localTCF'), 'localTCF'),
    (('a=T38MaxBitRate:7200', 'a=T38MaxBitRate:fast'), 'T38MaxBitRate'),
    (('a=T38FaxMaxDatagram:180', 'a=T38FaxMaxDatagram:8'), 'too small'),
    (('c=IN IP4 10.0.0.3', 'c=IN IP4 0.0.0.0'), 'no connection address'),
])
def test_offers_we_cannot_take_say_why(change, reason):
    offer = sdp.parse_sdp(CISCO.replace(*change))
    with pytest.raises(T38ParamsError, match=reason):
        answer_t38(offer, '127.0.0.1', 30000, OURS)


def test_image_with_other_formats_is_not_t38():
    offer = sdp.parse_sdp(CISCO.replace('udptl t38', 'udptl t38 jpeg'))
    assert not offers_t38(offer)
    offer = sdp.parse_sdp(CISCO.replace('udptl t38', 'UDPTL T38'))   # case is not meaning
    assert offers_t38(offer)


def test_our_offer_and_the_answers_to_it():
    offer = build_t38_offer('127.0.0.1', 31000, OURS, session_id=5, version=9)
    text = offer.to_bytes().decode()
    assert text.startswith('v=0\r\no=- 5 9 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n')
    assert 'm=image 31000 udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n' in text
    assert 'a=T38FaxMaxDatagram:400\r\n' in text and 'a=T38FaxUdpEC:t38UDPRedundancy\r\n' in text
    # a gateway answering it
    reply = sdp.parse_sdp(CISCO)
    assert process_t38_answer(offer, reply).params.max_datagram == 180
    refused = sdp.parse_sdp(CISCO.replace('m=image 17682', 'm=image 0'))
    with pytest.raises(T38ParamsError):
        process_t38_answer(offer, refused)
    with pytest.raises(T38ParamsError, match='number of m= lines'):
        process_t38_answer(offer, sdp.parse_sdp(AUDIOCODES))
