"""Trunks as plain values, sans-IO: a `TrunkAccount` (where and how we register), and a
`TrunkMatcher` that says which trunk, if any, an inbound request's SOURCE address
belongs to.

A call is "from a trunk" only by where its packets come from, or by a trunk's inbound
credential it authenticated with (`TrunkLogins`): never by From, Contact or
P-Asserted-Identity, which any caller writes as it likes.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from .auth import ha1

TRANSPORTS = ('udp', 'tcp')
DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60           # asking for less is refused: RFC 3261 §10.2.8's Min-Expires spirit
MAX_EXPIRES = 86400        # a day; a provider's Min-Expires above this is not followed
MAX_ADDRESSES = 100        # entries in one trunkAddresses list (bounded cost)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrunkFieldError(ValueError):
    """A trunk parameter the account cannot use; `parameter` names it (the API's answer)."""

    def __init__(self, parameter: str, detail: str):
        super().__init__(f'{parameter}: {detail}')
        self.parameter = parameter
        self.detail = detail


def parse_addresses(text: str | Iterable[str]) -> list[Network]:
    """'192.0.2.1, 198.51.100.0/24' (or a list of such) -> networks.  An IP address is a
    /32 (/128).  Raises ValueError naming the entry that is neither."""
    items = text.split(',') if isinstance(text, str) else list(text)
    nets = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item.strip('[]'), strict=False))
        except ValueError:
            raise ValueError(f'{item!r} is not an IP address or CIDR network') from None
    if len(nets) > MAX_ADDRESSES:
        raise ValueError(f'more than {MAX_ADDRESSES} trunk addresses')
    return nets


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip('[]'))
    except ValueError:
        return False
    return True


def split_proxy(proxy: str, default_port: int = 5060) -> tuple[str, int]:
    """'host', 'host:port', '[v6]:port' -> (host, port); ValueError if the port is not one."""
    host, sep, port = proxy.rpartition(':')
    if not sep or (':' in host and not host.startswith('[')):   # no port, or a bare IPv6
        return proxy.strip('[]'), default_port
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f'{proxy!r} is not HOST:PORT with a port from 1 to 65535')
    return host.strip('[]'), int(port)


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('true', '1', 'yes'):
        return True
    if text in ('false', '0', 'no', ''):
        return False
    raise ValueError(f'{value!r} is not true or false')


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f'{value!r} is not one of {", ".join(allowed)}')
    return value


def _expires(value) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f'{value!r} is not a number of seconds') from None
    if not MIN_EXPIRES <= n <= MAX_EXPIRES:
        raise ValueError(f'{n} is not from {MIN_EXPIRES} to {MAX_EXPIRES} seconds')
    return n


@dataclass(frozen=True)
class TrunkAccount:
    """One trunk we may register to: its proxy, transport and digest credentials."""
    id: str
    proxy: str                      # HOST[:PORT] the REGISTER goes to
    user: str = ''
    password: str = field(default='', repr=False)   # never in a repr, a log or an answer
    transport: str = 'udp'
    domain: str = ''                # the registrar's domain (Request-URI, To); '' = proxy host
    expires: int = DEFAULT_EXPIRES
    register: bool = False
    addresses: tuple[str, ...] = ()  # trunkAddresses as given; () = the proxy host if an IP

    def __post_init__(self):
        _one_of(self.transport, TRANSPORTS)
        _expires(self.expires)
        split_proxy(self.proxy)
        parse_addresses(self.addresses)

    @classmethod
    def from_fields(cls, d: Mapping[str, object], id: str | None = None) -> 'TrunkAccount':
        """From an outbound dial plan rule as the Cisco API stores it (`sipProxy`,
        `sipProxyUsername`, `sipProxyPassword`, `sipProxyTransport`, `register`,
        `registerExpiry`, `trunkAddresses`; string values).  TrunkFieldError names the field."""
        def text(name: str, default: str = '') -> str:
            v = d.get(name)
            return default if v is None or v == '' else str(v).strip()

        def checked(name: str, convert):
            try:
                return convert()
            except ValueError as exc:
                raise TrunkFieldError(name, str(exc)) from None
        proxy = text('sipProxy')
        if not proxy:
            raise TrunkFieldError('sipProxy', 'missing')
        checked('sipProxy', lambda: split_proxy(proxy))
        transport = text('sipProxyTransport', 'udp').lower()
        checked('sipProxyTransport', lambda: _one_of(transport, TRANSPORTS))
        expires = checked('registerExpiry', lambda: _expires(text('registerExpiry',
                                                                  str(DEFAULT_EXPIRES))))
        register = checked('register', lambda: _flag(d.get('register', False)))
        addresses = tuple(a.strip() for a in text('trunkAddresses').split(',') if a.strip())
        checked('trunkAddresses', lambda: parse_addresses(addresses))
        return cls(id=str(id if id is not None else d.get('id', '')), proxy=proxy,
                   user=text('sipProxyUsername'), password=str(d.get('sipProxyPassword') or ''),
                   transport=transport, expires=expires, register=register, addresses=addresses)

    @property
    def host(self) -> str:
        return split_proxy(self.proxy)[0]

    @property
    def port(self) -> int:
        return split_proxy(self.proxy)[1]

    @property
    def registrar_domain(self) -> str:
        return self.domain or self.host

    @property
    def aor(self) -> str:
        """Our address at the provider: the To and From of our REGISTERs."""
        return f'sip:{self.user}@{self.registrar_domain}' if self.user else \
            f'sip:{self.registrar_domain}'

    @property
    def registrar_uri(self) -> str:
        return f'sip:{self.registrar_domain}'

    @property
    def source_addresses(self) -> tuple[str, ...]:
        """Where this trunk's inbound INVITEs come from: trunkAddresses, else the proxy
        host when it is an IP address (a host name is resolved by the shell:
        calls/trunk_rules.py)."""
        if self.addresses:
            return self.addresses
        return (self.host,) if is_ip(self.host) else ()


class TrunkMatcher:
    """Which trunk a source IP belongs to: `match(ip)` -> trunk id or None.

    Built from {trunk id: addresses} (addresses as `parse_addresses` takes them).  The
    most specific network wins, so a /32 of one trunk inside another's /24 is that one's.
    """

    def __init__(self, addresses: Mapping[str, str | Iterable[str]] | None = None):
        nets: list[tuple[Network, str]] = []
        for trunk, text in (addresses or {}).items():
            nets.extend((net, trunk) for net in parse_addresses(text))
        self._nets = sorted(nets, key=lambda nt: nt[0].prefixlen, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._nets)

    def __repr__(self) -> str:
        return f'<TrunkMatcher {", ".join(f"{n}={t}" for n, t in self._nets)}>'

    def match(self, ip: str) -> str | None:
        try:
            addr = ipaddress.ip_address(ip.strip('[]'))
        except ValueError:
            return None
        if getattr(addr, 'ipv4_mapped', None):     # ::ffff:192.0.2.1 from a dual-stack socket
            addr = addr.ipv4_mapped
        for net, trunk in self._nets:
            if addr.version == net.version and addr in net:
                return trunk
        return None


# --------------------------------------------------------------------------- inbound credentials

# A digest user name a provider can be given: no ':' (the secret's separator), no space,
# quote or control character (it is quoted in headers and written in logs).
INBOUND_USER = re.compile(r"[A-Za-z0-9._~+\-@!$&'()*,;=%]{1,64}")
_SECRET = re.compile(r'ha1:([0-9a-f]{32}):([0-9a-f]{64}):([^:\s]{1,255}):(.+)')


def inbound_secret(user: str, realm: str, password: str) -> str:
    """What is stored for a trunk's inbound password: the HA1s an account keeps (MD5 and
    SHA-256 of user:realm:password), with the realm and user they were made for, never
    the password."""
    return (f'ha1:{ha1(user, realm, password, "MD5")}:{ha1(user, realm, password, "SHA-256")}'
            f':{realm}:{user}')


@dataclass(frozen=True)
class TrunkLogin:
    """A trunk's inbound digest credential: `user` in `realm` authenticates as `trunk`."""
    trunk: str
    user: str
    realm: str
    ha1_md5: str = field(repr=False)
    ha1_sha256: str = field(repr=False)

    @classmethod
    def parse(cls, trunk: str, secret: str) -> 'TrunkLogin':
        """From the stored `inbound_secret` (its user is the name the HA1s were made for);
        ValueError when it is not one."""
        m = _SECRET.fullmatch(secret)
        if m is None:
            raise ValueError('not a stored inbound secret')
        return cls(trunk, m.group(4), m.group(3), m.group(1), m.group(2))

    def ha1(self, algorithm: str) -> str:
        """The stored HA1 for a base algorithm ('MD5' or 'SHA-256')."""
        return self.ha1_sha256 if algorithm.upper().startswith('SHA-256') else self.ha1_md5


class TrunkLogins:
    """Which trunk a digest user name belongs to: `get(user, realm)` -> TrunkLogin or None.
    A name two trunks claim is the first one's (the API refuses the second)."""

    def __init__(self, logins: Iterable[TrunkLogin] = ()):
        self._by_user: dict[str, TrunkLogin] = {}
        for login in logins:
            self._by_user.setdefault(login.user, login)

    def __bool__(self) -> bool:
        return bool(self._by_user)

    def __len__(self) -> int:
        return len(self._by_user)

    def get(self, user: str, realm: str) -> TrunkLogin | None:
        login = self._by_user.get(user)
        return login if login is not None and login.realm == realm else None

    def named(self, user: str) -> TrunkLogin | None:
        """The login of this user name in any realm (to say why it was not used)."""
        return self._by_user.get(user)
