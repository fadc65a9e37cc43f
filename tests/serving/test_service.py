"""One serving process: background work started once per process, status of every worker."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from recsvc.artifact import ModelStore
from recsvc.serving.placements import DEFAULT_PLACEMENTS
from recsvc.serving.service import Serving
from recsvc.store.database import connect
from recsvc.store.shop import ShopStore


@pytest.fixture
def serving(tmp_path: Path, trained_store: ModelStore, db_url: str) -> Iterator[Serving]:
    shutil.copytree(trained_store.root, tmp_path / "models")
    shop = ShopStore(connect(db_url))
    yield Serving(ModelStore(tmp_path / "models"), DEFAULT_PLACEMENTS, shop=shop,
                  check_interval=0, catalog_interval=0)  # fmt: skip
    shop.engine.dispose()


def test_a_process_announces_itself_when_it_starts_and_when_it_swaps(serving: Serving) -> None:
    serving.holder.refresh()  # in the process that builds the app: nothing announced
    assert serving.workers() == []
    serving.start()
    (me,) = serving.workers()
    assert me["worker_pid"] == os.getpid()
    assert me["version"] == serving.holder.recommender.version
    store = serving.holder.store
    new = store.publish(store.load())
    serving.holder.refresh()
    assert [w["version"] for w in serving.workers()] == [new]
    serving.start()  # once per process: nothing more happens
    status = serving.status()
    assert status["current_version"] == new == status["version"]
    assert status["workers"] == serving.workers()


def test_a_new_version_gets_the_live_catalog_before_it_serves(serving: Serving) -> None:
    serving.holder.refresh()
    item = str(serving.holder.recommender.model.items.ids[0])
    serving.follower.shop.upsert_items([{"item_id": item, "available": False}])
    serving.follower.step()
    store = serving.holder.store
    store.publish(store.load())
    serving.holder.refresh()
    catalog = serving.holder.recommender.catalog
    assert not catalog.available[catalog.model_row(item)]
