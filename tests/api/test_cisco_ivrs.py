"""/api/v1/ivrs (CMS §8.9) against the real server: create, read, update, unset, delete; the
collection with filter/offset/limit; every parameter error and failure reason
(ivrDoesNotExist, ivrUriConflict, duplicateCoSpaceUri against an IVR's uri,
tenantDoesNotExist, tenantGroupDoesNotExist, ivrBrandingProfileDoesNotExist, tooManyIvrs)."""
from __future__ import annotations

import pytest

from telephony.api.cisco.cospaces import MAX_IVRS
from tests.integration.conftest import ServerProcess

from .cisco import ADMIN, PASSWORD, basic_client, create, failure, get_object, is_xml, listing
from .conftest import Api


@pytest.fixture(scope='module')
def c(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp('ivrs') / 'data').start()
    api = Api(server)
    try:
        api.add_user(ADMIN, PASSWORD, '--admin')
        yield basic_client(api)
    finally:
        api.close()
        server.stop()


def refused(r, status: int, reasons: list[str], params: dict | None = None) -> None:
    assert r.status_code == status, r.text
    assert failure(r) == (reasons, params or {})


def test_ivr_lifecycle(c):
    ivr = create(c, 'ivrs', uri='meet.ivr')
    tag, got = get_object(c, 'ivrs', ivr)
    # §8.9.2's defaults: resolveCoSpaceCallIds true, resolveLyncConferenceIds false
    assert tag == 'ivr' and got == {'uri': 'meet.ivr', 'resolveCoSpaceCallIds': 'true',
                                    'resolveLyncConferenceIds': 'false'}
    assert is_xml(c.put(f'/ivrs/{ivr}', data={'uri': 'Meet.IVR2', 'resolveCoSpaceCallIds': 'false',
                                              'resolveLyncConferenceIds': 'true'})).status_code == 200
    assert get_object(c, 'ivrs', ivr)[1] == {'uri': 'Meet.IVR2', 'resolveCoSpaceCallIds': 'false',
                                             'resolveLyncConferenceIds': 'true'}
    assert c.put(f'/ivrs/{ivr}', data={'resolveCoSpaceCallIds': ''}).status_code == 200
    assert get_object(c, 'ivrs', ivr)[1]['resolveCoSpaceCallIds'] == 'true'   # back to its default
    # the uri is required: it cannot be unset
    refused(c.put(f'/ivrs/{ivr}', data={'uri': ''}), 400, [], {'uri': 'invalidValue'})

    assert is_xml(c.delete(f'/ivrs/{ivr}')).status_code == 200
    for method in ('get', 'put', 'delete'):
        refused(getattr(c, method)(f'/ivrs/{ivr}'), 404, ['ivrDoesNotExist'])


def test_ivr_collection(c):
    made = [create(c, 'ivrs', uri=f'list.ivr{i}') for i in range(3)]
    total, items = listing(c, 'ivrs', filter='LIST.ivr')
    assert total == 3 and [i for i, _ in items] == made
    assert items[0][1] == {'uri': 'list.ivr0'}   # §8.9.1: the uri
    total, items = listing(c, 'ivrs', filter='list.ivr', offset=1, limit=1)
    assert total == 3 and [i for i, _ in items] == made[1:2]
    for ivr in made:
        c.delete(f'/ivrs/{ivr}')


@pytest.mark.parametrize('form,params', [
    ({}, {'uri': 'missing'}),
    ({'uri': ''}, {'uri': 'invalidValue'}),
    ({'uri': 'a b'}, {'uri': 'invalidValue'}),
    ({'uri': '.ivr'}, {'uri': 'invalidValue'}),
    ({'uri': 'u' * 201}, {'uri': 'valueTooLong'}),
    ({'uri': 'ok.ivr', 'resolveCoSpaceCallIds': 'yes'}, {'resolveCoSpaceCallIds': 'invalidValue'}),
    ({'uri': 'ok.ivr', 'resolveLyncConferenceIds': '1'}, {'resolveLyncConferenceIds': 'invalidValue'}),
])
def test_ivr_parameter_errors(c, form, params):
    refused(c.post('/ivrs', data=form), 400, [], params)


@pytest.mark.parametrize('name,reason', [('tenant', 'tenantDoesNotExist'),
                                         ('tenantGroup', 'tenantGroupDoesNotExist'),
                                         ('ivrBrandingProfile', 'ivrBrandingProfileDoesNotExist')])
def test_ivr_references_that_do_not_exist(c, name, reason):
    refused(c.post('/ivrs', data={'uri': 'ref.ivr', name: 'no-such-id'}), 400, [reason])


def test_ivr_uri_conflicts(c):
    ivr = create(c, 'ivrs', uri='clash.ivr')
    # another IVR, any case; a coSpace's uri, secondaryUri or access method's uri
    refused(c.post('/ivrs', data={'uri': 'CLASH.ivr'}), 400, ['ivrUriConflict'])
    space = create(c, 'coSpaces', uri='clash.space', secondaryUri='clash.second')
    create(c, f'coSpaces/{space}/accessMethods', uri='clash.method')
    for uri in ('clash.space', 'Clash.Second', 'clash.method'):
        refused(c.post('/ivrs', data={'uri': uri}), 400, ['ivrUriConflict'])
    other = create(c, 'ivrs', uri='other.ivr')
    refused(c.put(f'/ivrs/{other}', data={'uri': 'clash.ivr'}), 400, ['ivrUriConflict'])
    # a PUT that keeps its own uri is no conflict
    assert c.put(f'/ivrs/{ivr}', data={'uri': 'clash.ivr'}).status_code == 200
    # the other way round: a coSpace or access method cannot take an IVR's uri
    refused(c.post('/coSpaces', data={'uri': 'clash.ivr'}), 400, ['duplicateCoSpaceUri'])
    refused(c.put(f'/coSpaces/{space}', data={'secondaryUri': 'Clash.Ivr'}), 400,
            ['duplicateCoSpaceUri'])
    refused(c.post(f'/coSpaces/{space}/accessMethods', data={'uri': 'clash.ivr'}), 400,
            ['duplicateCoSpaceUri'])
    for gone in (ivr, other):
        c.delete(f'/ivrs/{gone}')
    c.delete(f'/coSpaces/{space}')


def test_ivr_paths_and_methods(c):
    refused(c.get('/ivrs/x/y'), 404, ['unrecognisedObject'])
    refused(c.delete('/ivrs'), 405, ['invalidOperation'])
    refused(c.post('/ivrs/some-id', data={'uri': 'x'}), 405, ['invalidOperation'])


def test_too_many_ivrs(c):
    have, _ = listing(c, 'ivrs')
    made = [create(c, 'ivrs', uri=f'cap.ivr{i}') for i in range(MAX_IVRS - have)]
    refused(c.post('/ivrs', data={'uri': 'one.more'}), 400, ['tooManyIvrs'])
    for ivr in made:
        c.delete(f'/ivrs/{ivr}')
