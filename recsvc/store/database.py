"""The event-and-catalog database: connection, schema, and its migrations.

SQLite by default (a file under the project, WAL mode so several gunicorn workers
read while one writes), PostgreSQL when ``DATABASE_URL`` says so (Heroku's
``postgres://`` form is accepted). The tables below are the schema as the code reads
and writes it; :func:`upgrade` brings a database to it through the Alembic migrations
of ``migrations/versions`` (one per change, never edited once released), so an upgrade
keeps every stored event.
"""

from __future__ import annotations

import functools
import math
import os
import weakref
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

#: the SQLite file used when DATABASE_URL is not set
DEFAULT_DATABASE = Path("var") / "recsvc.db"

metadata = sa.MetaData()

#: every event the shop sent; ``event_id`` makes a retried batch idempotent
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("event_id", sa.String(128), unique=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),  # epoch seconds, UTC
    sa.Column("quantity", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("session_id", sa.String(128)),
    sa.Column("recommendation_id", sa.String(128)),
    # the served list the event is credited to: its recommendation_id, or for an
    # add-to-cart or purchase without one, that of the shopper's recommended view of the
    # same item shortly before (recsvc.store.shop, RECSVC_ATTRIBUTION_HOURS)
    sa.Column("attributed_id", sa.String(128)),
    # counted in recommendation_counts (its list was recorded); credited but not counted
    # is what the stats call unattributed
    sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("events_user_time", "user_id", "timestamp"),
    sa.Index("events_time", "timestamp"),
    sa.Index("events_attributed", "attributed_id"),
    sa.Index("events_uncounted", "timestamp",
             sqlite_where=sa.text("attributed_id IS NOT NULL AND NOT counted"),
             postgresql_where=sa.text("attributed_id IS NOT NULL AND NOT counted")),
)  # fmt: skip

#: every served list that was recorded (RECSVC_IMPRESSION_SAMPLE_RATE): who saw which
#: items where, served by which model version and experiment variant
impressions = sa.Table(
    "impressions",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("recommendation_id", sa.String(64), nullable=False, unique=True),
    sa.Column("created", sa.BigInteger(), nullable=False),  # epoch seconds, UTC
    sa.Column("user_id", sa.String(128)),
    sa.Column("session_id", sa.String(128)),
    sa.Column("placement", sa.String(64), nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("experiment", sa.String(128)),
    sa.Column("variant", sa.String(64)),
    sa.Column("items", sa.Text(), nullable=False),  # JSON list of item ids, by position
    # no index but the id's: every list served is inserted, and the stats read the
    # counters (recommendation_counts, experiment_shoppers), not this table
)  # fmt: skip

#: what recommendations earn, counted as it happens (recsvc.store.credit): per hour of
#: the lists' recording and their group, the lists and those that led to a view, an
#: add-to-cart, a purchase (each list once), and the credited purchases' revenue; the
#: stats read this, not the raw tables ("" for no experiment or variant)
recommendation_counts = sa.Table(
    "recommendation_counts",
    metadata,
    sa.Column("hour", sa.BigInteger(), primary_key=True),  # epoch seconds, a whole hour
    sa.Column("placement", sa.String(64), primary_key=True),
    sa.Column("model_version", sa.String(64), primary_key=True),
    sa.Column("experiment", sa.String(128), primary_key=True),
    sa.Column("variant", sa.String(64), primary_key=True),
    sa.Column("impressions", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("views", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("add_to_carts", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("purchases", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("revenue", sa.Float(), nullable=False, server_default="0"),
)  # fmt: skip

#: which outcomes each list has led to already: a list counts once per outcome
impression_outcomes = sa.Table(
    "impression_outcomes",
    metadata,
    sa.Column("recommendation_id", sa.String(64), primary_key=True),
    sa.Column("event_type", sa.String(64), primary_key=True),
)

#: experiments between model versions: each splits a placement's traffic between its
#: variants by weight (recsvc.store.experiments); at most one running per placement
experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("placement", sa.String(64), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("variants", sa.Text(), nullable=False),  # JSON [{name, version, weight}]
    sa.Column("started", sa.BigInteger(), nullable=False),  # epoch seconds
    sa.Column("stopped", sa.BigInteger()),
    sa.Column("promoted", sa.String(64)),  # the variant made current, if one was
    sa.Index("experiments_running", "placement", unique=True,
             sqlite_where=sa.text("stopped IS NULL"),
             postgresql_where=sa.text("stopped IS NULL")),
)  # fmt: skip

#: per experiment, variant and shopper (user id, else session id): their lists and
#: those that led to each outcome, counted as they happen (recsvc.store.credit): what
#: the experiments' test needs (the delta method over shoppers)
experiment_shoppers = sa.Table(
    "experiment_shoppers",
    metadata,
    sa.Column("experiment", sa.String(128), primary_key=True),
    sa.Column("variant", sa.String(64), primary_key=True),
    sa.Column("shopper", sa.String(128), primary_key=True),
    sa.Column("impressions", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("views", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("add_to_carts", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("purchases", sa.BigInteger(), nullable=False, server_default="0"),
)

#: the catalog as it is now
items = sa.Table(
    "items",
    metadata,
    sa.Column("item_id", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(512)),
    sa.Column("category", sa.String(256)),
    sa.Column("price", sa.Float()),
    sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.true()),
)

#: one row per catalog change, in order: serving processes follow it to apply stock
#: and price changes without a model reload
item_changes = sa.Table(
    "item_changes",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("item_id", sa.String(128), nullable=False),
)  # fmt: skip


#: published model versions, when the model store is the database (RECSVC_MODELS=database)
model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("manifest", sa.Text(), nullable=False),
)
#: the files of each version, in chunks (a bytea/blob value each)
model_chunks = sa.Table(
    "model_chunks",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("data", sa.LargeBinary(), nullable=False),
)
#: the current version and the ones before it (one row, id 1)
model_pointer = sa.Table(
    "model_pointer",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("history", sa.Text(), nullable=False),
)


def insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT for ``table``, with its ON CONFLICT clauses (SQLite and
    PostgreSQL spell them alike)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``values`` in slices of at most ``size`` (statements' bound values are limited:
    SQLite allows 32,766)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def database_url(environ: Mapping[str, str] | None = None) -> str:
    """``DATABASE_URL`` in the form SQLAlchemy takes; default a SQLite file under var/."""
    environ = os.environ if environ is None else environ
    url = environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_DATABASE}"
    # Heroku's form; SQLAlchemy only knows "postgresql", and psycopg 3 is our driver
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def connect(url: str | None = None, *, timeout: float | None = None) -> Engine:
    """An engine for the database, ready for several processes at once.

    ``timeout`` (seconds) bounds every call a serving process makes: connecting,
    waiting for a pooled connection, each statement and each lock (SQLite's busy wait),
    and a connection whose packets go unacknowledged (PostgreSQL's TCP user timeout).
    Training and imports, which stream whole tables, leave it unset.
    """
    url = url or database_url()
    options: dict[str, Any] = {"pool_pre_ping": True}
    busy_ms = int((timeout or 30) * 1000)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"timeout": busy_ms / 1000}
    else:
        connect_args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(timeout or 5))}
        if timeout is not None:
            connect_args.update(
                options=f"-c statement_timeout={busy_ms} -c lock_timeout={busy_ms}"
                f" -c idle_in_transaction_session_timeout={4 * busy_ms}",
                tcp_user_timeout=busy_ms, keepalives=1, keepalives_idle=5,
                keepalives_interval=1, keepalives_count=3,
            )  # fmt: skip
            options["pool_timeout"] = timeout
        options.update(pool_size=5, max_overflow=5, connect_args=connect_args)
    engine = sa.create_engine(url, **options)
    if url.startswith("sqlite"):
        sa.event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_ms=busy_ms))
    # A forked process (a gunicorn worker) must not use its parent's connections: the
    # two would talk over one socket. Forget them in the child, without closing them.
    reference = weakref.ref(engine)
    os.register_at_fork(after_in_child=lambda: _forget_connections(reference))
    return engine


def _forget_connections(reference: weakref.ref[Engine]) -> None:
    engine = reference()
    if engine is not None:
        engine.dispose(close=False)


def _sqlite_pragmas(connection: Any, _record: Any, *, busy_ms: int) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints, safe with WAL
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.close()


#: the first migration: the schema as it was before migrations (a database without
#: Alembic's version table but with an events table has it)
BASELINE = "0001"


def _alembic(connection: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", "recsvc.store:migrations")
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> list[str]:
    """Bring the schema to the newest migration, keeping what is stored; safe to run
    again. A database made before migrations is recognised as the first one. Returns
    the migrations applied (their messages), oldest first."""
    with engine.begin() as conn:
        config = _alembic(conn)
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and sa.inspect(conn).has_table("events"):
            command.stamp(config, BASELINE)
            before = BASELINE
        command.upgrade(config, "head")
        after = MigrationContext.configure(conn).get_current_revision()
    scripts = ScriptDirectory.from_config(config)
    applied = [s.doc for s in scripts.iterate_revisions(after, before)] if after != before else []
    return list(reversed(applied))


def revision(engine: Engine) -> str | None:
    """The database's migration (None: made before migrations, or empty)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def drop(engine: Engine) -> None:
    """Drop every table of the schema and the migrations' record: an empty database
    (for tests and a shop starting over; :func:`upgrade` makes it again)."""
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
