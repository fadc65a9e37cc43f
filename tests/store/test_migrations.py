"""Schema migrations keep what a shop stored: a database made before migrations
(the schema `recsvc db upgrade` created until Alembic) upgrades with its events intact."""

from __future__ import annotations

import sqlalchemy as sa

from recsvc.store.database import BASELINE, connect, drop, revision, upgrade

#: the schema as `recsvc db upgrade` made it before migrations (metadata.create_all)
_old = sa.MetaData()
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_EVENTS = sa.Table(
    "events", _old,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), unique=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),
    sa.Column("quantity", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("session_id", sa.String(128)),
    sa.Column("recommendation_id", sa.String(128)),
    sa.Index("events_user_time", "user_id", "timestamp"),
    sa.Index("events_time", "timestamp"),
)  # fmt: skip
sa.Table(
    "items",
    _old,
    sa.Column("item_id", sa.String(128), primary_key=True),
    sa.Column("title", sa.String(512)),
    sa.Column("category", sa.String(256)),
    sa.Column("price", sa.Float()),
    sa.Column("available", sa.Boolean(), nullable=False, server_default=sa.true()),
)
sa.Table("item_changes", _old, sa.Column("id", _ID, primary_key=True, autoincrement=True),
         sa.Column("item_id", sa.String(128), nullable=False))  # fmt: skip


def test_a_database_made_before_migrations_upgrades_with_its_events_intact(db_url: str) -> None:
    engine = connect(db_url)
    drop(engine)
    _old.create_all(engine)
    rows = [{"event_id": f"e{n}", "user_id": f"u{n % 7}", "item_id": f"i{n % 11}",
             "event_type": ("view", "purchase")[n % 2], "timestamp": 1_700_000_000 + n,
             "quantity": 1 + n % 3, "session_id": f"s{n % 5}",
             "recommendation_id": f"r{n}" if n % 4 == 0 else None} for n in range(500)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(OLD_EVENTS.insert(), rows)
        before = [tuple(r) for r in conn.execute(sa.select(OLD_EVENTS).order_by(OLD_EVENTS.c.id))]
    assert revision(engine) is None

    applied = upgrade(engine)

    assert applied == ["impressions, and the served list each event is credited to",
                       "experiments between model versions"]  # fmt: skip
    with engine.connect() as conn:
        after = conn.execute(sa.text(
            "SELECT id, event_id, user_id, item_id, event_type, timestamp, quantity,"
            " session_id, recommendation_id, attributed_id FROM events ORDER BY id"
        )).all()  # fmt: skip
    assert [tuple(r[:9]) for r in after] == before
    # what the events carried is what they are credited to
    assert [r[9] for r in after] == [r[8] for r in after]
    assert {"impressions", "alembic_version"} <= set(sa.inspect(engine).get_table_names())
    assert upgrade(engine) == []
    assert revision(engine) == "0003"
    engine.dispose()


def test_an_empty_database_gets_every_migration(db_url: str) -> None:
    engine = connect(db_url)
    drop(engine)
    applied = upgrade(engine)
    assert len(applied) == 3
    assert revision(engine) == "0003" != BASELINE
    # new events are stored through the new schema
    from recsvc.store.shop import ShopStore

    stored = ShopStore(engine).add_events([{"event_id": "x", "user_id": "u", "item_id": "i",
                                            "event_type": "view", "timestamp": 1}])  # fmt: skip
    assert stored.stored == 1
    engine.dispose()
