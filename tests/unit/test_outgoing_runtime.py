"""Parts of the outgoing-call runtime (calls/outgoing.py) that need no SIP: the rule cache on
a real SQLite file, read again only after a write, and who the new leg says is calling."""
from __future__ import annotations

import pytest

from telephony.calls.outgoing import Caller, RuleCache
from telephony.dialplan.rules import ForwardingDecision, ForwardingRule
from telephony.store.db import Database
from telephony.store.dialrules import DIAL_TRANSFORMS, OUTBOUND, DialRuleStore


@pytest.fixture
async def store(tmp_path):
    db = Database.for_data_dir(tmp_path)
    await db.open()
    yield DialRuleStore(db)
    await db.close()


async def test_the_cache_reads_again_only_after_a_write_and_skips_a_bad_row(store, caplog):
    cache = RuleCache(store)
    assert (await cache.get()).outbound == ()
    heard = []
    store.listeners.append(lambda: heard.append(store.generation))
    await store.create(OUTBOUND, {'domain': 'carrier.test', 'sipProxy': '192.0.2.1',
                                  'sipProxyPassword': 'Pw-1', 'sipProxyUsername': 'pbx'})
    await store.create(DIAL_TRANSFORMS, {'type': 'raw', 'match': 'not a match', 'priority': 1})
    assert heard == [1, 2]
    first = await cache.get()
    assert [r.domain for r in first.outbound] == ['carrier.test']
    assert first.outbound_fields[0]['sipProxyPassword'] == 'Pw-1'   # the trunk account needs it
    assert first.transforms == ()            # the row that no longer parses is left out ...
    assert 'event=dial-rule-skipped' in caplog.text   # ... with a warning
    assert await cache.get() is first        # no write: the same values, no reading
    await store.delete(OUTBOUND, first.outbound[0].id)
    assert (await cache.get()).outbound == ()


def test_the_callers_from_with_and_without_clir():
    uri, display, headers = Caller('+4930555001', '+4930555001', 'Joe').headers('pbx.test')
    assert (uri, display) == ('sip:+4930555001@pbx.test', 'Joe')
    assert headers == [('P-Asserted-Identity', '<sip:+4930555001@pbx.test>')]
    uri, display, headers = Caller('+4930999000', '+4930555001', clir=True).headers('pbx.test')
    assert (uri, display) == ('sip:anonymous@anonymous.invalid', 'Anonymous')
    assert ('Privacy', 'id') in headers and '+4930999000' not in str(headers)


@pytest.mark.parametrize('mode,expected', [('preserve', 'sip:alice@caller.test'),
                                           ('regenerate', 'sip:alice@pbx.test')])
def test_a_forwarded_callers_from_follows_the_caller_id_mode(mode, expected):
    rule = ForwardingRule.from_fields({'matchPattern': 'fwd.test', 'action': 'forward',
                                       'callerIdMode': mode})
    forwarding = ForwardingDecision(rule, 'sip:bob@carrier.test', 'sip:alice@caller.test')
    uri, display, headers = Caller('alice', display='Alice', forwarding=forwarding).headers('pbx.test')
    assert (uri, display, headers) == (expected, 'Alice', [])
