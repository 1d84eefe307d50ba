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
