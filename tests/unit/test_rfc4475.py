"""RFC 4475 SIP torture tests against the sans-IO codec.

Each message lives byte-exact (CRLF line ends, binary octets included) in
tests/unit/rfc4475/<name>.dat. EXPECT encodes what the RFC asks of a receiver:

  parse             the message must parse (further checks in CHECKS)
  error-answerable  SipParseError with the request attached, answered with `status`
  error-drop        SipParseError with request=None (responses, unanswerable junk)
"""

from pathlib import Path
from typing import NamedTuple

import pytest

from telephony.sip.message import Request, Response, SipParseError, make_response, parse_message

DATA = Path(__file__).parent / 'rfc4475'


class Expect(NamedTuple):
    outcome: str
    status: int | None = None
    reason: str | None = None
    section: str = ''


EXPECT = {
    # §3.1.1 valid messages: all must parse
    'wsinv': Expect('parse', section='3.1.1.1 short tortuous INVITE'),
    'intmeth': Expect('parse', section='3.1.1.2 wide range of valid characters'),
    'esc01': Expect('parse', section='3.1.1.3 valid use of % escaping'),
    'escnull': Expect('parse', section='3.1.1.4 escaped nulls in URIs'),
    'esc02': Expect('parse', section='3.1.1.5 use of % when it is not an escape'),
    'lwsdisp': Expect('parse', section='3.1.1.6 no LWS between display name and <'),
    'longreq': Expect('parse', section='3.1.1.7 long values in header fields'),
    'dblreq': Expect('parse', section='3.1.1.8 extra trailing octets in a UDP datagram'),
    'semiuri': Expect('parse', section='3.1.1.9 semicolon-separated params in user part'),
    'transports': Expect('parse', section='3.1.1.10 varied and unknown transports'),
    'mpart01': Expect('parse', section='3.1.1.11 multipart MIME message'),
    'unreason': Expect('parse', section='3.1.1.12 unusual reason phrase'),
    'noreason': Expect('parse', section='3.1.1.13 empty reason phrase'),

    # §3.1.2 invalid messages
    'badinv01': Expect('error-answerable', 400, 'Bad Via', '3.1.2.1 extraneous separators'),
    'clerr': Expect('error-answerable', 400, 'Content-Length exceeds body',
                    '3.1.2.2 Content-Length larger than message (UDP)'),
    'ncl': Expect('error-answerable', 400, 'Bad Content-Length', '3.1.2.3 negative Content-Length'),
    'scalar02': Expect('error-answerable', 400, 'Bad CSeq', '3.1.2.4 overlarge request scalars'),
    'scalarlg': Expect('error-drop', section='3.1.2.5 overlarge response scalars: discard'),
    'quotbal': Expect('error-answerable', 400, 'Bad To', '3.1.2.6 unterminated quoted string'),
    'ltgtruri': Expect('error-answerable', 400, 'Bad Request-URI', '3.1.2.7 <> around Request-URI'),
    'lwsruri': Expect('error-answerable', 400, 'Malformed Request-Line',
                      '3.1.2.8 LWS inside Request-URI'),
    # §3.1.2.9/10: "acceptable to reject" but an element "may ignore" the extra SP;
    # we take the liberal option.
    'lwsstart': Expect('parse', section='3.1.2.9 multiple SP in Request-Line (tolerated)'),
    'trws': Expect('parse', section='3.1.2.10 SP at end of Request-Line (tolerated)'),
    'escruri': Expect('error-answerable', 400, 'Bad Request-URI',
                      '3.1.2.11 escaped headers in Request-URI'),
    # §3.1.2.12: only reject if the Date matters; it does not to us.
    'baddate': Expect('parse', section='3.1.2.12 non-GMT Date (ignored)'),
    # §3.1.2.13: Contact is parsed lazily; the registrar answers 400 (see CHECKS).
    'regbadct': Expect('parse', section='3.1.2.13 addr-spec Contact with URI headers'),
    'badaspec': Expect('error-answerable', 400, 'Bad To', '3.1.2.14 spaces within addr-spec'),
    'baddn': Expect('error-answerable', 400, 'Bad From', '3.1.2.15 non-token display name'),
    'badvers': Expect('error-answerable', 505, 'Version Not Supported',
                      '3.1.2.16 unknown protocol version'),
    'mismatch01': Expect('error-answerable', 400, 'CSeq method mismatch',
                         '3.1.2.17 start line / CSeq method mismatch'),
    'mismatch02': Expect('error-answerable', 400, 'CSeq method mismatch',
                         '3.1.2.18 unknown method with CSeq mismatch (400, not 501)'),
    'bigcode': Expect('error-drop', section='3.1.2.19 overlarge response code: discard'),

    # §3.2 transaction layer: parses; the transaction layer treats it as RFC 2543
    'badbranch': Expect('parse', section='3.2.1 branch is only the magic cookie'),

    # §3.3 application layer
    # The RFC says "ideally" 400, but with no From/To/Call-ID no valid response
    # can be built, so it is not answerable by our definition.
    'insuf': Expect('error-answerable', 400, 'Missing From', '3.3.1 missing required headers: ideally 400'),
    'unkscm': Expect('error-answerable', 416, 'Unsupported URI Scheme',
                     '3.3.2 unknown Request-URI scheme'),
    'novelsc': Expect('error-answerable', 416, 'Unsupported URI Scheme',
                      '3.3.3 known but atypical Request-URI scheme'),
    'unksm2': Expect('parse', section='3.3.4 unknown URI schemes in headers'),
    'bext01': Expect('parse', section='3.3.5 Proxy-Require and Require (420 is the UA\'s job)'),
    'invut': Expect('parse', section='3.3.6 unknown Content-Type (415 is the UA\'s job)'),
    'regaut01': Expect('parse', section='3.3.7 unknown authorization scheme'),
    'multi01': Expect('error-answerable', 400, 'Multiple From values',
                      '3.3.8 multiple values in single-value headers'),
    'mcl01': Expect('error-answerable', 400, 'Multiple Content-Length values',
                    '3.3.9 multiple Content-Length values'),
    'bcast': Expect('parse', section='3.3.10 200 OK with broadcast Via'),
    'zeromf': Expect('parse', section='3.3.11 Max-Forwards of zero'),
    'cparam01': Expect('parse', section='3.3.12 REGISTER with a Contact parameter'),
    'cparam02': Expect('parse', section='3.3.13 REGISTER with a URI parameter'),
    'regescrt': Expect('parse', section='3.3.14 REGISTER with a URI escaped header'),
    'sdp01': Expect('parse', section='3.3.15 unacceptable Accept offering'),

    # §3.4 backward compatibility
    'inv2543': Expect('parse', section='3.4.1 INVITE with RFC 2543 syntax'),
}


def load(name: str) -> bytes:
    return (DATA / f'{name}.dat').read_bytes()


def test_every_message_file_has_an_expectation():
    files = {p.stem for p in DATA.glob('*.dat')}
    assert files == set(EXPECT)


@pytest.mark.parametrize('name', sorted(EXPECT))
def test_files_use_crlf(name):
    data = load(name)
    head = data.split(b'\r\n\r\n', 1)[0]
    assert b'\n' not in head.replace(b'\r\n', b''), 'bare LF in header section'


@pytest.mark.parametrize('name', sorted(EXPECT))
def test_outcome(name):
    exp = EXPECT[name]
    data = load(name)
    if exp.outcome == 'parse':
        msg = parse_message(data)
        assert isinstance(msg, (Request, Response))
        # re-serialising and re-parsing keeps the same content
        again = parse_message(msg.to_bytes())
        strip_cl = lambda hs: [h for h in hs if h[0] != 'Content-Length']  # noqa: E731
        assert strip_cl(again.headers) == strip_cl(msg.headers)
        assert again.body == msg.body
        return
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    err = info.value
    if exp.outcome == 'error-drop':
        assert err.request is None
        return
    assert exp.outcome == 'error-answerable'
    assert isinstance(err.request, Request)
    assert err.status == exp.status
    assert err.reason == exp.reason
    resp = make_response(err.request, err.status, err.reason, to_tag='t1')
    wire = resp.to_bytes()
    assert wire.startswith(f'SIP/2.0 {exp.status} {exp.reason}\r\n'.encode())
    # the answer echoes the transaction identifiers of the bad request
    assert resp.get_all('Via') == err.request.get_all('Via')
    assert resp.get('Call-ID') == err.request.get('Call-ID')
    assert resp.get('CSeq') == err.request.get('CSeq')


# --- per-message details -----------------------------------------------------------------

def _wsinv(m):
    assert m.method == 'INVITE'
    assert str(m.uri) == 'sip:vivekg@chair-dnrc.example.com;unknownparam'
    assert m.uri.params == {'unknownparam': None}
    assert m.to.uri.user == 'vivekg' and m.to.tag == '1918181833n'
    assert m.from_.display == 'J Rosenberg \\"' and m.from_.tag == '98asjd8'
    assert m.max_forwards == 68
    assert m.call_id == 'wsinv.ndaksdj@192.0.2.1'
    assert (m.cseq.seq, m.cseq.method) == (9, 'INVITE')
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ('UDP', '192.0.2.2', '390skdjuw'),
        ('TCP', 'spindle.example.com', 'z9hG4bK9ikj8'),
        ('UDP', '192.168.255.111', 'z9hG4bK30239')]
    assert m.get('Subject') == '' and m.get('s') == ''
    assert m.get('NewFangledHeader') == 'newfangled value continued newfangled value'
    assert m.get('UnknownHeaderWithUnusualValue') == ';;,,;;,;'
    assert m.content_type == 'application/sdp'
    assert m.get_all('Route') == ['<sip:services.example.com;lr;unknownwith=value;unknown-no-value>']
    (c,) = m.contacts
    assert c.display == 'Quoted string ""'
    assert c.params == {'newparam': 'newvalue', 'secondparam': None, 'q': '0.33'}
    assert len(m.body) == 150


def _intmeth(m):
    method = "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.method == method and m.cseq.method == method and m.cseq.seq == 139122385
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.uri.host == 'example.com'
    assert m.to.display == 'BEL:\x07 NUL:\x00 DEL:\x7f'
    assert m.to.uri.user == m.uri.user
    assert m.from_.display == "token1~` token2'+_ token3*%!.-"
    assert m.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.get("extensionHeader-!.%*+_`'~") == '\ufeff大停電'
    assert m.vias[0].branch == "z9hG4bK-.!%66*_+`'~"


def _esc01(m):
    assert m.uri.user == 'sips%3Auser%40example.com'
    assert m.uri.user_unescaped == 'sips:user@example.com' and m.uri.host == 'example.net'
    assert m.to.uri.user_unescaped == 'user'
    assert m.from_.uri.user_unescaped == 'I have spaces'
    assert m.call_id == 'esc01.239409asdfakjkn23onasd0-3234'
    assert m.content_type == 'application/sdp'
    (c,) = m.contacts
    assert c.uri.user_unescaped == 'caller'
    assert 'lr' in c.uri.params  # ';%6C%72' is the lr parameter
    assert c.uri.params['name'] == 'v%61lue%25%34%31'


def _escnull(m):
    assert m.method == 'REGISTER'
    assert m.to.uri.user_unescaped == 'null-\x00-null'
    assert [c.uri.user_unescaped for c in m.contacts] == ['\x00', '\x00\x00']
    assert m.get('Content-Length') == '0'


def _esc02(m):
    assert m.method == 'RE%47IST%45R' and m.cseq.method == 'RE%47IST%45R'
    assert m.to.display == '%Z%45' and m.from_.display == '%Z%45'
    assert m.vias[0].branch == 'z9hG4bK209%fzsnel234'
    # C%6Fntact is an unknown header, not a Contact
    assert [c.uri.user for c in m.contacts] == ['alias1', 'alias3']
    assert m.get('C%6Fntact') == '<sip:alias2@host2.example.com>'


def _lwsdisp(m):
    assert m.from_.display == 'caller' and m.from_.uri.user == 'caller' and m.from_.tag == '323'


def _longreq(m):
    assert len(m.vias) == 34
    assert m.vias[0].host == 'sip33.example.com'
    assert m.vias[-1].received == '192.0.2.5'
    assert m.vias[-1].branch == 'very' + 'long' * 50 + 'branchvalue'
    assert m.to.uri.port == 6000
    assert m.to.display.startswith('I have a user name of extremeextreme')
    assert 'longparam' + 'name' * 25 in m.to.uri.params
    assert m.from_.tag == '12' + '982' * 50 + '424'
    assert m.call_id == 'longreq.one' + 'really' * 20 + 'longcallid'
    assert m.contacts[0].uri.user == 'amazinglylongcallername' * 5
    assert len(m.body) == 150


def _dblreq(m):
    # only the first message counts; the trailing INVITE is discarded
    assert m.method == 'REGISTER' and m.body == b''
    assert m.call_id == 'dblreq.0ha0isndaksdj99sdfafnl3lk233412'


def _semiuri(m):
    assert m.uri.user == 'user;par=u%40example.net' and m.uri.host == 'example.com'
    assert m.uri.params == {}
    assert m.get_all('Accept') == ['application/sdp', 'application/pkcs7-mime', 'multipart/mixed',
                                   'multipart/signed', 'message/sip', 'message/sipfrag']


def _transports(m):
    assert [v.transport for v in m.vias] == ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']
    assert m.call_id == 'transports.kijh4akdnaqjkwendsasfdj'


def _mpart01(m):
    assert m.method == 'MESSAGE' and len(m.body) == 553
    assert b'\x00' in m.body and m.body.endswith(b'--7a9cbec02ceef655--\r\n')
    assert m.content_type == 'multipart/mixed'
    assert m.content_type_params == {'boundary': '7a9cbec02ceef655'}
    assert m.vias[0].has_rport and m.vias[0].rport is None and m.vias[0].port == 5070


def _unreason(m):
    assert m.status == 200
    assert m.reason == '= 2**3 * 5**2 но сто девяносто девять - простое'
    assert len(m.body) == 154


def _noreason(m):
    assert m.status == 100 and m.reason == ''
    assert m.to.tag == '902jndnke3'


def _regbadct(m):
    # the URI has headers but is not in <>: the registrar must answer 400
    with pytest.raises(SipParseError) as info:
        m.contacts
    assert info.value.reason == 'Bad Contact'


def _badbranch(m):
    assert m.vias[0].branch == 'z9hG4bK'


def _unksm2(m):
    assert m.to.uri.scheme == 'isbn' and m.to.uri.opaque == '2983792873'
    assert m.from_.uri.scheme == 'http' and m.from_.tag == '3234233'
    assert str(m.contacts[0].uri) == 'name:John_Smith'


def _bext01(m):
    assert m.get_all('Require') == ['nothingSupportsThis', 'nothingSupportsThisEither']
    assert m.get_all('Proxy-Require') == ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']


def _regaut01(m):
    assert m.get('Authorization') == 'NoOneKnowsThisScheme opaque-data=here'


def _bcast(m):
    assert m.status == 200 and [v.host for v in m.vias] == ['192.0.2.198', '255.255.255.255']


def _zeromf(m):
    assert m.max_forwards == 0


def _cparam01(m):
    (c,) = m.contacts
    assert c.params == {'unknownparam': None} and c.uri.params == {}


def _cparam02(m):
    (c,) = m.contacts
    assert c.params == {} and c.uri.params == {'unknownparam': None}


def _regescrt(m):
    assert m.contacts[0].uri.headers == {'Route': '%3Csip:sip.example.com%3E'}


def _inv2543(m):
    assert m.max_forwards is None and m.vias[0].branch is None
    assert m.to.params == {'user': 'phone'} and m.to.uri.params == {}
    assert m.from_.tag is None and m.from_.uri.params == {'user': 'phone'}
    assert m.body.startswith(b'v=0\r\n') and m.body.endswith(b'm=audio 49217 RTP/AVP 0\r\n')


def _lwsstart(m):
    assert str(m.uri) == 'sip:user@example.com'
    assert m.to_bytes().startswith(b'INVITE sip:user@example.com SIP/2.0\r\n')


def _trws(m):
    assert m.method == 'OPTIONS' and str(m.uri) == 'sip:remote-target@example.com'


CHECKS = {
    'wsinv': _wsinv, 'intmeth': _intmeth, 'esc01': _esc01, 'escnull': _escnull,
    'esc02': _esc02, 'lwsdisp': _lwsdisp, 'longreq': _longreq, 'dblreq': _dblreq,
    'semiuri': _semiuri, 'transports': _transports, 'mpart01': _mpart01,
    'unreason': _unreason, 'noreason': _noreason, 'regbadct': _regbadct,
    'badbranch': _badbranch, 'unksm2': _unksm2, 'bext01': _bext01, 'regaut01': _regaut01,
    'bcast': _bcast, 'zeromf': _zeromf, 'cparam01': _cparam01, 'cparam02': _cparam02,
    'regescrt': _regescrt, 'inv2543': _inv2543, 'lwsstart': _lwsstart, 'trws': _trws,
}


@pytest.mark.parametrize('name', sorted(CHECKS))
def test_details(name):
    assert EXPECT[name].outcome == 'parse'
    CHECKS[name](parse_message(load(name)))


def test_every_valid_311_message_has_detail_checks():
    valid = [n for n, e in EXPECT.items() if e.section.startswith('3.1.1.')]
    assert len(valid) == 13
    assert set(valid) <= set(CHECKS)


def test_clerr_answer_and_stream_semantics():
    # Over UDP the 400 carries the identifiers of the offending request.
    with pytest.raises(SipParseError) as info:
        parse_message(load('clerr'))
    resp = make_response(info.value.request, 400, info.value.reason)
    again = parse_message(resp.to_bytes())
    assert again.call_id == 'clerr.0ha0isndaksdjweiafasdk3'
    assert again.vias[0].branch == 'z9hG4bK-39234-23523'


def test_badvers_505_keeps_via():
    with pytest.raises(SipParseError) as info:
        parse_message(load('badvers'))
    err = info.value
    assert err.status == 505 and err.request.method == 'OPTIONS'
    assert err.request.vias[0].protocol == 'SIP/7.0'
