"""Settings: embedded defaults, then a TOML file, then TELEPHONY_* environment variables."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass
class Settings:
    sip_host: str = '127.0.0.1'
    sip_port: int = 5060
    http_host: str = '127.0.0.1'
    http_port: int = 8080
    data_dir: Path = Path('data')
    database_url: str = ''          # empty: SQLite file in data_dir
    domain: str = 'localhost'       # SIP domain (and digest realm) of accounts
    rtp_host: str = ''              # empty: same as sip_host
    rtp_port_min: int = 20000
    rtp_port_max: int = 30000
    media_timeout: int = 120        # hang up calls whose peer sent no RTP/RTCP this long (0: never)
    max_calls: int = 5000           # legs at once; new INVITEs beyond get 503
    max_call_rate: int = 1500       # new calls per second before 503 (0: no limit)
    max_loop_cpu: int = 90          # % of a core the event loop may use before new calls get 503
    max_pending_invites: int = 200  # INVITEs still being routed before new ones get 503
    overload_lag_ms: int = 60       # media clock lateness that means the loop is saturated
    overload_retry_after: int = 5   # seconds, in the 503's Retry-After
    demo: bool = True               # serve echo@, hello@, record@, dtmf@
    digest_algorithms: str = 'MD5'  # challenges offered, preferred first, e.g. 'SHA-256,MD5'
                                    # (baresip 1.0 fails on any non-MD5 challenge)
    phone_pool: str = '+4930555000-+4930555099'  # numbers POST /api/phone hands out
    phone_limit: int = 10           # numbers per user
    sip_account_limit: int = 10     # SIP accounts per user (POST /api/sip)
    upload_max_bytes: int = 20_000_000     # announcement uploads (too-large above)
    upload_max_seconds: int = 900
    trunk: str = ''                 # outbound trunk HOST:PORT for /api/call/dial ('' = none)
    trunk_transport: str = 'UDP'
    trunk_user: str = ''            # digest credentials the trunk may ask for
    trunk_password: str = ''
    trunk_domain: str = ''          # host part of To/From towards the trunk ('' = trunk host)
    # --- auth (issue 8): digest guessing limits, old phones ---
    digest_allow_rfc2069: bool = False  # accept answers without qop (old phones, pyVoIP):
                                        # no cnonce/nc, so weaker replay protection
    auth_account_guesses: int = 10  # wrong digest answers per account and window, all sources
    auth_account_window: int = 60   # seconds

    # --- API hardening (issue 8) ---
    api_session_idle: int = 3600            # seconds an unused API session lives (300 at most
                                            # for one nobody logged in on)
    api_max_anonymous_sessions: int = 10000  # sessions without a login; beyond, GET /api/session
                                             # answers resource-throttle
    api_max_body_bytes: int = 1_000_000     # JSON request bodies (too-large above; uploads
                                            # have upload_max_bytes)

    # --- registrar and SIP transport (issue 8) ---
    tcp_max_connections: int = 1000  # accepted SIP TCP connections at once; more are refused
    tcp_idle_timeout: int = 300      # s without input before a TCP connection is closed, unless
                                     # a registration or a dialog uses it (0: never)

    @classmethod
    def load(cls, config_file: str | None = None, **overrides) -> 'Settings':
        s = cls()
        if config_file:
            data = tomllib.loads(Path(config_file).read_text())
            flat = {**data.get('sip', {}), **data}
            for f in fields(cls):
                if f.name in flat and not isinstance(flat[f.name], dict):
                    setattr(s, f.name, _coerce(f.type, flat[f.name]))
        for f in fields(cls):
            env = os.environ.get(f'TELEPHONY_{f.name.upper()}')
            if env is not None:
                setattr(s, f.name, _coerce(f.type, env))
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, _coerce(cls.__dataclass_fields__[k].type, v))
        if not s.rtp_host:
            s.rtp_host = s.sip_host
        return s


def _coerce(typ, value):
    if typ in ('int', int):
        return int(value)
    if typ in ('bool', bool):
        return value if isinstance(value, bool) else str(value).lower() in ('1', 'true', 'yes')
    if typ in ('Path', Path):
        return Path(value)
    return str(value)


def split_hostport(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = text.rpartition(':')
    if not host:
        return text, default_port
    return host.strip('[]'), int(port)
