"""text/xml bodies as the document shows them (§4.1, §4.2, §5.1): a collection is
`<dialTransforms total="N">` holding `<dialTransform id="...">` elements whose children are
the object's fields; an error is `<failureDetails>` with one empty element per reason and
`<parameterError parameter="..." error="..."/>` per bad parameter. Pure: strings in,
strings out."""
from __future__ import annotations

from typing import Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from .errors import ParameterError

PROLOG = '<?xml version="1.0"?>\n'


def _text(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return escape(str(value))


def element(name: str, fields: Mapping, id: str | None = None) -> str:
    """<name id="..."><field>value</field>...</name>; unset (None) fields are left out, a
    list value is a run of child elements already rendered."""
    attr = f' id={quoteattr(id)}' if id is not None else ''
    inner = ''.join(''.join(v) if isinstance(v, list) else f'<{k}>{_text(v)}</{k}>'
                    for k, v in fields.items() if v is not None)
    return f'<{name}{attr}>{inner}</{name}>' if inner else f'<{name}{attr}/>'


def collection(name: str, total: int, items: Iterable[str]) -> str:
    inner = ''.join(items)
    head = f'<{name} total="{int(total)}"'
    return f'{head}>{inner}</{name}>' if inner else f'{head}/>'


def document(body: str) -> str:
    return PROLOG + body + '\n'


def failure(reason: str | None = None, params: Iterable[ParameterError] = ()) -> str:
    parts = [f'<{reason}/>'] if reason else []
    parts += [f'<parameterError parameter={quoteattr(p.parameter)} error={quoteattr(p.error)}/>'
              for p in params]
    return document(f'<failureDetails>{"".join(parts)}</failureDetails>')
