"""The provisioning commands against a real SQLite file."""
from telephony.cli import main


def test_provisioning_commands(tmp_path, capsys):
    data = ['--data', str(tmp_path)]
    assert main(['user', 'add', 'joe', '--password', 'secret12345', *data]) == 0
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
    assert capsys.readouterr().out.startswith('alice@localhost')
    assert main(['sip', 'delete', 'alice', *data]) == 0
    assert main(['sip', 'delete', 'alice', *data]) == 1
    err = capsys.readouterr().err
    assert 'no such account' in err
    # nothing about passwords is ever printed
    assert 'pw12345' not in err and 'secret12345' not in err
