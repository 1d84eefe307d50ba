"""Fax end to end (issue 11 "Tests: loopback" and "T.38"): the server sends a real 2-page PDF
from number A to number B on itself. The router never sends a call for one of our own numbers
to a trunk, so the loop is its own-number path: a real SIP INVITE from our stack to our own
port, which comes back in as an inbound call to B (fax_enable). The received pages are the
sent TIFF's pixel for pixel below the header rows; both reports and the events carry the
documented fields. Once on G.711 (fax_t38_request off), once with both legs switched to T.38
by the receiver's re-INVITE."""
from __future__ import annotations

# ruff: noqa: F811 -- start_api is the API tests' fixture, imported to be used as one

import pytest

from telephony.media.fax import spandsp
from tests.api.conftest import start_api  # noqa: F401 -- the fixture
from tests.api.test_call_api import Events
from tests.api.test_fax_api import converted, status
from tests.fax.test_fax_sessions import assert_same_pages
from tests.api.test_partner_cdr import KEY
from tests.integration.test_fax_calls import the_cdr, tiff_of
from tests.integration.test_fax_send import report_events

pytestmark = pytest.mark.skipif(not spandsp.available(), reason='libspandsp2 not installed')

A, B = '+4930555001', '+4930555002'
IDENT, HEADER = '+49 30 555001', 'Loopback Ltd.'
REPORT_FIELDS = {'incoming', 'from', 'to', 'time_start', 'time_end', 'status',
                 'sip_status_code', 'fax_error_code'}


@pytest.mark.parametrize('t38', [False, True], ids=['g711', 't38'])
def test_a_pdf_sent_from_a_to_b_arrives_pixel_identical(start_api, tmp_path, t38):
    api = start_api(TELEPHONY_FAX_T38_REQUEST='true' if t38 else 'false')
    api.add_user('acme', KEY, '--partner')                  # sees joe's CDRs
    api.add_user('joe', 'secret12345', '--partner-of', 'acme')
    api.cli('phone', 'add', A, '--user', 'joe')
    api.cli('phone', 'add', B, '--user', 'joe', '--fax-enable')
    c = api.login('joe')
    assert status(c.post('/api/user', json={'fax_ident': IDENT, 'fax_header': HEADER})) == 'ok'
    events = Events(c)
    fax = converted(c, events, 2)                       # fax_convert with page_count 2
    sent = tmp_path / 'sent.tif'
    sent.write_bytes(c.get(f'/api/fax/{fax}/sent.tif').content)

    r = c.post(f'/api/fax/{fax}/send', json={'from': A, 'to': B})
    assert r.status_code == 200 and r.json()['status'] == 'ok', r.text
    report = r.json()['uuid']
    out = report_events(events, report, 'ok', timeout=240)
    assert [x['status'] for x in out] == ['dial', 'transmit', 'ok']
    done = out[-1]
    assert REPORT_FIELDS <= set(done)
    assert done['incoming'] is False and done['from'] == A and done['to'] == B
    assert done['sip_status_code'] == 200 and done['fax_error_code'] == 0

    # B's side: a new incoming fax object, its report in transmit then ok
    new = events.wait(lambda e: e['event'] == 'object_new' and e.get('type') == 'fax'
                      and e['object'] != fax, timeout=30, what='object_new of the received fax')
    got = new['object']
    incoming = events.wait(lambda e: e['event'] == 'fax_report' and e['fax'] == got and any(
        x['status'] == 'ok' for x in e['report'].values()), timeout=60, what='B fax_report ok')
    (rx,) = incoming['report'].values()
    assert REPORT_FIELDS <= set(rx)
    assert rx['incoming'] is True and rx['from'] == A and rx['to'] == B
    assert rx['sip_status_code'] == 200 and rx['fax_error_code'] == 0
    assert rx['time_end'] >= rx['time_start']
    received = c.get(f'/api/fax/{got}').json()['fax']
    assert received['page_count'] == 2 and received['status'] == 'ok'
    assert_same_pages(sent, tiff_of(c, got, tmp_path), 2)   # pixel for pixel below the header

    ends = api.server.wait_event('fax-rx-end', fax=got)
    assert ends[0]['t38'] == ('yes' if t38 else 'no'), [
        line for line in api.server.log_lines() if 't38' in line or 'cng' in line
        or 'INVITE' in line[:200]]
    switched = {e['leg'] for e in api.server.events('t38-switched')}
    if t38:          # both legs of the loop: the receiver's re-INVITE and the sender's answer
        api.server.wait_event('fax-t38-switched')
        assert len(switched) == 2, api.server.events('t38-switched')
    else:
        assert not switched and not api.server.events('fax-t38-request')

    # the CDRs (§9.1.4): both legs are service fax with their fax object and the pages
    tx, rx_cdr = the_cdr(api, A), the_cdr(api, B)
    assert (tx['fax_id'], tx['page_count'], tx['b_number']) == (fax, 2, B), tx
    assert (rx_cdr['fax_id'], rx_cdr['page_count'], rx_cdr['a_number']) == (got, 2, A), rx_cdr
