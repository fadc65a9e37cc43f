"""The event store as training data."""

from __future__ import annotations

import time

from recsvc.config import TrainingConfig
from recsvc.store.database import connect
from recsvc.store.shop import ShopStore
from recsvc.store.source import Database


def test_the_store_reads_as_a_dataset_within_its_window(db_url: str) -> None:
    shop = ShopStore(connect(db_url))
    now = int(time.time())
    shop.add_events([
        {"user_id": "u1", "item_id": "p1", "event_type": "view", "timestamp": now - 40 * 86_400},
        {"user_id": "u1", "item_id": "p2", "event_type": "purchase", "timestamp": now - 60},
        {"user_id": "u2", "item_id": "p3", "event_type": "view", "timestamp": now - 30},
    ])  # fmt: skip
    shop.upsert_items([{"item_id": "p9", "title": "Lamp", "category": "Lighting"}])
    everything = Database(shop).read(TrainingConfig())
    assert len(everything.events) == 3
    assert everything.items.ids.tolist() == ["p1", "p2", "p3", "p9"]  # events' and catalog's
    recent = Database(shop, window_days=30).read(TrainingConfig())
    assert sorted(recent.events.item_id.to_pylist()) == ["p2", "p3"]
    assert recent.catalog is not None
    assert recent.catalog.item_id.tolist() == ["p9"]
    shop.engine.dispose()
