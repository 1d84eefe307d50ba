import hashlib

import pytest

from telephony.sip.auth import (
    AccountLimiter,
    AuthHeaderError,
    AuthResult,
    DigestClient,
    DigestServer,
    RateLimiter,
    digest_response,
    format_challenge,
    ha1,
    parse_auth_header,
)

SECRET = b"0123456789abcdef0123456789abcdef"
REALM = "sip.example.com"
USERS = {"alice": "s3cret", "bob": "hunter2"}


def lookup(username, realm, algorithm):
    if username not in USERS:
        return None
    return ha1(username, realm, USERS[username], algorithm)


def refuse_lookup(username, realm, algorithm):
    raise AssertionError("the password was looked at")


def challenge_for(server, now, algorithm):
    return next(c for c in server.make_challenges(now) if f"algorithm={algorithm}," in c)


# ------------------------------------------------------------------ known vectors


def test_rfc2617_md5_vector():
    h1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert h1 == "939e7578ed9e3c518a452acee763bce9"
    resp = digest_response(h1, "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                           "MD5", "auth", "00000001", "0a4f113b")
    assert resp == "6629fae49393a05397450978507c4ef1"


def test_rfc2617_vector_through_client():
    chal = ('Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    value = DigestClient().build_authorization(chal, "GET", "/dir/index.html", "Mufasa",
                                               "Circle Of Life", cnonce="0a4f113b", nc=1)
    scheme, p = parse_auth_header(value)
    assert scheme == "Digest"
    assert p["response"] == "6629fae49393a05397450978507c4ef1"
    assert p["opaque"] == "5ccc069c403ebaf9f0171e9517f40e41"
    assert (p["qop"], p["nc"], p["cnonce"]) == ("auth", "00000001", "0a4f113b")
    assert "qop=auth" in value and "nc=00000001" in value  # unquoted per RFC 7616


def test_rfc7616_sha256_vector():
    chal = ('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
            'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    value = DigestClient().build_authorization(chal, "GET", "/dir/index.html", "Mufasa", "Circle of Life",
                                               cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    _, p = parse_auth_header(value)
    assert p["response"] == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert p["algorithm"] == "SHA-256"


def test_rfc2069_no_qop_client():
    chal = 'Digest realm="r", nonce="n"'
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:r", "u", "p")
    _, p = parse_auth_header(value)
    assert "qop" not in p and "nc" not in p and "cnonce" not in p and "algorithm" not in p
    assert p["response"] == digest_response(ha1("u", "r", "p"), "REGISTER", "sip:r", "n")


def test_md5_sess_client():
    chal = 'Digest realm="r", nonce="n", algorithm=MD5-sess, qop="auth"'
    value = DigestClient().build_authorization(chal, "INVITE", "sip:x@r", "u", "p", cnonce="c")
    _, p = parse_auth_header(value)
    h1 = hashlib.md5(f"{ha1('u', 'r', 'p')}:n:c".encode()).hexdigest()
    h2 = hashlib.md5(b"INVITE:sip:x@r").hexdigest()
    expected = hashlib.md5(f"{h1}:n:00000001:c:auth:{h2}".encode()).hexdigest()
    assert p["response"] == expected and p["algorithm"] == "MD5-sess"


def test_client_rejects_unsupported():
    client = DigestClient()
    with pytest.raises(AuthHeaderError):
        client.build_authorization('Digest realm="r", nonce="n", algorithm=SHA-512', "X", "u", "a", "b")
    with pytest.raises(AuthHeaderError):
        client.build_authorization('Digest realm="r", nonce="n", qop="auth-int"', "X", "u", "a", "b")
    with pytest.raises(AuthHeaderError):
        client.build_authorization('Basic realm="r"', "X", "u", "a", "b")
    with pytest.raises(AuthHeaderError):
        client.build_authorization('Digest realm="r"', "X", "u", "a", "b")


def test_choose_challenge_prefers_sha256():
    server = DigestServer(SECRET, REALM)
    md5_first = list(reversed(server.make_challenges(0.0)))
    assert "algorithm=SHA-256" in DigestClient.choose_challenge(md5_first)
    assert DigestClient.choose_challenge(['Digest realm="r", nonce="n"']) == 'Digest realm="r", nonce="n"'
    with pytest.raises(AuthHeaderError):
        DigestClient.choose_challenge(['Basic realm="x"', 'Digest realm="r", nonce="n", algorithm=FOO'])


# ------------------------------------------------------------------ header syntax


def test_parse_auth_header_syntax():
    scheme, p = parse_auth_header(
        '  Digest  username="a\\"b\\\\c" ,realm = "x, y",nonce=abc,  qop=auth,nc=00000001,, '
        'uri="sip:bob@example.com;transport=tcp"'
    )
    assert scheme == "Digest"
    assert p == {"username": 'a"b\\c', "realm": "x, y", "nonce": "abc", "qop": "auth",
                 "nc": "00000001", "uri": "sip:bob@example.com;transport=tcp"}
    assert parse_auth_header("Digest") == ("Digest", {})
    _, p = parse_auth_header('Digest Realm="R", NONCE="n"')
    assert p == {"realm": "R", "nonce": "n"}


@pytest.mark.parametrize(
    "value",
    ["", "   ", 'Digest realm="unterminated', "Digest realm", 'Digest realm="a" nonce="b"',
     'Digest realm="a", realm="b"', 'Digest ="x"', 'Digest realm="a\\'],
)
def test_parse_auth_header_errors(value):
    with pytest.raises(AuthHeaderError):
        parse_auth_header(value)


def test_format_challenge_quotes_and_round_trips():
    value = format_challenge('we"ird\\realm', "n1", "SHA-256", stale=True, opaque="op")
    scheme, p = parse_auth_header(value)
    assert p == {"realm": 'we"ird\\realm', "nonce": "n1", "opaque": "op", "algorithm": "SHA-256",
                 "qop": "auth", "stale": "TRUE"}
    with pytest.raises(ValueError):
        format_challenge("a\r\nInjected: 1", "n")


# ------------------------------------------------------------------ server


def test_challenges_sha256_first_then_md5():
    server = DigestServer(SECRET, REALM, opaque="xyz")
    chals = server.make_challenges(1000.0)
    assert len(chals) == 2
    params = [parse_auth_header(c)[1] for c in chals]
    assert [p["algorithm"] for p in params] == ["SHA-256", "MD5"]
    assert all(p["qop"] == "auth" and p["realm"] == REALM and p["opaque"] == "xyz" for p in params)
    assert "stale" not in params[0]
    assert parse_auth_header(server.make_challenges(1000.0, stale=True)[0])[1]["stale"] == "TRUE"
    # Unique per call even at the same instant.
    assert server.make_challenges(1000.0)[0] != chals[0]


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_server_client_round_trip(algorithm):
    server = DigestServer(SECRET, REALM)
    chal = challenge_for(server, 1000.0, algorithm)
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:sip.example.com", "alice", "s3cret")
    res = server.verify("REGISTER", value, lookup, 1001.0)
    assert res.ok and res.reason == "ok" and not res.stale
    assert (res.username, res.algorithm, res.uri) == ("alice", algorithm, "sip:sip.example.com")


def test_nonce_verifiable_by_another_process_with_same_secret():
    chal = challenge_for(DigestServer(SECRET, REALM), 1000.0, "MD5")
    value = DigestClient().build_authorization(chal, "INVITE", "sip:100@sip.example.com", "bob", "hunter2")
    assert DigestServer(SECRET, REALM).verify("INVITE", value, lookup, 1010.0).ok
    res = DigestServer(b"another-secret-another-secret!!", REALM).verify("INVITE", value, lookup, 1010.0)
    assert not res.ok and res.reason == "bad-nonce" and not res.stale


def test_wrong_method_or_password_fails():
    server = DigestServer(SECRET, REALM)
    chal = challenge_for(server, 1000.0, "SHA-256")
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "wrong")
    res = server.verify("REGISTER", value, lookup, 1000.0)
    assert (res.ok, res.stale, res.reason) == (False, False, "bad-response")
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret")
    assert server.verify("INVITE", value, lookup, 1000.0).reason == "bad-response"


def test_stale_nonce():
    server = DigestServer(SECRET, REALM, nonce_ttl=300.0)
    chal = challenge_for(server, 1000.0, "MD5")
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret")
    res = server.verify("REGISTER", value, lookup, 1301.0)
    assert (res.ok, res.stale, res.reason) == (False, True, "stale-nonce")
    # A stale nonce is refused before the digest is compared: the same answer with a wrong
    # password, so stale=TRUE is no password oracle and nothing counts as a guess.
    bad = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "nope")
    res = server.verify("REGISTER", bad, refuse_lookup, 1301.0)
    assert (res.ok, res.stale, res.reason, res.guessed) == (False, True, "stale-nonce", False)


def test_tampered_nonce():
    server = DigestServer(SECRET, REALM)
    chal = challenge_for(server, 1000.0, "MD5")
    nonce = parse_auth_header(chal)[1]["nonce"]
    # Flip one character of the timestamp part, then sign correctly for the new nonce.
    forged = ("B" if nonce[0] != "B" else "C") + nonce[1:]
    forged_chal = chal.replace(nonce, forged)
    value = DigestClient().build_authorization(forged_chal, "REGISTER", "sip:x", "alice", "s3cret")
    res = server.verify("REGISTER", value, lookup, 1000.0)
    assert (res.ok, res.stale, res.reason) == (False, False, "bad-nonce")
    for junk in ["", "!!!", "abcd", "x" * 200]:
        value = DigestClient().build_authorization(chal.replace(nonce, junk), "REGISTER", "sip:x",
                                                   "alice", "s3cret")
        assert server.verify("REGISTER", value, lookup, 1000.0).reason in ("bad-nonce", "malformed")


def test_nonce_from_the_future_rejected():
    server = DigestServer(SECRET, REALM)
    chal = challenge_for(server, 5000.0, "MD5")
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret")
    assert server.verify("REGISTER", value, lookup, 1000.0).reason == "bad-nonce"


def test_replayed_nc():
    server = DigestServer(SECRET, REALM)
    client = DigestClient()
    chal = challenge_for(server, 1000.0, "SHA-256")
    first = client.build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret", nc=1)
    assert server.verify("REGISTER", first, lookup, 1001.0).ok
    res = server.verify("REGISTER", first, lookup, 1002.0)
    assert (res.ok, res.reason, res.stale) == (False, "replay", True)
    second = client.build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret", nc=2)
    assert server.verify("REGISTER", second, lookup, 1003.0).ok
    assert server.verify("REGISTER", first, lookup, 1004.0).reason == "replay"
    assert server.verify("REGISTER", second, lookup, 1004.0).reason == "replay"
    # Failed attempts don't consume nc values.
    bad = client.build_authorization(chal, "REGISTER", "sip:x", "alice", "wrong", nc=3)
    assert server.verify("REGISTER", bad, lookup, 1005.0).reason == "bad-response"
    third = client.build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret", nc=3)
    assert server.verify("REGISTER", third, lookup, 1005.0).ok


def test_nc_table_bounded_and_eviction_does_not_reopen_replay():
    server = DigestServer(SECRET, REALM, max_tracked_nonces=3)
    client = DigestClient()
    values = []
    for i in range(5):
        chal = challenge_for(server, 1000.0 + i, "MD5")
        v = client.build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret")
        assert server.verify("REGISTER", v, lookup, 1000.0 + i).ok
        values.append(v)
    assert len(server._nc_seen) <= 3
    # The evicted nonces' history is gone, so they are refused as stale instead of replayable.
    res = server.verify("REGISTER", values[0], lookup, 1010.0)
    assert (res.ok, res.reason, res.stale) == (False, "stale-nonce", True)
    # Expired nonces' history can be dropped outright: they fail as stale anyway.
    tracked = len(server._nc_seen)
    assert server.prune(2000.0) == tracked and not server._nc_seen


def test_unknown_user_same_outward_failure():
    server = DigestServer(SECRET, REALM)
    chal = challenge_for(server, 1000.0, "SHA-256")
    calls = []

    def tracking_lookup(u, r, a):
        calls.append((u, r, a))
        return lookup(u, r, a)

    nobody = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "mallory", "s3cret")
    wrong = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "guess")
    r1 = server.verify("REGISTER", nobody, tracking_lookup, 1000.0)
    r2 = server.verify("REGISTER", wrong, tracking_lookup, 1000.0)
    assert (r1.ok, r1.stale) == (r2.ok, r2.stale) == (False, False)
    assert r1.reason == "no-such-user" and r2.reason == "bad-response"
    assert calls == [("mallory", REALM, "SHA-256"), ("alice", REALM, "SHA-256")]
    assert r1.guessed and r2.guessed
    # On a stale nonce a known and an unknown user get the same answer, without a lookup.
    calls.clear()
    r3 = server.verify("REGISTER", nobody, tracking_lookup, 5000.0)
    r4 = server.verify("REGISTER", wrong, tracking_lookup, 5000.0)
    assert (r3.ok, r3.stale, r3.reason) == (r4.ok, r4.stale, r4.reason) == (False, True, "stale-nonce")
    assert calls == []


def test_malformed_and_unsupported():
    server = DigestServer(SECRET, REALM)
    nonce = server.make_nonce(1000.0)
    base = f'Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="sip:x", response="00"'
    cases = {
        "": "malformed",
        'Basic YWxhZGRpbjpvcGVuc2VzYW1l': "unknown-scheme",
        base.replace(', uri="sip:x"', ""): "malformed",  # uri required
        base: "no-qop",  # qop required unless allow_rfc2069
        base + ", qop=auth": "malformed",  # nc/cnonce missing
        base + ', qop=auth, nc=1, cnonce="c"': "malformed",  # nc must be 8 hex digits
        base + ', qop=auth-int, nc=00000001, cnonce="c"': "malformed",
        base + ', qop=auth, nc=00000001, cnonce="c", algorithm=SHA-512-256': "unsupported-algorithm",
        base.replace(REALM, "other.realm") + ', qop=auth, nc=00000001, cnonce="c"': "bad-realm",
        base + ', qop=auth, nc=00000001, cnonce="c"': "bad-response",
    }
    for value, reason in cases.items():
        res = server.verify("REGISTER", value, lookup, 1000.0)
        assert (res.ok, res.reason) == (False, reason), value
        assert res.guessed == (reason == "bad-response"), value


def test_rfc2069_allowed_when_enabled():
    server = DigestServer(SECRET, REALM, allow_rfc2069=True)
    nonce = server.make_nonce(1000.0)
    value = DigestClient().build_authorization(f'Digest realm="{REALM}", nonce="{nonce}"', "REGISTER",
                                               "sip:x", "alice", "s3cret")
    assert server.verify("REGISTER", value, lookup, 1000.0).ok
    assert not DigestServer(SECRET, REALM).verify("REGISTER", value, lookup, 1000.0).ok


def test_algorithm_restriction():
    server = DigestServer(SECRET, REALM, algorithms=["SHA-256"])
    assert len(server.make_challenges(0.0)) == 1
    chal = f'Digest realm="{REALM}", nonce="{server.make_nonce(0.0)}", qop="auth"'  # implies MD5
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret")
    assert server.verify("REGISTER", value, lookup, 0.0).reason == "unsupported-algorithm"


def test_uppercase_response_hex_accepted():
    server = DigestServer(SECRET, REALM)
    chal = challenge_for(server, 1000.0, "MD5")
    value = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret")
    _, p = parse_auth_header(value)
    value = value.replace(p["response"], p["response"].upper())
    assert server.verify("REGISTER", value, lookup, 1000.0).ok


def test_ha1_algorithms():
    assert len(ha1("u", "r", "p", "MD5")) == 32
    assert len(ha1("u", "r", "p", "SHA-256")) == 64
    assert ha1("u", "r", "p", "sha-256") == ha1("u", "r", "p", "SHA-256")
    with pytest.raises(ValueError):
        ha1("u", "r", "p", "SHA-1")


# ------------------------------------------------------------------ rate limiter


def test_rate_limiter_blocks_after_n_failures_and_unblocks():
    rl = RateLimiter(max_failures=5, window=60.0, block_for=60.0)
    for i in range(4):
        assert not rl.failure("198.51.100.7", 100.0 + i)
        assert not rl.blocked("198.51.100.7", 100.0 + i)
    assert rl.failure("198.51.100.7", 104.0)
    assert rl.blocked("198.51.100.7", 104.0)
    assert rl.blocked("198.51.100.7", 163.9)
    assert not rl.blocked("198.51.100.7", 164.1)
    assert not rl.blocked("203.0.113.1", 104.0)  # other sources unaffected


def test_rate_limiter_sliding_window():
    rl = RateLimiter(max_failures=3, window=10.0, block_for=30.0)
    rl.failure("a", 0.0)
    rl.failure("a", 6.0)
    assert not rl.failure("a", 11.0)  # first failure has left the window
    assert rl.failure("a", 12.0)
    assert rl.blocked("a", 41.9) and not rl.blocked("a", 42.1)


def test_rate_limiter_success_resets_but_keeps_block():
    rl = RateLimiter(max_failures=2, window=60.0, block_for=60.0)
    rl.failure("a", 0.0)
    rl.success("a")
    assert not rl.failure("a", 1.0)
    assert rl.failure("a", 2.0)
    rl.success("a")
    assert rl.blocked("a", 3.0)


def test_rate_limiter_bounded_memory():
    rl = RateLimiter(max_failures=3, window=10.0, block_for=10.0, max_keys=100)
    for i in range(1000):
        rl.failure(f"10.0.{i // 256}.{i % 256}", float(i))
        assert len(rl) <= 100
    tracked = len(rl)
    assert rl.prune(10_000.0) == tracked and len(rl) == 0


# ------------------------------------------------------------------ what counts as a guess


def test_nonce_is_bound_to_the_address_it_was_sent_to():
    """A spoofer can ask for a nonce at its own address and forge the phone's source
    address, but the nonce is then not valid, and the password is not even looked at."""
    server = DigestServer(SECRET, REALM)
    phone, spoofer = "192.0.2.10", "198.51.100.7"
    chal = next(c for c in server.make_challenges(1000.0, bound_to=spoofer) if "MD5," in c)
    guess = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "guess")
    res = server.verify("REGISTER", guess, refuse_lookup, 1000.0, bound_to=phone)
    assert (res.ok, res.reason, res.guessed) == (False, "bad-nonce", False)
    # from the address it was sent to, the same nonce carries a real guess, and a login
    assert server.verify("REGISTER", guess, lookup, 1000.0, bound_to=spoofer).guessed
    right = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "s3cret")
    assert server.verify("REGISTER", right, lookup, 1000.0, bound_to=spoofer).ok
    assert server.nonce_time(parse_auth_header(chal)[1]["nonce"], spoofer) == 1000.0
    assert server.nonce_time(parse_auth_header(chal)[1]["nonce"], phone) is None


def test_failures_decided_before_the_password_are_not_guesses():
    server = DigestServer(SECRET, REALM, nonce_ttl=300.0)
    chal = challenge_for(server, 1000.0, "MD5")
    nonce = parse_auth_header(chal)[1]["nonce"]
    wrong = DigestClient().build_authorization(chal, "REGISTER", "sip:x", "alice", "guess")
    cases = {
        'Digest username="alice", realm="x"': "malformed",
        wrong.replace(", qop=auth", ""): "no-qop",
        wrong.replace(nonce, "A" * len(nonce)): "bad-nonce",
        wrong.replace(f'realm="{REALM}"', 'realm="elsewhere"'): "bad-realm",
    }
    for value, reason in cases.items():
        res = server.verify("REGISTER", value, refuse_lookup, 1000.0)
        assert (res.reason, res.guessed) == (reason, False), value
    res = server.verify("REGISTER", wrong, refuse_lookup, 1301.0)
    assert (res.reason, res.stale, res.guessed) == ("stale-nonce", True, False)
    # parse_credentials + check_credentials is verify in two steps, around an async lookup
    creds = server.parse_credentials(wrong, 1000.0)
    assert not isinstance(creds, AuthResult) and creds.username == "alice"
    res = server.check_credentials("REGISTER", creds, lookup("alice", REALM, "MD5"), 1000.0)
    assert (res.reason, res.guessed) == ("bad-response", True)


# ------------------------------------------------------------------ per-account limiter

KEY = "alice@" + REALM


def test_account_budget_is_shared_by_every_source():
    """The distributed guesser: every guess from a new address, none blocked per address."""
    acc = AccountLimiter(max_failures=10, window=60.0)
    for i in range(10):
        assert acc.attempt(KEY, f"10.0.0.{i}", 100.0) == AccountLimiter.BUDGET
    assert acc.attempt(KEY, "10.0.1.1", 100.0) is None
    assert acc.attempt(KEY, "10.0.1.2", 105.9) is None
    assert acc.attempt(KEY, "10.0.1.3", 106.0) == AccountLimiter.BUDGET  # one every 6 s
    assert acc.attempt(KEY, "10.0.1.4", 106.0) is None
    assert acc.attempt("bob@" + REALM, "10.0.1.4", 106.0) == AccountLimiter.BUDGET
    # a minute of quiet gives the whole budget back
    for i in range(10):
        assert acc.attempt(KEY, "10.0.2.1", 166.0) == AccountLimiter.BUDGET
    assert acc.attempt(KEY, "10.0.2.1", 166.0) is None


def test_good_source_is_heard_while_the_account_is_under_attack():
    acc = AccountLimiter(max_failures=10, window=60.0)
    phone = "192.0.2.10"
    assert acc.attempt(KEY, phone, 0.0) == AccountLimiter.BUDGET
    acc.success(KEY, phone, 0.0, refund=True)
    for i in range(10):
        assert acc.attempt(KEY, f"10.0.0.{i}", 1.0) == AccountLimiter.BUDGET
    assert acc.attempt(KEY, "10.0.0.99", 1.0) is None
    assert acc.attempt(KEY, phone, 1.0) == AccountLimiter.GOOD
    # heard without a token, so its success gives none back to the guessers
    acc.success(KEY, phone, 1.0, refund=False)
    assert acc.attempt(KEY, "10.0.0.99", 1.0) is None
    # good for this account only
    assert not acc.is_good("bob@" + REALM, phone)


def test_correct_answers_do_not_use_up_the_budget():
    acc = AccountLimiter(max_failures=3, window=60.0)
    for _ in range(20):   # a busy phone: many logins in a row
        assert acc.attempt(KEY, "192.0.2.10", 0.0) == AccountLimiter.BUDGET
        acc.success(KEY, "192.0.2.10", 0.0, refund=True)
    for _ in range(3):
        assert acc.attempt(KEY, "10.0.0.1", 0.0) == AccountLimiter.BUDGET
    assert acc.attempt(KEY, "10.0.0.1", 0.0) is None


def test_account_budgets_bounded_and_a_flood_of_usernames_does_not_reset_one():
    acc = AccountLimiter(max_failures=10, window=60.0, max_keys=100)
    for _ in range(10):
        acc.attempt(KEY, "10.0.0.1", 0.0)
    assert acc.attempt(KEY, "10.0.0.1", 0.0) is None
    # 1000 other usernames: the table stays bounded and alice's spent budget stays
    results = [acc.attempt(f"user{i}@{REALM}", "10.0.0.2", 1.0) for i in range(1000)]
    assert len(acc) <= 100
    assert acc.attempt(KEY, "10.0.0.3", 1.0) is None
    # the ones that did not fit shared one overflow budget of 10
    assert results.count(AccountLimiter.BUDGET) == 99 + 10
    assert acc.attempt(f"new@{REALM}", "10.0.0.4", 1.0) is None
    # once budgets are full again they make room
    assert acc.attempt(f"new@{REALM}", "10.0.0.4", 200.0) == AccountLimiter.BUDGET
    assert len(acc) <= 100


def test_good_sources_bounded():
    acc = AccountLimiter(max_keys=100, good_per_key=2)
    for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        acc.success(KEY, ip, 0.0, refund=False)
    assert [acc.is_good(KEY, ip) for ip in ("192.0.2.1", "192.0.2.2", "192.0.2.3")] == \
        [False, True, True]
    acc.success(KEY, "192.0.2.2", 0.0, refund=False)   # refreshed, not duplicated
    acc.success(KEY, "192.0.2.4", 0.0, refund=False)
    assert acc.is_good(KEY, "192.0.2.2") and not acc.is_good(KEY, "192.0.2.3")
    for i in range(1000):
        acc.success(f"user{i}", "192.0.2.9", 0.0, refund=False)
    assert len(acc._good) <= 100
    assert acc.is_good("user999", "192.0.2.9") and not acc.is_good(KEY, "192.0.2.2")
