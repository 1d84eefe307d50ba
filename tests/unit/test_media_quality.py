"""media/quality.py: an endpoint's stats as CMS §8.3.6 rxAudio/txAudio, and Pexip's call
quality buckets over packet loss (< 1 good, < 3 ok, < 10 bad, else terrible)."""
import pytest

from telephony.media.quality import (QualityWindows, alarms, audio_status, bit_rate, call_quality,
                                     leg_quality, loss_percent)


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


# --- Pexip's windows: 20 s each, the most frequent bucket of the last three -------------------

def counted(lost=0, arrived=0, remote_lost=None, sent=0) -> dict:
    return stats(lost=lost, packets_received=arrived, remote_lost=remote_lost, packets_sent=sent)


def test_before_a_window_ends_the_running_one_counts_from_the_calls_start():
    w = QualityWindows()
    assert w.quality(counted(), 100.0, since=100.0) == '0_unknown'       # no packet yet
    assert w.quality(counted(lost=5, arrived=95), 110.0, since=100.0) == '3_bad'
    assert w.start == 100.0 and not w.buckets


def test_a_window_is_judged_by_its_own_loss_not_the_whole_calls():
    w = QualityWindows()
    w.quality(counted(), 0.0, since=0.0)
    assert w.quality(counted(lost=50, arrived=950), 20.0, since=0.0) == '3_bad'   # 5 %
    # the next two windows lose nothing: two good of three
    assert w.quality(counted(lost=50, arrived=1950), 40.0, since=0.0) == '3_bad'  # a tie: worse
    assert w.quality(counted(lost=50, arrived=2950), 60.0, since=0.0) == '1_good'
    assert list(w.buckets) == ['3_bad', '1_good', '1_good']
    # cumulative loss is 1.7 % (2_ok); three clean windows later the bad one is forgotten
    assert w.quality(counted(lost=50, arrived=3950), 80.0, since=0.0) == '1_good'
    assert list(w.buckets) == ['1_good'] * 3


def test_windows_without_a_read_share_the_loss_measured_over_them():
    w = QualityWindows()
    w.quality(counted(), 0.0, since=0.0)
    assert w.quality(counted(lost=200, arrived=1800), 65.0, since=0.0) == '4_terrible'
    assert list(w.buckets) == ['4_terrible'] * 3 and w.start == 60.0
    assert w.base == (200, 1800, None, 0)            # one snapshot, no history per packet


def test_the_worse_direction_counts_and_the_far_ends_reports_join_later():
    w = QualityWindows()
    w.quality(counted(sent=0), 0.0, since=0.0)
    # rx clean, tx: the far end lost 2 of 100 once its reports came
    assert w.quality(counted(arrived=1000, remote_lost=2, sent=100), 21.0, since=0.0) == '2_ok'


def test_a_new_ssrc_counts_from_zero():
    w = QualityWindows(start=0.0, base=(40, 4000, None, 0))
    assert w.quality(counted(lost=0, arrived=500), 20.0, since=0.0) == '1_good'
