"""T.38 SDP parameters: parsing, writing, offer/answer."""
import pytest

from telephony.media.fax.t38params import (
    OURS,
    T38Params,
    T38ParamsError,
    answer,
    session_options,
)

# as a typical gateway offers them in its re-INVITE
OFFER = ['T38FaxVersion:0', 'T38MaxBitRate:14400', 'T38FaxRateManagement:transferredTCF',
         'T38FaxMaxBuffer:262', 'T38FaxMaxDatagram:176', 'T38FaxUdpEC:t38UDPRedundancy',
         'T38FaxFillBitRemoval', 'rtpmap:0 PCMU/8000']


def test_an_offer_is_read():
    p = T38Params.from_attributes(OFFER)
    assert p == T38Params(version=0, max_bit_rate=14400, rate_management='transferredTCF',
                          max_buffer=262, max_datagram=176, udp_ec='t38UDPRedundancy',
                          fill_bit_removal=True)


def test_names_and_values_in_any_case():
    p = T38Params.from_attributes(['t38faxversion:1', 'T38FAXUDPEC:T38UDPFEC',
                                   't38faxratemanagement:TransferredTCF'])
    assert (p.version, p.udp_ec, p.rate_management) == (1, 't38UDPFEC', 'transferredTCF')


def test_no_udp_ec_attribute_means_none():
    assert T38Params.from_attributes(['T38FaxVersion:0']).udp_ec is None


def test_a_flag_with_value_zero_is_off():
    assert not T38Params.from_attributes(['T38FaxFillBitRemoval:0']).fill_bit_removal


def test_written_attributes_read_back():
    assert T38Params.from_attributes(OURS.to_attributes()) == OURS
    assert OURS.to_attributes() == [
        'T38FaxVersion:0', 'T38MaxBitRate:14400', 'T38FaxRateManagement:transferredTCF',
        'T38FaxMaxBuffer:2000', 'T38FaxMaxDatagram:400', 'T38FaxUdpEC:t38UDPRedundancy']


@pytest.mark.parametrize('attr', ['T38FaxVersion:x', 'T38MaxBitRate:-1', 'T38FaxMaxDatagram:0',
                                  'T38FaxMaxDatagram:99999999', 'T38FaxRateManagement:weird',
                                  'T38FaxMaxBuffer:'])
def test_bad_values_are_refused(attr):
    with pytest.raises(T38ParamsError):
        T38Params.from_attributes([attr])


def test_too_many_attributes_are_refused():
    with pytest.raises(T38ParamsError, match='too many'):
        T38Params.from_attributes(['x-foo:1'] * 65)


def test_answer_takes_the_lower_version_and_rate_and_drops_what_spandsp_lacks():
    offer = T38Params.from_attributes(['T38FaxVersion:3', 'T38MaxBitRate:33600',
                                       'T38FaxUdpEC:t38UDPFEC', 'T38FaxTranscodingJBIG'])
    a = answer(offer)
    assert (a.version, a.max_bit_rate, a.udp_ec) == (0, 14400, 't38UDPRedundancy')
    assert not (a.fill_bit_removal or a.transcoding_jbig or a.transcoding_mmr)
    assert a.max_datagram == 400


def test_answer_rounds_an_odd_rate_down_and_keeps_no_ec():
    a = answer(T38Params(max_bit_rate=10000, udp_ec=None))
    assert a.max_bit_rate == 9600 and a.udp_ec is None


@pytest.mark.parametrize('offer, why', [
    (T38Params(rate_management='localTCF'), 'localTCF'),
    (T38Params(max_datagram=20), 'too small'),
    (T38Params(max_bit_rate=1200), 'below 2400'),
])
def test_offers_we_cannot_take(offer, why):
    with pytest.raises(T38ParamsError, match=why):
        answer(offer)


def test_session_options_follow_the_peers_datagram_size():
    remote = T38Params.from_attributes(OFFER)
    assert session_options(answer(remote), remote) == {
        'version': 0, 'redundancy': 3, 'max_datagram': 176}
    assert session_options(OURS, T38Params(udp_ec=None))['redundancy'] == 0
    assert session_options(OURS, T38Params())['max_datagram'] == 400
