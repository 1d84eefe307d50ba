"""calls/fax_send.py printable: the API takes any header text (§3.13 `^.{0,40}$`), spandsp
prints only ASCII; a header it would refuse must not fail a call that was already answered."""
from telephony.calls.fax_send import printable
from telephony.media.fax.spandsp import AudioFaxTerminal


def test_accents_are_dropped_and_the_rest_becomes_question_marks():
    assert printable('John Doe, Inc.') == 'John Doe, Inc.'
    assert printable('Müller GmbH') == 'Muller GmbH'
    assert printable('a\tb 東京 ß') == 'a?b ?? ?'


def test_spandsp_takes_what_printable_gives():
    with AudioFaxTerminal(calling_party=True) as term:
        term.t30.set_tx_page_header_info(printable('Müller\t東京 GmbH · Köln'))
