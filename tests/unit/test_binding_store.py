"""Bindings in a real SQLite database (store/bindings.py): written behind REGISTER, deleted
on unregister and expiry, loaded back with wall-clock expiry after a "restart"."""
from __future__ import annotations

from telephony.sip.registrar import Registrar
from telephony.sip.transaction import Peer
from telephony.store.bindings import BindingStore
from telephony.store.db import Database

from .test_registrar import register

PHONE = Peer('UDP', ('127.0.0.1', 5080))


class Clock:
    """The loop clock and the wall clock, moved by the test."""

    def __init__(self, mono: float, wall: float):
        self.mono, self.wall = mono, wall

    def advance(self, s: float) -> None:
        self.mono += s
        self.wall += s


async def opened(tmp_path) -> Database:
    db = Database.for_data_dir(tmp_path)
    await db.open()
    await db.put_sip_account('alice', 'localhost', 'pw')
    return db


async def test_written_deleted_and_loaded_back_with_wall_clock_expiry(tmp_path):
    db = await opened(tmp_path)
    try:
        clock = Clock(mono=100.0, wall=1_800_000_000.0)
        reg = Registrar()
        store = BindingStore(db, reg, lambda: clock.mono, lambda: clock.wall)
        aor = 'alice@localhost'
        reg.update(aor, register('<sip:alice@127.0.0.1:5080>', expires=600,
                                 extra=['Path: <sip:127.0.0.1:5070;lr>']), PHONE, clock.mono)
        reg.update('nobody@localhost', register(expires=600), PHONE, clock.mono)
        store.changed(aor, 'nobody@localhost')
        await store.flush()

        # a restart: another process, its loop clock starts elsewhere; 100 s went by
        after = Clock(mono=5.0, wall=clock.wall + 100)
        reg2 = Registrar()
        assert await BindingStore(db, reg2, lambda: after.mono, lambda: after.wall).load() == 1
        (b,) = reg2.lookup(aor, after.mono)
        assert b.remaining(after.mono) == 500
        assert (b.contact, b.peer, b.path) == ('sip:alice@127.0.0.1:5080', PHONE,
                                              ('<sip:127.0.0.1:5070;lr>',))
        assert reg2.lookup('nobody@localhost', after.mono) == []   # no such account

        # unregister: the row goes
        reg.update(aor, register('<sip:alice@127.0.0.1:5080>;expires=0', cseq=2), PHONE,
                   clock.mono)
        store.changed(aor)
        await store.flush()
        assert await BindingStore(db, Registrar(), lambda: 0.0, lambda: clock.wall).load() == 0

        # expiry: swept, then deleted
        reg.update(aor, register(expires=60, cseq=3), PHONE, clock.mono)
        store.changed(aor)
        await store.flush()
        clock.advance(61)
        store.changed(*{g.aor for g in reg.sweep(clock.mono)})
        await store.flush()
        assert await BindingStore(db, Registrar(), lambda: 0.0, lambda: clock.wall).load() == 0
    finally:
        await db.close()


async def test_a_binding_expired_while_down_is_not_loaded(tmp_path):
    db = await opened(tmp_path)
    try:
        reg = Registrar()
        store = BindingStore(db, reg, lambda: 0.0, lambda: 1000.0)
        reg.update('alice@localhost', register(expires=60), PHONE, 0.0)
        store.changed('alice@localhost')
        await store.flush()
        later = BindingStore(db, Registrar(), lambda: 0.0, lambda: 1061.0)
        assert await later.load() == 0
    finally:
        await db.close()
