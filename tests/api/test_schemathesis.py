"""schemathesis against /api/openapi.json with an authenticated session (issue 4, item 2).

Every operation of the schema gets generated requests, valid and invalid, sent to the real
server with `Authorization: Bearer <sid>` of a logged-in user.  The checks: no HTTP 5xx, the
status code is one the schema lists, the Content-Type is one it lists, and the body matches
the schema.  Q-loud answers every call with HTTP 200 and {"status": ...} (wrong-syntax for
a bad field), downloads answer the file or 404 with an empty body, so a rejected request is
not a failure here: a crash or an answer the schema does not describe is.  The schema
requires `status` in every JSON answer (telephony/api/app.py describe_status_answers).

Adjustments that keep the run bounded and meaningful:
  - GET /api/event is a long poll (timeout up to 300 s, 55 by default): a valid generated
    timeout is replaced by 0, an invalid one is sent as generated;
  - POST /api/session (log in) is sent without our session (with it the answer is always
    already-auth), DELETE /api/session closes a throw-away anonymous session, so ours
    stays logged in for the rest of the run.
Examples are derandomised and few per operation and mode (schema-valid and schema-invalid
data), so the run takes well under a minute.  (schemathesis' own pytest plugin does not run
on pytest 9 -- it reads Function._nodeid -- so the operations are driven through its Python
API: Operation.as_strategy() under hypothesis, Case.call_and_validate().)
"""
from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.transport.serialization import serialize_binary
from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                 response_schema_conformance, status_code_conformance)

from tests.integration.conftest import ServerProcess

from .conftest import Api

EXAMPLES_PER_OPERATION = 25


@schemathesis.serializer('audio/wav', 'audio/ogg', 'application/pdf')
def audio_body(ctx, value):
    """Announcement and fax uploads: the generated body as raw bytes (valid or not)."""
    return {'data': serialize_binary(value)}

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope='module')
def qloud(tmp_path_factory):
    """One server for the whole run, a user with a phone, logged in."""
    server = ServerProcess(tmp_path_factory.mktemp('schemathesis') / 'data').start()
    api = Api(server)
    try:
        api.add_user('fuzzer')
        api.cli('phone', 'add', '+4930555777', '--user', 'fuzzer', '--call-enable')
        client = api.login('fuzzer')
        yield api, client.sid
    finally:
        api.close()
        server.stop()


def prepare(case, api: Api, sid: str) -> dict:
    """Headers for the case (and the per-operation adjustments described above)."""
    path, method = case.operation.path, case.method.upper()
    if path == '/api/event' and method == 'GET':
        # a valid timeout (or none: the default is 55 s) becomes 0; invalid ones stay, so
        # that the negative cases still test the refusal
        query = dict(case.query or {})
        try:
            valid = 'timeout' not in query or 0 < float(str(query['timeout'])) <= 300
        except ValueError:
            valid = False
        if valid:
            query['timeout'] = 0
        case.query = query
    if path == '/api/session' and method == 'POST':
        return {}
    if path == '/api/session' and method == 'DELETE':
        throwaway = httpx.get(f'{api.base}/api/session', timeout=10).json()['sid']
        return {'Authorization': f'Bearer {throwaway}'}
    return {'Authorization': f'Bearer {sid}'}


def run_operation(operation, mode, api: Api, sid: str) -> list[str]:
    """Generated cases of one operation; returns the failures (empty when all conform)."""
    failures: list[str] = []

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
              database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def run(case):
        headers = prepare(case, api, sid)
        try:
            case.call_and_validate(base_url=api.base, headers=headers, checks=CHECKS, timeout=20)
        except (AssertionError, FailureGroup) as exc:
            if len(failures) < 3:
                failures.append(f'{mode.value} {case.method} {case.formatted_path}: '
                                f'{str(exc)[:1500]}')
    try:
        run()
    except Unsatisfiable:
        # nothing to get wrong: an operation without parameters or body has no invalid input
        assert mode is GenerationMode.NEGATIVE, operation.label
    return failures


def test_api_answers_conform_to_the_schema(qloud):
    api, sid = qloud
    schema = schemathesis.openapi.from_url(f'{api.base}/api/openapi.json')
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += run_operation(operation, mode, api, sid)
    assert operations >= 30, f'only {operations} operations in the schema'
    assert not failures, '\n\n'.join(failures)


def test_schema_holds_every_json_answer_to_a_status(qloud):
    """What makes the response check above mean something: each 200 JSON answer must have
    a `status` string, not just be "any object"."""
    api, _ = qloud
    spec = httpx.get(f'{api.base}/api/openapi.json', timeout=10).json()
    described = 0
    for path, ops in spec['paths'].items():
        for method, op in ops.items():
            content = op['responses']['200'].get('content', {})
            if 'application/json' in content:
                schema = content['application/json']['schema']
                assert 'status' in schema.get('required', []), (method, path, schema)
                assert schema['properties']['status']['type'] == 'string'
                described += 1
    assert described >= 30


def test_session_survived_the_run(qloud):
    """The run used our session throughout: it is still there and still logged in."""
    api, sid = qloud
    body = httpx.get(f'{api.base}/api/session', headers={'Authorization': f'Bearer {sid}'},
                     timeout=10).json()
    assert body['status'] == 'ok' and body['auth'] is True, body
    # a route that raised was answered {"status": "fail"} by the catch-all handler, which
    # conforms to the schema: the log tells
    log = api.server.log()
    assert 'event=api-error' not in log and 'Traceback' not in log, api.server.log_tail()


def test_unreadable_body_is_wrong_syntax(qloud):
    """Found by schemathesis: a body that is not UTF-8 got FastAPI's HTTP 400
    {"detail": "There was an error parsing the body"} instead of a Q-loud answer."""
    api, sid = qloud
    for path in ('/api/session', '/api/phone', '/api/event/filter'):
        r = httpx.post(f'{api.base}{path}', content=b'OV\xef$\xc3',
                       headers={'Content-Type': 'application/json',
                                'Authorization': f'Bearer {sid}'}, timeout=10)
        assert r.status_code == 200 and r.json()['status'] == 'wrong-syntax', (path, r.text)
