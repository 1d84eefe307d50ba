"""E.164 country codes: splitting international numbers for the `phone` dial transform type."""
from __future__ import annotations

import pytest

from telephony.dialplan.e164 import COUNTRY_CODES, national_lengths, split_e164


@pytest.mark.parametrize('number,expected', [
    ('+441234567890', ('44', '1234567890')),      # UK, the task's own example
    ('+442079460958', ('44', '2079460958')),      # London
    ('+447700900123', ('44', '7700900123')),      # UK mobile
    ('+4420794609', None),                        # 8 digits: not a UK length
    ('+12125551234', ('1', '2125551234')),        # NANP: US
    ('+14165550123', ('1', '4165550123')),        # NANP: Canada, same code 1
    ('+18765550123', ('1', '8765550123')),        # NANP: Jamaica (1-876 is an area code, not a code)
    ('+74951234567', ('7', '4951234567')),        # Russia
    ('+77011234567', ('7', '7011234567')),        # Kazakhstan shares 7
    ('+4930123456', ('49', '30123456')),          # Germany: short Berlin number
    ('+4915112345678', ('49', '15112345678')),    # German mobile
    ('+8613812345678', ('86', '13812345678')),    # China mobile
    ('+861012345678', ('86', '1012345678')),      # Beijing
    ('+352123456', ('352', '123456')),            # Luxembourg: short national numbers
    ('+35227123456', ('352', '27123456')),
    ('+380441234567', ('380', '441234567')),      # Ukraine
    ('+998901234567', ('998', '901234567')),      # Uzbekistan
    ('+390612345678', ('39', '0612345678')),      # Italy keeps its leading 0
    ('+379', None),                               # reserved for the Vatican, numbers are +39 06 698
    ('+2348012345678', ('234', '8012345678')),    # Nigeria
    ('+27821234567', ('27', '821234567')),        # South Africa
    ('+61412345678', ('61', '412345678')),        # Australia
    ('+80012345678', ('800', '12345678')),        # international freephone
    ('+88213612345', ('882', '13612345')),        # international networks
    ('+870773123456', ('870', '773123456')),      # Inmarsat
    ('441234567890', ('44', '1234567890')),       # '+' is optional (§7.2: "optionally prefixed")
])
def test_split(number, expected):
    assert split_e164(number) == expected


@pytest.mark.parametrize('number', [
    '', '+', '+0123456789',          # no country code starts with 0
    '+9991234567',                   # 999: reserved, unassigned
    '+2101234567',                   # 210: spare
    '+4251234567',                   # 42x: only 420, 421 and 423 are assigned
    '+1212555123',                   # NANP with 9 digits
    '+121255512345',                 # NANP with 11 digits
    '+4412345',                      # UK too short
    '+44123456789012',               # UK too long
    '+491234567890123456',           # more than E.164's 15 digits
    '+44 1234 567890', '+44-1234567890', '0044123456789', '++441234567890', '+44123456789a',
    '+٤٤١٢٣٤٥٦٧٨٩٠',                  # Arabic-Indic digits are digits to str.isdigit, not to us
])
def test_not_a_number(number):
    assert split_e164(number) is None


def test_table_is_prefix_free_and_complete():
    codes = list(COUNTRY_CODES)
    # E.164 country codes are prefix-free: at most one split can exist
    assert not [(a, b) for a in codes for b in codes if a != b and b.startswith(a)]
    # every world zone 1-9 has codes; a few well-known ones of each size
    assert {c[0] for c in codes} == set('123456789')
    for code in ('1', '7', '20', '27', '30', '44', '49', '86', '352', '380', '998', '800', '882', '979'):
        assert code in COUNTRY_CODES
    assert len(COUNTRY_CODES) > 200
    for code, lengths in COUNTRY_CODES.items():
        assert lengths and max(lengths) + len(code) <= 15, code


def test_national_lengths():
    assert national_lengths('1') == {10}
    assert national_lengths('44') == {7, 9, 10}
    assert national_lengths('999') == frozenset()
