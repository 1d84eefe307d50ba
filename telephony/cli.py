"""The `telephony` command: serve, and provisioning subcommands on the same database."""
from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import logging
import os
import re
import signal
import socket
import sys
from importlib import metadata
from pathlib import Path

from sqlalchemy.exc import ArgumentError, DBAPIError

from .config import ConfigError, Settings, split_hostport
from .store.phones import FLAGS as PHONE_FLAGS

USER_RE = re.compile(r'^[A-Za-z0-9_.\-]{1,64}$')
PHONE_RE = re.compile(r'^\+[0-9]{3,20}$')
NAME_RE = re.compile(r'^[a-zA-Z0-9]{2,20}$')   # Q-loud username syntax
LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
DB_FILE = 'telephony.db'

# What each switch of `phone add` does to an inbound call (telephony/calls/manager.py and
# dialplan/numbers.py decide; README "Phone numbers" has the combinations).
PHONE_FLAG_HELP = {
    'call_enable': 'calls go to the call API (a client of the owner must have done GET '
                   '/api/call/event, else 480 No Call API Client), but only while '
                   'recording, fax, conference and dialplan are all off',
    'recording_enable': 'voice mail: greeting, tone, record the caller; wins over '
                        '--call-enable',
    'play_announcement_only': 'with --recording-enable: play the greeting and hang up',
    'dialplan_enable': 'a dial plan (not in this version: callers get 480); wins over '
                       'every other switch',
    'fax_enable': 'fax reception (G.711); with --recording-enable, voice mail that '
                  'switches to fax reception when it hears a fax machine\'s CNG',
    'conference_enable': 'conference dial-in: the caller keys the PIN of one of the '
                         'owner\'s conferences (/api/conference); after fax',
    'notification_email': 'e-mail about new messages (stored, not sent yet)',
    'notification_attachment': 'attach the message to that e-mail (stored, not sent yet)',
}


class Fail(Exception):
    """A refusal: one line to stderr, and the exit code (2: usage or configuration)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line that points at --help."""

    def error(self, message: str):
        self.exit(2, f'{self.prog}: error: {message}; see {self.prog} --help\n')


# ---------------------------------------------------------------- logging

# Control characters (C0, DEL, C1), line and paragraph separators, and bidirectional overrides:
# anything that could end a log line, forge the next one, or drive a terminal.
_UNSAFE = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]')
_NAMED = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}


def _escape_char(m: re.Match) -> str:
    ch = m.group()
    return _NAMED.get(ch) or (f'\\x{ord(ch):02x}' if ord(ch) < 0x100 else f'\\u{ord(ch):04x}')


def escape_log_text(text: str) -> str:
    """One line, whatever a peer sent: control characters become \\n, \\r, \\t or \\xNN."""
    return _UNSAFE.sub(_escape_char, text)


class SafeFormatter(logging.Formatter):
    """Every rendered message is escaped here, once, so no text from the wire (a header, an
    RTCP BYE reason, a URI) can put a NUL, an escape sequence or a forged line in the log.
    A traceback stays multi-line, but each of its lines is escaped and indented, so it can
    never pass for a log line of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_log_text(super().formatMessage(record))

    def formatException(self, ei) -> str:
        return self._block(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return self._block(super().formatStack(stack_info))

    @staticmethod
    def _block(text: str) -> str:
        return '\n'.join('  ' + escape_log_text(line) for line in text.split('\n'))


LOG_FORMAT = '%(asctime)s %(levelname)s %(name)s %(message)s'


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# ---------------------------------------------------------------- the command line

def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument('--data', default=None, metavar='DIR',
                   help='data directory of the server: database, recordings, announcements '
                        '(default ./data, or data_dir / TELEPHONY_DATA_DIR)')
    p.add_argument('--config', default=None, metavar='FILE', help='TOML settings file')


def _provisioning(sub, name: str, help_: str, description: str, create: bool = False):
    p = sub.add_parser(name, help=help_, description=description)
    _common(p)
    if create:
        p.add_argument('--create', action='store_true',
                       help='create the data directory and database if there is none yet '
                            '(without it, a directory with no database is refused, so a typo '
                            'in --data does not provision a database the server never reads)')
    return p


def _version() -> str:
    try:
        return metadata.version('telephony')
    except metadata.PackageNotFoundError:
        return 'unknown'


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog='telephony',
        description='A SIP telephony and IVR call-control service. `telephony serve` runs it; '
                    'the other commands provision the database the server uses (run them '
                    'with the same --data or --config).',
        epilog='Settings: embedded defaults, then --config FILE (TOML), then TELEPHONY_* '
               'environment variables, then the command line.')
    parser.add_argument('--version', action='version', version=f'telephony {_version()}')
    sub = parser.add_subparsers(dest='cmd', required=True, metavar='COMMAND')

    serve = sub.add_parser('serve', help='run the server (SIP, RTP and HTTP)',
                           description='Run the server: SIP on UDP and TCP, RTP, and the HTTP '
                                       'API. Creates the data directory and database on '
                                       'first start. Logs go to stderr.')
    _common(serve)
    serve.add_argument('--sip', metavar='HOST:PORT', help='SIP listen address, UDP and TCP '
                       '(default 127.0.0.1:5060; port 0 picks a free one)')
    serve.add_argument('--http', metavar='HOST:PORT', help='HTTP listen address '
                       '(default 127.0.0.1:8080; port 0 picks a free one)')
    serve.add_argument('--log-level', default='INFO', type=str.upper, choices=LOG_LEVELS,
                       metavar='LEVEL', help=f'one of {", ".join(LOG_LEVELS)} (default INFO)')

    sip = sub.add_parser('sip', help='SIP accounts phones register with',
                         description='SIP accounts: user@domain with a password; a phone '
                                     'registers as the account and is called at user@domain.')
    sip_sub = sip.add_subparsers(dest='sipcmd', required=True, metavar='ACTION')
    add = _provisioning(sip_sub, 'add', 'create or replace a SIP account',
                        'Create a SIP account, or replace its password if it exists. Prints '
                        'user@domain.', create=True)
    add.add_argument('user', help='account name (1-64 of A-Z a-z 0-9 _ . -)')
    add.add_argument('--password', required=True, help='5 to 50 characters; stored as digest '
                     'hashes only')
    add.add_argument('--domain', default=None, help='SIP domain and digest realm (default: '
                     'the domain setting, localhost)')
    add.add_argument('--description', default='')
    add.add_argument('--user', dest='owner', default=None, metavar='NAME',
                     help='API user who owns the account (sees it under /api/sip)')
    rm = _provisioning(sip_sub, 'delete', 'delete a SIP account', 'Delete a SIP account.')
    rm.add_argument('user')
    rm.add_argument('--domain', default=None)
    _provisioning(sip_sub, 'list', 'list SIP accounts',
                  'List SIP accounts: user@domain, owner, description (tab-separated).')

    user = sub.add_parser('user', help='API users who log in to the HTTP API',
                          description='API users: they log in to the HTTP API (POST '
                                      '/api/session) and own numbers and SIP accounts.')
    user_sub = user.add_subparsers(dest='usercmd', required=True, metavar='ACTION')
    uadd = _provisioning(user_sub, 'add', 'create an API user',
                         'Create an API user. Prints its uuid.', create=True)
    uadd.add_argument('name', help='2-20 letters or digits')
    uadd.add_argument('--password', required=True, help='5 to 50 characters')
    uadd.add_argument('--email', default=None)
    uadd.add_argument('--admin', action='store_true', help='an administrator')
    uadd.add_argument('--partner', action='store_true',
                      help='a partner: logs in with {"partner": NAME, "key": PASSWORD} and reads '
                           'the CDRs of its users (/api/partner)')
    uadd.add_argument('--partner-of', default=None, metavar='PARTNER',
                      help='the partner that manages this user (sees its CDRs)')
    _provisioning(user_sub, 'list', 'list API users',
                  'List API users: name, uuid, email, admin (tab-separated).')
    udel = _provisioning(user_sub, 'delete', 'delete an API user',
                         'Delete an API user who owns no numbers and no SIP accounts '
                         '(delete those first).')
    udel.add_argument('name')

    phone = sub.add_parser('phone', help='phone numbers and what a call to one does',
                           description='Phone numbers: a caller dials the number at the '
                                       'server (sip:+4930555001@localhost); its switches '
                                       'decide what answers.')
    phone_sub = phone.add_subparsers(dest='phonecmd', required=True, metavar='ACTION')
    padd = _provisioning(
        phone_sub, 'add', 'assign a number to a user, unlocked, without the pool',
        'Assign a number to an API user, unlocked and outside the pool. Only the switches '
        'given are on. --call-enable alone: the call API. --recording-enable (with or '
        'without --call-enable): voice mail. With no switch the number answers 480 Number '
        'Not In Service.', create=True)
    padd.add_argument('number', help='+E.164 number, e.g. +4930555123')
    padd.add_argument('--user', required=True, help='owner (API user name)')
    for flag in PHONE_FLAGS:
        padd.add_argument(f'--{flag.replace("_", "-")}', action='store_true',
                          help=PHONE_FLAG_HELP.get(flag))
    _provisioning(phone_sub, 'list', 'list numbers and their switches',
                  'List numbers: number, owner, the switches that are on (tab-separated).')
    pdel = _provisioning(phone_sub, 'delete', 'delete a number', 'Delete a number.')
    pdel.add_argument('number')
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.cmd == 'serve':
            return serve_main(args)
        command = {'phone': phone_command, 'user': user_command, 'sip': sip_command}[args.cmd]
        return asyncio.run(_provision(args, command))
    except Fail as exc:
        print(f'telephony {args.cmd}: error: {exc}', file=sys.stderr)
        return exc.code


def _settings(args, **extra) -> Settings:
    try:
        return Settings.load(args.config, data_dir=args.data, **extra)
    except ConfigError as exc:
        raise Fail(str(exc), 2) from None


# ---------------------------------------------------------------- serve

def serve_main(args) -> int:
    extra = {}
    try:
        if args.sip:
            extra['sip_host'], extra['sip_port'] = split_hostport(args.sip, 5060)
        if args.http:
            extra['http_host'], extra['http_port'] = split_hostport(args.http, 8080)
    except ConfigError as exc:
        raise Fail(f'--sip/--http: {exc}', 2) from None
    settings = _settings(args, **extra)
    _check_data_dir(settings.data_dir)
    if settings.sip_port and (settings.sip_host, settings.sip_port) == \
            (settings.http_host, settings.http_port):
        raise Fail(f'SIP and HTTP both want TCP {settings.sip_host}:{settings.sip_port}; give '
                   'them different ports (--sip, --http)', 2)
    _check_listen('SIP', settings.sip_host, settings.sip_port, '--sip HOST:PORT or sip_port',
                  (socket.SOCK_DGRAM, socket.SOCK_STREAM))
    _check_listen('HTTP', settings.http_host, settings.http_port,
                  '--http HOST:PORT or http_port', (socket.SOCK_STREAM,))
    setup_logging(args.log_level)
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    from .malloc import limit_arenas
    limit_arenas()          # before any helper thread allocates (issue 8: idle RSS)
    return asyncio.run(_serve(settings))


def _not_a_file(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise Fail(f'data directory {path} is a file, not a directory; pass --data DIR '
                   '(or set data_dir) naming a directory', 2)


def _check_data_dir(path: Path) -> None:
    """The data directory must be a directory we can write (created if missing)."""
    _not_a_file(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Fail(f'cannot create data directory {path}: {exc.strerror}; pass --data DIR '
                   'naming a directory this user may create') from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise Fail(f'data directory {path} is not writable by this user; fix its '
                   'permissions or pass --data DIR')


def _check_listen(what: str, host: str, port: int, how: str, kinds) -> None:
    """Bind the listen address once before starting, to answer a port in use with one line
    naming it.  (Between this check and the real bind another process could take the port;
    then start-up still fails, with the error of the bind.)"""
    if port == 0:
        return
    for kind in kinds:
        try:
            family = socket.getaddrinfo(host, port, type=kind)[0][0]
            with socket.socket(family, kind) as s:
                if kind == socket.SOCK_STREAM:   # as the servers do: TIME_WAIT is no conflict
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
        except OSError as exc:
            proto = 'UDP' if kind == socket.SOCK_DGRAM else 'TCP'
            reason = exc.strerror or str(exc)
            advice = {errno.EADDRINUSE: 'another program (another telephony serve?) listens there; stop it '
                          f'or choose another port with {how}',
                      errno.EACCES: f'ports below 1024 need privileges; choose another port with {how}',
                      errno.EADDRNOTAVAIL: f'{host} is not an address of this host; fix {how}'}
            raise Fail(f'cannot listen for {what} on {host}:{port} ({proto}): {reason}; '
                       + advice.get(exc.errno, f'check {how}')) from None


async def _serve(settings: Settings) -> int:
    from .server import Server
    try:
        server = Server(settings)
    except (ArgumentError, ImportError) as exc:
        raise _bad_database_url(exc) from None
    try:
        await server.start()
    except DBAPIError as exc:
        await server.db.close()     # (its worker thread would call into the closed loop)
        raise _database_failure(settings, exc) from None
    except OSError as exc:
        raise Fail(f'cannot start: {exc}; check the listen addresses, the database and the '
                   'data directory') from None
    # Everything loaded so far lives for the whole run: keep it out of the cyclic collector's
    # scans, and collect young objects less often (a call allocates thousands).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f'telephony ready sip={settings.sip_host}:{server.stack.port} (udp+tcp) '
          f'http={settings.http_host}:{server.http_port} data={settings.data_dir}', flush=True)
    await stop.wait()
    await server.stop()
    return 0


# ---------------------------------------------------------------- provisioning

async def _provision(args, command) -> int:
    """Run command(settings, db, args) on the database the server uses."""
    from .store.db import Database
    settings = _settings(args)
    create = getattr(args, 'create', False)
    if not settings.database_url:
        _check_database_file(settings.data_dir, create)
    try:
        db = Database.for_data_dir(settings.data_dir, settings.database_url or None)
    except (ArgumentError, ImportError) as exc:
        raise _bad_database_url(exc) from None
    try:
        if settings.database_url and not create:
            await _check_database_tables(db)
        await db.open()
        await command(settings, db, args)
    except (DBAPIError, OSError) as exc:   # OSError: a database server that cannot be reached
        raise _database_failure(settings, exc) from None
    finally:
        await db.close()
    return 0


def _bad_database_url(exc: Exception) -> Fail:
    """A database_url SQLAlchemy cannot parse (ArgumentError), or whose driver is missing."""
    if isinstance(exc, ImportError):
        return Fail(f'database_url needs a driver that is not installed ({exc}); install it '
                    'into this environment (for PostgreSQL: pip install asyncpg)', 2)
    return Fail(f'database_url: {exc}; use e.g. postgresql+asyncpg://USER:PW@HOST/DB, or leave '
                'it empty for SQLite in the data directory', 2)


def _database_failure(settings: Settings, exc) -> Fail:
    where = 'database_url' if settings.database_url else str(settings.data_dir / DB_FILE)
    reason = str(getattr(exc, 'orig', exc)).splitlines()[0]
    return Fail(f'cannot open the database ({where}): {reason}; check '
                'that it is the server\'s database and this user may write it')


def _check_database_file(data_dir: Path, create: bool) -> None:
    _not_a_file(data_dir)
    if create or (data_dir / DB_FILE).is_file():
        return
    raise Fail(f'no database in {data_dir.resolve()} ({DB_FILE} not found): pass --data with '
               'the directory the server uses (its ready line shows data=...), or --create to '
               'start a new database there', 2)


async def _check_database_tables(db) -> None:
    from sqlalchemy import inspect
    async with db.engine.connect() as conn:
        ok = await conn.run_sync(lambda c: inspect(c).has_table('users'))
    if not ok:
        raise Fail('database_url names a database with no telephony tables: check the URL, '
                   'or pass --create to create them', 2)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise Fail(message, 2)


def _check_password(password: str) -> None:
    _check(5 <= len(password) <= 50, 'password must be 5 to 50 characters')


async def _owner(db, name: str) -> str:
    user = await db.user_by(username=name)
    if user is None:
        raise Fail(f'no API user {name}')
    return user.uuid


async def user_command(settings, db, args) -> None:
    from .store.phones import PhoneStore
    if args.usercmd == 'add':
        _check(bool(NAME_RE.match(args.name)), 'name must be 2-20 letters or digits')
        _check_password(args.password)
        if await db.user_by(username=args.name) is not None:
            raise Fail('user exists')
        partner_of = None
        if args.partner_of:
            partner = await db.user_by(username=args.partner_of)
            if partner is None or not partner.partner:
                raise Fail(f'no partner {args.partner_of} (create it with user add --partner)')
            partner_of = partner.uuid
        print((await db.create_user(args.name, args.password, args.email, args.admin,
                                    partner=args.partner, partner_of=partner_of)).uuid)
    elif args.usercmd == 'delete':
        owner = await _owner(db, args.name)
        numbers = [p.number for p in await PhoneStore(db).of_owner(owner)]
        accounts = [f'{a.user}@{a.domain}' for a in await db.sip_accounts(owner)]
        if numbers or accounts:
            raise Fail(f'{args.name} still owns {", ".join(numbers + accounts)}; delete them '
                       'first (telephony phone delete / sip delete)')
        from .store.dialplans import DialplanStore
        await DialplanStore(db).forget(owner)   # plans are no use without the user
        from .store.policy import PolicyStore
        await PolicyStore(db).forget(owner)     # ... nor its filter, group or extensions
        await db.delete_user(owner)
    else:
        for u in await db.users():
            role = 'admin' if u.admin else 'partner' if u.partner else '-'
            print(f'{u.username}\t{u.uuid}\t{u.email or "-"}\t{role}')


async def phone_command(settings, db, args) -> None:
    from .store.phones import Phone, PhoneStore
    store = PhoneStore(db)
    if args.phonecmd == 'add':
        _check(bool(PHONE_RE.match(args.number)),
               'number must look like +4930555123 (3-20 digits)')
        owner = await _owner(db, args.user)
        if await store.get(args.number) is not None:
            raise Fail(f'{args.number} is taken')
        # flags not given are off: an operator says exactly what the number does
        await store.add(Phone(args.number, owner, **{f: getattr(args, f) for f in PHONE_FLAGS}))
        print(args.number)
    elif args.phonecmd == 'delete':
        if await store.get(args.number) is None:
            raise Fail(f'no number {args.number}')
        await store.remove(args.number)
    else:
        names = {u.uuid: u.username for u in await db.users()}
        for p in await store.all():
            on = ','.join(f for f in PHONE_FLAGS if getattr(p, f)) or '-'
            state = f'\tlocked (unlock code {p.unlock_code})' if p.unlock_code else ''
            print(f'{p.number}\t{names.get(p.owner, p.owner)}\t{on}{state}')


async def sip_command(settings, db, args) -> None:
    domain = args.domain if getattr(args, 'domain', None) else settings.domain
    if args.sipcmd == 'add':
        _check(bool(USER_RE.match(args.user)), 'user must be 1-64 of A-Z a-z 0-9 _ . -')
        _check_password(args.password)
        owner = await _owner(db, args.owner) if args.owner is not None else None
        acct = await db.put_sip_account(args.user, domain, args.password, args.description, owner)
        print(f'{acct.user}@{acct.domain}')
    elif args.sipcmd == 'delete':
        if not await db.delete_sip_account(args.user, domain):
            raise Fail(f'no such account {args.user}@{domain}')
    else:
        names = {u.uuid: u.username for u in await db.users()}
        for a in await db.sip_accounts():
            print(f'{a.user}@{a.domain}\t{names.get(a.owner, "-") if a.owner else "-"}'
                  f'\t{a.description}')
