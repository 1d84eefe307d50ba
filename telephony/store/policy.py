"""What a partner sets for its users' outgoing calls (Q-loud §9.1.3, §9.1.5-§9.1.7): call
filters, emergency control centres, usergroups (members, extensions, concurrent call limit,
credits and zone filter) and enterprises (group_prefix_enable).

Kept in the document's own field names; the API checks syntax and ownership first, the
runtime (calls/policy.py) reads the documents back and hands them to dialplan/.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import (
    Column, Float, Integer, String, Table, Text, case, delete, func, literal, select, update,
)

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
    Column('credit', Integer, nullable=True),        # credits left; none: none configured
    Column('zonefilter', Text, nullable=True),       # JSON list as POSTed; none: no filter
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


def zonefilter_of(row: dict) -> list | None:
    """A usergroup row's zone filter as POSTed, or None."""
    return None if row['zonefilter'] is None else json.loads(row['zonefilter'])


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

    # --- credits and zone filter (hot billing) ----------------------------------------------
    async def change_credit(self, group: str, delta: int, most: int) -> None:
        """Add `delta` (negative: subtract) in one UPDATE, so concurrent charges lose nothing;
        no credit configured counts as 0; the result stays within 0..`most`."""
        new = func.coalesce(usergroups.c.credit, 0) + delta
        bounded = case((new < 0, literal(0)), (new > most, literal(most)), else_=new)
        async with self.db.write() as conn:
            await conn.execute(update(usergroups).where(usergroups.c.uuid == group)
                               .values(credit=bounded))

    async def charge(self, group: str, cost: int) -> bool:
        """Take one interval's `cost` from the group's credit in one UPDATE (never below 0);
        False when the credit left cannot pay it. A group without credit configured (deleted
        meanwhile, or the group itself) pays nothing and is never refused."""
        async with self.db.write() as conn:
            taken = await conn.execute(update(usergroups).where(
                usergroups.c.uuid == group, usergroups.c.credit >= cost)
                .values(credit=usergroups.c.credit - cost))
            if taken.rowcount:
                return True
            left = (await conn.execute(select(usergroups.c.credit).where(
                usergroups.c.uuid == group))).scalar()
        return left is None

    async def set_zonefilter(self, group: str, doc: list | None) -> None:
        """`doc` None deletes the filter."""
        await self.change(usergroups, group, zonefilter=None if doc is None else json.dumps(doc))

    async def credits(self, partner: str, least: int | None, most: int | None) -> dict[str, int]:
        """The partner's groups with credit configured, within least..most when given."""
        q = select(usergroups.c.uuid, usergroups.c.credit).where(
            usergroups.c.partner == partner, usergroups.c.credit.is_not(None))
        if least is not None:
            q = q.where(usergroups.c.credit >= least)
        if most is not None:
            q = q.where(usergroups.c.credit <= most)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(q.order_by(usergroups.c.created, usergroups.c.uuid))).all()
        return {r[0]: r[1] for r in rows}

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
