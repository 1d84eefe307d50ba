"""Inbound trunks known by credential (issue 9 §3a): the stored secret (HA1s, never the
password), the rule's reading of trunkInboundUsername/Password, the lookup table, the
Authenticator's use of it (accounts first, the same guess limits), and TrunkRules resolving a
host-name sipProxy (a change logged once)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from telephony.calls.outgoing import DialRules
from telephony.calls.trunk_rules import TrunkRules
from telephony.dialplan.fields import FieldError
from telephony.dialplan.rules import OutboundRule
from telephony.sip.access import Authenticator
from telephony.sip.auth import DigestClient, ha1
from telephony.sip.message import parse_message
from telephony.sip.registrations import SETTINGS_TRUNK
from telephony.sip.transaction import Peer
from telephony.sip.trunks import TrunkLogin, TrunkLogins, inbound_secret
from telephony.store.dialrules import hash_inbound_password
from tests.integration.rawsip import request

REALM = 'pbx.test'
PASSWORD = 'In-Pa55-word'


def rule(**d) -> OutboundRule:
    return OutboundRule.from_fields({'id': 'r1', 'domain': 'carrier.test', **d})


# --- the stored secret -------------------------------------------------------------------------

def test_the_secret_holds_the_accounts_ha1s_and_never_the_password():
    secret = inbound_secret('carrier1', REALM, PASSWORD)
    assert PASSWORD not in secret
    login = TrunkLogin.parse('r1', secret)
    assert (login.trunk, login.user, login.realm) == ('r1', 'carrier1', REALM)
    assert login.ha1('MD5') == ha1('carrier1', REALM, PASSWORD, 'MD5')
    assert login.ha1('SHA-256') == ha1('carrier1', REALM, PASSWORD, 'SHA-256')
    assert PASSWORD not in repr(login) and login.ha1_md5 not in repr(login)


@pytest.mark.parametrize('text', ['', PASSWORD, 'ha1:00:11:pbx.test:u',
                                  'ha1:' + '0' * 32 + ':' + '0' * 64 + '::u'])
def test_what_is_not_a_stored_secret_is_refused(text):
    with pytest.raises(ValueError):
        TrunkLogin.parse('r1', text)


def test_the_store_hashes_the_password_for_the_user_name_it_will_have():
    made = hash_inbound_password({'trunkInboundUsername': 'c1', 'trunkInboundPassword': PASSWORD},
                                 None, REALM)
    assert made['trunkInboundPassword'] == inbound_secret('c1', REALM, PASSWORD)
    # a PUT with only a new password: the stored name
    changed = hash_inbound_password({'trunkInboundPassword': 'other'},
                                    {'trunkInboundUsername': 'c1'}, REALM)
    assert changed['trunkInboundPassword'] == inbound_secret('c1', REALM, 'other')
    # no password given, or no name to hash it for: left for the rule's check to refuse
    assert hash_inbound_password({'domain': 'x'}, None, REALM) == {'domain': 'x'}
    assert hash_inbound_password({'trunkInboundPassword': 'p'}, None, REALM) == \
        {'trunkInboundPassword': 'p'}


# --- the rule's reading -------------------------------------------------------------------------

def test_a_rule_with_inbound_credentials_carries_the_login():
    r = rule(trunkInboundUsername='c1', trunkInboundPassword=inbound_secret('c1', REALM, PASSWORD))
    assert r.inbound is not None and (r.inbound.trunk, r.inbound.user) == ('r1', 'c1')
    assert rule().inbound is None
    assert PASSWORD not in repr(r)


@pytest.mark.parametrize('d,parameter,error', [
    ({'trunkInboundPassword': inbound_secret('c1', REALM, PASSWORD)}, 'trunkInboundUsername',
     'missing'),
    ({'trunkInboundUsername': 'c1'}, 'trunkInboundPassword', 'missing'),
    # a new name with the old name's HA1s: the password must be given again
    ({'trunkInboundUsername': 'c2', 'trunkInboundPassword': inbound_secret('c1', REALM, PASSWORD)},
     'trunkInboundPassword', 'missing'),
    ({'trunkInboundUsername': 'c 1', 'trunkInboundPassword': inbound_secret('c 1', REALM, 'x')},
     'trunkInboundUsername', 'invalidValue'),
    ({'trunkInboundUsername': 'a:b', 'trunkInboundPassword': 'whatever'},
     'trunkInboundUsername', 'invalidValue'),
    ({'trunkInboundUsername': 'c' * 65, 'trunkInboundPassword': 'whatever'},
     'trunkInboundUsername', 'valueTooLong'),
    ({'trunkInboundUsername': 'c1', 'trunkInboundPassword': 'plain'}, 'trunkInboundPassword',
     'invalidValue'),
])
def test_inbound_credentials_the_rule_cannot_use(d, parameter, error):
    with pytest.raises(FieldError) as exc:
        rule(**d)
    assert (exc.value.parameter, exc.value.error) == (parameter, error)


def test_logins_by_name_and_realm_first_trunk_wins():
    a = TrunkLogin.parse('r1', inbound_secret('c1', REALM, 'a'))
    b = TrunkLogin.parse('r2', inbound_secret('c1', REALM, 'b'))
    other = TrunkLogin.parse('r3', inbound_secret('c3', 'old.test', 'c'))
    logins = TrunkLogins([a, b, other])
    assert logins.get('c1', REALM) is a
    assert logins.get('c3', REALM) is None          # made for another realm: unusable
    assert logins.named('c3') is other
    assert logins.get('nobody', REALM) is None and len(logins) == 2 and not TrunkLogins()


# --- the Authenticator ---------------------------------------------------------------------------

@dataclass
class Account:
    ha1_md5: str
    ha1_sha256: str


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def invite(auth: str | None = None):
    extra = [f'Proxy-Authorization: {auth}'] if auth else []
    return parse_message(request('INVITE', 'sip:+4940111@fwd.test', port=5099, call_id='c1',
                                 from_user='alice', domain='caller.test', extra=extra))


def make_auth(accounts: dict[str, str] | None = None, guesses: int = 10) -> Authenticator:
    accounts = accounts or {}

    async def lookup(user, domain):
        pw = accounts.get(user)
        return None if pw is None else Account(ha1(user, domain, pw, 'MD5'),
                                               ha1(user, domain, pw, 'SHA-256'))
    auth = Authenticator(b'k' * 32, REALM, lookup, lambda: {REALM}, Clock(),
                         account_guesses=guesses)
    auth.trunk_logins = TrunkLogins([TrunkLogin.parse('r1', inbound_secret('c1', REALM, PASSWORD))])
    return auth


async def answer(auth: Authenticator, user: str, password: str, ip: str = '192.0.2.7'):
    peer = Peer('UDP', (ip, 5099))
    challenge = await auth.check(invite(), peer)
    assert challenge.response.status == 407
    value = challenge.response.get('Proxy-Authenticate')
    creds = DigestClient().build_authorization(value, 'INVITE', 'sip:+4940111@fwd.test', user,
                                               password)
    return await auth.check(invite(creds), peer)


async def test_a_trunk_credential_authenticates_as_the_trunk_never_as_a_user():
    outcome = await answer(make_auth(), 'c1', PASSWORD)
    assert outcome.response is None and outcome.trunk == 'r1' and outcome.user is None


async def test_a_wrong_trunk_password_is_a_guess_like_an_accounts():
    auth = make_auth(guesses=2)
    for _ in range(2):
        outcome = await answer(auth, 'c1', 'wrong')
        assert outcome.response.status == 403 and outcome.trunk is None
    # the name's budget is spent: another address is refused unheard, the right password too
    outcome = await answer(auth, 'c1', PASSWORD, ip='192.0.2.8')
    assert outcome.response.status == 403 and outcome.trunk is None
    assert auth.refused == 1


async def test_a_source_that_authenticated_before_stays_heard_while_the_name_is_guessed():
    auth = make_auth(guesses=2)
    assert (await answer(auth, 'c1', PASSWORD, ip='192.0.2.1')).trunk == 'r1'
    for _ in range(2):
        await answer(auth, 'c1', 'wrong', ip='198.51.100.9')
    assert (await answer(auth, 'c1', PASSWORD, ip='192.0.2.1')).trunk == 'r1'


async def test_a_spoofed_answer_on_a_nonce_it_never_saw_counts_nothing():
    auth = make_auth(guesses=1)
    peer = Peer('UDP', ('192.0.2.7', 5099))
    value = (await auth.check(invite(), peer)).response.get('Proxy-Authenticate')
    creds = DigestClient().build_authorization(value, 'INVITE', 'sip:x@fwd.test', 'c1', 'wrong')
    # the same Authorization sent from another (forged) address: not our nonce for it
    spoofed = await auth.check(invite(creds), Peer('UDP', ('203.0.113.5', 5099)))
    assert spoofed.response.status == 407
    assert (await answer(auth, 'c1', PASSWORD)).trunk == 'r1'


async def test_an_account_of_the_same_name_comes_first(caplog):
    auth = make_auth({'c1': 'account-pw'})
    caplog.set_level(logging.INFO, 'telephony.auth')
    outcome = await answer(auth, 'c1', PASSWORD)
    assert outcome.response.status == 403 and outcome.trunk is None    # the trunk's: no
    assert 'event=trunk-login-shadowed' in caplog.text
    outcome = await answer(auth, 'c1', 'account-pw')
    assert outcome.user == 'c1' and outcome.trunk is None


async def test_a_trunk_login_of_another_realm_is_a_wrong_user():
    auth = make_auth()
    auth.trunk_logins = TrunkLogins([TrunkLogin.parse('r1', inbound_secret('c1', 'old.test',
                                                                           PASSWORD))])
    outcome = await answer(auth, 'c1', PASSWORD)
    assert outcome.response.status == 403 and outcome.trunk is None


# --- TrunkRules: logins and host-name proxies ---------------------------------------------------

class Rules:
    def __init__(self, *rows: dict):
        self.rows = [{'domain': 'carrier.test', **row} for row in rows]

    async def get(self) -> DialRules:
        return DialRules(outbound=tuple(OutboundRule.from_fields(r) for r in self.rows))


class Registrations:
    def add(self, account) -> None:
        pass

    def remove(self, trunk_id) -> None:
        pass


class Dns:
    """What the resolver answers now, per host (a list, or an OSError to raise)."""
    def __init__(self, **answers):
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answer = self.answers.get(host.replace('.', '_'), OSError('Name or service not known'))
        if isinstance(answer, OSError):
            raise answer
        return answer


def shell(rules: Rules, dns) -> tuple[TrunkRules, dict]:
    got: dict = {}
    trunks = TrunkRules(rules, Registrations(), ['192.0.2.99'],
                        lambda m: got.__setitem__('matcher', m),
                        set_logins=lambda logins: got.__setitem__('logins', logins), resolve=dns)
    return trunks, got


async def test_a_host_name_proxy_is_resolved_and_a_change_is_followed_and_logged_once(caplog):
    caplog.set_level(logging.INFO, 'telephony.trunks')
    dns = Dns(sip_carrier_test=['192.0.2.10', '192.0.2.11', '192.0.2.10'])
    trunks, got = shell(Rules({'id': 'r1', 'sipProxy': 'sip.carrier.test:5080'},
                              {'id': 'r2', 'sipProxy': 'sip.carrier.test',
                               'trunkAddresses': '198.51.100.1'}), dns)
    await trunks.sync()
    m = got['matcher']
    assert m.match('192.0.2.10') == m.match('192.0.2.11') == 'r1'
    assert m.match('198.51.100.1') == 'r2' and m.match('192.0.2.99') == SETTINGS_TRUNK
    assert dns.asked == ['sip.carrier.test']     # trunkAddresses win: r2's name is not asked
    await trunks.sync()
    assert caplog.text.count('event=trunk-resolved') == 1   # the same answer: no new line
    dns.answers['sip_carrier_test'] = ['192.0.2.12']
    await trunks.sync()
    assert got['matcher'].match('192.0.2.12') == 'r1' and got['matcher'].match('192.0.2.10') is None
    assert caplog.text.count('event=trunk-resolved') == 2


async def test_a_name_that_never_resolved_gives_no_addresses_a_blip_keeps_the_last(caplog):
    caplog.set_level(logging.INFO, 'telephony.trunks')
    dns = Dns(sip_carrier_test=['192.0.2.10'])
    trunks, got = shell(Rules({'id': 'r1', 'sipProxy': 'sip.carrier.test'},
                              {'id': 'r2', 'sipProxy': 'nowhere.invalid'}), dns)
    await trunks.sync()
    await trunks.sync()
    assert caplog.text.count('event=trunk-resolve-failed') == 1
    assert 'nowhere.invalid' in caplog.text
    assert got['matcher'].match('192.0.2.10') == 'r1'   # the other rule's sync went on
    assert got['matcher'].match('192.0.2.99') == SETTINGS_TRUNK   # nowhere.invalid: no address
    # a DNS blip: the provider's calls stay its own (the last good answer), logged once
    dns.answers['sip_carrier_test'] = OSError('timed out')
    await trunks.sync()
    await trunks.sync()
    assert got['matcher'].match('192.0.2.10') == 'r1'
    assert caplog.text.count('event=trunk-resolve-failed') == 2
    assert 'kept=192.0.2.10' in caplog.text
    # a new answer replaces it
    dns.answers['sip_carrier_test'] = ['192.0.2.12']
    await trunks.sync()
    assert got['matcher'].match('192.0.2.10') is None and got['matcher'].match('192.0.2.12') == 'r1'


async def test_the_real_resolver_knows_localhost():
    trunks = TrunkRules(Rules({'id': 'r1', 'sipProxy': 'localhost:5070'}), Registrations(), [],
                        lambda m: setattr(trunks, 'matcher', m))
    await trunks.sync()
    assert trunks.matcher.match('127.0.0.1') == 'r1'


async def test_the_rules_logins_are_handed_on():
    trunks, got = shell(Rules({'id': 'r1', 'trunkInboundUsername': 'c1',
                               'trunkInboundPassword': inbound_secret('c1', REALM, PASSWORD)},
                              {'id': 'r2'}), Dns())
    await trunks.sync()
    assert got['logins'].get('c1', REALM).trunk == 'r1' and len(got['logins']) == 1
