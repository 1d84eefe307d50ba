from telephony.calls.causes import (cause_for_sip_status, parse_reason_cause, reason_header,
                                    sip_status_for_cause)


def test_rfc3398_mappings():
    assert sip_status_for_cause(17) == 486
    assert sip_status_for_cause(1) == 404
    assert sip_status_for_cause(16) == 480
    assert sip_status_for_cause(999) == 500
    assert cause_for_sip_status(486) == 17
    assert cause_for_sip_status(404) == 1
    assert cause_for_sip_status(499) == 41
    assert cause_for_sip_status(699) == 31


def test_reason_header_round_trip():
    assert parse_reason_cause(reason_header(16)) == 16
    assert parse_reason_cause('SIP;cause=200;text="x", Q.850;cause=17;text="busy"') == 17
    assert parse_reason_cause('SIP;cause=487') is None
    assert parse_reason_cause(None) is None


def test_cause_names():
    from telephony.calls.causes import cause_name
    assert cause_name(16) == 'normal_clearing' and cause_name(102) == 'recovery_on_timer_expire'
    assert cause_name(999) == 'unknown' and cause_name(None) == 'none'
