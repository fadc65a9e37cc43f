"""Following the event store: catalog changes and events reach a serving process."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsvc.artifact import ModelStore
from recsvc.serving.follower import StoreFollower
from recsvc.serving.holder import ModelHolder
from recsvc.serving.live import LiveEvents
from recsvc.serving.placements import DEFAULT_PLACEMENTS
from recsvc.store.database import connect
from recsvc.store.shop import ShopStore


@pytest.fixture
def shop(db_url: str) -> Iterator[ShopStore]:
    store = ShopStore(connect(db_url))
    yield store
    store.engine.dispose()


@pytest.fixture
def store(tmp_path: Path, trained_store: ModelStore) -> ModelStore:
    shutil.copytree(trained_store.root, tmp_path / "models")
    return ModelStore(tmp_path / "models")


def follower_of(store: ModelStore, shop: ShopStore) -> StoreFollower:
    holder = ModelHolder(store, DEFAULT_PLACEMENTS, check_interval=0)
    follower = StoreFollower(holder, shop, LiveEvents(per_user=10), interval=0)
    holder.prepare = follower.prepare
    return follower


def test_catalog_changes_reach_the_served_model_and_every_later_one(
    store: ModelStore, shop: ShopStore
) -> None:
    follower = follower_of(store, shop)
    holder = follower.holder
    holder.refresh()
    item = str(holder.recommender.model.items.ids[0])
    shop.upsert_items([
        {"item_id": item, "available": False, "price": 9.5},
        {"item_id": "brand-new", "category": "Garden", "available": True},
    ])  # fmt: skip
    assert follower.step() == 2
    catalog = holder.recommender.catalog
    assert not catalog.available[catalog.model_row(item)]
    assert catalog.price[catalog.model_row(item)] == 9.5
    assert "brand-new" in catalog.new_items
    assert follower.step() == 0  # nothing new since
    store.publish(store.load())
    holder.refresh()  # the next version gets the changes before it serves
    catalog = holder.recommender.catalog
    assert not catalog.available[catalog.model_row(item)]
    assert "brand-new" in catalog.new_items


def test_events_after_the_models_data_become_live_events(
    store: ModelStore, shop: ShopStore
) -> None:
    follower = follower_of(store, shop)
    follower.holder.refresh()
    trained_until = follower.holder.recommender.trained_until
    shop.add_events([
        {"user_id": "u1", "item_id": "p1", "event_type": "view", "timestamp": trained_until - 5},
        {"user_id": "u1", "item_id": "p2", "event_type": "purchase", "timestamp": int(time.time())},
    ])  # fmt: skip
    follower.catch_up()  # a starting process takes in what came after the model's data
    live = follower.live.of("u1", after=trained_until)
    assert list(live.touched) == ["p2"]
    assert list(live.bought) == ["p2"]
    shop.add_events([{"user_id": "u1", "item_id": "p3", "event_type": "view",
                      "timestamp": int(time.time()) + 1}])  # fmt: skip
    assert follower.step() == 1
    assert list(follower.live.of("u1", after=trained_until).touched) == ["p3", "p2"]


def test_a_store_that_cannot_be_read_at_start_is_logged_and_counted(
    store: ModelStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = ShopStore(connect(f"sqlite:///{tmp_path / 'no-schema.db'}"))  # no tables
    follower = follower_of(store, broken)
    follower.holder.refresh()
    follower.interval = 3600  # start, but let the background thread sleep
    with caplog.at_level(logging.WARNING, logger="recsvc.serving.follower"):
        follower.start()
    assert follower.failures == 1
    assert "cannot read the event store at start" in caplog.text
    assert "no such table" in caplog.text  # the cause, logged with its traceback
    broken.engine.dispose()
