from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa

from recsvc.errors import UnknownItem
from recsvc.store.database import connect, database_url, events, upgrade
from recsvc.store.shop import ShopStore

TYPES = ("view", "add_to_cart", "purchase")


@pytest.fixture
def store(db_url: str) -> Iterator[ShopStore]:
    shop = ShopStore(connect(db_url))
    yield shop
    shop.engine.dispose()


def event(n: int, **fields: object) -> dict[str, object]:
    return {"event_id": f"e{n}", "user_id": "u1", "item_id": f"i{n % 3}", "event_type": "view",
            "timestamp": 1_000 + n, **fields}  # fmt: skip


def test_database_url_forms() -> None:
    assert database_url({}).startswith("sqlite:///")
    heroku = database_url({"DATABASE_URL": "postgres://u:p@host:5432/db"})
    assert heroku == "postgresql+psycopg://u:p@host:5432/db"


def test_upgrade_is_idempotent(store: ShopStore) -> None:
    engine = store.engine
    assert upgrade(engine) == []  # the fixture made everything already
    assert set(sa.inspect(engine).get_table_names()) >= {"events", "items", "item_changes"}
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("events")}
    assert {"events_user_time", "events_time"} <= indexes


def test_retried_events_count_once(store: ShopStore) -> None:
    first = store.add_events([event(1), event(2), event(3, event_id=None)])
    assert (first.stored, first.duplicates) == (3, 0)
    again = store.add_events([event(1), event(2), event(4), event(4)])
    assert (again.stored, again.duplicates) == (1, 3)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 4


WRITER = """
import sys
from recsvc.store.database import connect
from recsvc.store.shop import ShopStore
url, start = sys.argv[1], int(sys.argv[2])
store = ShopStore(connect(url))
for batch in range(10):
    store.add_events([{"event_id": f"e{start + batch * 10 + i}", "user_id": "u1",
                       "item_id": "i1", "event_type": "view", "timestamp": 1000}
                      for i in range(10)])
store.engine.dispose()
"""


def test_concurrent_writers_lose_and_duplicate_nothing(db_url: str) -> None:
    # three processes write overlapping event ids 0-99, 50-149, 100-199
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, db_url, str(start)])
               for start in (0, 50, 100)]  # fmt: skip
    for writer in writers:
        assert writer.wait(timeout=120) == 0
    engine = connect(db_url)
    with engine.connect() as conn:
        ids = conn.execute(sa.select(events.c.event_id)).scalars().all()
    engine.dispose()
    assert sorted(ids) == sorted(f"e{n}" for n in range(200))


def test_catalog_changes_are_followed_in_order(store: ShopStore) -> None:
    last, changed = store.catalog_changes(0)
    assert (last, changed) == (0, [])
    store.upsert_items([{"item_id": "a", "title": "A", "price": 5.0},
                        {"item_id": "b", "available": False}])  # fmt: skip
    last, changed = store.catalog_changes(0)
    assert {c["item_id"]: c["available"] for c in changed} == {"a": True, "b": False}
    assert store.catalog_changes(last) == (last, [])
    patched = store.patch_item("a", {"available": False, "price": 4.5})
    assert (patched["available"], patched["price"], patched["title"]) == (False, 4.5, "A")
    newer, changed = store.catalog_changes(last)
    assert newer > last
    assert [c["item_id"] for c in changed] == ["a"]
    with pytest.raises(UnknownItem):
        store.patch_item("zz", {"available": True})


def test_following_events_in_order(store: ShopStore) -> None:
    store.add_events([event(n) for n in range(10)] + [event(99, user_id="u2")])
    last, latest = store.latest_events(since=1_006, limit=3)
    # the newest three of those after t=1006 (1007, 1008, 1009, 1099), oldest first
    assert latest == [("u1", "i2", "view", 1_008), ("u1", "i0", "view", 1_009),
                      ("u2", "i0", "view", 1_099)]  # fmt: skip
    assert store.events_after(last, limit=10) == (last, [])
    store.add_events([event(100), event(101)])
    newer, rows = store.events_after(last, limit=1)
    assert rows == [("u1", "i1", "view", 1_100)]
    assert store.events_after(newer, limit=10)[1] == [("u1", "i2", "view", 1_101)]


def test_training_reads_everything_back(store: ShopStore) -> None:
    store.add_events([event(n, event_type=TYPES[n % 3], quantity=n % 2 + 1) for n in range(7)])
    store.upsert_items([{"item_id": "i0", "title": "Zero", "category": "C", "price": 1.5}])
    loaded = store.read_events(event_types=TYPES, batch=3)  # several batches
    assert len(loaded) == 7
    assert loaded.timestamp.tolist() == [1_000 + n for n in range(7)]
    assert [TYPES[c] for c in loaded.event_type] == [TYPES[n % 3] for n in range(7)]
    assert loaded.quantity.tolist() == [n % 2 + 1 for n in range(7)]
    assert len(store.read_events(event_types=TYPES, since=1_004)) == 2
    catalog = store.read_catalog()
    assert catalog is not None
    assert catalog.title.tolist() == ["Zero"]
    assert np.isclose(catalog.price[0], 1.5)


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    engine = connect(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_concurrent_upserts_of_the_same_new_item_all_succeed(db_url: str) -> None:
    """Four writers at a time put the same new items (PostgreSQL raised UniqueViolation
    for a delete-then-insert)."""
    from concurrent.futures import ThreadPoolExecutor

    store = ShopStore(connect(db_url))
    work = [[{"item_id": f"new-{i % 10}", "title": f"t{i}", "available": True}]
            for i in range(120)]  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(store.upsert_items, work)) == [1] * 120
    catalog = store.read_catalog()
    assert catalog is not None
    assert sorted(catalog.item_id.tolist()) == [f"new-{i}" for i in range(10)]
    store.engine.dispose()


def test_identical_batches_at_once_count_what_was_stored(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = ShopStore(connect(db_url))
    batch = [{"event_id": f"e{i}", "user_id": "u1", "item_id": "p1", "event_type": "view",
              "timestamp": 1_793_000_000 + i} for i in range(200)]  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(store.add_events, [batch] * 8))
    assert sum(r.stored for r in results) == 200  # each event once, whoever stored it
    assert all(r.stored + r.duplicates == 200 for r in results)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 200
    store.engine.dispose()
