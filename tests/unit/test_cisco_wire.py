"""The pure parts of the Cisco /api/v1 dialect (issue 9): XML rendering, form parsing,
parameter syntax, dial transform match syntax, system/status with trunk registrations."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from telephony.api.cisco import xml
from telephony.api.cisco.app import status_xml
from telephony.api.cisco.errors import ParameterError
from telephony.api.cisco.fields import Invalid, addresses, domain, host_port, number, text, url
from telephony.api.cisco.forms import parse
from telephony.api.cisco.resources import DIAL_TRANSFORMS, check_trunk
from telephony.dialplan.fields import FieldError


def test_an_object_renders_its_set_fields_escaped():
    body = xml.element('dialTransform', {'match': '($1/<a&b>/)', 'transform': None,
                                         'priority': 3, 'flag': False}, id='x"1')
    assert body == ('<dialTransform id=\'x"1\'><match>($1/&lt;a&amp;b&gt;/)</match>'
                    '<priority>3</priority><flag>false</flag></dialTransform>')
    assert ET.fromstring(body).get('id') == 'x"1'
    assert xml.element('cdrReceiver', {'uri': None}, id='r') == '<cdrReceiver id="r"/>'


def test_collections_and_failures_as_the_document_shows_them():
    assert xml.collection('coSpaces', 0, []) == '<coSpaces total="0"/>'
    assert xml.collection('calls', 7, ['<call id="a"/>']) == '<calls total="7"><call id="a"/></calls>'
    assert xml.failure('coSpaceDoesNotExist') == \
        '<?xml version="1.0"?>\n<failureDetails><coSpaceDoesNotExist/></failureDetails>\n'
    body = xml.failure(params=[ParameterError('language', 'invalidValue'),
                               ParameterError('a"b', 'valueTooLong')])
    root = ET.fromstring(body)
    assert [(p.get('parameter'), p.get('error')) for p in root] == \
        [('language', 'invalidValue'), ('a"b', 'valueTooLong')]
    assert xml.failure() == '<?xml version="1.0"?>\n<failureDetails></failureDetails>\n'


def test_form_bodies():
    form = parse(b'domain=a.example.com&x=1+2&x=%2B3&&flag&pw=%C3%A9t%C3%A9&bad=%ff&%ff=1')
    assert form.values == {'domain': 'a.example.com', 'x': '+3', 'flag': '', 'pw': 'été'}
    assert form.undecodable == {'bad'}
    again = parse(b'bad=%ff&bad=ok')   # the last value wins, whatever came before
    assert again.values == {'bad': 'ok'} and again.undecodable == set()


@pytest.mark.parametrize('parser,good,bad', [
    (number(), ['0', '-7', '+12', '2147483647'], ['', '1.5', '0x1', '2147483648', '1e3', ' ']),
    (number(60, 86400), ['60', '86400'], ['59', '86401']),
    (text(5), ['', 'abcde', 'été'], ['abcdef', 'a\nb', 'a\x00', 'a\u2028']),
    (domain(wildcard=True), ['example.com', '*.com', 'exa*.com', '*', '192.0.2.1', '[::1]'],
     ['exa mple.com', 'a..b', '-a.com', 'a/b', 'a:5060']),
    (domain(wildcard=False), ['example.com', 'EXAMPLE.com.'], ['*.com', '*', 'a_b.com']),
    (host_port, ['proxy.example.com', 'proxy:5070', '192.0.2.1:5060', '[2001:db8::1]:5061',
                 '[::1]'], ['proxy:0', 'proxy:65536', 'proxy:', '2001:db8::1', '[x]:1', 'a b']),
    (addresses, ['192.0.2.1', '192.0.2.0/24, 2001:db8::/32'], ['', ',', '192.0.2.300',
                                                             'trunk.example.com']),
    (url, ['http://127.0.0.1:8080/cdr', 'https://cdr.example.com/a?b=c'],
     ['ftp://x/', 'http://', 'http://x:99999/', 'http://a b/', 'cdr.example.com']),
])
def test_parameter_syntax(parser, good, bad):
    for value in good:
        parser(value)
    for value in bad:
        with pytest.raises(Invalid):
            parser(value)


def test_trunk_addresses_are_stored_without_spaces():
    assert addresses(' 192.0.2.1 , 198.51.100.0/24 ') == '192.0.2.1,198.51.100.0/24'


def test_dial_transforms_are_checked_by_the_core():
    check = DIAL_TRANSFORMS.check
    assert check({'type': 'phone', 'match': '($2/^7/)'}) == []
    assert check({'match': '($1/^44$/) ($2/^7/)'}) == [ParameterError('match')]   # raw: $1 only
    assert check({'type': 'strip', 'match': '($2/^7/)'}) == [ParameterError('match')]
    for bad in ('$1/44/', '($1/44)', '(1/44/)', '($1/44/)x', '($x/44/)', '($1/[/)',
                '($1/(a|a)*b/)'):   # the last would backtrack for ever on a dialled string
        assert check({'type': None, 'match': bad}) == [ParameterError('match')], bad
    assert check({'transform': '$1{/+/00/}'}) == []   # the document's own: a literal +


def test_a_trunk_parameter_the_account_refuses_names_it():
    # the outbound rule's own reading would refuse this first; the trunk's is checked too
    with pytest.raises(FieldError) as exc:
        check_trunk({'sipProxy': 'sip.example', 'sipProxyTransport': 'tls'})
    assert exc.value.parameter == 'sipProxyTransport'
    check_trunk({'domain': 'x', 'sipProxy': None})   # no proxy: no trunk account


def test_system_status_shows_the_trunk_registrations():
    regs = [{'id': 'r1', 'proxy': 'sip.example.net:5060', 'user': 'pbx', 'state': 'registered',
             'lastStatus': 200, 'lastReason': 'OK', 'expires': 3541},
            {'id': 'r2', 'proxy': '192.0.2.9', 'user': 'x<y', 'state': 'failed',
             'lastStatus': 403, 'lastReason': 'Forbidden', 'expires': None}]
    counts = {'callLegsMaxActive': 4, 'callLegsCompleted': 9, 'cdrCorrelatorIndex': 36}
    root = ET.fromstring(status_xml({'uptime': 12.7, 'calls': 3}, regs, '1.2.3', 0.0, counts))
    got = {c.tag: c.text for c in root if c.tag != 'trunkRegistrations'}
    assert got == {'softwareVersion': '1.2.3', 'uptimeSeconds': '12', 'clusterEnabled': 'false',
                   'cdrTime': '1970-01-01T00:00:00Z', 'callLegsActive': '3',
                   'callLegsMaxActive': '4', 'callLegsCompleted': '9', 'cdrCorrelatorIndex': '36'}
    assert [c.tag for c in root][4:8] == ['callLegsActive', 'callLegsMaxActive',   # §10.1's order
                                          'callLegsCompleted', 'cdrCorrelatorIndex']
    trunks = root.find('trunkRegistrations')
    assert trunks.get('total') == '2'
    assert [(t.get('id'), {c.tag: c.text for c in t}) for t in trunks] == [
        ('r1', {'proxy': 'sip.example.net:5060', 'user': 'pbx', 'state': 'registered',
                'lastStatus': '200', 'lastReason': 'OK', 'expires': '3541'}),
        ('r2', {'proxy': '192.0.2.9', 'user': 'x<y', 'state': 'failed', 'lastStatus': '403',
                'lastReason': 'Forbidden'})]
