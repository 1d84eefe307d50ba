"""Object and call ids: version 1 (time-based) UUIDs, as Q-loud §2.4 promises clients, who
may sort by their timestamps. The node is random per process (RFC 4122 §4.5, multicast
bit set), never the host's MAC, which would name the machine in every id."""
from __future__ import annotations

import secrets
import uuid

_NODE = secrets.randbits(48) | (1 << 40)


def new_uuid() -> str:
    return str(uuid.uuid1(node=_NODE))
