"""Helpers for the Cisco /api/v1 tests: an administrator's Basic-auth client on the real
server, and readers for the text/xml answers."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx

ADMIN, PASSWORD = 'admin', 'secret12345'


def basic_client(api, user: str = ADMIN, password: str = PASSWORD, **headers) -> httpx.Client:
    c = httpx.Client(base_url=f'{api.base}/api/v1', auth=(user, password), timeout=30.0,
                     headers=headers)
    api.clients.append(c)
    return c


def add_admin(api) -> httpx.Client:
    api.add_user(ADMIN, PASSWORD, '--admin')
    return basic_client(api)


def is_xml(r: httpx.Response) -> httpx.Response:
    assert r.headers['content-type'].split(';')[0] == 'text/xml', (r.status_code, r.headers)
    assert not r.content.lstrip().startswith((b'{', b'[')), r.text
    return r


def parsed(r: httpx.Response) -> ET.Element:
    return ET.fromstring(is_xml(r).content)


def fields(el: ET.Element) -> dict[str, str]:
    return {child.tag: child.text or '' for child in el}


def failure(r: httpx.Response) -> tuple[list[str], dict[str, str]]:
    """(reasons, {parameter: error}) of a <failureDetails> answer."""
    root = parsed(r)
    assert root.tag == 'failureDetails', r.text
    reasons = [c.tag for c in root if c.tag != 'parameterError']
    params = {c.get('parameter'): c.get('error') for c in root if c.tag == 'parameterError'}
    return reasons, params


def create(c: httpx.Client, path: str, **form) -> str:
    """POST and return the new id, from the Location header (§4.3.1)."""
    r = is_xml(c.post(f'/{path}', data=form))
    assert r.status_code == 200, r.text
    assert r.content == b''
    location = r.headers['location']
    m = re.fullmatch(rf'/api/v1/{re.escape(path)}/([0-9a-f-]{{36}})', location)
    assert m, location
    return m.group(1)


def get_object(c: httpx.Client, path: str, rule_id: str) -> tuple[str, dict[str, str]]:
    r = c.get(f'/{path}/{rule_id}')
    assert r.status_code == 200, r.text
    root = parsed(r)
    assert root.get('id') == rule_id
    return root.tag, fields(root)


def listing(c: httpx.Client, path: str, **params) -> tuple[int, list[tuple[str, dict]]]:
    r = c.get(f'/{path}', params=params)
    assert r.status_code == 200, r.text
    root = parsed(r)
    return int(root.get('total')), [(el.get('id'), fields(el)) for el in root]
