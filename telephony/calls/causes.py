"""Q.850 cause <-> SIP status (RFC 3398 §7.2.4.1 and §8.2.6.1), and the Reason header (RFC 3326)."""

# SIP final status -> Q.850 cause (RFC 3398 §8.2.6.1)
SIP_TO_Q850 = {
    400: 41, 401: 21, 402: 21, 403: 21, 404: 1, 405: 63, 406: 79, 407: 21, 408: 102,
    410: 22, 413: 127, 414: 127, 415: 79, 416: 127, 420: 127, 421: 127, 423: 127,
    480: 18, 481: 41, 482: 25, 483: 25, 484: 28, 485: 1, 486: 17, 487: 127, 488: 65,
    500: 41, 501: 79, 502: 38, 503: 41, 504: 102, 505: 127, 513: 127,
    600: 17, 603: 21, 604: 1, 606: 58,
}

# Q.850 cause -> SIP final status (RFC 3398 §7.2.4.1); anything unlisted is 500.
Q850_TO_SIP = {
    1: 404, 2: 404, 3: 404, 16: 480, 17: 486, 18: 408, 19: 480, 20: 480, 21: 403, 22: 410,
    23: 410, 26: 404, 27: 502, 28: 484, 29: 501, 31: 480, 34: 503, 38: 503, 41: 503,
    42: 503, 47: 503, 55: 403, 57: 403, 58: 503, 65: 488, 69: 501, 70: 488, 79: 501,
    87: 403, 88: 503, 102: 504, 111: 500, 127: 500,
}


# Q.850 cause names (ITU-T Q.850 table 1), as FreeSWITCH and Asterisk log them, lower case.
CAUSE_NAMES = {
    1: 'unallocated_number', 2: 'no_route_transit_net', 3: 'no_route_destination',
    6: 'channel_unacceptable', 16: 'normal_clearing', 17: 'user_busy', 18: 'no_user_response',
    19: 'no_answer', 20: 'subscriber_absent', 21: 'call_rejected', 22: 'number_changed',
    26: 'non_selected_user_clearing', 27: 'destination_out_of_order',
    28: 'invalid_number_format', 29: 'facility_rejected', 31: 'normal_unspecified',
    34: 'normal_circuit_congestion', 38: 'network_out_of_order', 41: 'normal_temporary_failure',
    42: 'switch_congestion', 47: 'resource_unavailable', 55: 'incoming_call_barred',
    57: 'bearer_capability_notauth', 58: 'bearer_capability_notavail',
    65: 'bearer_capability_notimpl', 69: 'facility_not_implemented',
    70: 'only_digital_information_bearer_available', 79: 'service_not_implemented',
    87: 'user_not_member_of_cug', 88: 'incompatible_destination', 102: 'recovery_on_timer_expire',
    111: 'protocol_error', 127: 'interworking',
}


def cause_name(cause: int | None) -> str:
    return CAUSE_NAMES.get(cause, 'unknown') if cause is not None else 'none'


def sip_status_for_cause(cause: int) -> int:
    return Q850_TO_SIP.get(cause, 500)


def cause_for_sip_status(status: int) -> int:
    if status in SIP_TO_Q850:
        return SIP_TO_Q850[status]
    return {4: 41, 5: 41, 6: 31}.get(status // 100, 127)


def reason_header(cause: int) -> str:
    return f'Q.850;cause={cause}'


def parse_reason_cause(value: str | None) -> int | None:
    """The cause of a `Reason: Q.850;cause=N` header, if there is one."""
    if not value:
        return None
    for part in value.split(','):
        fields = [f.strip() for f in part.split(';')]
        if fields[0].upper() != 'Q.850':
            continue
        for f in fields[1:]:
            k, _, v = f.partition('=')
            if k.strip().lower() == 'cause' and v.strip().isdigit():
                return int(v)
    return None
