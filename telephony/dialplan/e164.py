"""E.164 country codes and national number lengths: split '+441234567890' into ('44', '1234567890').

The `phone` dial transform type (Cisco §7.2) needs this: "a purely numeric string (optionally
prefixed by a '+') ... begins with a valid international dial code ... followed by the correct
number of digits for a phone number for that region".
"""
from __future__ import annotations

import re

__all__ = ['COUNTRY_CODES', 'split_e164', 'national_lengths']

# Every country code of the ITU-T list of E.164 assigned country codes (the annex to ITU-T
# Operational Bulletin, geographic codes, non-geographic services "-" and shared codes), with the
# lengths a national significant number can have under that code. The lengths are the
# "possibleLength" values of libphonenumber's metadata (9.0.43), which collects the national
# numbering plans that administrations notify to the ITU, unioned over all regions that share a
# code and capped at E.164's 15 digits in all (§6.2.1). Two corrections: NANP (1) is always ten
# digits (NPA-NXX-XXXX; the 7-digit Canadian entries are local short codes, not dialled with +1),
# and 388 (ETNS) and 991 (ITPCS trial) have no plan data, so only the 15-digit cap bounds them.
# Codes ITU lists only as spare or reserved (e.g. 379, 875-877, 879, 969, 999) are left out: no
# number is dialled under them. Columns: code, lengths, regions (ISO 3166 codes, for readers).
_TABLE = """
1    10          US AG AI AS BB BM BS CA DM DO GD GU JM KN KY LC MP MS PR SX TC TT VC VG VI
7    10,14       RU KZ
20   8-10        EG
27   5-10        ZA
30   10-12       GR
31   5-11        NL
32   8-9         BE
33   9           FR
34   9           ES
36   8-9         HU
39   6-12        IT VA
40   6,9         RO
41   9,12        CH
43   4-13        AT
44   7,9-10      GB GG IM JE
45   8           DK
46   6-10,12     SE
47   5,8         NO SJ
48   6-10        PL
49   4-13        DE
51   8-9         PE
52   10          MX
53   6-8,10      CU
54   10-11       AR
55   8-11        BR
56   9-11        CL
57   8,10-11     CO
58   10          VE
60   8-10        MY
61   5-10,12     AU CC CX
62   7-13        ID
63   6,8-13      PH
64   5-10        NZ
65   8,10-11     SG
66   8-10,13     TH
81   8-13        JP
82   5-6,8-13    KR
84   7-10        VN
86   7-12        CN
90   7,10,12-13  TR
91   8-13        IN
92   8-12        PK
93   9           AF
94   9           LK
95   6-10        MM
98   4-7,10      IR
211  9           SS
212  9           MA EH
213  8-9         DZ
216  8           TN
218  9           LY
220  7,9         GM
221  9           SN
222  8           MR
223  8           ML
224  8-9         GN
225  10          CI
226  8           BF
227  8           NE
228  8           TG
229  10          BJ
230  7-8,10      MU
231  7-9         LR
232  8           SL
233  8-9         GH
234  10-12       NG
235  8           TD
236  8           CF
237  8-9         CM
238  7           CV
239  7           ST
240  9           GQ
241  7-8         GA
242  9           CG
243  7-10        CD
244  9           AO
245  7,9         GW
246  7           IO
247  5-6         AC
248  7           SC
249  9           SD
250  8-9         RW
251  9           ET
252  6-9         SO
253  8           DJ
254  7-10        KE
255  9           TZ
256  9           UG
257  8           BI
258  8-9         MZ
260  9           ZM
261  9           MG
262  9           RE YT
263  7,9-10      ZW
264  8-9         NA
265  7,9         MW
266  8           LS
267  7-8,10      BW
268  8-9         SZ
269  7           KM
290  4-5         SH TA
291  7           ER
297  7           AW
298  6           FO
299  6           GL
350  8           GI
351  9           PT
352  4-11        LU
353  7-10        IE
354  7,9         IS
355  6-9         AL
356  8           MT
357  8           CY
358  5-12        FI AX
359  6-9,12      BG
370  8           LT
371  8           LV
372  7-8,10      EE
373  8           MD
374  8           AM
375  6-11        BY
376  6,8-9       AD
377  8-9         MC
378  8,10        SM
380  9-10        UA
381  6-12        RS
382  8-9         ME
383  8-12        XK
385  7-9         HR
386  5-8         SI
387  8-9         BA
388  4-12        -
389  8           MK
420  9-12        CZ
421  6-7,9       SK
423  7,9         LI
500  5           FK
501  7,11        BZ
502  8,11        GT
503  7-8,11      SV
504  8,11        HN
505  8           NI
506  8,10        CR
507  7-8,10-11   PA
508  6,9         PM
509  8           HT
590  9           GP BL MF
591  8-9         BO
592  7           GY
593  8-11        EC
594  9           GF
595  6-11        PY
596  9           MQ
597  6-7         SR
598  4-12        UY
599  7-8         CW BQ
670  7-8         TL
672  6           NF
673  7           BN
674  7           NR
675  7-8         PG
676  5,7         TO
677  5,7         SB
678  5,7         VU
679  7,11        FJ
680  7           PW
681  6,9         WF
682  5           CK
683  4,7         NU
685  5-7,10      WS
686  5,8         KI
687  6           NC
688  5-7         TV
689  6,8-9       PF
690  4-7         TK
691  7           FM
692  7           MH
800  8           -
808  8           -
850  8,10        KP
852  5-9,11      HK
853  7-8         MO
855  8-10        KH
856  8-10        LA
870  9,12        -
878  12          -
880  6-10        BD
881  9-10        -
882  7-12        -
883  8-12        -
886  7-11        TW
888  11          -
960  7,10        MV
961  7-8         LB
962  8-9         JO
963  8-9         SY
964  8-10        IQ
965  7-8         KW
966  9-10        SA
967  7-9         YE
968  7-9         OM
970  8-10        PS
971  5-12        AE
972  7-12        IL
973  8           BH
974  7-9,11      QA
975  7-8         BT
976  8-10        MN
977  8,10-11     NP
979  9           -
991  4-12        -
992  9           TJ
993  8           TM
994  9           AZ
995  9           GE
996  9-10        KG
998  9           UZ
"""


def _lengths(text: str) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(','):
        lo, _, hi = part.partition('-')
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


COUNTRY_CODES: dict[str, frozenset[int]] = {
    line.split()[0]: _lengths(line.split()[1]) for line in _TABLE.strip().splitlines()
}
_NUMBER_RE = re.compile(r'\+?[0-9]{2,15}')


def national_lengths(country_code: str) -> frozenset[int]:
    """The lengths a national number under `country_code` may have (empty if unassigned)."""
    return COUNTRY_CODES.get(country_code, frozenset())


def split_e164(text: str) -> tuple[str, str] | None:
    """('44', '1234567890') for '+441234567890' or '441234567890'; None if it is no such number.

    Country codes are prefix-free (E.164 §6.2.1), so at most one of the 1-, 2- and 3-digit
    prefixes is a code; the rest must have one of that code's national lengths.
    """
    if not _NUMBER_RE.fullmatch(text):
        return None
    digits = text.removeprefix('+')
    for size in (1, 2, 3):
        code = digits[:size]
        lengths = COUNTRY_CODES.get(code)
        if lengths is not None:
            national = digits[size:]
            return (code, national) if len(national) in lengths else None
    return None
