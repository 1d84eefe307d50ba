"""Q-loud usergroups (§9.1.6, §9.1.7): internal extensions and the concurrent call limit.

A user in a usergroup who dials an extension reaches that user's dial plan. The caller's own
group is looked at first. Other groups of the same enterprise are reached by their
extensions as they are, unless the enterprise has `group_prefix_enable`: then "users have to
dial the usergroup's prefix" (one digit 1-9; 0 is no prefix) before the extension.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

EXTENSION = re.compile(r'[0-9]{1,5}')
MAX_EXTENSIONS = 10_000


@dataclass(frozen=True)
class Usergroup:
    uuid: str
    prefix: int | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)   # extension -> user uuid
    limit: int | None = None                                      # concurrent calls

    @classmethod
    def from_json(cls, uuid: str, d: Any) -> 'Usergroup':
        """`prefix` and `limit` as §9.1.6 stores them, `extensions` as GET .../extension."""
        if not isinstance(d, dict):
            raise ValueError('usergroup: must be a JSON object')
        prefix = d.get('prefix')
        if prefix is not None and (isinstance(prefix, bool) or prefix not in range(10)):
            raise ValueError(f'prefix: {prefix!r} is not 0..9')
        limit = d.get('limit')
        if limit is not None and (isinstance(limit, bool) or limit not in range(1000)):
            raise ValueError(f'limit: {limit!r} is not 0..999')
        ext = d.get('extensions') or {}
        if not isinstance(ext, dict) or len(ext) > MAX_EXTENSIONS:
            raise ValueError('extensions: an object of extension -> user')
        for k, v in ext.items():
            if not EXTENSION.fullmatch(k) or not isinstance(v, str):
                raise ValueError(f'extensions: {k!r} is not an extension of a user')
        return cls(uuid, prefix or None, dict(ext), limit)


@dataclass(frozen=True)
class ExtensionHit:
    user: str
    group: str
    extension: str


def resolve_extension(dialled: str, own: Usergroup | None, enterprise: Sequence[Usergroup] = (),
                      group_prefix_enable: bool = False) -> ExtensionHit | None:
    """The user whose dial plan a dialled extension reaches, or None when it is no
    extension for this caller. `enterprise` lists the groups of the caller's enterprise
    (the caller's own among them or not), in the enterprise's order."""
    if own is None or not dialled.isdigit():
        return None
    if dialled in own.extensions:
        return ExtensionHit(own.extensions[dialled], own.uuid, dialled)
    others = [g for g in enterprise if g.uuid != own.uuid]
    if not group_prefix_enable:
        for g in others:
            if dialled in g.extensions:
                return ExtensionHit(g.extensions[dialled], g.uuid, dialled)
        return None
    digit, ext = int(dialled[0]), dialled[1:]
    for g in [own, *others]:
        if g.prefix == digit and ext in g.extensions:
            return ExtensionHit(g.extensions[ext], g.uuid, ext)
    return None


def limit_allows(active: int, limit: int | None) -> bool:
    """§9.1.6: the limit counts the concurrent calls of all the group's users; 0 allows
    none; no limit allows any. `active` are the calls up now, without the new one."""
    return limit is None or active < limit
