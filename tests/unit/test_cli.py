"""The provisioning commands against a real SQLite file, settings errors, the log formatter."""
import logging
import sys

import pytest

from telephony.cli import SafeFormatter, escape_log_text, main
from telephony.config import ConfigError, Settings, split_hostport


def test_provisioning_commands(tmp_path, capsys):
    data = ['--data', str(tmp_path)]
    assert main(['user', 'add', 'joe', '--password', 'secret12345', '--create', *data]) == 0
    assert main(['user', 'add', 'joe', '--password', 'secret12345', *data]) == 1
    assert main(['user', 'add', 'j', '--password', 'secret12345', *data]) == 2
    assert main(['phone', 'add', '+4930555', '--user', 'joe', '--call-enable', *data]) == 0
    assert main(['phone', 'add', '+4930555', '--user', 'joe', *data]) == 1
    assert main(['phone', 'add', '4930555', '--user', 'joe', *data]) == 2
    assert main(['phone', 'add', '+4930556', '--user', 'bob', *data]) == 1
    assert main(['sip', 'add', 'alice', '--password', 'pw12345', '--user', 'joe', *data]) == 0
    assert main(['sip', 'add', 'alice', '--password', 'pw', *data]) == 2
    capsys.readouterr()
    assert main(['sip', 'list', *data]) == 0
    assert capsys.readouterr().out.startswith('alice@localhost\tjoe')
    assert main(['sip', 'delete', 'alice', *data]) == 0
    assert main(['sip', 'delete', 'alice', *data]) == 1
    err = capsys.readouterr().err
    assert 'no such account alice@localhost' in err
    # nothing about passwords is ever printed
    assert 'pw12345' not in err and 'secret12345' not in err


def test_user_and_phone_list_and_delete(tmp_path, capsys):
    data = ['--data', str(tmp_path)]
    assert main(['user', 'add', 'joe', '--password', 'secret12345', '--create', *data]) == 0
    assert main(['user', 'add', 'ann', '--password', 'secret12345', '--admin', *data]) == 0
    assert main(['phone', 'add', '+4930555001', '--user', 'joe', '--call-enable',
                 '--recording-enable', *data]) == 0
    capsys.readouterr()
    assert main(['user', 'list', *data]) == 0
    rows = [line.split('\t') for line in capsys.readouterr().out.splitlines()]
    assert [(r[0], r[3]) for r in rows] == [('ann', 'admin'), ('joe', '-')]
    assert main(['phone', 'list', *data]) == 0
    assert capsys.readouterr().out == '+4930555001\tjoe\tcall_enable,recording_enable\n'
    # a user who still owns a number is not deleted (the number would be nobody's)
    assert main(['user', 'delete', 'joe', *data]) == 1
    assert '+4930555001' in capsys.readouterr().err
    assert main(['phone', 'delete', '+4930555001', *data]) == 0
    assert main(['phone', 'delete', '+4930555001', *data]) == 1
    assert main(['user', 'delete', 'joe', *data]) == 0
    assert main(['user', 'delete', 'joe', *data]) == 1
    capsys.readouterr()
    assert main(['phone', 'list', *data]) == 0 and capsys.readouterr().out == ''
    assert main(['user', 'list', *data]) == 0
    assert [r.split('\t')[0] for r in capsys.readouterr().out.splitlines()] == ['ann']


def test_provisioning_refuses_a_directory_without_a_database(tmp_path, capsys):
    empty = tmp_path / 'elsewhere'
    for argv in (['sip', 'add', 'alice', '--password', 'pw12345'],
                 ['user', 'add', 'joe', '--password', 'secret12345'], ['user', 'list'],
                 ['phone', 'list'], ['sip', 'delete', 'alice']):
        assert main([*argv, '--data', str(empty)]) == 2, argv
        err = capsys.readouterr().err
        assert 'no database in' in err and '--create' in err and len(err.splitlines()) == 1
    assert not empty.exists()      # nothing was created
    assert main(['sip', 'add', 'alice', '--password', 'pw12345', '--create',
                 '--data', str(empty)]) == 0
    assert (empty / 'telephony.db').is_file()


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['--version'])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith('telephony 0.')
    with pytest.raises(SystemExit):
        main(['phone', 'add', '--help'])
    out = capsys.readouterr().out
    assert 'voice mail' in out and '--create' in out


# ---------------------------------------------------------------- settings

def write(tmp_path, text):
    path = tmp_path / 's.toml'
    path.write_text(text)
    return str(path)


def load_error(*args, **kw) -> str:
    with pytest.raises(ConfigError) as exc:
        Settings.load(*args, **kw)
    msg = str(exc.value)
    assert '\n' not in msg
    return msg


def test_settings_from_file_env_and_overrides(tmp_path, monkeypatch):
    path = write(tmp_path, 'sip_port = 5070\ndemo = false\n[sip]\ndomain = "example.org"\n')
    monkeypatch.setenv('TELEPHONY_HTTP_PORT', '8090')
    monkeypatch.setenv('TELEPHONY_MAX_CALLS', '7')
    s = Settings.load(path, data_dir='/tmp/x', max_calls=None)
    assert (s.sip_port, s.demo, s.domain, s.http_port, s.max_calls, str(s.data_dir)) == \
        (5070, False, 'example.org', 8090, 7, '/tmp/x')
    assert s.rtp_host == s.sip_host


def test_unknown_setting_in_file_lists_the_valid_ones(tmp_path):
    msg = load_error(write(tmp_path, 'sip_prot = 5070\n'))
    assert 'sip_prot' in msg and 'did you mean sip_port' in msg
    assert 'rtp_port_min' in msg and 'trunk_domain' in msg     # the valid keys
    assert 'unknown setting' in load_error(write(tmp_path, '[media]\nrtp_port_min = 1\n'))


def test_unknown_environment_variable_is_an_error(monkeypatch):
    monkeypatch.setenv('TELEPHONY_RTP_PORTMIN', '4000')
    msg = load_error()
    assert 'TELEPHONY_RTP_PORTMIN' in msg and 'TELEPHONY_RTP_PORT_MIN' in msg


@pytest.mark.parametrize('text, words', [
    ('sip_port = "5070"\n', ['sip_port', 'integer', 'sip_port = 5060']),
    ('sip_port = 70000\n', ['sip_port', '70000', 'port']),
    ('demo = "yes"\n', ['demo', 'true or false']),
    ('domain = 5\n', ['domain', 'string']),
    ('sip_port = \n', ['not valid TOML', 'line 1']),
    ('rtp_port_min = 30000\nrtp_port_max = 20000\n', ['rtp_port_min', 'rtp_port_max']),
])
def test_bad_values_in_file(tmp_path, text, words):
    msg = load_error(write(tmp_path, text))
    for w in words:
        assert w in msg, msg


def test_bad_values_in_environment(monkeypatch):
    monkeypatch.setenv('TELEPHONY_SIP_PORT', 'fivethousand')
    assert 'TELEPHONY_SIP_PORT must be an integer' in load_error()
    monkeypatch.setenv('TELEPHONY_SIP_PORT', '5060')
    monkeypatch.setenv('TELEPHONY_DEMO', 'maybe')    # used to mean false, silently
    assert 'TELEPHONY_DEMO must be true or false' in load_error()


def test_missing_file(tmp_path):
    assert 'not found' in load_error(str(tmp_path / 'nope.toml'))


def test_split_hostport():
    assert split_hostport('127.0.0.1:5070', 5060) == ('127.0.0.1', 5070)
    assert split_hostport('127.0.0.1', 5060) == ('127.0.0.1', 5060)
    assert split_hostport('[::1]:5070', 5060) == ('::1', 5070)
    assert split_hostport('::1', 5060) == ('::1', 5060)
    with pytest.raises(ConfigError):
        split_hostport('127.0.0.1:sip', 5060)


# ---------------------------------------------------------------- the log formatter

def render(msg, *args, exc_info=None) -> str:
    record = logging.LogRecord('telephony.media', logging.INFO, __file__, 1, msg, args, exc_info)
    return SafeFormatter('%(levelname)s %(name)s %(message)s').format(record)


def test_formatter_escapes_what_a_peer_sent():
    line = render('event=rtcp-bye port=%d reason=%s', 4000,
                  'bye\x00\r\n2026-12-01 INFO telephony event=register aor=admin\x1b[2J\x7f\u2028')
    assert '\n' not in line and '\r' not in line and '\x00' not in line and '\x1b' not in line
    assert line == ('INFO telephony.media event=rtcp-bye port=4000 reason=bye\\x00\\r\\n'
                    '2026-12-01 INFO telephony event=register aor=admin\\x1b[2J\\x7f\\u2028')
    assert render('plain ascii, UTF-8 text: Grüße, tab\tend') == \
        'INFO telephony.media plain ascii, UTF-8 text: Grüße, tab\\tend'


def test_escape_leaves_printable_text_alone():
    text = 'event=invite call=abc from=sip:+4930@x to="Bob ☎" é 中'
    assert escape_log_text(text) == text


def test_traceback_stays_multiline_but_cannot_forge_a_line():
    try:
        raise ValueError('bad header\n2026-12-01 INFO forged=1\x00')
    except ValueError:
        out = render('event=app-error call=%s', 'x', exc_info=sys.exc_info())
    lines = out.split('\n')
    assert lines[0] == 'INFO telephony.media event=app-error call=x'
    assert lines[1] == '  Traceback (most recent call last):'
    assert len(lines) > 3 and all(line.startswith('  ') for line in lines[1:])
    assert '\x00' not in out and '\\x00' in out


def test_database_url_without_our_tables_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('TELEPHONY_DATABASE_URL', f'sqlite+aiosqlite:///{tmp_path / "other.db"}')
    assert main(['user', 'list']) == 2
    assert 'no telephony tables' in capsys.readouterr().err
    assert main(['user', 'add', 'joe', '--password', 'secret12345', '--create']) == 0
    assert main(['user', 'list']) == 0
