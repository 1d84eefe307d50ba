"""Form bodies (application/x-www-form-urlencoded, §4.3.1): read up to a cap, parsed by hand
so that a value that is not UTF-8 is an error on that parameter, not a crash or a silent
replacement character. Unknown names are kept here and ignored by the resources (§3.4.1:
"will ignore properties in PUT/POST actions that are misspelled")."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from starlette.requests import Request

from ..limits import BodyTooLarge, set_body_limit
from .errors import CiscoError


@dataclass
class Form:
    values: dict[str, str] = field(default_factory=dict)   # the last value of a name wins
    undecodable: set[str] = field(default_factory=set)     # names whose value is not UTF-8


def parse(body: bytes) -> Form:
    form = Form()
    for pair in body.split(b'&'):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b'=')
        try:
            name = unquote_to_bytes(raw_name.replace(b'+', b' ')).decode()
        except UnicodeDecodeError:
            continue   # cannot be a parameter we know
        try:
            form.values[name] = unquote_to_bytes(raw_value.replace(b'+', b' ')).decode()
            form.undecodable.discard(name)
        except UnicodeDecodeError:
            form.values.pop(name, None)
            form.undecodable.add(name)
    return form


async def read_form(request: Request, limit: int) -> Form:
    """The body whatever its Content-Type says (the document's own example sends
    `www-formurl-encoded`); 413 past `limit` bytes, counted as they arrive."""
    set_body_limit(request, limit)
    try:
        body = await request.body()
    except BodyTooLarge:
        raise CiscoError(413, 'valueTooLong') from None
    return parse(body)
