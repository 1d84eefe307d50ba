"""Trunks from the outbound dial plan rules: a rule with a `sipProxy` is a trunk account
(it registers when `register` is true), every rule's `trunkAddresses` say where that
trunk's inbound calls come from (else its sipProxy's addresses: an IP, or a host name
resolved here, again every `trunk_resolve_interval`), and its trunkInboundUsername/Password
is a credential its calls may authenticate with. `sync()` applies the rules as they are now;
the store calls `changed()` after every write (the API's), so a new rule registers without
a restart.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..logtext import quoted
from ..sip.registrations import SETTINGS_TRUNK
from ..sip.trunks import MAX_ADDRESSES, TrunkAccount, TrunkLogins, TrunkMatcher, is_ip

if TYPE_CHECKING:
    from ..sip.registrations import TrunkRegistrations
    from .outgoing import RuleCache

log = logging.getLogger('telephony.trunks')

RESOLVE_TIMEOUT = 5.0   # s one host name may take: a slow DNS server must not hold the sync
FAILED = 'failed'

Resolver = Callable[[str, int], Awaitable[list[str]]]   # (host, port) -> IP addresses


async def getaddrinfo(host: str, port: int) -> list[str]:
    """The loop's resolver (the system's: /etc/hosts, DNS); OSError when the name does not
    resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    return [info[4][0] for info in infos]


def _usable(ip: str) -> bool:
    try:
        ipaddress.ip_network(ip, strict=False)   # a scoped IPv6 (fe80::1%eth0) is not
    except ValueError:
        return False
    return True


class TrunkRules:
    def __init__(self, rules: 'RuleCache', registrations: 'TrunkRegistrations',
                 settings_addresses: list[str], set_matcher: Callable[[TrunkMatcher], None],
                 set_logins: Callable[[TrunkLogins], None] | None = None,
                 resolve: Resolver = getaddrinfo):
        self.rules = rules
        self.registrations = registrations
        self.settings_addresses = settings_addresses   # the settings trunk's, kept first
        self.set_matcher = set_matcher
        self.set_logins = set_logins
        self.resolve = resolve
        self._ids: set[str] = set()
        self._task: asyncio.Task | None = None
        self._again = False
        self._resolved: dict[str, str] = {}   # host:port -> what it gave last: for log lines
        self._good: dict[str, list[str]] = {}  # host:port -> its last answer that had addresses

    async def sync(self) -> None:
        rules = await self.rules.get()
        ids = set()
        for row in rules.outbound_fields:
            if not row.get('sipProxy'):
                continue
            try:
                account = TrunkAccount.from_fields(row, id=row['id'])
            except ValueError as exc:
                log.warning('event=trunk-rule-skipped rule=%s reason=%s', row.get('id'), quoted(exc))
                continue
            self.registrations.add(account)   # the same account again changes nothing
            ids.add(account.id)
        for gone in self._ids - ids:
            self.registrations.remove(gone)
        self._ids = ids
        addresses: dict[str, list[str]] = {SETTINGS_TRUNK: list(self.settings_addresses)}
        names: dict[str, tuple[str, int]] = {}   # rule id -> its host-name sipProxy
        for rule in rules.outbound:
            if rule.id is None:
                continue
            if rule.trunk_addresses:
                addresses[rule.id] = [str(net) for net in rule.trunk_addresses]
            elif rule.sip_proxy is not None and not is_ip(rule.sip_proxy[0]):
                names[rule.id] = rule.sip_proxy
        found = await asyncio.gather(*(self._addresses(rid, *proxy) for rid, proxy in names.items()))
        addresses.update((rid, ips) for rid, ips in zip(names, found) if ips)
        wanted = {f'{h}:{p}' for h, p in names.values()}
        self._resolved = {k: v for k, v in self._resolved.items() if k in wanted}
        self._good = {k: v for k, v in self._good.items() if k in wanted}
        self.set_matcher(TrunkMatcher(addresses))
        if self.set_logins is not None:
            self.set_logins(TrunkLogins(r.inbound for r in rules.outbound if r.inbound is not None))

    async def _addresses(self, rule: str, host: str, port: int) -> list[str]:
        """A host-name sipProxy's addresses now. When it does not resolve, the addresses of
        its last good answer (a DNS blip must not make a provider's calls a stranger's), []
        if it never did. A change (and only a change) is logged, so a name that keeps
        failing logs once."""
        try:
            ips = await asyncio.wait_for(self.resolve(host, port), RESOLVE_TIMEOUT)
            ips = sorted({ip for ip in ips if _usable(ip)})[:MAX_ADDRESSES]
            reason = 'no usable address'
        except (OSError, asyncio.TimeoutError) as exc:
            ips, reason = [], (str(exc) or type(exc).__name__)
        state = ','.join(ips) or FAILED
        key = f'{host}:{port}'
        if self._resolved.get(key) != state:
            self._resolved[key] = state
            if ips:
                log.info('event=trunk-resolved rule=%s host=%s addresses=%s', rule, quoted(host),
                         state)
            else:
                log.warning('event=trunk-resolve-failed rule=%s host=%s reason=%s kept=%s', rule,
                            quoted(host), quoted(reason), ','.join(self._good.get(key, [])) or '-')
        if ips:
            self._good[key] = ips
        return ips or self._good.get(key, [])

    async def resolve_forever(self, interval: float) -> None:
        """Sync again every `interval` seconds: a provider's DNS change is followed."""
        while True:
            await asyncio.sleep(interval)
            self.changed()

    def changed(self) -> None:
        """A rule was written: sync soon, once for a burst of writes."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            try:
                await self.sync()
            except Exception:
                log.exception('event=trunk-rules-sync-failed')
            if not self._again:
                return
