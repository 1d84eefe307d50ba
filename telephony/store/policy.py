"""What a partner sets for its users' outgoing calls (Q-loud §9.1.3, §9.1.5-§9.1.7): call
filters, emergency control centres, usergroups (members, extensions, concurrent call limit)
and enterprises (group_prefix_enable).

Kept in the document's own field names; the API checks syntax and ownership first, the
runtime (calls/policy.py) reads the documents back and hands them to dialplan/.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import Column, Float, Integer, String, Table, Text, delete, func, select, update

from ..ids import new_uuid
from .schema import metadata

# §9.1.3: the value of `callfilter` as POSTed (and checked by dialplan.callfilter.parse_filter)
callfilters = Table(
    'callfilters', metadata,
    Column('user', String(36), primary_key=True),
    Column('filter', Text, nullable=False),
)

# §9.1.5: uui_header, emergency_police, emergency_rescue (only those set)
emergency_info = Table(
    'emergency_info', metadata,
    Column('user', String(36), primary_key=True),
    Column('info', Text, nullable=False),
)

enterprises = Table(
    'enterprises', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('partner', String(36), nullable=False, index=True),
    Column('description', String(200), nullable=False, default=''),
    Column('group_prefix_enable', Integer, nullable=False, default=0),
    Column('created', Float, nullable=False),
)

usergroups = Table(
    'usergroups', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('partner', String(36), nullable=False, index=True),
    Column('description', String(200), nullable=False, default=''),
    Column('prefix', Integer, nullable=True),        # 1..9; none when 0 was sent
    Column('call_limit', Integer, nullable=True),    # concurrent calls; none: no limit
    Column('enterprise', String(36), nullable=True, index=True),
    Column('created', Float, nullable=False),
)

# "each user may only join one usergroup": the user is the key
usergroup_users = Table(
    'usergroup_users', metadata,
    Column('user', String(36), primary_key=True),
    Column('usergroup', String(36), nullable=False, index=True),
)

usergroup_extensions = Table(
    'usergroup_extensions', metadata,
    Column('usergroup', String(36), primary_key=True),
    Column('extension', String(5), primary_key=True),
    Column('user', String(36), nullable=False),
)


class PolicyStore:
    def __init__(self, db):
        self.db = db

    # --- per-user documents (call filter, emergency) --------------------------------------
    async def _doc(self, table: Table, column: str, user: str):
        async with self.db.engine.connect() as conn:
            v = (await conn.execute(select(table.c[column]).where(table.c.user == user))).scalar()
        return None if v is None else json.loads(v)

    async def _put_doc(self, table: Table, column: str, user: str, doc) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(table).where(table.c.user == user))
            if doc is not None:
                await conn.execute(table.insert().values(user=user, **{column: json.dumps(doc)}))

    async def callfilter(self, user: str):
        return await self._doc(callfilters, 'filter', user)

    async def set_callfilter(self, user: str, doc) -> None:
        """`doc` None deletes the filter."""
        await self._put_doc(callfilters, 'filter', user, doc)

    async def emergency(self, user: str) -> dict:
        return await self._doc(emergency_info, 'info', user) or {}

    async def set_emergency(self, user: str, info: dict) -> None:
        await self._put_doc(emergency_info, 'info', user, info or None)

    # --- usergroups and enterprises ---------------------------------------------------------
    async def count(self, table: Table, partner: str) -> int:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(table)
                                       .where(table.c.partner == partner))).scalar_one()

    async def create(self, table: Table, partner: str, **values) -> str:
        uuid = new_uuid()
        async with self.db.write() as conn:
            await conn.execute(table.insert().values(uuid=uuid, partner=partner,
                                                     created=time.time(), **values))
        return uuid

    async def get(self, table: Table, partner: str | None, uuid: str) -> dict | None:
        """The row of a usergroup or enterprise (of the partner, unless None), or None."""
        q = select(table).where(table.c.uuid == uuid)
        if partner is not None:
            q = q.where(table.c.partner == partner)
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(q)).mappings().first()
        return None if r is None else dict(r)

    async def all(self, table: Table, partner: str) -> list[dict]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(table).where(table.c.partner == partner)
                                       .order_by(table.c.created, table.c.uuid))).mappings().all()
        return [dict(r) for r in rows]

    async def change(self, table: Table, uuid: str, **values) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(table).where(table.c.uuid == uuid).values(**values))

    async def remove(self, table: Table, uuid: str) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(table).where(table.c.uuid == uuid))

    async def members(self, group: str) -> list[str]:
        async with self.db.engine.connect() as conn:
            return list((await conn.execute(select(usergroup_users.c.user).where(
                usergroup_users.c.usergroup == group).order_by(usergroup_users.c.user))).scalars())

    async def group_of(self, user: str) -> str | None:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(usergroup_users.c.usergroup).where(
                usergroup_users.c.user == user))).scalar()

    async def groups_of(self, users: list[str]) -> dict[str, str]:
        """user -> usergroup for those of `users` in one."""
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(usergroup_users).where(
                usergroup_users.c.user.in_(users)))).all()
        return {r[0]: r[1] for r in rows}

    async def change_members(self, group: str, add: list[str], remove: list[str]) -> None:
        """A user who leaves the group loses its extensions there (they would reach a user
        outside the group)."""
        async with self.db.write() as conn:
            for user in add:
                await conn.execute(usergroup_users.insert().values(user=user, usergroup=group))
            if remove:
                await conn.execute(delete(usergroup_users).where(
                    usergroup_users.c.usergroup == group, usergroup_users.c.user.in_(remove)))
                await conn.execute(delete(usergroup_extensions).where(
                    usergroup_extensions.c.usergroup == group,
                    usergroup_extensions.c.user.in_(remove)))

    async def extensions(self, group: str) -> dict[str, str]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(usergroup_extensions).where(
                usergroup_extensions.c.usergroup == group)
                .order_by(usergroup_extensions.c.extension))).all()
        return {r[1]: r[2] for r in rows}

    async def change_extensions(self, group: str, add: dict[str, str], remove: list[str]) -> None:
        async with self.db.write() as conn:
            gone = [*remove, *add]
            if gone:
                await conn.execute(delete(usergroup_extensions).where(
                    usergroup_extensions.c.usergroup == group,
                    usergroup_extensions.c.extension.in_(gone)))
            for ext, user in add.items():
                await conn.execute(usergroup_extensions.insert().values(
                    usergroup=group, extension=ext, user=user))

    async def enterprise_groups(self, enterprise: str) -> list[dict]:
        """The usergroups of an enterprise, in the order they were created."""
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(usergroups).where(
                usergroups.c.enterprise == enterprise)
                .order_by(usergroups.c.created, usergroups.c.uuid))).mappings().all()
        return [dict(r) for r in rows]

    async def group_document(self, row: dict) -> dict:
        """A usergroup as dialplan.usergroups.Usergroup.from_json reads it."""
        return {'prefix': row['prefix'], 'limit': row['call_limit'],
                'extensions': await self.extensions(row['uuid'])}

    async def forget(self, user: str) -> None:
        """A deleted user leaves no filter, emergency data, membership or extension behind
        (a group keeping a gone member could never be deleted)."""
        async with self.db.write() as conn:
            for table in (callfilters, emergency_info, usergroup_users):
                await conn.execute(delete(table).where(table.c.user == user))
            await conn.execute(delete(usergroup_extensions).where(
                usergroup_extensions.c.user == user))
