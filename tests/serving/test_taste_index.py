"""Catalog scans through the taste index against the exact scan: the same items where
the index probes every cluster, a measured recall where it does not, and the size
thresholds that switch between them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recsvc.artifact import Model, ModelStore, TasteIndex, write_version
from recsvc.artifact.layout import load_version
from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.data.sample import ShopShape, write_shop
from recsvc.errors import CorruptVersion
from recsvc.pipeline import train
from recsvc.serving.filters import Filters
from recsvc.serving.placements import DEFAULT_PLACEMENTS, Placement
from recsvc.serving.recommender import Recommender

#: a taste's own ranking of the catalog, nothing precomputed first
PLACEMENTS = {
    **DEFAULT_PLACEMENTS,
    "browse": Placement(strategy="personalized", exclude_seen=False),
}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A version of a 6,000-item shop trained with scans exact up to 1,000 items only."""
    folder = tmp_path_factory.mktemp("indexed")
    events, items = write_shop(ShopShape(events=60_000, users=2_000, items=6_000, seed=4), folder)
    store = ModelStore(folder / "models")
    config = TrainingConfig(model="als", als_factors=16, als_iterations=10,
                            bought_together_neighbours=20,
                            taste_scan_exact_max_items=1_000)  # fmt: skip
    train(Files(events, items), config=config, store=store)
    return store.load()


def _asks(model: Model, count: int = 60) -> list[dict[str, object]]:
    """Sessions, carts and known shoppers' requests, as a storefront sends them."""
    rng = np.random.default_rng(0)
    popular = model.items.ids[np.argsort(-np.asarray(model.popularity))[:1_500]]
    users = model.users.ids[rng.integers(0, len(model.users), count)]
    asks: list[dict[str, object]] = []
    for i in range(count):
        picked = list(popular[rng.integers(0, len(popular), 5)])
        asks += [{"recent_items": picked}, {"recent_items": picked[:2], "user_id": users[i]},
                 {"placement": "cart", "cart_items": picked[:2]},
                 {"placement": "browse", "user_id": users[i]}]  # fmt: skip
    return asks


def _items(recommender: Recommender, ask: dict[str, object]) -> list[str]:
    return [item["item_id"] for item in recommender.recommend(n=20, **ask).items]  # type: ignore[arg-type]


def test_the_version_holds_an_index_with_its_measured_recall(indexed: Model) -> None:
    index = indexed.taste_index
    assert index is not None
    summary = indexed.manifest["taste_index"]
    assert summary["clusters"] == len(index.centroids) == round(np.sqrt(len(index.items)))
    assert summary["probe"] == index.probe < summary["clusters"]
    assert summary["recall_at_10"] >= 0.95


def test_probing_every_cluster_gives_the_exact_scans_items(indexed: Model) -> None:
    index = indexed.taste_index
    assert index is not None
    every = TasteIndex(index.centroids, index.starts, index.items, len(index.centroids))
    everywhere = replace(indexed, taste_index=every)
    probed = Recommender(everywhere, PLACEMENTS)
    exact = Recommender(replace(indexed, taste_index=None), PLACEMENTS)
    for ask in _asks(indexed):
        assert _items(probed, ask) == _items(exact, ask), ask


def test_the_index_finds_most_of_the_exact_scans_items(indexed: Model) -> None:
    """The recall of what a shopper is shown, the index's probe against the exact scan."""
    probed = Recommender(indexed, PLACEMENTS)
    exact = Recommender(replace(indexed, taste_index=None), PLACEMENTS)
    shares = []
    for ask in _asks(indexed):
        truth = _items(exact, ask)
        shares.append(len(set(_items(probed, ask)) & set(truth)) / len(truth))
    assert np.mean(shares) >= 0.9
    assert np.mean(shares) < 1  # the index did leave clusters out


def test_a_scan_within_the_threshold_is_exact_even_with_an_index(indexed: Model) -> None:
    """A category of at most the threshold's 1,000 items is scored item by item; a
    larger one (the shop's largest) probes the index."""
    probed = Recommender(indexed, PLACEMENTS)
    exact = Recommender(replace(indexed, taste_index=None), PLACEMENTS)
    categories, sizes = np.unique(probed.catalog.categories, return_counts=True)
    small = categories[sizes <= 1_000]
    assert len(small) == len(categories) - 1
    assert sizes.max() > 1_000
    for i, ask in enumerate(_asks(indexed, 20)):
        filters = Filters(category=str(small[i % len(small)]))
        assert (_items(probed, ask | {"filters": filters})
                == _items(exact, ask | {"filters": filters}))  # fmt: skip
    largest = Filters(category=str(categories[sizes.argmax()]))
    asks = [ask | {"filters": largest} for ask in _asks(indexed, 20)]
    differ = [_items(probed, ask) != _items(exact, ask) for ask in asks]
    assert any(differ)


def test_a_catalog_within_the_threshold_has_no_index(trained_store: ModelStore) -> None:
    model = trained_store.load()
    assert model.taste_index is None
    assert "taste_index" not in model.manifest
    assert not any(name.startswith("taste_") for name in model.manifest["files"])


def test_an_index_whose_arrays_are_not_all_there_is_refused(indexed: Model, tmp_path: Path) -> None:
    folder = tmp_path / "v"
    write_version(indexed, folder)
    assert load_version(folder).taste_index is not None
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["taste_index"]["probe"] = 1_000  # more clusters than there are
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptVersion, match="taste_index has no valid probe"):
        load_version(folder)
    del manifest["files"]["taste_cluster_starts.npy"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptVersion, match="the taste index's arrays are not all there"):
        load_version(folder)
