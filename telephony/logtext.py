"""Text from the wire in a key=value log line.

The log formatter escapes control characters in every line; a value a peer chose must also
be quoted, or spaces and `=` inside it would forge extra fields (`reason=x event=login`).
"""
from __future__ import annotations


def quoted(text: object) -> str:
    """`"text"` with backslashes, quotes and control characters escaped: one field, always."""
    s = str(text).encode('unicode_escape').decode('ascii').replace('"', '\\"')
    return f'"{s}"'
