"""The model hot swap: a process's recommender replaced by a newly published version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from recsvc.artifact import POINTER, ModelStore
from recsvc.errors import NoModelLoaded
from recsvc.serving.holder import ModelHolder
from recsvc.serving.placements import DEFAULT_PLACEMENTS
from recsvc.serving.recommender import Recommender


@pytest.fixture
def store(tmp_path: Path, trained_store: ModelStore) -> ModelStore:
    """A copy of the trained store, to publish into."""
    shutil.copytree(trained_store.root, tmp_path / "models")
    return ModelStore(tmp_path / "models")


def holder_of(store: ModelStore, **hooks: object) -> ModelHolder:
    return ModelHolder(store, DEFAULT_PLACEMENTS, check_interval=0, **hooks)  # type: ignore[arg-type]


def test_nothing_is_served_before_a_model_loads(tmp_path: Path) -> None:
    holder = holder_of(ModelStore(tmp_path / "empty"))
    with pytest.raises(NoModelLoaded, match="no model loaded yet"):
        holder.recommender  # noqa: B018
    assert holder.refresh() is False  # nothing published
    assert holder.status()["version"] is None


def test_a_new_version_is_swapped_in_while_the_old_one_finishes(store: ModelStore) -> None:
    prepared: list[str] = []
    swapped: list[str] = []
    holder = holder_of(store, prepare=lambda r: prepared.append(r.version),
                       on_swap=lambda r: swapped.append(r.version))  # fmt: skip
    assert holder.refresh() is True
    old = holder.recommender
    assert holder.refresh() is False  # already serving the current version
    new_version = store.publish(store.load())
    in_flight = old  # a request that started before the swap keeps its recommender
    assert holder.refresh() is True
    assert holder.recommender.version == new_version != old.version
    assert in_flight.recommend(n=3).model_version == old.version
    assert holder.recommender.recommend(n=3).model_version == new_version
    assert prepared == swapped == [old.version, new_version]
    assert holder.status()["version"] == new_version


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    holder = holder_of(store)
    holder.refresh()
    good = holder.recommender.version
    bad = store.publish(store.load())
    array = store.path(bad) / "item_factors.npy"
    data = array.read_bytes()
    array.write_bytes(data[:-8] + b"\x00" * 8)  # same size, another checksum
    assert holder.refresh() is False
    assert holder.recommender.version == good
    assert holder.failed is not None
    assert holder.failed[0] == bad
    assert holder.failed[1] == "the version failed verification (see the log)"
    assert "item_factors.npy fails its checksum" in caplog.text  # the details: in the log
    assert holder.status()["failed_version"] == bad
    assert holder.refresh() is False  # not tried again unless forced
    array.write_bytes(data)  # repaired
    assert holder.refresh() is False
    assert holder.refresh(force=True) is True
    assert holder.recommender.version == bad
    assert holder.failed is None


def test_an_unreadable_pointer_keeps_the_model_and_says_why(store: ModelStore) -> None:
    holder = holder_of(store)
    holder.refresh()
    served = holder.recommender
    pointer = (store.root / POINTER).read_text()
    (store.root / POINTER).write_text("{not json")
    assert holder.refresh() is False
    assert holder.recommender is served
    assert holder.failed is not None
    assert holder.failed[0] == "CURRENT"
    assert str(store.root) not in holder.failed[1]  # no paths for the public
    (store.root / POINTER).write_text(pointer)  # repaired: the failure is no more
    assert holder.refresh() is False
    assert holder.failed is None


def test_the_preparation_runs_before_a_version_serves(store: ModelStore) -> None:
    """Catalog changes are applied to a new recommender before any request can see it."""
    out_of_stock = store.load().items.ids[:3].tolist()

    def prepare(recommender: Recommender) -> None:
        recommender.apply_catalog([{"item_id": i, "available": False} for i in out_of_stock])

    holder = holder_of(store, prepare=prepare)
    holder.refresh()
    catalog = holder.recommender.catalog
    rows = catalog.known_rows(out_of_stock)
    assert not np.any(catalog.available[rows])
    assert json.loads((store.root / POINTER).read_text())["current"] == holder.recommender.version
