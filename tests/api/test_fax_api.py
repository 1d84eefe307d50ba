"""/api/fax (§3.13) and the fax parts of /api/user (§3.5) through a real server: every status
string, a real PDF rastered by ghostscript, the downloads with the session and with did/dkey,
send checks up to the engine, and a transmission cut off by a restart."""
from __future__ import annotations

import asyncio
import io

import httpx
from PIL import Image

from telephony.api.qloud.common import dkey
from telephony.events import EventSink
from telephony.store.db import Database
from telephony.store.faxes import FaxStore
from telephony.store.objects import ObjectStore
from tests import faxdocs
from tests.api.conftest import Api
from tests.api.test_call_api import Events
from tests.api.test_partner_cdr import KEY, partner_client
from tests.api.test_partner_policy import EXAMPLE_FILTER
from tests.integration.conftest import ServerProcess, free_port

JOE_NUMBER, BOB_NUMBER = '+4930555001', '+4930555002'
FIXED, MOBILE = '+492216698123', '+4915112345678'     # EXAMPLE_FILTER lets faxes reach fixed lines
NOBODY = '00000000-0000-4000-8000-000000000000'
PDF_HEADERS = {'Content-Type': 'application/pdf'}


def status(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return r.json()['status']


def new_fax(c, description: str = '') -> str:
    body = c.post('/api/fax', json={'description': description}).json()
    assert body['status'] == 'ok', body
    return body['uuid']


def converted(c, events: Events, pages: int = 2, **params) -> str:
    """A fax whose contents came from a PDF of `pages` pages, after fax_convert."""
    uuid = new_fax(c, 'contract')
    r = c.post(f'/api/fax/{uuid}/contract.pdf', content=faxdocs.pdf(pages), headers=PDF_HEADERS,
               params=params)
    assert status(r) == 'ok'
    ev = events.wait(lambda e: e['event'] == 'fax_convert' and e['fax'] == uuid,
                     timeout=60, what='fax_convert')
    assert ev['page_count'] == pages
    return uuid


def test_fax_object_create_get_modify_trash_purge(api):
    api.add_user('joe')
    api.add_user('bob')
    c, other = api.login('joe'), api.login('bob')
    events = Events(c)
    bare = c.post('/api/fax').json()
    assert bare['status'] == 'ok'
    uuid = new_fax(c, 'Versicherungsvertrag Hausrat')
    ev = events.wait(lambda e: e['event'] == 'object_new' and e['object'] == uuid,
                     what='object_new')
    assert ev['type'] == 'fax' and ev['description'] == 'Versicherungsvertrag Hausrat'
    fax = c.get(f'/api/fax/{uuid}').json()['fax']
    assert fax['description'] == 'Versicherungsvertrag Hausrat' and fax['status'] == 'empty'
    assert fax['report'] == {} and fax['tag'] == [] and 'page_count' not in fax
    assert isinstance(fax['time'], int) and fax['owner']
    # field syntax
    assert status(c.post('/api/fax', json={'description': 'x' * 201})) == 'wrong-syntax'
    assert status(c.post(f'/api/fax/{uuid}', json={})) == 'missing-element'
    assert status(c.post(f'/api/fax/{uuid}', json={'description': 'y' * 201})) == 'wrong-syntax'
    # another user's fax, or none, is wrong-fax everywhere
    for who, target in ((other, uuid), (c, NOBODY)):
        assert status(who.get(f'/api/fax/{target}')) == 'wrong-fax'
        assert status(who.post(f'/api/fax/{target}', json={'description': 'z'})) == 'wrong-fax'
        assert status(who.delete(f'/api/fax/{target}')) == 'wrong-fax'
        assert status(who.post(f'/api/fax/{target}/x.pdf', content=faxdocs.pdf(1),
                               headers=PDF_HEADERS)) == 'wrong-fax'
        assert status(who.post(f'/api/fax/{target}/send',
                               json={'from': JOE_NUMBER, 'to': FIXED})) == 'wrong-fax'
    assert status(c.post(f'/api/fax/{uuid}', json={'description': 'renamed'})) == 'ok'
    ev = events.wait(lambda e: e['event'] == 'object_modify' and e['object'] == uuid,
                     what='object_modify')
    assert ev['description'] == 'renamed'
    # to the trash: still readable, not changeable
    assert status(c.delete(f'/api/fax/{uuid}')) == 'ok'
    assert c.get(f'/api/fax/{uuid}').json()['fax']['trash'] is True
    assert status(c.post(f'/api/fax/{uuid}', json={'description': 'again'})) == 'access-denied'
    assert status(c.post(f'/api/fax/{uuid}/x.pdf', content=faxdocs.pdf(1),
                         headers=PDF_HEADERS)) == 'access-denied'
    assert status(c.post(f'/api/fax/{uuid}/send', json={'from': JOE_NUMBER, 'to': FIXED})) \
        == 'access-denied'
    # deleting from the trash, or with purge, deletes for good
    assert status(c.delete(f'/api/fax/{uuid}')) == 'ok'
    assert status(c.get(f'/api/fax/{uuid}')) == 'wrong-fax'
    assert status(c.delete(f'/api/fax/{bare["uuid"]}', params={'purge': ''})) == 'ok'
    ev = events.wait(lambda e: e['event'] == 'object_delete' and e['object'] == bare['uuid'],
                     what='object_delete')
    assert ev['purge'] is True
    assert status(c.get(f'/api/fax/{bare["uuid"]}')) == 'wrong-fax'
    # DELETE /api/trash takes faxes too
    third = new_fax(c, 'third')
    assert status(c.delete(f'/api/fax/{third}')) == 'ok'
    assert status(c.delete('/api/trash')) == 'ok'
    assert status(c.get(f'/api/fax/{third}')) == 'wrong-fax'


def test_pdf_upload_converts_and_downloads_with_session_and_download_id(start_api):
    api = start_api(TELEPHONY_FAX_UPLOAD_MAX_BYTES='150000')
    api.add_user('joe')
    c = api.login('joe')
    events = Events(c)
    uuid = converted(c, events, 2)
    fax = c.get(f'/api/fax/{uuid}').json()['fax']
    assert (fax['status'], fax['page_count'], fax['x_res'], fax['y_res']) == ('ok', 2, 203, 196)
    tif = c.get(f'/api/fax/{uuid}/contract.tif')
    assert tif.status_code == 200 and tif.headers['content-type'] == 'image/tiff'
    assert tif.headers['content-disposition'] == 'attachment; filename="contract.tif"'
    with Image.open(io.BytesIO(tif.content)) as im:
        assert im.n_frames == 2 and im.size == (1728, 2292) and im.mode == '1'
        assert tuple(round(v) for v in im.info['dpi']) == (204, 196)
    pdf = c.get(f'/api/fax/{uuid}/contract.pdf', params={'inline': ''})
    assert pdf.status_code == 200 and pdf.content.startswith(b'%PDF-')
    assert pdf.headers['content-disposition'].startswith('inline;')
    for page, side in ((1, 'left'), (2, 'right')):
        png = c.get(f'/api/fax/{uuid}/{page}/page.png')
        assert png.status_code == 200 and png.headers['content-type'] == 'image/png'
        with Image.open(io.BytesIO(png.content)) as im:
            assert im.size == (1728, 2292) and faxdocs.dark_side(im) == side
    for bad in ('3/page.png', '0/page.png', 'one/page.png', '1/page.gif', 'contract.doc'):
        r = c.get(f'/api/fax/{uuid}/{bad}')
        assert r.status_code == 404 and r.content == b'', bad
    # the download id: no session, did + dkey for this fax only
    anon = api.client()
    assert anon.get(f'/api/fax/{uuid}/contract.tif').status_code == 404
    good = {'did': c.did, 'dkey': dkey(uuid, c.sid)}
    assert anon.get(f'/api/fax/{uuid}/1/p.png', params=good).status_code == 200
    assert anon.get(f'/api/fax/{uuid}/contract.pdf', params=good).status_code == 200
    wrong = {'did': c.did, 'dkey': dkey(NOBODY, c.sid)}
    assert anon.get(f'/api/fax/{uuid}/1/p.png', params=wrong).status_code == 404
    assert anon.get(f'/api/fax/{uuid}/contract.tif', params={'did': c.did}).status_code == 404
    # a new upload replaces the contents
    r = c.post(f'/api/fax/{uuid}/one.pdf', content=faxdocs.pdf(1), headers=PDF_HEADERS,
               params={'orientation': 'landscape', 'mode': 'photo'})
    assert status(r) == 'ok'
    events.wait(lambda e: e['event'] == 'fax_convert' and e.get('page_count') == 1,
                timeout=60, what='the second fax_convert')
    assert c.get(f'/api/fax/{uuid}').json()['fax']['page_count'] == 1
    # bad contents: not a PDF, a PDF ghostscript cannot read, too many bytes
    assert status(c.post(f'/api/fax/{uuid}/x.pdf', content=b'plain text',
                         headers=PDF_HEADERS)) == 'malformed-file'
    assert status(c.post(f'/api/fax/{uuid}/x.pdf', content=b'%PDF-1.4\nnothing else',
                         headers=PDF_HEADERS)) == 'malformed-file'
    big = faxdocs.pdf(1) + b'%' * 150_000       # above TELEPHONY_FAX_UPLOAD_MAX_BYTES
    assert status(c.post(f'/api/fax/{uuid}/x.pdf', content=big, headers=PDF_HEADERS)) \
        == 'too-large'
    assert c.get(f'/api/fax/{uuid}').json()['fax']['page_count'] == 1   # kept


def test_send_checks_until_the_engine(start_api):
    # a settings trunk nobody answers on: every number has a route (no route: forbidden-to,
    # tests/integration/test_fax_send.py)
    api = start_api(TELEPHONY_FAX_PAGES_PER_MONTH='1', TELEPHONY_PHONE_POOL='+4930555009',
                    TELEPHONY_TRUNK=f'127.0.0.1:{free_port()}')
    ids = {'acme': api.add_user('acme', KEY, '--partner'),
           'joe': api.add_user('joe', 'secret12345', '--partner-of', 'acme'),
           'bob': api.add_user('bob')}
    api.cli('phone', 'add', JOE_NUMBER, '--user', 'joe')
    api.cli('phone', 'add', BOB_NUMBER, '--user', 'bob')
    assert status(partner_client(api).post(f'/api/partner/callfilter/{ids["joe"]}',
                                           json=EXAMPLE_FILTER)) == 'ok'
    c = api.login('joe')
    events = Events(c)
    locked = [k for k in c.post('/api/phone', json={'create': True}).json() if k != 'status'][0]
    empty = new_fax(c)
    one = converted(c, events, 1)
    two = converted(c, events, 2)

    def send(uuid, **body):
        return status(c.post(f'/api/fax/{uuid}/send', json={'from': JOE_NUMBER, 'to': FIXED,
                                                             **body}))
    assert send(one, **{'from': BOB_NUMBER}) == 'wrong-phone'
    assert send(one, **{'from': '+4930999999'}) == 'wrong-phone'
    assert send(one, **{'from': locked}) == 'locked-phone'
    assert send(empty) == 'no-content'
    assert send(one, to=MOBILE) == 'forbidden-to'
    assert send(two) == 'quota-exceeded'
    for bad in ({'to': '0221'}, {'from': 'joe'}, {'fax_ident': 'ACME'},
                {'fax_header': 'h' * 41}):
        assert send(one, **bad) == 'wrong-syntax', bad
    assert status(c.post(f'/api/fax/{one}/send', json={'from': JOE_NUMBER})) == 'missing-element'
    assert c.get(f'/api/fax/{one}').json()['fax']['report'] == {}
    user = c.get('/api/user').json()['user']
    assert user['feature']['quota']['fax'] == 1 and user['feature']['used']['fax'] == 0
    assert status(c.post(f'/api/fax/{one}/report/{NOBODY}/cancel')) == 'wrong-fax'
    sent = c.post(f'/api/fax/{one}/send', json={'from': JOE_NUMBER, 'to': FIXED}).json()
    assert sent['status'] == 'ok', sent                    # to the engine: a report in `dial`
    assert status(c.post(f'/api/fax/{one}/report/{sent["uuid"]}/cancel')) == 'ok'
    assert c.get(f'/api/fax/{one}').json()['fax']['report'][sent['uuid']]['status'] == 'cancel'
    assert c.get('/api/user').json()['user']['feature']['used']['fax'] == 0   # given back


def test_user_fax_defaults_and_quota(api):
    uuid = api.add_user('joe')
    c = api.login('joe')
    user = c.get('/api/user').json()
    assert user['status'] == 'ok'
    u = user['user']
    assert u['uuid'] == uuid and u['username'] == 'joe'
    assert u['feature'] == {'pack': [], 'quota': {'fax': 50}, 'used': {'fax': 0}, 'feature': {}}
    assert 'fax_ident' not in u and 'fax_header' not in u      # only when set
    assert status(c.post('/api/user', json={'fax_ident': '+49 221 9999999',
                                            'fax_header': 'John Doe, Inc.'})) == 'ok'
    u = c.get('/api/user').json()['user']
    assert u['fax_ident'] == '+49 221 9999999' and u['fax_header'] == 'John Doe, Inc.'
    assert status(c.post('/api/user', json={'fax_ident': 'ABC'})) == 'wrong-syntax'
    assert status(c.post('/api/user', json={'fax_header': 'x' * 41})) == 'wrong-syntax'
    assert status(c.post('/api/user', json={'password': 'newpass1', 'old_password': 'x'})) \
        == 'fail'
    assert status(api.client().get('/api/user')) == 'no-session'


def _engine_sends(data, owner: str, fax: str) -> str:
    """What POST .../send does once an engine is wired: pages reserved, a report in `dial`,
    written to the stopped server's database with the store's own functions."""
    async def run():
        db = Database.for_data_dir(data)
        await db.open()
        faxes = FaxStore(db, ObjectStore(db, data, EventSink()), EventSink())
        await faxes.reserve_pages(owner, 1)
        report = await faxes.outgoing_report(owner, fax, JOE_NUMBER, FIXED, pages=1)
        await db.close()
        return report
    return asyncio.run(run())


def test_a_transmission_cut_off_by_a_restart(tmp_path):
    data = tmp_path / 'data'
    first = Api(ServerProcess(data).start())
    try:
        owner = first.add_user('joe')
        first.cli('phone', 'add', JOE_NUMBER, '--user', 'joe')
        c = first.login('joe')
        fax = converted(c, Events(c), 1)
    finally:
        first.close()
        first.server.stop()
    report = _engine_sends(data, owner, fax)

    second = Api(ServerProcess(data).start())
    try:
        c = second.login('joe')
        got = c.get(f'/api/fax/{fax}').json()['fax']['report'][report]
        assert got['incoming'] is False and got['status'] == 'error' and 'time_end' in got
        assert got['from'] == JOE_NUMBER and got['to'] == FIXED
        assert c.get('/api/user').json()['user']['feature']['used']['fax'] == 0   # refunded
        # sent once: the contents are fixed; an ended report cannot be cancelled
        assert status(c.post(f'/api/fax/{fax}/x.pdf', content=faxdocs.pdf(1),
                             headers=PDF_HEADERS)) == 'wrong-state'
        assert status(c.post(f'/api/fax/{fax}/report/{report}/cancel')) == 'wrong-state'
        # the transmission report, with the session and with a download id for the report
        r = c.get(f'/api/fax/{fax}/report/{report}/report.pdf')
        assert r.status_code == 200 and r.content.startswith(b'%PDF-')
        anon = second.client()
        ok_key = {'did': c.did, 'dkey': dkey(report, c.sid)}
        assert anon.get(f'/api/fax/{fax}/report/{report}/r.pdf', params=ok_key).status_code == 200
        fax_key = {'did': c.did, 'dkey': dkey(fax, c.sid)}
        assert anon.get(f'/api/fax/{fax}/report/{report}/r.pdf', params=fax_key).status_code == 404
        assert c.get(f'/api/fax/{fax}/report/{NOBODY}/r.pdf').status_code == 404
    finally:
        second.close()
        second.server.stop()
