"""Table definitions (SQLAlchemy Core). SQLite by default, PostgreSQL when configured."""
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

# A SIP account: the registrar's identity for a phone. Only digest HA1 values are kept,
# one per algorithm, so the plain password never reaches the disk.
sip_accounts = Table(
    'sip_accounts', metadata,
    Column('id', Integer, primary_key=True),
    Column('user', String(64), nullable=False),
    Column('domain', String(255), nullable=False),
    Column('ha1_md5', String(32), nullable=False),
    Column('ha1_sha256', String(64), nullable=False),
    Column('description', String(100), nullable=False, default=''),
    Column('created', Float, nullable=False),
    Column('owner', String(36), nullable=True),   # API user uuid; NULL for operator (CLI) accounts
    UniqueConstraint('user', 'domain'),
)

# API users. Passwords are scrypt hashes (see store/passwords.py).
users = Table(
    'users', metadata,
    Column('uuid', String(36), primary_key=True),
    Column('username', String(20), nullable=False, unique=True),
    Column('email', String(255), nullable=True, unique=True),
    Column('password_hash', String(200), nullable=False),
    Column('admin', Integer, nullable=False, default=0),
    Column('created', Float, nullable=False),
    Column('partner', Integer, nullable=False, default=0),   # a partner (Q-loud §9)
    Column('partner_of', String(36), nullable=True, index=True),   # the managing partner's uuid
)

# Registrar bindings (like Kamailio's usrloc location table), written behind REGISTER so a
# restart keeps phones reachable.  The flow is where the REGISTER came from; `expires` is
# wall-clock time (seconds since the epoch), so it means the same after a restart.
registrations = Table(
    'registrations', metadata,
    Column('id', Integer, primary_key=True),
    Column('aor', String(320), nullable=False, index=True),
    Column('contact', Text, nullable=False),
    Column('transport', String(8), nullable=False),
    Column('source_host', String(64), nullable=False),
    Column('source_port', Integer, nullable=False),
    Column('path', Text, nullable=False, default=''),   # JSON list of Path values
    Column('call_id', String(255), nullable=False),
    Column('cseq', Integer, nullable=False),
    Column('q', Float, nullable=False, default=1.0),
    Column('expires', Float, nullable=False, index=True),
)
