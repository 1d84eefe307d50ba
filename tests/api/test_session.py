"""/api/session (§3.1) through a real HTTP client."""


def test_session_lifecycle(api):
    api.add_user('joe')
    anon = api.client()
    r = anon.get('/api/session')
    body = r.json()
    assert body['status'] == 'ok' and body['auth'] is False and body['next_event'] == 0
    assert body['server'] == api.base and body['did'] and r.cookies['sid'] == body['sid']
    login = api.client(body['sid']).post('/api/session', json={'username': 'joe',
                                                                'password': 'secret12345'})
    logged = login.json()
    # a login hands out a new session (issue 8: session fixation), in the body and the cookies
    assert logged['status'] == 'ok' and logged['auth'] is True and logged['sid'] != body['sid']
    assert login.cookies['sid'] == logged['sid'] and logged['server'] == api.base
    me = api.client(logged['sid'])
    again = me.get('/api/session').json()
    assert again['sid'] == logged['sid'] and again['auth'] is True
    assert me.post('/api/session', json={'username': 'joe', 'password': 'secret12345'}).json()[
        'status'] == 'already-auth'
    assert me.delete('/api/session').json() == {'status': 'ok'}
    assert me.get('/api/session').json()['status'] == 'wrong-session'
    assert me.delete('/api/session').json()['status'] == 'no-session'


def test_login_by_email_and_sid_as_parameter_or_cookie(api):
    api.add_user('ann', 'pass-word', '--email', 'ann@example.com')
    body = api.client().post('/api/session', json={'email': 'ann@example.com',
                                                    'password': 'pass-word'}).json()
    assert body['status'] == 'ok' and body['auth'] is True
    plain = api.client()
    assert plain.get('/api/session', params={'sid': body['sid']}).json()['sid'] == body['sid']
    plain.cookies.set('sid', body['sid'])
    assert plain.get('/api/session').json()['auth'] is True


def test_bad_logins_get_the_documented_status(api):
    api.add_user('joe')
    c = api.client()
    assert c.post('/api/session', json={'username': 'joe', 'password': 'wrong-pw'}).json()[
        'status'] == 'wrong-credentials'
    assert c.post('/api/session', json={'username': 'nobody', 'password': 'wrong-pw'}).json()[
        'status'] == 'wrong-credentials'
    assert c.post('/api/session', json={'username': 'j!', 'password': 'x' * 6}).json()[
        'status'] == 'wrong-syntax'
    assert c.post('/api/session', json={'username': 'joe'}).json()['status'] == 'missing-element'
    assert c.post('/api/session', json={'password': 'secret12345'}).json()[
        'status'] == 'missing-element'
    assert c.post('/api/session', content=b'{not json',
                  headers={'content-type': 'application/json'}).json()['status'] == 'wrong-syntax'


def test_failed_logins_are_throttled(api):
    api.add_user('joe')
    c = api.client()
    statuses = [c.post('/api/session', json={'username': 'joe', 'password': f'guess{i}'}).json()[
        'status'] for i in range(7)]
    assert statuses[:5] == ['wrong-credentials'] * 5
    assert statuses[-1] == 'resource-throttle'
    # even the right password waits out the block
    assert c.post('/api/session', json={'username': 'joe', 'password': 'secret12345'}).json()[
        'status'] == 'resource-throttle'


def test_json_body_without_a_json_content_type(api):
    api.add_user('joe')
    r = api.client().post('/api/session', content=b'{"username":"joe","password":"secret12345"}',
                          headers={'content-type': 'application/x-www-form-urlencoded'})
    assert r.json()['auth'] is True
