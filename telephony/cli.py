"""The `telephony` command: serve, and provisioning subcommands on the same database."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import re
import signal
import sys

from .config import Settings, split_hostport
from .store.phones import FLAGS as PHONE_FLAGS

USER_RE = re.compile(r'^[A-Za-z0-9_.\-]{1,64}$')
PHONE_RE = re.compile(r'^\+[0-9]{3,20}$')
NAME_RE = re.compile(r'^[a-zA-Z0-9]{2,20}$')   # Q-loud username syntax


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument('--data', default=None, help='data directory (default ./data)')
    p.add_argument('--config', default=None, help='TOML settings file')


def _settings(args, **extra) -> Settings:
    return Settings.load(args.config, data_dir=args.data, **extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='telephony')
    sub = parser.add_subparsers(dest='cmd', required=True)

    serve = sub.add_parser('serve', help='run the server')
    _common(serve)
    serve.add_argument('--sip', help='SIP listen HOST:PORT (UDP and TCP)')
    serve.add_argument('--http', help='HTTP listen HOST:PORT')
    serve.add_argument('--log-level', default='INFO')

    sip = sub.add_parser('sip', help='SIP accounts').add_subparsers(dest='sipcmd', required=True)
    add = sip.add_parser('add', help='create or replace a SIP account')
    _common(add)
    add.add_argument('user')
    add.add_argument('--password', required=True)
    add.add_argument('--domain', default=None)
    add.add_argument('--description', default='')
    add.add_argument('--user', dest='owner', default=None, metavar='NAME',
                     help='API user who owns the account (sees it under /api/sip)')
    rm = sip.add_parser('delete', help='delete a SIP account')
    _common(rm)
    rm.add_argument('user')
    rm.add_argument('--domain', default=None)
    ls = sip.add_parser('list', help='list SIP accounts')
    _common(ls)

    user = sub.add_parser('user', help='API users').add_subparsers(dest='usercmd', required=True)
    uadd = user.add_parser('add', help='create an API user')
    _common(uadd)
    uadd.add_argument('name')
    uadd.add_argument('--password', required=True)
    uadd.add_argument('--email', default=None)
    uadd.add_argument('--admin', action='store_true')

    phone = sub.add_parser('phone', help='phone numbers').add_subparsers(dest='phonecmd',
                                                                          required=True)
    padd = phone.add_parser('add', help='assign a number to a user, unlocked, without the pool')
    _common(padd)
    padd.add_argument('number', help='+E.164 number, e.g. +4930555123')
    padd.add_argument('--user', required=True, help='owner (API user name)')
    for flag in PHONE_FLAGS:
        padd.add_argument(f'--{flag.replace("_", "-")}', action='store_true')

    args = parser.parse_args(argv)
    if args.cmd == 'serve':
        return serve_main(args)
    command = {'phone': phone_add, 'user': user_add, 'sip': sip_command}[args.cmd]
    return asyncio.run(_provision(args, command))


def serve_main(args) -> int:
    extra = {}
    if args.sip:
        extra['sip_host'], extra['sip_port'] = split_hostport(args.sip, 5060)
    if args.http:
        extra['http_host'], extra['http_port'] = split_hostport(args.http, 8080)
    settings = _settings(args, **extra)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(name)s %(message)s')
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    from .malloc import limit_arenas
    limit_arenas()          # before any helper thread allocates (issue 8: idle RSS)
    return asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> int:
    from .server import Server
    server = Server(settings)
    await server.start()
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


class Fail(Exception):
    """A provisioning command's refusal: message to stderr, exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


async def _provision(args, command) -> int:
    """Run command(settings, db, args) on the database the server uses."""
    from .store.db import Database
    settings = _settings(args)
    db = Database.for_data_dir(settings.data_dir, settings.database_url or None)
    await db.open()
    try:
        await command(settings, db, args)
    except Fail as exc:
        print(f'error: {exc}', file=sys.stderr)
        return exc.code
    finally:
        await db.close()
    return 0


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


async def user_add(settings, db, args) -> None:
    _check(bool(NAME_RE.match(args.name)), 'name must be 2-20 letters or digits')
    _check_password(args.password)
    if await db.user_by(username=args.name) is not None:
        raise Fail('user exists')
    print((await db.create_user(args.name, args.password, args.email, args.admin)).uuid)


async def phone_add(settings, db, args) -> None:
    from .store.phones import Phone, PhoneStore
    _check(bool(PHONE_RE.match(args.number)), 'number must look like +4930555123 (3-20 digits)')
    owner = await _owner(db, args.user)
    store = PhoneStore(db)
    if await store.get(args.number) is not None:
        raise Fail(f'{args.number} is taken')
    # flags not given are off: an operator says exactly what the number does
    await store.add(Phone(args.number, owner, **{f: getattr(args, f) for f in PHONE_FLAGS}))
    print(args.number)


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
            raise Fail('no such account')
    else:
        for a in await db.sip_accounts():
            print(f'{a.user}@{a.domain}\t{a.description}')
