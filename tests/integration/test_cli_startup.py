"""Configuration and start-up mistakes, run through the real `telephony` command: each is one
line on stderr naming the key, file or port and what to do, with a non-zero exit."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.integration.conftest import HOST, ROOT, free_port


def run(args, cwd, env_extra=None, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith('TELEPHONY_')}
    env.update(env_extra or {})
    env['PYTHONPATH'] = str(ROOT)     # cwd is elsewhere: import this checkout
    r = subprocess.run([sys.executable, '-m', 'telephony', *args], cwd=cwd, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    return r


def one_line_error(r, *words):
    assert r.returncode != 0, (r.returncode, r.stdout, r.stderr)
    assert 'Traceback' not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


SERVE = ['serve', '--sip', f'{HOST}:0', '--http', f'{HOST}:0']


@pytest.mark.parametrize('text, words', [
    ('sip_port = \n', ['bad.toml', 'not valid TOML', 'line 1']),
    ('sip_port = "5070"\n', ['bad.toml', 'sip_port', 'must be an integer']),
    ('rtp_prot_min = 20000\n', ['bad.toml', 'rtp_prot_min', 'unknown setting',
                                'did you mean rtp_port_min', 'valid settings: sip_host']),
])
def test_bad_config_file(tmp_path, text, words):
    (tmp_path / 'bad.toml').write_text(text)
    one_line_error(run([*SERVE, '--config', 'bad.toml'], tmp_path), *words)


def test_missing_config_file(tmp_path):
    one_line_error(run([*SERVE, '--config', 'nope.toml'], tmp_path), 'nope.toml', 'not found')


def test_misspelled_environment_variable(tmp_path):
    one_line_error(run(SERVE, tmp_path, {'TELEPHONY_MEDIA_TIMOUT': '60'}),
                   'TELEPHONY_MEDIA_TIMOUT', 'TELEPHONY_MEDIA_TIMEOUT')


def test_bad_log_level(tmp_path):
    one_line_error(run([*SERVE, '--log-level', 'LOUD'], tmp_path), "'LOUD'", 'DEBUG', '--help')


def test_bad_listen_address(tmp_path):
    one_line_error(run(['serve', '--sip', f'{HOST}:sip'], tmp_path), '--sip', 'HOST:PORT')


def test_data_path_is_a_file(tmp_path):
    (tmp_path / 'data').write_text('not a directory')
    one_line_error(run([*SERVE, '--data', 'data'], tmp_path), 'data', 'is a file', '--data')


def test_sip_port_in_use(tmp_path):
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind((HOST, port))
        line = one_line_error(run(['serve', '--sip', f'{HOST}:{port}', '--http', f'{HOST}:0'],
                                  tmp_path), f'{HOST}:{port}', 'SIP', 'in use', '--sip')
    assert 'HTTP' not in line


def test_http_port_in_use(tmp_path):
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind((HOST, port))
        busy.listen()
        one_line_error(run(['serve', '--sip', f'{HOST}:0', '--http', f'{HOST}:{port}'],
                           tmp_path), f'{HOST}:{port}', 'HTTP', 'in use', '--http')


def test_provisioning_elsewhere_creates_nothing(tmp_path):
    """`sip add` run in the wrong directory used to create an empty ./data the server never
    read; now it refuses, and --create is how to mean it."""
    r = run(['sip', 'add', 'alice', '--password', 's3cret-pw'], tmp_path)
    one_line_error(r, 'no database in', str(tmp_path / 'data'), '--data', '--create')
    assert r.returncode == 2 and not (tmp_path / 'data').exists()
    r = run(['sip', 'add', 'alice', '--password', 's3cret-pw', '--create'], tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == 'alice@localhost', r.stderr
    r = run(['sip', 'list'], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith('alice@localhost'), r.stderr


def test_version(tmp_path):
    r = run(['--version'], tmp_path)
    assert r.returncode == 0 and r.stdout.startswith('telephony '), r.stderr


def test_data_directory_holding_something_else_than_a_database(tmp_path):
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'telephony.db').write_text('these are my notes, not a database\n')
    for args in (SERVE, ['user', 'list']):
        one_line_error(run([*args, '--data', 'data'], tmp_path),
                       'cannot open the database', 'telephony.db', 'not a database')


def test_unusable_database_url(tmp_path):
    one_line_error(run(SERVE, tmp_path, {'TELEPHONY_DATABASE_URL': 'not a url'}),
                   'database_url', 'postgresql+asyncpg://')
    one_line_error(run(['user', 'list'], tmp_path, {'TELEPHONY_DATABASE_URL': 'mysql://h/db'}),
                   'database_url', 'driver', 'not installed')


def test_sip_and_http_on_one_port(tmp_path):
    port = free_port()
    one_line_error(run(['serve', '--sip', f'{HOST}:{port}', '--http', f'{HOST}:{port}'],
                       tmp_path), f'{HOST}:{port}', 'different ports')
