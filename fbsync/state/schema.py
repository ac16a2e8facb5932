"""The state store's tables and their numbered migrations (:mod:`fbsync.state.store` reads and writes them)."""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 2
md = sa.MetaData()

schema_version = sa.Table("schema_version", md, sa.Column("version", sa.Integer, nullable=False))
audiences = sa.Table(
    "audiences",
    md,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("account_id", sa.String(64)),
    sa.Column("meta_id", sa.String(64)),
    sa.Column("display_name", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("subtype", sa.String(32)),
    sa.Column("schema", sa.Text),  # comma-joined Meta keys the ledger's rows are in
    sa.Column("key_id", sa.String(32)),  # which state key wrote the ledger
    sa.Column("created_by_fbsync", sa.Boolean, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
    sa.Column("extra", sa.Text),  # JSON: lookalike spec, replace session…
)
ledger = sa.Table(
    "ledger",
    md,
    sa.Column("audience", sa.String(200), primary_key=True),
    sa.Column("fp", sa.LargeBinary(16), primary_key=True),
    sa.Column("row", sa.LargeBinary, nullable=False),
)
pending = sa.Table(  # rows acknowledged by a /usersreplace session not yet finished
    "ledger_pending",
    md,
    sa.Column("audience", sa.String(200), primary_key=True),
    sa.Column("fp", sa.LargeBinary(16), primary_key=True),
    sa.Column("row", sa.LargeBinary, nullable=False),
)
suppressed = sa.Table(  # people kept out of every audience (fbsync forget): keyed hashes only
    "suppressed",
    md,
    sa.Column("kh", sa.LargeBinary(16), primary_key=True),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
runs = sa.Table(
    "runs",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("command", sa.String(32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed | partial
    sa.Column("config_digest", sa.String(64)),
    sa.Column("user", sa.String(200)),
    sa.Column("host", sa.String(200)),
    sa.Column("summary", sa.Text),
)
run_audiences = sa.Table(
    "run_audiences",
    md,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("audience", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("meta_id", sa.String(64)),
    sa.Column("rows_read", sa.Integer, default=0),
    sa.Column("rows_dropped", sa.Integer, default=0),
    sa.Column("rows_added", sa.Integer, default=0),
    sa.Column("rows_removed", sa.Integer, default=0),
    sa.Column("size_lower", sa.BigInteger),
    sa.Column("size_upper", sa.BigInteger),
    sa.Column("message", sa.Text),
    sa.Column("details", sa.Text),  # JSON: drop reasons per key, …
)

claims = sa.Table(  # scheduled runs claimed by `fbsync schedule` workers sharing a PostgreSQL state store
    "schedule_claims",
    md,
    sa.Column("audience", sa.String(200), primary_key=True),
    sa.Column("due_at", sa.DateTime(timezone=True), primary_key=True),  # the cron fire the run serves
    sa.Column("worker", sa.String(200), nullable=False),  # host:pid of the worker running it
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16)),  # the run's exit code as text once finished
    sa.Column("takeovers", sa.Integer, nullable=False, default=0),
)


MIGRATION_LOCK = 0x66627379  # "fbsy"


def _v1(c: sa.Connection) -> None:
    """Version 1: audiences, ledger, pending replace rows, suppression, runs and their audiences."""
    md.create_all(c, checkfirst=True)


def _v2(c: sa.Connection) -> None:
    """Version 2: the claims of scheduled runs (several workers on one PostgreSQL state store)."""
    claims.create(c, checkfirst=True)


MIGRATIONS = {1: _v1, 2: _v2}
