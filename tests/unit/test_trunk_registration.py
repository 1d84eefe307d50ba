"""The trunk registration state machine, transition by transition (sans-IO: events, times,
and the jitter handed in), and the trunk values it registers."""
import pytest

from telephony.config import ConfigError, Settings
from telephony.sip.auth import DigestClient, DigestServer, format_challenge, ha1, parse_auth_header
from telephony.sip.registration import (MAX_CHALLENGES, Backoff, IllegalTransition, Report,
                                        Response, Schedule, SendRegister, Start, State, Stop,
                                        Tick, Timeout, TrunkRegistration)
from telephony.sip.registrations import settings_trunk
from telephony.sip.trunks import TrunkAccount, TrunkMatcher, parse_addresses

ACCOUNT = TrunkAccount(id='t1', proxy='192.0.2.10:5070', user='pbx', password='s3cret',
                       domain='provider.test', expires=3600)
CH = format_challenge('provider.test', 'nonce-1')
CH2 = format_challenge('provider.test', 'nonce-2')
STALE = format_challenge('provider.test', 'nonce-2', stale=True)


def machine(state=State.UNREGISTERED, jitter=0.0, account=ACCOUNT, backoff=Backoff(30, 900)):
    m = TrunkRegistration(account, backoff, jitter=lambda: jitter,
                          digest=DigestClient(random_hex=lambda: 'cafe'))
    if state is State.UNREGISTERED:
        return m
    m.handle(Start(), 0)
    if state is State.CHALLENGED:
        m.handle(Response(401, challenges=(CH,)), 0)
    if state in (State.REGISTERED, State.REFRESHING):
        m.handle(Response(401, challenges=(CH,)), 0)
        m.handle(Response(200, expires=3600), 0)
    if state is State.REFRESHING:
        m.handle(Tick(), 3570)
    if state is State.FAILED:
        m.handle(Response(503), 0)
    if state is State.UNREGISTERING:
        m.handle(Stop(), 0)
    assert m.state is state
    return m


def sends(actions):
    return [a for a in actions if isinstance(a, SendRegister)]


def schedules(actions):
    return [a.at for a in actions if isinstance(a, Schedule)]


def reports(actions):
    return [a for a in actions if isinstance(a, Report)]


def auth_params(send: SendRegister) -> dict:
    (name, value), = send.headers
    return {'header': name, **parse_auth_header(value)[1]}


# ---------------------------------------------------------------- the happy path

def test_start_sends_a_register_without_credentials():
    m = machine()
    out = m.handle(Start(), 0)
    assert sends(out) == [SendRegister(cseq=1, expires=3600)]
    assert m.state is State.REGISTERING
    assert [r.public for r in reports(out)] == ['registering']


def test_challenge_is_answered_with_a_digest_the_registrar_accepts():
    m = machine(State.REGISTERING)
    out = m.handle(Response(401, 'Unauthorized', challenges=(CH,)), 1)
    (send,) = sends(out)
    assert send.cseq == 2 and send.expires == 3600
    p = auth_params(send)
    assert p['header'] == 'Authorization' and p['username'] == 'pbx'
    assert p['uri'] == 'sip:provider.test' and p['nonce'] == 'nonce-1'
    assert m.state is State.CHALLENGED


def test_the_answer_is_a_digest_a_real_verifier_accepts():
    server = DigestServer(b'k' * 32, 'provider.test', algorithms=('MD5',))
    challenge = server.make_challenges(1)[0]
    m = machine(State.REGISTERING)
    (send,) = sends(m.handle(Response(401, challenges=(challenge,)), 1))
    (_, value), = send.headers
    assert server.verify('REGISTER', value, lambda u, r, a: ha1(u, r, 's3cret'), 2).ok
    assert not server.verify('REGISTER', value, lambda u, r, a: ha1(u, r, 'other'), 2).ok


def test_proxy_challenge_is_answered_in_proxy_authorization():
    m = machine(State.REGISTERING)
    (send,) = sends(m.handle(Response(407, challenges=(CH,)), 1))
    assert auth_params(send)['header'] == 'Proxy-Authorization'


def test_200_registers_and_schedules_the_refresh_30s_before_the_end():
    m = machine(State.CHALLENGED)
    out = m.handle(Response(200, 'OK', expires=3600), 10)
    assert m.state is State.REGISTERED and m.granted == 3600
    assert schedules(out) == [10 + 3570]
    (r,) = reports(out)
    assert (r.public, r.status, r.expires) == ('registered', 200, 3600)


def test_a_short_grant_is_refreshed_half_way():
    m = machine(State.CHALLENGED)
    assert schedules(m.handle(Response(200, expires=4), 10)) == [12]
    m = machine(State.CHALLENGED)
    assert schedules(m.handle(Response(200, expires=1), 10)) == [11]   # never under 1 s


def test_200_without_expires_means_what_we_asked_for():
    m = machine(State.CHALLENGED)
    m.handle(Response(200), 0)
    assert m.granted == 3600


def test_200_that_grants_nothing_is_a_failure():
    m = machine(State.CHALLENGED)
    m.handle(Response(200, expires=0), 0)
    assert m.state is State.FAILED and m.last_reason == 'No Binding Granted'


def test_registration_without_a_challenge():
    m = machine(State.REGISTERING)
    m.handle(Response(200, expires=600), 0)
    assert m.state is State.REGISTERED


def test_provisional_responses_change_nothing():
    m = machine(State.REGISTERING)
    assert m.handle(Response(100), 0) == [] and m.state is State.REGISTERING


# ---------------------------------------------------------------- refresh

def test_refresh_reuses_the_challenge_with_the_next_nonce_count():
    m = machine(State.REGISTERED)
    out = m.handle(Tick(), 3570)
    (send,) = sends(out)
    p = auth_params(send)
    assert p['nonce'] == 'nonce-1' and p['nc'] == '00000002' and send.cseq == 3
    assert m.state is State.REFRESHING and m.public == 'registered'
    out = m.handle(Response(200, expires=3600), 3571)
    assert m.state is State.REGISTERED and schedules(out) == [3571 + 3570]


def test_refresh_challenged_with_a_new_nonce_is_answered():
    m = machine(State.REFRESHING)
    (send,) = sends(m.handle(Response(401, challenges=(CH2,)), 3571))
    assert auth_params(send)['nonce'] == 'nonce-2' and auth_params(send)['nc'] == '00000001'
    assert m.state is State.REFRESHING
    m.handle(Response(200, expires=3600), 3572)
    assert m.state is State.REGISTERED


def test_refresh_challenged_with_the_same_nonce_fails():
    m = machine(State.REFRESHING)
    out = m.handle(Response(401, challenges=(CH,)), 3571)
    assert sends(out) == [] and m.state is State.FAILED
    assert m.last_reason == 'Credentials Refused'


def test_early_or_replaced_tick_is_ignored():
    m = machine(State.REGISTERED)
    assert m.handle(Tick(), 100) == [] and m.state is State.REGISTERED
    for state in (State.REGISTERING, State.CHALLENGED, State.REFRESHING, State.UNREGISTERING,
                  State.UNREGISTERED):
        m = machine(state)
        assert m.handle(Tick(), 10 ** 6) == [] and m.state is state


# ---------------------------------------------------------------- digest: once per nonce

def test_second_401_with_the_same_nonce_fails_without_a_loop():
    m = machine(State.CHALLENGED)
    out = m.handle(Response(401, challenges=(CH,)), 1)
    assert sends(out) == [] and m.state is State.FAILED
    assert (m.last_status, m.last_reason) == (401, 'Credentials Refused')


def test_second_401_with_a_new_nonce_but_not_stale_means_wrong_password():
    m = machine(State.CHALLENGED)
    out = m.handle(Response(401, challenges=(CH2,)), 1)
    assert sends(out) == [] and m.state is State.FAILED


def test_stale_nonce_is_answered_again():
    m = machine(State.CHALLENGED)
    (send,) = sends(m.handle(Response(401, challenges=(STALE,)), 1))
    assert auth_params(send)['nonce'] == 'nonce-2' and m.state is State.CHALLENGED
    m.handle(Response(200, expires=60), 2)
    assert m.state is State.REGISTERED


def test_stale_with_a_nonce_already_answered_fails():
    m = machine(State.CHALLENGED)
    m.handle(Response(401, challenges=(format_challenge('provider.test', 'nonce-1', stale=True),)), 1)
    assert m.state is State.FAILED


def test_endless_stale_challenges_stop_at_the_cap():
    m = machine(State.REGISTERING)
    answered = 0
    for i in range(10):
        out = m.handle(Response(401, challenges=(format_challenge('p', f'n{i}', stale=True),)), i)
        if m.state is State.FAILED:
            break
        answered += len(sends(out))
    assert answered == MAX_CHALLENGES and m.last_reason == 'Too Many Challenges'


def test_strongest_challenge_is_chosen():
    m = machine(State.REGISTERING)
    sha = format_challenge('provider.test', 'nonce-s', algorithm='SHA-256')
    (send,) = sends(m.handle(Response(401, challenges=(CH, sha)), 1))
    assert auth_params(send)['algorithm'] == 'SHA-256'


def test_unusable_challenge_or_no_credentials_fail():
    m = machine(State.REGISTERING)
    m.handle(Response(401, challenges=('Basic realm="x"',)), 1)
    assert (m.state, m.last_reason) == (State.FAILED, 'Unusable Challenge')
    m = machine(State.REGISTERING)
    m.handle(Response(401, challenges=(format_challenge('p', 'n', qop='auth-int'),)), 1)
    assert (m.state, m.last_reason) == (State.FAILED, 'Unusable Challenge')
    m = machine(State.REGISTERING)
    m.handle(Response(401), 1)
    assert (m.state, m.last_reason) == (State.FAILED, 'Unusable Challenge')
    anon = TrunkAccount(id='a', proxy='192.0.2.1')
    m = machine(State.REGISTERING, account=anon)
    m.handle(Response(401, challenges=(CH,)), 1)
    assert (m.state, m.last_reason) == (State.FAILED, 'No Credentials')


# ---------------------------------------------------------------- refusals and back-off

@pytest.mark.parametrize('status', [403, 404])
def test_forbidden_and_not_found_fail_and_wait_the_cap(status):
    m = machine(State.CHALLENGED, jitter=0.999999)
    out = m.handle(Response(status, 'Forbidden'), 100)
    assert m.state is State.FAILED and sends(out) == []
    (at,) = schedules(out)
    assert 100 + 450 <= at <= 100 + 900
    (r,) = reports(out)
    assert (r.public, r.status, r.reason, r.retry_at) == ('failed', status, 'Forbidden', at)


def test_server_errors_and_timeouts_back_off_exponentially_up_to_the_cap():
    m = machine(State.REGISTERING, jitter=0.999999)   # jitter factor ~1: the full delay
    waits = []
    now = 0.0
    for i in range(8):
        out = m.handle(Timeout() if i % 2 else Response(503 if i % 4 else 600), now)
        assert m.state is State.FAILED
        (at,) = schedules(out)
        waits.append(round(at - now))
        now = at
        out = m.handle(Tick(), now)
        assert sends(out) and m.state is State.REGISTERING
    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]
    assert m.last_status in (408, 503, 600)


def test_jitter_spreads_the_wait_over_its_upper_half():
    low = machine(State.REGISTERING, jitter=0.0)
    high = machine(State.REGISTERING, jitter=0.999999)
    (a,) = schedules(low.handle(Response(503), 0))
    (b,) = schedules(high.handle(Response(503), 0))
    assert a == 15 and 29.9 < b <= 30


def test_retry_after_is_honoured():
    m = machine(State.REFRESHING)
    out = m.handle(Response(503, retry_after=7), 3571)
    assert schedules(out) == [3578]
    m = machine(State.REGISTERING)
    assert schedules(m.handle(Response(503, retry_after=0), 5)) == [6]   # never a tight loop


def test_success_resets_the_back_off():
    m = machine(State.REGISTERING)
    for now in (0, 100):
        m.handle(Response(500), now)
        m.handle(Tick(), m.due)
    m.handle(Response(200, expires=60), 200)
    assert m.failures == 0
    m.handle(Tick(), m.due)
    (at,) = schedules(m.handle(Response(500), 300))
    assert at == 300 + 15


def test_failure_forgets_the_challenge_and_retry_starts_afresh():
    m = machine(State.REFRESHING)
    m.handle(Response(503), 3571)
    out = m.handle(Tick(), m.due)
    assert sends(out) == [SendRegister(cseq=4, expires=3600)]
    assert m.state is State.REGISTERING
    # and is challenged again like the first time
    (send,) = sends(m.handle(Response(401, challenges=(CH,)), m.due or 4000))
    assert auth_params(send)['nc'] == '00000001'


def test_423_raises_expires_to_min_expires_once():
    m = machine(State.REGISTERING)
    out = m.handle(Response(423, 'Interval Too Brief', min_expires=7200), 1)
    assert sends(out) == [SendRegister(cseq=2, expires=7200)] and m.state is State.REGISTERING
    m.handle(Response(423, min_expires=9000), 2)
    assert m.state is State.FAILED


@pytest.mark.parametrize('min_expires', [None, 3600, 100, 10 ** 6])
def test_423_without_a_usable_min_expires_fails(min_expires):
    m = machine(State.REGISTERING)
    m.handle(Response(423, min_expires=min_expires), 1)
    assert m.state is State.FAILED


def test_423_after_a_challenge_keeps_the_credentials():
    m = machine(State.CHALLENGED)
    (send,) = sends(m.handle(Response(423, min_expires=7200), 1))
    assert send.expires == 7200 and auth_params(send)['nc'] == '00000002'


# ---------------------------------------------------------------- stop

def test_stop_unregisters_with_expires_zero():
    m = machine(State.REGISTERED)
    out = m.handle(Stop(), 100)
    (send,) = sends(out)
    assert send.expires == 0 and auth_params(send)['nonce'] == 'nonce-1'
    assert schedules(out) == [None] and m.state is State.UNREGISTERING
    out = m.handle(Response(200), 101)
    assert m.state is State.UNREGISTERED and reports(out)[0].public == 'unregistered'


def test_unregister_challenged_is_answered_once():
    m = machine(State.REGISTERED)
    m.handle(Stop(), 100)
    (send,) = sends(m.handle(Response(401, challenges=(CH2,)), 101))
    assert send.expires == 0 and m.state is State.UNREGISTERING
    m.handle(Response(401, challenges=(CH2,)), 102)
    assert m.state is State.UNREGISTERED and m.due is None


@pytest.mark.parametrize('event', [Timeout(), Response(500), Response(423)])
def test_unregister_ends_whatever_the_answer(event):
    m = machine(State.UNREGISTERING)
    assert sends(m.handle(event, 1)) == [] and m.state is State.UNREGISTERED
    assert m.due is None


def test_stop_while_pending_unregisters_the_binding_it_may_make():
    for state in (State.REGISTERING, State.CHALLENGED, State.REFRESHING):
        m = machine(state)
        (send,) = sends(m.handle(Stop(), 5000))
        assert send.expires == 0 and m.state is State.UNREGISTERING


def test_stop_when_failed_or_idle_sends_nothing():
    m = machine(State.FAILED)
    out = m.handle(Stop(), 5)
    assert sends(out) == [] and schedules(out) == [None] and m.state is State.UNREGISTERED
    assert m.handle(Stop(), 6) == []
    m = machine(State.UNREGISTERING)
    assert m.handle(Stop(), 6) == [] and m.state is State.UNREGISTERING


def test_start_again_after_stop():
    m = machine(State.UNREGISTERING)
    m.handle(Response(200), 1)
    (send,) = sends(m.handle(Start(), 2))
    assert send.headers == () and m.state is State.REGISTERING


def test_late_answers_after_unregistering_are_ignored():
    m = machine()
    assert m.handle(Response(200), 0) == [] and m.handle(Timeout(), 0) == []


# ---------------------------------------------------------------- illegal transitions

@pytest.mark.parametrize('state,event', [
    (State.REGISTERING, Start()), (State.REGISTERED, Start()), (State.FAILED, Start()),
    (State.UNREGISTERING, Start()), (State.REGISTERED, Response(200)),
    (State.REGISTERED, Timeout()), (State.FAILED, Response(200)), (State.FAILED, Timeout()),
])
def test_illegal_transitions_raise(state, event):
    m = machine(state)
    with pytest.raises(IllegalTransition):
        m.handle(event, 1)
    assert m.state is state


def test_backoff_refuses_a_base_above_the_cap():
    with pytest.raises(ValueError):
        Backoff(100, 10)


def test_password_is_not_in_reprs():
    m = machine(State.REGISTERED)
    assert 's3cret' not in repr(ACCOUNT) and 's3cret' not in repr(m)


# ---------------------------------------------------------------- TrunkAccount

def test_account_from_the_cisco_rule_fields():
    a = TrunkAccount.from_fields({'sipProxy': 'sip.provider.test:5080', 'sipProxyUsername': 'u',
                                  'sipProxyPassword': 'p', 'sipProxyTransport': 'TCP',
                                  'register': 'true', 'registerExpiry': '600',
                                  'trunkAddresses': '198.51.100.0/24, 203.0.113.7'}, id='r1')
    assert (a.id, a.host, a.port, a.transport, a.expires, a.register) == (
        'r1', 'sip.provider.test', 5080, 'tcp', 600, True)
    assert a.aor == 'sip:u@sip.provider.test' and a.registrar_uri == 'sip:sip.provider.test'
    assert a.source_addresses == ('198.51.100.0/24', '203.0.113.7')


def test_account_defaults_from_the_document():
    a = TrunkAccount.from_fields({'sipProxy': '192.0.2.5'})
    assert (a.port, a.transport, a.expires, a.register) == (5060, 'udp', 3600, False)
    assert a.source_addresses == ('192.0.2.5',)         # the proxy host, an IP
    assert TrunkAccount.from_fields({'sipProxy': 'sip.example'}).source_addresses == ()


@pytest.mark.parametrize('fields,field', [
    ({}, 'sipProxy'), ({'sipProxy': 'h:99999'}, 'sipProxy'),
    ({'sipProxy': 'h', 'sipProxyTransport': 'tls'}, 'sipProxyTransport'),
    ({'sipProxy': 'h', 'registerExpiry': 'soon'}, 'registerExpiry'),
    ({'sipProxy': 'h', 'registerExpiry': '5'}, 'registerExpiry'),
    ({'sipProxy': 'h', 'register': 'maybe'}, 'register'),
    ({'sipProxy': 'h', 'trunkAddresses': '10.0.0.0/8, evil.example'}, 'trunkAddresses'),
])
def test_account_refuses_bad_fields_naming_them(fields, field):
    with pytest.raises(ValueError, match=f'^{field}: '):
        TrunkAccount.from_fields(fields)


# ---------------------------------------------------------------- TrunkMatcher

def test_matcher_matches_ips_and_cidrs_and_nothing_else():
    m = TrunkMatcher({'a': '198.51.100.0/24', 'b': ['198.51.100.7', '2001:db8::/32']})
    assert m.match('198.51.100.7') == 'b'            # the most specific wins
    assert m.match('198.51.100.8') == 'a'
    assert m.match('2001:db8::1') == 'b'
    assert m.match('::ffff:198.51.100.9') == 'a'
    assert m.match('198.51.101.1') is None
    assert m.match('not-an-ip') is None and m.match('') is None
    assert not TrunkMatcher({}) and TrunkMatcher({'x': '10.0.0.1'})


def test_parse_addresses_refuses_names_and_caps_the_list():
    assert [str(n) for n in parse_addresses(' 10.1.2.3 , 10.0.0.0/8,,[::1]')] == [
        '10.1.2.3/32', '10.0.0.0/8', '::1/128']
    with pytest.raises(ValueError, match="'trunk.example'"):
        parse_addresses('10.0.0.1, trunk.example')
    with pytest.raises(ValueError, match='more than'):
        parse_addresses(','.join(f'10.0.{i // 250}.{i % 250}' for i in range(101)))


# ---------------------------------------------------------------- settings

@pytest.mark.parametrize('env,words', [
    ({'TELEPHONY_TRUNK_ADDRESSES': '10.0.0.0/8, trunk.example'}, "'trunk.example'"),
    ({'TELEPHONY_TRUNK_REGISTER_EXPIRY': '10'}, 'trunk_register_expiry (10)'),
    ({'TELEPHONY_TRUNK_REGISTER_RETRY': '0'}, 'trunk_register_retry (0)'),
    ({'TELEPHONY_TRUNK_REGISTER_RETRY': '1000'}, 'at most trunk_register_retry_max (900)'),
    ({'TELEPHONY_TRUNK_TRANSPORT': 'tls'}, "trunk_transport ('tls')"),
])
def test_bad_trunk_settings_are_refused_in_one_line(monkeypatch, env, words):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as exc:
        Settings.load()
    assert words in str(exc.value) and '\n' not in str(exc.value)


def test_settings_trunk_account(monkeypatch):
    monkeypatch.setenv('TELEPHONY_TRUNK', '192.0.2.9:5080')
    monkeypatch.setenv('TELEPHONY_TRUNK_USER', 'pbx')
    monkeypatch.setenv('TELEPHONY_TRUNK_PASSWORD', 'pw')
    monkeypatch.setenv('TELEPHONY_TRUNK_REGISTER', 'true')
    monkeypatch.setenv('TELEPHONY_TRUNK_ADDRESSES', '198.51.100.0/24')
    a = settings_trunk(Settings.load())
    assert (a.id, a.host, a.port, a.transport, a.expires, a.register) == (
        'settings', '192.0.2.9', 5080, 'udp', 3600, True)
    assert a.registrar_uri == 'sip:192.0.2.9' and a.addresses == ('198.51.100.0/24',)
    monkeypatch.setenv('TELEPHONY_TRUNK', '')
    assert settings_trunk(Settings.load()) is None
