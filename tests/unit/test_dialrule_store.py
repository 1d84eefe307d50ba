"""The dial plan rule store (issue 9) on a real SQLite file: rows keyed by the document's
field names, rule order, secrets only on request, the CDR receiver cap."""
from __future__ import annotations

import sqlite3

import pytest

from telephony.store.db import Database
from telephony.store.dialrules import (CDR_RECEIVERS, DIAL_TRANSFORMS, OUTBOUND, DialRuleStore,
                                       TooMany)


@pytest.fixture
async def store(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    yield DialRuleStore(db)
    await db.close()


async def test_rules_come_higher_priority_first_then_in_creation_order(store):
    ids = [await store.create(OUTBOUND, {'domain': d, 'priority': p})
           for d, p in (('a.com', 1), ('b.com', 5), ('c.com', 1), ('d.com', -3), ('e.com', 5))]
    rules = await store.rules(OUTBOUND)
    assert [r['domain'] for r in rules] == ['b.com', 'e.com', 'a.com', 'c.com', 'd.com']
    assert [r['id'] for r in rules] == [ids[1], ids[4], ids[0], ids[2], ids[3]]
    assert rules[0]['priority'] == 5 and rules[0]['sipProxy'] is None   # every field is a key
    total, page = await store.list(OUTBOUND, offset=1, limit=2)
    assert total == 5 and [r['domain'] for r in page] == ['e.com', 'a.com']
    total, page = await store.list(OUTBOUND, contains='C.CO', fields=('domain',))
    assert total == 1 and page[0]['domain'] == 'c.com'
    # LIKE wildcards in a filter are literal text
    assert (await store.list(OUTBOUND, contains='%', fields=('domain',)))[0] == 0


async def test_the_trunk_password_is_stored_as_given_and_handed_out_only_on_request(store, tmp_path):
    rule = await store.create(OUTBOUND, {'domain': '*', 'sipProxy': '192.0.2.1',
                                         'sipProxyUsername': 'pbx', 'sipProxyPassword': 'Pw-1'})
    assert 'sipProxyPassword' not in (await store.rules(OUTBOUND))[0]
    assert 'sipProxyPassword' not in await store.get(OUTBOUND, rule)
    assert 'sipProxyPassword' not in (await store.list(OUTBOUND))[1][0]
    assert (await store.rules(OUTBOUND, secrets=True))[0]['sipProxyPassword'] == 'Pw-1'
    assert (await store.get(OUTBOUND, rule, secrets=True))['sipProxyPassword'] == 'Pw-1'
    # its own column, named as the document's parameter
    with sqlite3.connect(tmp_path / 'telephony.db') as conn:
        assert conn.execute('SELECT "sipProxyPassword" FROM outbound_dial_plan_rules') \
            .fetchall() == [('Pw-1',)]


async def test_update_sets_and_unsets_and_delete_removes(store):
    generation = store.generation
    t = await store.create(DIAL_TRANSFORMS, {'type': 'strip', 'match': '($1/^0/)', 'priority': 2})
    assert await store.update(DIAL_TRANSFORMS, t, {'match': None, 'transform': '$1@x'})
    row = await store.get(DIAL_TRANSFORMS, t)
    assert row == {'id': t, 'type': 'strip', 'match': None, 'transform': '$1@x', 'priority': 2,
                   'action': None}
    assert store.generation > generation   # readers that cache can tell
    assert await store.update(DIAL_TRANSFORMS, t, {})
    assert not await store.update(DIAL_TRANSFORMS, 'no-such-id', {'priority': 1})
    assert await store.delete(DIAL_TRANSFORMS, t)
    assert not await store.delete(DIAL_TRANSFORMS, t)
    assert await store.get(DIAL_TRANSFORMS, t) is None


async def test_at_most_two_cdr_receivers_and_their_uris(store):
    first = await store.create(CDR_RECEIVERS, {'uri': 'http://127.0.0.1:9000/cdr'}, max_rows=2)
    await store.create(CDR_RECEIVERS, {'uri': None}, max_rows=2)   # created by PUT, uri later
    with pytest.raises(TooMany):
        await store.create(CDR_RECEIVERS, {'uri': 'http://127.0.0.1:9001/'}, max_rows=2)
    assert await store.receivers() == ['http://127.0.0.1:9000/cdr']
    await store.delete(CDR_RECEIVERS, first)
    await store.create(CDR_RECEIVERS, {'uri': 'https://cdr.example.com/in'}, max_rows=2)
    assert await store.receivers() == ['https://cdr.example.com/in']
