"""Q-loud dial plans (§4): v2 objects, each user's v1 plan, and cyclic hunt rotation.

Plans are kept as JSON in the document's own field names (`profiles`, `filter`, `caller`,
`linear`, `targets`, `phone_pool`, ...), exactly as the API validated them, so the pure
evaluation in `dialplan/qloud.py` reads what the client wrote. The API checks syntax and
ownership before anything is stored; this module only keeps and finds plans.
"""
from __future__ import annotations

import json
import time

from sqlalchemy import Column, Float, Integer, String, Table, Text, delete, func, select, update

from ..ids import new_uuid
from .phones import phones
from .schema import metadata

# §4.1 objects, one row each; `plan` is the JSON object of `{"dialplan": {...}}`.
dialplans_v2 = Table(
    'dialplans_v2', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('owner', String(36), nullable=False, index=True),
    Column('description', String(200), nullable=False, default=''),
    Column('plan', Text, nullable=False),
    Column('created', Float, nullable=False),
)

# §4.2: one plan per user ("the user's dialplan"), used by the user's numbers with
# dialplan_enable. `plan` holds the GET /api/dialplan form (phone_pool a map, sip_pool a list).
dialplans_v1 = Table(
    'dialplans_v1', metadata,
    Column('owner', String(36), primary_key=True),
    Column('plan', Text, nullable=False),
)

# Where the next `cyclic` hunt of a v2 profile starts, so round robin survives a restart.
hunt_rotation = Table(
    'hunt_rotation', metadata,
    Column('plan', String(36), primary_key=True),
    Column('profile', Integer, primary_key=True),
    Column('next', Integer, nullable=False),
)

# §4.2's defaults: what GET /api/dialplan shows before the user ever set anything.
V1_DEFAULTS = {'action': 'none', 'mix_ringtone': False, 'clir_enable': False,
               'callreverse_enable': False, 'phone_pool': {}, 'sip_pool': []}


def v1_with_defaults(plan: dict) -> dict:
    return {**json.loads(json.dumps(V1_DEFAULTS)), **plan}


class DialplanStore:
    def __init__(self, db):
        self.db = db

    # --- v2 objects (§4.1) ------------------------------------------------------------------
    async def count(self, owner: str) -> int:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(dialplans_v2)
                                       .where(dialplans_v2.c.owner == owner))).scalar_one()

    async def create(self, owner: str, plan: dict) -> str:
        uuid = new_uuid()
        async with self.db.write() as conn:
            await conn.execute(dialplans_v2.insert().values(
                uuid=uuid, owner=owner, description=plan.get('description', ''),
                plan=json.dumps(plan), created=time.time()))
        return uuid

    async def list(self, owner: str) -> list[tuple[str, str]]:
        """(uuid, description) of the user's v2 plans, oldest first."""
        q = select(dialplans_v2.c.uuid, dialplans_v2.c.description) \
            .where(dialplans_v2.c.owner == owner) \
            .order_by(dialplans_v2.c.created, dialplans_v2.c.uuid)
        async with self.db.engine.connect() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(q)).all()]

    async def get(self, owner: str, uuid: str) -> dict | None:
        """The user's v2 plan, or None (missing or someone else's: the same answer)."""
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(dialplans_v2.c.plan).where(
                dialplans_v2.c.uuid == uuid.lower(), dialplans_v2.c.owner == owner))).first()
        return None if r is None else json.loads(r[0])

    async def replace(self, owner: str, uuid: str, plan: dict) -> bool:
        """Store a changed plan; its profiles may have moved, so cyclic rotation restarts."""
        async with self.db.write() as conn:
            res = await conn.execute(update(dialplans_v2).where(
                dialplans_v2.c.uuid == uuid.lower(), dialplans_v2.c.owner == owner).values(
                description=plan.get('description', ''), plan=json.dumps(plan)))
            if res.rowcount:
                await conn.execute(delete(hunt_rotation).where(hunt_rotation.c.plan == uuid.lower()))
        return res.rowcount > 0

    async def delete(self, owner: str, uuid: str) -> list[str] | None:
        """Delete a plan and (§4.1) unset it on every number that used it; the numbers
        changed, or None if the user has no such plan."""
        uuid = uuid.lower()
        async with self.db.write() as conn:
            res = await conn.execute(delete(dialplans_v2).where(
                dialplans_v2.c.uuid == uuid, dialplans_v2.c.owner == owner))
            if not res.rowcount:
                return None
            await conn.execute(delete(hunt_rotation).where(hunt_rotation.c.plan == uuid))
            using = func.lower(phones.c.dialplan) == uuid
            numbers = list((await conn.execute(select(phones.c.number).where(using))).scalars())
            await conn.execute(update(phones).where(using).values(dialplan=None))
        return numbers

    async def v2(self, uuid: str) -> dict | None:
        """For the runtime: the stored plan of a number's `dialplan` field, whoever owns it
        (the number's owner does: the API refuses other users' plans)."""
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(dialplans_v2.c.plan).where(
                dialplans_v2.c.uuid == uuid.lower()))).first()
        return None if r is None else json.loads(r[0])

    # --- v1 plans (§4.2) ----------------------------------------------------------------------
    async def v1_of(self, owner: str) -> dict:
        """The user's v1 plan in GET /api/dialplan form, defaults filled in."""
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(dialplans_v1.c.plan).where(
                dialplans_v1.c.owner == owner))).first()
        return v1_with_defaults({} if r is None else json.loads(r[0]))

    async def set_v1(self, owner: str, plan: dict) -> None:
        async with self.db.write() as conn:
            await conn.execute(delete(dialplans_v1).where(dialplans_v1.c.owner == owner))
            await conn.execute(dialplans_v1.insert().values(owner=owner, plan=json.dumps(plan)))

    async def v1(self, number: str) -> dict | None:
        """For the runtime: the v1 plan a call to `number` uses, i.e. its owner's (§4.2 has
        one plan per user); None if the number is not ours."""
        async with self.db.engine.connect() as conn:
            owner = (await conn.execute(select(phones.c.owner).where(
                phones.c.number == number))).scalar()
        return None if owner is None else await self.v1_of(owner)

    async def forget(self, owner: str) -> None:
        """Drop every plan of a user being deleted (their numbers are gone already)."""
        async with self.db.write() as conn:
            plans = select(dialplans_v2.c.uuid).where(dialplans_v2.c.owner == owner)
            await conn.execute(delete(hunt_rotation).where(hunt_rotation.c.plan.in_(plans)))
            await conn.execute(delete(dialplans_v2).where(dialplans_v2.c.owner == owner))
            await conn.execute(delete(dialplans_v1).where(dialplans_v1.c.owner == owner))

    # --- cyclic hunt rotation ----------------------------------------------------------------
    async def rotation(self, key: tuple[str, int]) -> int:
        """Where the next cyclic hunt of (plan uuid, profile index) starts; 0 at first."""
        plan, profile = key
        async with self.db.engine.connect() as conn:
            r = (await conn.execute(select(hunt_rotation.c.next).where(
                hunt_rotation.c.plan == plan.lower(), hunt_rotation.c.profile == profile))).first()
        return 0 if r is None else r[0]

    async def set_rotation(self, key: tuple[str, int], value: int) -> None:
        plan, profile = key
        where = (hunt_rotation.c.plan == plan.lower(), hunt_rotation.c.profile == profile)
        async with self.db.write() as conn:
            res = await conn.execute(update(hunt_rotation).where(*where).values(next=value))
            if not res.rowcount:
                await conn.execute(hunt_rotation.insert().values(
                    plan=plan.lower(), profile=profile, next=value))
