"""Settings: embedded defaults, then a TOML file, then TELEPHONY_* environment variables."""
from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

ENV_PREFIX = 'TELEPHONY_'


class ConfigError(Exception):
    """A setting that cannot be used.  The message is one line for the operator: the file or
    variable, the key, and what to do."""


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

    # --- security review (issue 8) ---
    sip_max_contacts: int = 10       # registered contacts per account; past it the ones that
                                     # expire soonest go (more in one REGISTER: 403)
    http_max_connections: int = 1000  # HTTP connections at once (WebSockets included); more
                                      # are closed at once
    http_head_timeout: int = 10      # s a client may take to send a request head (0: no limit)
    api_max_user_sessions: int = 100  # logged-in sessions per user; a login past it ends the
                                      # user's least recently used one

    # --- CDRs (issue 9) ---
    cdr_receivers: str = ''          # comma-separated http:// URLs that get the Cisco CDR records
                                     # (with those of the API's system/cdrReceivers)
    cdr_outbox_limit: int = 10000    # records kept for receivers that do not take them; past it
                                     # the oldest go (logged, numPreceedingRecordsMissing)
    cdr_retry_min: float = 0.5       # s before a failed delivery is tried again, doubling ...
    cdr_retry_max: float = 30.0      # ... up to this

    # --- trunks (issue 9) ---
    trunk_register: bool = False     # the settings trunk registers to its provider (REGISTER with
                                     # trunk_user/trunk_password at trunk, refreshed, retried)
    trunk_register_expiry: int = 3600  # s the settings trunk's REGISTER asks for (60 to 86400)
    trunk_addresses: str = ''        # IPs/CIDRs, comma-separated, that the settings trunk's INVITEs
                                     # come from, besides the trunk host (source address only)
    trunk_register_retry: int = 30   # s before the first retry of a failed registration (doubles)
    trunk_register_retry_max: int = 900  # s, the longest wait between registration attempts

    # --- IVR menus and voice mail (issue 9) ---
    ivr_max_repeats: int = 3         # times a menu is repeated (timeout/other) before goodbye
    ivr_max_hops: int = 20           # moves between menus in one call before goodbye
    ivr_default_timeout: int = 10    # s to wait after a menu without a timeout block, then repeat
    ivr_max_per_user: int = 1000     # IVR menus one user may have (more: too-large)
    voicemail_limit: int = 180       # s a voice message may last
    voicemail_silence: int = 5       # s of silence (VAD) that end a voice message

    # --- Cisco /api/v1 dialect (issue 9) ---
    cisco_list_limit: int = 20       # most objects one collection GET returns, whatever `limit` says
    cisco_max_body_bytes: int = 65536  # form bodies of POST/PUT under /api/v1 (413 above)

    # --- outgoing call policy (issue 9) ---
    emergency_numbers: str = ''      # comma-separated numbers handled like 110/112 (always go out)
    emergency_route: str = ''        # number dialled through the trunk instead of an emergency number

    # --- Q-loud routing at run time (issue 9) ---
    dialplan_clock_offset: int = 0   # s added to the wall clock for v2 time filters (tests, operations)
    hunt_max_seconds: int = 3600     # a hunt without any timeout still ends after this (bounded cost)

    # --- inbound trunks (issue 9, session 5) ---
    trunk_resolve_interval: int = 300  # s between lookups of rules' host-name sipProxy (DNS changes)

    # --- Q-loud conferences (issue 10) ---
    conference_max_per_user: int = 1000  # conference objects one user may have (more: too-large)
    conference_pin_tries: int = 3        # wrong PINs a caller may key before goodbye
    conference_pin_timeout: int = 10     # s to wait for the next PIN digit before prompting again
    conference_pin_prompts: int = 3      # times the PIN prompt is repeated after a timeout

    # --- usergroup credits (issue 9, session 5) ---
    credit_interval: int = 60        # s a zone filter's cost pays for (§9.1.6: "every 60 seconds")

    # --- Cisco coSpaces (issue 10, session 5) ---
    cospaces_max: int = 10000            # coSpaces /api/v1 may hold (more: tooManyCoSpaces)
    cospace_access_methods_max: int = 32  # access methods one coSpace may have (tooManyAccessMethods)

    # --- conference audio (issue 10, session 5) ---
    conference_tap_dir: str = ''     # when set, each member's received mix goes to DIR/<conference>/<member>.wav

    # --- guessing limits, periodic status (issue 10, session 6) ---
    pin_source_failures: int = 10    # wrong PINs/passcodes/call IDs from one source per pin_source_window before it is refused
    pin_source_window: int = 600     # s over which one source's wrong entries count
    pin_source_block: int = 600      # s a source over pin_source_failures is refused for
    pin_target_guesses: int = 30     # wrong entries per owner/coSpace/IVR per pin_target_window; then sources that failed there are refused
    pin_target_window: int = 600     # s in which a target's budget refills
    pin_guard_max_keys: int = 10000  # sources, targets and pairs each table tracks (bounded memory)
    conference_status_interval: int = 30  # s between conference_status to subscribed sessions (0: only on subscribing)

    # --- fax objects and /api/fax (issue 11, session 6) ---
    fax_upload_max_bytes: int = 20_000_000  # a PDF upload above this is too-large
    fax_max_pages: int = 100          # pages one fax may have (a longer PDF is too-large)
    fax_convert_timeout: int = 120    # s ghostscript may take for one upload (then status fail)
    fax_pages_per_month: int = 50     # a user's monthly page quota (`feature.quota.fax`)

    # --- Cisco participants and dial-out (issue 10, session 6) ---
    cisco_api_calls_max: int = 100       # calls POST /api/v1/calls may hold open at once (tooManyCalls)
    cisco_dialouts_max: int = 200        # participant/callLeg dial-outs ringing at once (server-wide)
    cisco_dialout_ring_seconds: int = 60  # a dial-out not answered by then is given up (cause 19)

    # --- sending faxes (issue 11, session 6) ---
    fax_calls_at_once: int = 4        # outgoing fax calls at once; later sends wait in order
    fax_queue_max: int = 1000         # sends that may wait for a line (more: the send fails)
    fax_retry_count: int = 3          # times a busy destination (486/600) is dialled again
    fax_retry_delay: int = 120        # s between a busy answer and the next dial
    fax_ring_timeout: int = 60        # s a fax call may ring unanswered before it is given up

    # --- receiving faxes on calls (issue 11, session 6) ---
    fax_receive_limit: int = 1800     # s a received fax may take (then it ends like a hangup)

    # --- fax review fixes (issue 11, session 6) ---
    fax_calls_per_user: int = 2       # of fax_calls_at_once, outgoing fax calls one user may run
    fax_queue_per_user: int = 20      # of fax_queue_max, sends of one user that may wait (more: fail)
    fax_downloads_at_once: int = 2    # PDF/PNG fax downloads rendered at once (others wait)

    # --- fax end to end (issue 11, session 6) ---
    fax_t38_request: bool = True      # a fax receiver asks the caller for T.38 (re-INVITE) on its CNG

    @classmethod
    def load(cls, config_file: str | None = None, **overrides) -> 'Settings':
        """Defaults, then the TOML file, then TELEPHONY_* variables, then `overrides` (the
        command line).  Raises ConfigError, whose message names the file or variable, the
        key and what to do, for anything that cannot be used."""
        s = cls()
        known = {f.name: f.type for f in fields(cls)}
        if config_file:
            for key, value in _read_toml(config_file).items():
                where = f'config file {config_file}: {key}'
                if key not in known:
                    raise ConfigError(f'{where}: unknown setting{_did_you_mean(key, known)}; '
                                      f'valid settings: {", ".join(known)}')
                setattr(s, key, _from_toml(key, known[key], value, where))
        for name, value in os.environ.items():
            if not name.startswith(ENV_PREFIX):
                continue
            key = name[len(ENV_PREFIX):].lower()
            if key not in known:
                raise ConfigError(f'environment variable {name}: unknown setting'
                                  f'{_did_you_mean(key, known, ENV_PREFIX)}; unset it or use one '
                                  f'of: {", ".join(ENV_PREFIX + k.upper() for k in known)}')
            setattr(s, key, _from_text(key, known[key], value, f'environment variable {name}'))
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, _from_text(k, known[k], v, f'--{k.replace("_", "-")}'))
        if not s.rtp_host:
            s.rtp_host = s.sip_host
        if s.rtp_port_min > s.rtp_port_max:
            raise ConfigError(f'rtp_port_min ({s.rtp_port_min}) is above rtp_port_max '
                              f'({s.rtp_port_max}); swap them')
        _check_trunk(s)
        return s


def _check_trunk(s: 'Settings') -> None:
    """The trunk settings the SIP layer would refuse at start-up, refused here in one line."""
    if not 60 <= s.trunk_register_expiry <= 86400:
        raise ConfigError(f'trunk_register_expiry ({s.trunk_register_expiry}) must be from 60 '
                          'to 86400 seconds')
    if not 0 < s.trunk_register_retry <= s.trunk_register_retry_max:
        raise ConfigError(f'trunk_register_retry ({s.trunk_register_retry}) must be above 0 and '
                          f'at most trunk_register_retry_max ({s.trunk_register_retry_max})')
    if s.trunk_resolve_interval < 1:
        raise ConfigError(f'trunk_resolve_interval ({s.trunk_resolve_interval}) must be at least '
                          '1 second')
    if s.trunk_transport.lower() not in ('udp', 'tcp'):
        raise ConfigError(f'trunk_transport ({s.trunk_transport!r}) must be UDP or TCP')
    for item in s.trunk_addresses.split(','):
        try:
            if item.strip():
                ipaddress.ip_network(item.strip().strip('[]'), strict=False)
        except ValueError:
            raise ConfigError(f'trunk_addresses: {item.strip()!r} is not an IP address or CIDR '
                              'network (host names are not accepted: a trunk is known by '
                              'where its packets come from)') from None
    for item in [s.emergency_route, *s.emergency_numbers.split(',')]:
        if item.strip() and not re.fullmatch(r'\+?[0-9]{2,20}', item.strip()):
            raise ConfigError(f'emergency_numbers/emergency_route: {item.strip()!r} is not a '
                              'number (digits, optionally a leading +)')


def _read_toml(path: str) -> dict:
    """The file's settings, flat: top-level keys, and keys of a `[sip]` table."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f'config file {path} not found; check the --config path') from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f'config file {path} cannot be read: '
                          f'{getattr(exc, "strerror", None) or exc}') from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f'config file {path} is not valid TOML: {exc}; '
                          'write settings as key = value, strings in quotes') from None
    sip = data.pop('sip', {})
    if not isinstance(sip, dict):
        return {'sip': sip, **data}      # reported as an unknown setting
    return {**sip, **data}


def _did_you_mean(key: str, known, prefix: str = '') -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f' (did you mean {prefix}{close[0].upper() if prefix else close[0]}?)' if close else ''


def _kind(typ) -> str:
    return typ if isinstance(typ, str) else typ.__name__


def _check_range(key: str, value: int, where: str) -> int:
    if key.endswith(('_port', '_port_min', '_port_max')) and not 0 <= value <= 65535:
        raise ConfigError(f'{where}: {value} is not a port number (0 to 65535)')
    return value


def _from_toml(key: str, typ, value, where: str):
    """A TOML value has a type already: it must be the setting's type."""
    kind = _kind(typ)
    ok = {'int': isinstance(value, int) and not isinstance(value, bool),
          'float': isinstance(value, (int, float)) and not isinstance(value, bool),
          'bool': isinstance(value, bool),
          'str': isinstance(value, str), 'Path': isinstance(value, str)}.get(kind, False)
    if not ok:
        example = {'int': '5060', 'float': '1.5', 'bool': 'true', 'str': '"text"',
                   'Path': '"/var/lib/telephony"'}.get(kind, '')
        raise ConfigError(f'{where} must be {_NAMES.get(kind, kind)}, not {value!r}; '
                          f'for example {key} = {example}')
    if kind == 'Path':
        return Path(value)
    if kind == 'float':
        return float(value)
    return _check_range(key, value, where) if kind == 'int' else value


_NAMES = {'int': 'an integer', 'float': 'a number', 'bool': 'true or false', 'str': 'a string',
          'Path': 'a path (a string)'}
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off', '')


def _from_text(key: str, typ, value, where: str):
    """Environment variables and command-line values are text."""
    kind = _kind(typ)
    if not isinstance(value, str):
        return _from_toml(key, typ, value, where)
    try:
        if kind == 'int':
            return _check_range(key, int(value), where)
        if kind == 'float':
            return float(value)
    except ValueError:
        raise ConfigError(f'{where} must be {_NAMES[kind]}, not {value!r}') from None
    if kind == 'bool':
        if value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(f'{where} must be true or false (1/0, yes/no), not {value!r}')
    if kind == 'Path':
        return Path(value)
    return value


def split_hostport(text: str, default_port: int) -> tuple[str, int]:
    """'HOST:PORT', '[v6]:PORT' or 'HOST' -> (host, port); ConfigError if the port is not one."""
    host, _, port = text.rpartition(':')
    if not host or (':' in host and not host.startswith('[')):   # no port, or bare IPv6
        return text.strip('[]'), default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f'{text!r} is not HOST:PORT with a port from 0 to 65535')
    return host.strip('[]'), int(port)
