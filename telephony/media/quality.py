"""A leg's media statistics as the Cisco callLeg `<status>` shows them (CMS §8.3.6: `rxAudio`
and `txAudio` with codec, packetLossPercentage, jitter, bitRate, roundTripTime) and Pexip's
call quality over packet loss ("< 1% packet loss is perceived as Good quality; < 3% is OK;
< 10% is Bad; otherwise it is Terrible", 0 = Unknown), judged per 20 s window as Pexip does
(`QualityWindows`). Pure: an endpoint's `stats()` dict and the seconds it covers in, plain
values out."""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

CODEC_NAMES = {'PCMA': 'g711a', 'PCMU': 'g711u'}   # §8.3.6's codec names
QUALITY = ('0_unknown', '1_good', '2_ok', '3_bad', '4_terrible')   # Pexip's call_quality
_BOUNDS = (1.0, 3.0, 10.0)   # upper bounds (exclusive) of good, ok, bad


def loss_percent(lost: int | None, arrived: int | None) -> float | None:
    """Lost out of expected (arrived + lost), in percent; None without packets."""
    if lost is None or arrived is None:
        return None
    lost = max(0, lost)            # RFC 3550 cumulative loss goes negative with duplicates
    expected = arrived + lost
    return round(100.0 * lost / expected, 1) if expected else None


def call_quality(loss: float | None) -> str:
    """Pexip's bucket of a packet loss percentage; unknown before any packet."""
    if loss is None:
        return QUALITY[0]
    for i, bound in enumerate(_BOUNDS, start=1):
        if loss < bound:
            return QUALITY[i]
    return QUALITY[4]


def bit_rate(octets: int, seconds: float) -> int | None:
    """Bits per second over `seconds`; None over no time at all."""
    return int(octets * 8 / seconds) if seconds > 0 else None


def audio_status(stats: dict, seconds: float) -> dict[str, dict]:
    """`rxAudio` (what we receive from the leg) and `txAudio` (what we send it, as its
    RTCP receiver reports tell): the §8.3.6 fields, None where nothing tells (no report yet).
    `seconds`: how long the figures have been counted (the leg's time in the call)."""
    codec = CODEC_NAMES.get(stats.get('codec', ''), str(stats.get('codec', '')).lower())
    rx = {'codec': codec,
          'packetLossPercentage': loss_percent(stats['lost'], stats['packets_received']),
          'jitter': round(stats['jitter_ms']),
          'bitRate': bit_rate(stats['octets_received'], seconds)}
    remote_jitter = stats.get('remote_jitter_ms')
    rtt = stats.get('rtt_ms')
    remote_lost = stats.get('remote_lost')
    tx = {'codec': codec,
          'packetLossPercentage': None if remote_lost is None else
          loss_percent(remote_lost, max(0, stats['packets_sent'] - max(0, remote_lost))),
          'jitter': None if remote_jitter is None else round(remote_jitter),
          'bitRate': bit_rate(stats['octets_sent'], seconds),
          'roundTripTime': None if rtt is None else round(rtt)}
    return {'rxAudio': rx, 'txAudio': tx}


def leg_quality(audio: dict[str, dict]) -> str:
    """The worse of both directions, as Pexip looks at "packet loss in both directions"."""
    losses = [d['packetLossPercentage'] for d in audio.values()
              if d.get('packetLossPercentage') is not None]
    return call_quality(max(losses) if losses else None)


# Pexip: "packet loss in both directions (Tx and Rx) over multiple 20 second time windows";
# "call_quality is the most frequently occurring call quality calculation in the last 3 windows"
WINDOW = 20.0
WINDOWS = 3


def _counters(stats: dict) -> tuple[int, int, int | None, int]:
    """(rx lost, rx arrived, tx lost as the far end reports, tx sent)."""
    return (max(0, stats['lost']), stats['packets_received'], stats.get('remote_lost'),
            stats['packets_sent'])


@dataclass
class QualityWindows:
    """A leg's call quality over Pexip's windows, from one snapshot of the loss counters at
    the start of the running window and the buckets of the last WINDOWS windows: no history
    per packet. Windows are WINDOW seconds from `since` (the join) on; the first one also
    holds what was counted before it, as the figures shown do. Fed when it is read: the
    windows that passed since the last read share the loss measured over them (reads come
    at least every conference_status_interval while someone follows the room)."""
    start: float | None = None
    base: tuple = (0, 0, None, 0)
    buckets: deque = field(default_factory=lambda: deque(maxlen=WINDOWS))

    def quality(self, stats: dict, now: float, since: float) -> str:
        """The most frequent bucket of the last windows (a tie goes to the worse one); the
        running window's so far while none has ended."""
        if self.start is None:
            self.start = since
        counters = _counters(stats)
        passed = int((now - self.start) // WINDOW) if now > self.start else 0
        if passed:
            bucket = call_quality(_window_loss(self.base, counters))
            self.buckets.extend([bucket] * min(passed, WINDOWS))
            self.start += passed * WINDOW
            self.base = counters
        if not self.buckets:
            return call_quality(_window_loss(self.base, counters))
        counts = Counter(self.buckets)
        return max(counts, key=lambda b: (counts[b], QUALITY.index(b)))


def _window_loss(base: tuple, now: tuple) -> float | None:
    """The worse direction's loss between two snapshots; a counter that went back (a new
    SSRC starts its own) counts from zero."""
    def delta(i: int) -> int | None:
        if now[i] is None:
            return None
        before = base[i] or 0
        return now[i] - before if now[i] >= before else now[i]
    rx_lost, rx_arrived, tx_lost, tx_sent = (delta(i) for i in range(4))
    losses = [loss_percent(rx_lost, rx_arrived)]
    if tx_lost is not None:
        losses.append(loss_percent(tx_lost, max(0, tx_sent - tx_lost)))
    known = [x for x in losses if x is not None]
    return max(known) if known else None


# §8.3.1 call leg alarms; the thresholds are ours (the document leaves them to the server)
ALARMS = ('packetLoss', 'excessiveJitter', 'highRoundTripTime')
ALARM_LOSS = 3.0        # % either way: from Pexip's "bad" on
ALARM_JITTER = 40       # ms either way: two 20 ms frames, past what the jitter buffer hides
ALARM_RTT = 300         # ms: G.114's 150 ms one way, both ways


def alarms(audio: dict[str, dict]) -> list[str]:
    """The §8.3.1 alarm names that hold for these figures, in ALARMS order."""
    def worst(name: str) -> float:
        return max((d[name] for d in audio.values() if d.get(name) is not None), default=0)
    held = {'packetLoss': worst('packetLossPercentage') >= ALARM_LOSS,
            'excessiveJitter': worst('jitter') >= ALARM_JITTER,
            'highRoundTripTime': worst('roundTripTime') >= ALARM_RTT}
    return [a for a in ALARMS if held[a]]
