"""media/quality.py: an endpoint's stats as CMS §8.3.6 rxAudio/txAudio, and Pexip's call
quality buckets over packet loss (< 1 good, < 3 ok, < 10 bad, else terrible)."""
import pytest

from telephony.media.quality import (alarms, audio_status, bit_rate, call_quality, leg_quality,
                                     loss_percent)


def stats(**over):
    base = {'codec': 'PCMA', 'packets_sent': 500, 'octets_sent': 80000,
            'packets_received': 990, 'octets_received': 158400, 'lost': 10,
            'fraction_lost': 0.0, 'jitter_ms': 2.4, 'rtt_ms': 65.6, 'remote_lost': 25,
            'remote_fraction_lost': 0.05, 'remote_jitter_ms': 7.5}
    return {**base, **over}


@pytest.mark.parametrize('loss, bucket', [
    (None, '0_unknown'), (0.0, '1_good'), (0.99, '1_good'), (1.0, '2_ok'), (2.9, '2_ok'),
    (3.0, '3_bad'), (9.99, '3_bad'), (10.0, '4_terrible'), (100.0, '4_terrible')])
def test_buckets_have_the_documents_bounds(loss, bucket):
    assert call_quality(loss) == bucket


def test_loss_is_lost_out_of_expected():
    assert loss_percent(10, 990) == 1.0
    assert loss_percent(0, 0) is None            # nothing expected yet: unknown, not 0 %
    assert loss_percent(None, 5) is None
    assert loss_percent(-3, 100) == 0.0           # RFC 3550 loss below zero (duplicates)


def test_bit_rate_is_bytes_over_time():
    assert bit_rate(160000, 10.0) == 128000
    assert bit_rate(100, 0.0) is None


def test_both_directions_in_the_documents_names():
    audio = audio_status(stats(), seconds=10.0)
    assert audio['rxAudio'] == {'codec': 'g711a', 'packetLossPercentage': 1.0, 'jitter': 2,
                                'bitRate': 126720}
    # txAudio: what the far end's RTCP receiver reports say of our 500 packets
    assert audio['txAudio'] == {'codec': 'g711a', 'packetLossPercentage': 5.0, 'jitter': 8,
                                'bitRate': 64000, 'roundTripTime': 66}
    assert leg_quality(audio) == '3_bad'           # the worse direction counts


def test_no_receiver_report_leaves_tx_figures_out():
    audio = audio_status(stats(codec='PCMU', rtt_ms=None, remote_lost=None,
                               remote_jitter_ms=None, lost=0), seconds=1.0)
    assert audio['txAudio']['codec'] == 'g711u'
    assert [audio['txAudio'][k] for k in ('packetLossPercentage', 'jitter', 'roundTripTime')] \
        == [None, None, None]
    assert leg_quality(audio) == '1_good'
    silent = audio_status(stats(packets_received=0, lost=0, remote_lost=None), seconds=1.0)
    assert leg_quality(silent) == '0_unknown'       # no packet either way yet


def test_alarms_at_their_thresholds():
    def figures(loss=0.0, jitter=0, rtt=None):
        return {'rxAudio': {'packetLossPercentage': loss, 'jitter': jitter},
                'txAudio': {'packetLossPercentage': None, 'jitter': None, 'roundTripTime': rtt}}
    assert alarms(figures()) == []
    assert alarms(figures(loss=2.9, jitter=39, rtt=299)) == []
    assert alarms(figures(loss=3.0, jitter=40, rtt=300)) == \
        ['packetLoss', 'excessiveJitter', 'highRoundTripTime']
    assert alarms(audio_status(stats(), 10.0)) == ['packetLoss']   # tx lost 5 %
