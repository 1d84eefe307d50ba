"""Unit tests for the sans-IO SIP codec: URIs, headers, messages, framing."""

import pytest

from telephony.sip.headers import (COMPACT, CSeq, HeaderError, Via, canonical_name, parse_cseq,
                                   parse_params, parse_via, parse_vias, split_comma)
from telephony.sip.message import (MAX_MESSAGE, REASONS, Request, Response, SipParseError,
                                   StreamFramer, gen_branch, gen_call_id, gen_tag, make_response,
                                   parse_message)
from telephony.sip.uri import NameAddr, Uri, UriError, parse_name_addr, parse_uri

SDP = (b'v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n'
       b'c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0 8 101\r\n'
       b'a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n')


def invite(body: bytes = SDP, extra: bytes = b'', cl: int | None = None) -> bytes:
    cl = len(body) if cl is None else cl
    return (b'INVITE sip:bob@biloxi.example.com SIP/2.0\r\n'
            b'Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n'
            b'Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK2;received=192.0.2.1\r\n'
            b'Max-Forwards: 70\r\n'
            b'To: Bob <sip:bob@biloxi.example.com>\r\n'
            b'From: "Alice A." <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
            b'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n'
            b'CSeq: 314159 INVITE\r\n'
            b'Contact: <sip:alice@pc33.atlanta.example.com>\r\n'
            b'Content-Type: application/sdp\r\n' + extra +
            b'Content-Length: ' + str(cl).encode() + b'\r\n\r\n' + body)


# --- URIs ----------------------------------------------------------------------------------

class TestUri:
    def test_sip_uri_fields_and_roundtrip(self):
        text = 'sips:alice:secret@example.com:5061;transport=tcp;lr;maddr=239.255.255.1?subject=hi&x=y'
        u = parse_uri(text)
        assert (u.scheme, u.user, u.password, u.host, u.port) == (
            'sips', 'alice', 'secret', 'example.com', 5061)
        assert u.params == {'transport': 'tcp', 'lr': None, 'maddr': '239.255.255.1'}
        assert u.headers == {'subject': 'hi', 'x': 'y'}
        assert u.transport == 'tcp'
        assert str(u) == text
        assert parse_uri(str(u)) == u

    def test_param_keys_lowercased_values_kept(self):
        u = parse_uri('SIP:Bob@Example.COM;Transport=TCP;X-Foo=BaR')
        assert u.scheme == 'sip'
        assert u.params == {'transport': 'TCP', 'x-foo': 'BaR'}
        assert u.transport == 'tcp'

    def test_ipv6(self):
        u = parse_uri('sip:[2001:db8::10]:5070;transport=udp')
        assert u.host == '[2001:db8::10]' and u.port == 5070 and u.user is None
        assert str(u) == 'sip:[2001:db8::10]:5070;transport=udp'
        u = parse_uri('sip:alice@[::1]')
        assert u.host == '[::1]' and u.port is None

    def test_escapes(self):
        u = parse_uri('sip:%61lice%20b@example.com')
        assert u.user == '%61lice%20b'
        assert u.user_unescaped == 'alice b'
        assert str(u) == 'sip:%61lice%20b@example.com'

    def test_tel(self):
        u = parse_uri('tel:+1-201-555-0123;phone-context=example.com')
        assert u.scheme == 'tel' and u.user == '+1-201-555-0123' and u.host == ''
        assert u.params == {'phone-context': 'example.com'}
        assert str(u) == 'tel:+1-201-555-0123;phone-context=example.com'

    def test_unknown_scheme_is_opaque(self):
        u = parse_uri('urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6')
        assert u.scheme == 'urn' and u.opaque == 'uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6'
        assert str(u) == 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6'

    @pytest.mark.parametrize('bad', [
        '', 'example.com', 'sip:', 'sip:alice@', 'sip:@example.com', 'sip:a b@example.com',
        'sip:alice@example.com:99999', 'sip:alice@example.com:5x', 'sip:[::1', 'sip:alice@exa mple.com',
        '<sip:alice@example.com>', 'sip:alice@example.com;;lr', 'sip:alice@ex"ample.com',
        '1sip:alice@example.com',
    ])
    def test_bad(self, bad):
        with pytest.raises(UriError):
            parse_uri(bad)

    def test_copy_is_deep(self):
        u = parse_uri('sip:alice@example.com;lr')
        c = u.copy()
        c.params['transport'] = 'tcp'
        c.host = 'other.example.com'
        assert u.params == {'lr': None} and u.host == 'example.com'

    def test_uri_error_is_value_error(self):
        assert issubclass(UriError, ValueError)


class TestNameAddr:
    def test_quoted_display(self):
        na = parse_name_addr('"Alice \\"A\\" Smith" <sip:alice@example.com>;tag=abc;x')
        assert na.display == 'Alice "A" Smith'
        assert na.uri.user == 'alice'
        assert na.params == {'tag': 'abc', 'x': None}
        assert na.tag == 'abc'
        assert str(na) == '"Alice \\"A\\" Smith" <sip:alice@example.com>;tag=abc;x'

    def test_token_display_and_no_space(self):
        assert parse_name_addr('Bob Smith <sip:bob@example.com>').display == 'Bob Smith'
        assert parse_name_addr('bob<sip:bob@example.com>').display == 'bob'
        assert parse_name_addr('<sip:bob@example.com>').display is None

    def test_addr_spec_params_belong_to_header(self):
        na = parse_name_addr('sip:bob@example.com;tag=99;transport=tcp')
        assert na.uri.params == {}
        assert na.params == {'tag': '99', 'transport': 'tcp'}
        assert str(na) == '<sip:bob@example.com>;tag=99;transport=tcp'

    def test_bracketed_uri_params_stay_in_uri(self):
        na = parse_name_addr('<sip:bob@example.com;transport=tcp>;tag=1')
        assert na.uri.params == {'transport': 'tcp'} and na.params == {'tag': '1'}

    def test_str_always_brackets(self):
        na = NameAddr(None, parse_uri('sip:bob@example.com;lr'), {})
        assert str(na) == '<sip:bob@example.com;lr>'
        na.tag = 'x1'
        assert str(na) == '<sip:bob@example.com;lr>;tag=x1'

    def test_tel_and_ipv6(self):
        assert parse_name_addr('<tel:+15551234>;tag=1').uri.user == '+15551234'
        assert parse_name_addr('<sip:[::1]:5080>').uri.port == 5080

    def test_display_with_angle_and_comma_inside_quotes(self):
        na = parse_name_addr('"Doe, John <boss>" <sip:jd@example.com>')
        assert na.display == 'Doe, John <boss>'

    @pytest.mark.parametrize('bad', [
        '', '"unterminated <sip:a@b>', 'Bell, Alexander <sip:a@b>', '<sip:a@b',
        '< sip:a@b >', 'sip:a@b?Route=x', '<sip:a@b>;;', '<sip:a@b> junk', '"x" sip:a@b',
    ])
    def test_bad(self, bad):
        with pytest.raises(UriError):
            parse_name_addr(bad)


# --- headers -------------------------------------------------------------------------------

class TestHeaderNames:
    @pytest.mark.parametrize('raw,canon', [
        ('v', 'Via'), ('V', 'Via'), ('f', 'From'), ('t', 'To'), ('i', 'Call-ID'), ('m', 'Contact'),
        ('l', 'Content-Length'), ('c', 'Content-Type'), ('k', 'Supported'), ('x', 'Session-Expires'),
        ('call-id', 'Call-ID'), ('CALL-ID', 'Call-ID'), ('cseq', 'CSeq'), ('CSEQ', 'CSeq'),
        ('www-authenticate', 'WWW-Authenticate'), ('max-forwards', 'Max-Forwards'),
        ('record-route', 'Record-Route'), ('content-length', 'Content-Length'),
        ('x-my-header', 'X-My-Header'), ('NewFangledHeader', 'Newfangledheader'),
        ('mime-version', 'MIME-Version'), ('rack', 'RAck'), ('TO ', 'To'),
    ])
    def test_canonical(self, raw, canon):
        assert canonical_name(raw) == canon

    def test_compact_table(self):
        assert COMPACT['i'] == 'Call-ID' and COMPACT['r'] == 'Refer-To' and len(COMPACT) == 15


class TestSplitComma:
    def test_plain(self):
        assert split_comma('INVITE, ACK,BYE ,  CANCEL') == ['INVITE', 'ACK', 'BYE', 'CANCEL']

    def test_quoted_commas_and_escapes(self):
        v = '"Doe, John" <sip:jd@example.com>, "Say \\"hi, there\\"" <sip:x@y>;q=0.5'
        assert split_comma(v) == ['"Doe, John" <sip:jd@example.com>',
                                  '"Say \\"hi, there\\"" <sip:x@y>;q=0.5']

    def test_angle_brackets(self):
        v = '<sip:a@b;x=1,2>, <http://example.com/a,b>'
        assert split_comma(v) == ['<sip:a@b;x=1,2>', '<http://example.com/a,b>']

    def test_empty_elements_dropped(self):
        assert split_comma(' a ,, b , ') == ['a', 'b']
        assert split_comma('') == []


class TestParams:
    def test_generic(self):
        assert parse_params(' ; a = 1 ;B;c="x; y"') == {'a': '1', 'b': None, 'c': '"x; y"'}
        assert parse_params('') == {}

    @pytest.mark.parametrize('bad', [';', ';a;;b', 'a=1', ';a=', ';a="x', ';a=b c', ';=1'])
    def test_bad(self, bad):
        with pytest.raises(HeaderError):
            parse_params(bad)


class TestVia:
    def test_fields(self):
        v = parse_via('SIP/2.0/udp host.example.com:5080;branch=z9hG4bK1;rport;received=192.0.2.1')
        assert (v.protocol, v.transport, v.host, v.port) == ('SIP/2.0', 'UDP', 'host.example.com', 5080)
        assert v.branch == 'z9hG4bK1' and v.received == '192.0.2.1'
        assert v.has_rport and v.rport is None
        assert str(v) == 'SIP/2.0/UDP host.example.com:5080;branch=z9hG4bK1;rport;received=192.0.2.1'

    def test_rport_value_and_setters(self):
        v = parse_via('SIP/2.0/TCP 192.0.2.5;rport=5070')
        assert v.has_rport and v.rport == 5070
        v.rport = 40000
        v.received = '198.51.100.1'
        assert str(v) == 'SIP/2.0/TCP 192.0.2.5;rport=40000;received=198.51.100.1'
        w = parse_via('SIP/2.0/TCP 192.0.2.5')
        assert not w.has_rport and w.rport is None and w.branch is None

    def test_lws_everywhere(self):
        v = parse_via('SIP  /   2.0 /UDP   host : 5060 ; branch = z9hG4bKx')
        assert (v.protocol, v.transport, v.host, v.port, v.branch) == (
            'SIP/2.0', 'UDP', 'host', 5060, 'z9hG4bKx')

    def test_ipv6(self):
        v = parse_via('SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas;received=2001:db8::9:255')
        assert v.host == '[2001:db8::9:1]' and v.port == 5060
        assert v.received == '2001:db8::9:255'
        assert str(v) == 'SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas;received=2001:db8::9:255'

    def test_parse_vias(self):
        vs = parse_vias('SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5061;branch=z9hG4bK2')
        assert [(v.host, v.port) for v in vs] == [('a', None), ('b', 5061)]

    @pytest.mark.parametrize('bad', [
        'SIP/2.0 host', 'SIP/2.0/UDP', 'SIP/2.0/UDP a b', 'SIP/2.0/UDP host;;', 'SIP/2.0/UDP host:99999',
        'SIP/2.0/U@P host',
    ])
    def test_bad(self, bad):
        with pytest.raises(HeaderError):
            parse_via(bad)

    def test_construct(self):
        assert str(Via('SIP/2.0', 'TLS', 'example.com', 5061, {'branch': 'z9hG4bKq'})) == \
            'SIP/2.0/TLS example.com:5061;branch=z9hG4bKq'


class TestCSeq:
    def test_ok(self):
        assert parse_cseq('  101   INVITE ') == CSeq(101, 'INVITE')
        assert parse_cseq(f'{2**31 - 1} ACK').seq == 2**31 - 1
        assert str(CSeq(5, 'BYE')) == '5 BYE'

    @pytest.mark.parametrize('bad', [
        '', '1', 'INVITE', f'{2**31} INVITE', '-1 INVITE', '1 INV ITE', '1 INV@', 'x INVITE',
        '١ INVITE',  # non-ASCII digit
    ])
    def test_bad(self, bad):
        with pytest.raises(HeaderError):
            parse_cseq(bad)


# --- messages ------------------------------------------------------------------------------

class TestParse:
    def test_request_fields(self):
        m = parse_message(invite())
        assert isinstance(m, Request)
        assert m.method == 'INVITE' and str(m.uri) == 'sip:bob@biloxi.example.com'
        assert m.call_id == 'a84b4c76e66710@pc33.atlanta.example.com'
        assert m.cseq == CSeq(314159, 'INVITE')
        assert m.from_.display == 'Alice A.' and m.from_.tag == '1928301774' and m.from_tag == '1928301774'
        assert m.to.display == 'Bob' and m.to.tag is None and m.to_tag is None
        assert [v.host for v in m.vias] == ['pc33.atlanta.example.com', 'proxy.example.com']
        assert m.vias[0].port == 5060 and m.vias[0].has_rport
        assert m.max_forwards == 70
        assert [str(c.uri) for c in m.contacts] == ['sip:alice@pc33.atlanta.example.com']
        assert m.content_type == 'application/sdp'
        assert m.body == SDP

    def test_response(self):
        data = (b'SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n'
                b'From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x@y\r\n'
                b'CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n')
        m = parse_message(data)
        assert isinstance(m, Response) and m.status == 180 and m.reason == 'Ringing'
        assert m.to.tag == '2' and m.cseq.method == 'INVITE'
        assert m.to_bytes() == data

    def test_roundtrip_bytes_exact_for_canonical_input(self):
        data = invite()
        assert parse_message(data).to_bytes() == data

    def test_roundtrip_after_changes(self):
        m = parse_message(invite())
        m.body = b'hello'
        m.set('Content-Type', 'text/plain')
        m2 = parse_message(m.to_bytes())
        assert m2.body == b'hello' and m2.get('Content-Length') == '5'
        assert m2.content_type == 'text/plain'
        assert m2.headers == m.headers[:-1] + [('Content-Length', '5')]

    def test_compact_and_case_insensitive_names(self):
        data = (b'OPTIONS sip:x@example.com SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\n'
                b'f: <sip:a@b>;tag=1\r\nt: <sip:c@d>\r\ni: cid@host\r\nCSEQ: 2 OPTIONS\r\n'
                b'k: timer\r\nm: <sip:a@192.0.2.1>\r\nMAX-FORWARDS: 9\r\nl: 0\r\n\r\n')
        m = parse_message(data)
        assert [n for n, _ in m.headers] == ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Supported',
                                            'Contact', 'Max-Forwards', 'Content-Length']
        assert m.get('i') == m.get('call-id') == m.get('CALL-ID') == 'cid@host'
        assert m.get('k') == 'timer' and m.max_forwards == 9
        assert b'Call-ID: cid@host\r\n' in m.to_bytes()

    def test_folding(self):
        data = (b'OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n ;branch=z9hG4bK1\r\n'
                b'From: <sip:a@b>\r\n\t;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: c@h\r\n'
                b'CSeq: 2\r\n   OPTIONS\r\nSubject: first line\r\n  second\tline\r\nl: 0\r\n\r\n')
        m = parse_message(data)
        assert m.get('Via') == 'SIP/2.0/UDP a ;branch=z9hG4bK1'
        assert m.vias[0].branch == 'z9hG4bK1' and m.from_.tag == '1'
        assert m.cseq == CSeq(2, 'OPTIONS')
        assert m.get('Subject') == 'first line second\tline'

    def test_get_all_comma_lists(self):
        m = parse_message(invite(extra=(
            b'Allow: INVITE, ACK,BYE\r\nAllow: CANCEL\r\n'
            b'Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n'
            b'WWW-Authenticate: Digest realm="a, b", nonce="x"\r\n'
            b'Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n')))
        assert m.get_all('Allow') == ['INVITE', 'ACK', 'BYE', 'CANCEL']
        assert m.get_all('Record-Route') == ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']
        assert m.get_all('WWW-Authenticate') == ['Digest realm="a, b", nonce="x"']
        assert m.get_all('Date') == ['Sat, 13 Nov 2010 23:29:00 GMT']
        assert len(m.get_all('v')) == 2
        assert m.get_all('Nope') == [] and m.get('Nope') is None

    def test_contact_star_and_quoted_commas(self):
        base = invite().replace(b'Contact: <sip:alice@pc33.atlanta.example.com>\r\n', b'{}')
        m = parse_message(base.replace(b'{}', b'Contact: *\r\n'))
        assert m.get_all('Contact') == ['*'] and m.contacts == []
        m = parse_message(base.replace(
            b'{}', b'Contact: "Doe, J" <sip:a@b>;expires=60, <sip:c@d>;q=0.5\r\n'))
        assert [c.display for c in m.contacts] == ['Doe, J', None]
        assert m.contacts[0].params == {'expires': '60'} and m.contacts[1].params == {'q': '0.5'}

    def test_ipv6_message(self):
        data = (b'REGISTER sip:[2001:db8::1] SIP/2.0\r\n'
                b'Via: SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bKa;rport\r\n'
                b'From: <sip:u@[2001:db8::1]>;tag=1\r\nTo: <sip:u@[2001:db8::1]>\r\n'
                b'Call-ID: 1@[2001:db8::9]\r\nCSeq: 1 REGISTER\r\n'
                b'Contact: <sip:u@[2001:db8::9]:5070;transport=udp>\r\nContent-Length: 0\r\n\r\n')
        m = parse_message(data)
        assert m.uri.host == '[2001:db8::1]'
        assert (m.vias[0].host, m.vias[0].port) == ('[2001:db8::9]', 5070)
        assert m.contacts[0].uri.port == 5070
        assert m.to_bytes() == data

    def test_tel_uri_request(self):
        data = invite().replace(b'INVITE sip:bob@biloxi.example.com', b'INVITE tel:+15551234567')
        m = parse_message(data.replace(b'To: Bob <sip:bob@biloxi.example.com>', b'To: <tel:+15551234567>'))
        assert m.uri.scheme == 'tel' and m.uri.user == '+15551234567'
        assert m.to.uri.user == '+15551234567'

    def test_leading_crlfs_skipped(self):
        m = parse_message(b'\r\n\r\n\r\n' + invite())
        assert m.method == 'INVITE'

    def test_bare_lf_tolerated(self):
        head, body = invite().split(b'\r\n\r\n', 1)
        m = parse_message(head.replace(b'\r\n', b'\n') + b'\n\n' + body)
        assert m.call_id == 'a84b4c76e66710@pc33.atlanta.example.com'
        assert m.body == SDP

    def test_content_length_semantics(self):
        # shorter: truncate (RFC 3261 §18.3)
        assert parse_message(invite(cl=10)).body == SDP[:10]
        # missing over UDP: the rest of the datagram
        m = parse_message(invite().replace(b'Content-Length: %d\r\n' % len(SDP), b''))
        assert m.body == SDP
        # longer: 400
        with pytest.raises(SipParseError) as info:
            parse_message(invite(cl=len(SDP) + 1))
        assert info.value.reason == 'Content-Length exceeds body'
        assert info.value.status == 400 and isinstance(info.value.request, Request)

    def test_non_utf8_bytes_do_not_raise(self):
        data = invite(extra=b'X-Junk: \xff\xfe\xc3(\x80 latin \xe9\r\n')
        m = parse_message(data)
        assert m.get('X-Junk') is not None
        assert m.to_bytes() == data
        data = invite().replace(b'"Alice A."', b'"Al\xffce"')
        m = parse_message(data)
        assert m.from_.tag == '1928301774'
        assert m.to_bytes() == data

    def test_unknown_method(self):
        data = invite().replace(b'INVITE', b'FOOBAR')
        m = parse_message(data)
        assert m.method == 'FOOBAR' and m.cseq.method == 'FOOBAR'

    def test_missing_max_forwards_tolerated(self):
        m = parse_message(invite().replace(b'Max-Forwards: 70\r\n', b''))
        assert m.max_forwards is None

    def test_lazy_properties_raise(self):
        m = parse_message(invite(extra=b'Content-Type: ;;\r\n'))
        m.set('Contact', '<sip:a@b')
        with pytest.raises(SipParseError) as info:
            m.contacts
        assert info.value.reason == 'Bad Contact'

    def test_cache_invalidated_by_set(self):
        m = parse_message(invite())
        assert m.to.tag is None
        m.set('To', f'{m.get("To")};tag=abc')
        assert m.to.tag == 'abc'
        m.remove('Max-Forwards')
        assert m.max_forwards is None


class TestParseErrors:
    @pytest.mark.parametrize('data', [
        b'', b'\r\n\r\n', b'\x00\x01\x02\xff' * 50, b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' * 10,
        b'GET / HTTP/1.1\r\nHost: x\r\n\r\n', b'hello world\r\n\r\n',
        b'SIP/2.0 OK\r\n\r\n', b'SIP/2.0 99 Low\r\nVia: SIP/2.0/UDP a\r\n\r\n',
        b'SIP/3.0 200 OK\r\n\r\n', b'INVITE sip:a@b\r\n\r\n',
    ])
    def test_garbage_is_dropped(self, data):
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.request is None

    def test_error_attributes(self):
        err = SipParseError('Bad CSeq')
        assert err.reason == 'Bad CSeq' and err.request is None and err.status == 400
        assert isinstance(err, ValueError)

    @pytest.mark.parametrize('old,new,reason', [
        (b'CSeq: 314159 INVITE', b'CSeq: 314159', 'Bad CSeq'),
        (b'CSeq: 314159 INVITE', b'CSeq: 314159 BYE', 'CSeq method mismatch'),
        (b'Max-Forwards: 70', b'Max-Forwards: many', 'Bad Max-Forwards'),
        (b'From: "Alice A." <sip', b'From: "Alice A. <sip', 'Bad From'),
        (b'Via: SIP/2.0/TCP proxy', b'Via: SIP/2.0/TCP prox y', 'Bad Via'),
        (b'Call-ID: a84b4c76e66710', b'Call-ID: a84b4c7 6e66710', 'Bad Call-ID'),
        (b'Content-Type: application/sdp\r\n', b'Content-Type: application/sdp\r\nBroken header\r\n',
         'Malformed header'),
        (b'INVITE sip:bob@biloxi.example.com SIP/2.0', b'INVITE sip:bob@biloxi.example.com ;x SIP/2.0',
         'Malformed Request-Line'),
        (b'Content-Length: ', b'Content-Length: 0x', 'Bad Content-Length'),
    ])
    def test_answerable(self, old, new, reason):
        data = invite().replace(old, new, 1)
        if new.startswith(b'Content-Length: 0x'):
            data = invite().replace(b'Content-Length: %d' % len(SDP), b'Content-Length: 0x')
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        err = info.value
        assert err.reason == reason and err.status == 400
        assert isinstance(err.request, Request) and err.request.method == 'INVITE'
        resp = make_response(err.request, err.status, err.reason)
        assert resp.to_bytes().startswith(f'SIP/2.0 400 {reason}\r\n'.encode())

    @pytest.mark.parametrize('header', [b'Via', b'CSeq'])
    def test_missing_mandatory_not_answerable(self, header):
        # without Via there is nowhere to answer, without CSeq nothing to match
        lines = [ln for ln in invite().split(b'\r\n') if not ln.startswith(header + b':')]
        with pytest.raises(SipParseError) as info:
            parse_message(b'\r\n'.join(lines))
        assert info.value.reason == f'Missing {header.decode()}'
        assert info.value.request is None

    @pytest.mark.parametrize('header', [b'From', b'To', b'Call-ID'])
    def test_missing_mandatory_answered_400(self, header):
        lines = [ln for ln in invite().split(b'\r\n') if not ln.startswith(header + b':')]
        with pytest.raises(SipParseError) as info:
            parse_message(b'\r\n'.join(lines))
        err = info.value
        assert err.reason == f'Missing {header.decode()}' and err.status == 400
        resp = make_response(err.request, 400, err.reason)
        assert resp.to_bytes().startswith(f'SIP/2.0 400 Missing {header.decode()}'.encode())
        assert resp.get('Via') and resp.get('CSeq')

    def test_version_505(self):
        with pytest.raises(SipParseError) as info:
            parse_message(invite().replace(b' SIP/2.0\r\n', b' SIP/3.0\r\n', 1))
        assert info.value.status == 505 and info.value.reason == 'Version Not Supported'
        assert info.value.request.method == 'INVITE'

    def test_unsupported_scheme_416(self):
        with pytest.raises(SipParseError) as info:
            parse_message(invite().replace(b'INVITE sip:bob@biloxi.example.com', b'INVITE mailto:bob@x'))
        assert info.value.status == 416 and info.value.reason == 'Unsupported URI Scheme'
        assert info.value.request is not None

    def test_too_large_513(self):
        body = b'a=x-filler:' + b'x' * MAX_MESSAGE + b'\r\n'
        with pytest.raises(SipParseError) as info:
            parse_message(invite(body=body))
        assert info.value.status == 513 and info.value.reason == 'Message too large'
        assert isinstance(info.value.request, Request)
        big_resp = invite(body=body).replace(b'INVITE sip:bob@biloxi.example.com SIP/2.0', b'SIP/2.0 200 OK')
        with pytest.raises(SipParseError) as info:
            parse_message(big_resp)
        assert info.value.request is None

    def test_never_raises_other_exceptions(self):
        # mutate a valid message byte by byte; only SipParseError may escape
        base = invite()
        for i in range(0, len(base), 3):
            for b in (b'\x00', b' ', b'"', b'<', b';', b'\r\n', b'\xff', b':'):
                data = base[:i] + b + base[i + 1:]
                try:
                    parse_message(data)
                except SipParseError:
                    pass


class TestMutation:
    def test_set_add_remove(self):
        r = Request('OPTIONS', 'sip:bob@example.com')
        r.add('Via', 'SIP/2.0/UDP a;branch=z9hG4bK1')
        r.add('v', 'SIP/2.0/UDP b;branch=z9hG4bK2')
        r.add('Via', Via('SIP/2.0', 'UDP', 'top', None, {'branch': 'z9hG4bK0'}), first=True)
        assert [v.host for v in r.vias] == ['top', 'a', 'b']
        r.set('Max-Forwards', 70)
        r.set('max-forwards', '69')
        assert r.get_all('Max-Forwards') == ['69'] and r.max_forwards == 69
        r.remove('VIA')
        assert r.get_all('Via') == [] and r.vias == []
        assert 'Max-Forwards' in r and 'Via' not in r

    def test_add_first_without_existing_goes_to_top(self):
        r = Request('OPTIONS', 'sip:bob@example.com', [('To', '<sip:bob@example.com>')])
        r.add('Via', 'SIP/2.0/UDP a', first=True)
        assert r.headers[0][0] == 'Via'

    def test_set_keeps_position(self):
        r = Request('OPTIONS', 'sip:bob@example.com',
                    [('Via', 'x'), ('To', 'a'), ('From', 'b'), ('To', 'c')])
        r.set('To', 'd')
        assert r.headers == [('Via', 'x'), ('To', 'd'), ('From', 'b')]

    def test_header_injection_rejected(self):
        r = Request('OPTIONS', 'sip:bob@example.com')
        with pytest.raises(ValueError):
            r.add('Subject', 'hi\r\nVia: evil')
        with pytest.raises(ValueError):
            r.set('Subject', 'hi\nthere')

    def test_constructors_and_to_bytes(self):
        uri = Uri('sip', 'bob', None, 'example.com', 5070, {'transport': 'tcp'}, {})
        r = Request('MESSAGE', uri, [('call-id', 'c1@h'), ('l', '99')], body=b'hello')
        assert r.headers == [('Call-ID', 'c1@h'), ('Content-Length', '99')]
        assert r.to_bytes() == (b'MESSAGE sip:bob@example.com:5070;transport=tcp SIP/2.0\r\n'
                                b'Call-ID: c1@h\r\nContent-Length: 5\r\n\r\nhello')
        resp = Response(486, 'Busy Here')
        assert bytes(resp) == b'SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n\r\n'

    def test_copy_is_independent(self):
        m = parse_message(invite())
        c = m.copy()
        c.set('Max-Forwards', '1')
        c.uri.host = 'elsewhere'
        assert m.max_forwards == 70 and m.uri.host == 'biloxi.example.com'
        assert c.max_forwards == 1 and isinstance(c, Request)


class TestMakeResponse:
    def test_copies_identifiers(self):
        req = parse_message(invite(extra=b'Record-Route: <sip:p1;lr>\r\nTimestamp: 54\r\n'))
        resp = make_response(req, 200, to_tag='totag1', headers=[('Contact', '<sip:me@192.0.2.2>')],
                             body=b'v=0\r\n')
        assert resp.status == 200 and resp.reason == 'OK'
        assert resp.get_all('Via') == req.get_all('Via')
        assert [n for n, _ in resp.headers] == ['Via', 'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact']
        assert resp.get('From') == req.get('From')
        assert resp.to.tag == 'totag1' and resp.get('To') == req.get('To') + ';tag=totag1'
        assert resp.call_id == req.call_id and resp.cseq == req.cseq
        again = parse_message(resp.to_bytes())
        assert again.body == b'v=0\r\n' and again.get('Content-Length') == '5'

    def test_keeps_existing_to_tag(self):
        req = parse_message(invite().replace(b'To: Bob <sip:bob@biloxi.example.com>',
                                             b'To: Bob <sip:bob@biloxi.example.com>;tag=old'))
        assert make_response(req, 200, to_tag='new').to.tag == 'old'

    def test_no_to_tag_by_default_and_100_timestamp(self):
        req = parse_message(invite(extra=b'Timestamp: 54\r\n'))
        resp = make_response(req, 100)
        assert resp.reason == 'Trying' and resp.to.tag is None and resp.get('Timestamp') == '54'
        assert make_response(req, 180).get('Timestamp') is None

    @pytest.mark.parametrize('code', [100, 180, 181, 183, 200, 202, 400, 401, 403, 404, 405, 407, 408,
                                      413, 415, 416, 420, 480, 481, 482, 483, 484, 486, 487, 488,
                                      491, 500, 501, 503, 504, 505, 513, 603])
    def test_reasons(self, code):
        assert REASONS[code]
        assert make_response(parse_message(invite()), code).reason == REASONS[code]

    def test_custom_and_unknown_reason(self):
        req = parse_message(invite())
        assert make_response(req, 404, 'Nobody Home').reason == 'Nobody Home'
        assert make_response(req, 499).reason == 'Request Failure'

    def test_dict_headers(self):
        resp = make_response(parse_message(invite()), 405, headers={'Allow': 'INVITE, ACK'})
        assert resp.get_all('Allow') == ['INVITE', 'ACK']


# --- stream framing ------------------------------------------------------------------------

class TestStreamFramer:
    def test_byte_by_byte(self):
        data = invite()
        f = StreamFramer()
        out = []
        for i in range(len(data)):
            out += f.feed(data[i:i + 1])
        assert out == [data]

    def test_two_messages_one_feed_and_keepalives(self):
        a, b = invite(), invite(body=b'', cl=0)
        f = StreamFramer()
        assert f.feed(b'\r\n\r\n' + a + b'\r\n' + b + a[:30]) == [a, b]
        assert f.pings == 1
        assert f.feed(a[30:]) == [a]
        assert f.feed(b'\r\n\r\n\r\n\r\n') == []
        assert f.pings == 3

    def test_body_split_across_feeds(self):
        data = invite()
        f = StreamFramer()
        cut = data.index(b'\r\n\r\n') + 10
        assert f.feed(data[:cut]) == []
        assert f.feed(data[cut:-1]) == []
        assert f.feed(data[-1:] + data) == [data, data]

    def test_missing_content_length_means_empty_body(self):
        msg = invite().replace(b'Content-Length: %d\r\n' % len(SDP), b'')
        head = msg[:msg.index(b'\r\n\r\n') + 4]
        f = StreamFramer()
        out = f.feed(msg)
        assert out == [head]
        assert parse_message(out[0]).body == b''

    def test_compact_content_length(self):
        msg = invite().replace(b'Content-Length:', b'l :')
        assert StreamFramer().feed(msg + msg) == [msg, msg]

    @pytest.mark.parametrize('value', [b'abc', b'-1', b'1 2', b''])
    def test_bad_content_length(self, value):
        f = StreamFramer()
        msg = invite().replace(b'Content-Length: %d' % len(SDP), b'Content-Length: ' + value)
        with pytest.raises(SipParseError) as info:
            f.feed(msg)
        assert info.value.reason == 'Bad Content-Length'
        with pytest.raises(SipParseError):
            f.feed(invite())  # unusable afterwards

    def test_conflicting_content_lengths(self):
        with pytest.raises(SipParseError):
            StreamFramer().feed(invite(extra=b'Content-Length: 3\r\n'))

    def test_oversize_headers(self):
        f = StreamFramer()
        f.feed(b'INVITE sip:a@b SIP/2.0\r\n')
        with pytest.raises(SipParseError) as info:
            for _ in range(MAX_MESSAGE // 1000 + 2):
                f.feed(b'X-Filler: ' + b'x' * 990 + b'\r\n')
        assert info.value.reason == 'Message too large'
        with pytest.raises(SipParseError):
            f.feed(b'\r\n')

    def test_oversize_content_length(self):
        with pytest.raises(SipParseError) as info:
            StreamFramer().feed(invite(cl=MAX_MESSAGE))
        assert info.value.reason == 'Message too large'


# --- identifiers and performance -------------------------------------------------------------

def test_identifiers():
    branches = {gen_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith('z9hG4bK') and len(b) > 7 + 8 for b in branches)
    tags = {gen_tag() for _ in range(100)}
    assert len(tags) == 100 and all(t.isalnum() for t in tags)
    cid = gen_call_id('192.0.2.1')
    assert cid.endswith('@192.0.2.1') and gen_call_id('h') != gen_call_id('h')
    assert parse_via(f'SIP/2.0/UDP h;branch={gen_branch()}').branch.startswith('z9hG4bK')
