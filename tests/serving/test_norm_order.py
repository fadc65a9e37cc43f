"""Catalog scans through the norm order against the scan of every item: the same items,
fewer scored, and the size threshold that switches between them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recsvc.artifact import ModelStore
from recsvc.serving import candidates
from recsvc.serving.candidates import bounded
from recsvc.serving.catalog import NONE
from recsvc.serving.filters import Filters
from recsvc.serving.placements import DEFAULT_PLACEMENTS, Placement
from recsvc.serving.recommender import Recommender
from recsvc.serving.taste import EXACT_SCAN_MAX_ITEMS, NormOrder, Ordered

#: a taste's own ranking of the catalog, nothing precomputed first
PLACEMENTS = {**DEFAULT_PLACEMENTS,
              "browse": Placement(strategy="personalized", exclude_seen=False)}  # fmt: skip


class Everything:
    """Every item passes (a scan without a category)."""

    def __init__(self, refused: frozenset[int] = frozenset()) -> None:
        self.refused = refused

    def __call__(self, items: np.ndarray) -> np.ndarray:
        return np.array([int(i) not in self.refused for i in items.tolist()], dtype=bool)


def _ordered(factors: np.ndarray, taste: np.ndarray, first: np.ndarray = NONE) -> Ordered:
    norms = np.linalg.norm(factors, axis=1)
    order = NormOrder.of(norms, np.ones(len(factors), bool), np.full(len(factors), "c"))
    return Ordered(order.rows, order.norms, float(np.linalg.norm(taste)), first)


@pytest.fixture
def small_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bands of 8, 16, 32... rows, so that a 300-item catalog has several."""
    monkeypatch.setattr(candidates, "FIRST_BAND", 8)


def test_a_scan_stops_once_no_item_left_can_beat_its_best(small_bands: None) -> None:
    rng = np.random.default_rng(3)
    factors = rng.normal(size=(1_000, 8)) * np.geomspace(10, 0.01, 1_000)[:, None]
    factors = factors.astype(np.float32)
    taste = factors[0] + factors[1]
    scored: list[int] = []

    def score(rows: np.ndarray | None) -> np.ndarray:
        assert rows is not None
        scored.append(len(rows))
        return factors[rows] @ taste

    trained = np.ones(1_000, dtype=bool)
    items, scores = bounded(5, Everything(), trained, score, _ordered(factors, taste))
    exact = np.argsort(-(factors @ taste), kind="stable")[:5]
    assert items.tolist() == exact.tolist()
    np.testing.assert_allclose(scores, (factors @ taste)[exact], rtol=1e-6)
    assert sum(scored) == 8 + 16 + 32 + 64  # of 1,000: the long factors come first

    # the best items refused by the filters: the scan goes on until the bound holds again
    refused = frozenset(exact[:3].tolist())
    scored.clear()
    items, _ = bounded(5, Everything(refused), trained, score, _ordered(factors, taste))
    ranked = [i for i in np.argsort(-(factors @ taste), kind="stable").tolist() if i not in refused]
    assert items.tolist() == ranked[:5]


def test_rows_scored_first_are_scored_once_whatever_their_norm(small_bands: None) -> None:
    factors = np.vstack([np.full((50, 4), 2.0), np.full((50, 4), 0.01)]).astype(np.float32)
    factors += np.random.default_rng(1).normal(scale=1e-3, size=factors.shape).astype(np.float32)
    taste = np.ones(4, dtype=np.float32)
    boost = np.zeros(100)
    boost[97] = 100.0  # what follows a session's items: scored on top of the taste

    def score(rows: np.ndarray | None) -> np.ndarray:
        assert rows is not None
        assert len(np.unique(rows)) == len(rows)
        return factors[rows] @ taste + boost[rows]

    items, _ = bounded(3, Everything(), np.ones(100, bool), score,
                       _ordered(factors, taste, first=np.array([97])))  # fmt: skip
    assert items[0] == 97
    assert 97 not in items[1:]


@pytest.fixture
def recommenders(trained_store: ModelStore) -> tuple[Recommender, Recommender]:
    """The trained shop's recommender scanning by the norm order (as above the
    threshold), and one scoring every item."""
    model = trained_store.load()
    ordered = Recommender(model, PLACEMENTS)
    taste = ordered.taste
    assert taste.norm_order is None  # 300 items: within the threshold
    taste.norm_order = NormOrder.of(taste.item_norms, taste.trained, model.catalog.category)
    return ordered, Recommender(replace(model), PLACEMENTS)


def _asks(recommender: Recommender, count: int = 40) -> list[dict[str, object]]:
    """Sessions, carts and known shoppers' requests, with and without filters."""
    rng = np.random.default_rng(0)
    model = recommender.model
    ids, users = model.items.ids, model.users.ids
    categories = recommender.catalog.index.categories
    asks: list[dict[str, object]] = []
    for i in range(count):
        picked = list(ids[rng.integers(0, len(ids), 5)])
        user = str(users[rng.integers(0, len(users))])
        filters = (
            Filters(category=str(categories[i % len(categories)]))
            if i % 3 == 0
            else (Filters(max_price=30.0, exclude=tuple(picked[:1])) if i % 3 == 1 else Filters())
        )
        asks += [{"recent_items": picked, "filters": filters},
                 {"recent_items": picked[:2], "user_id": user, "filters": filters},
                 {"placement": "cart", "cart_items": picked[:2], "filters": filters},
                 {"placement": "browse", "user_id": user, "filters": filters}]  # fmt: skip
    return asks


def test_a_scan_by_the_norm_order_gives_the_items_of_a_scan_of_every_item(
    recommenders: tuple[Recommender, Recommender], small_bands: None
) -> None:
    ordered, exact = recommenders
    for ask in _asks(exact):
        got = ordered.recommend(n=20, **ask)  # type: ignore[arg-type]
        want = exact.recommend(n=20, **ask)  # type: ignore[arg-type]
        assert [i["item_id"] for i in got.items] == [i["item_id"] for i in want.items], ask
        assert got.strategy == want.strategy
        np.testing.assert_allclose([i["score"] for i in got.items],
                                   [i["score"] for i in want.items], rtol=1e-5)  # fmt: skip


def test_the_norm_order_is_built_above_the_threshold_only(
    recommenders: tuple[Recommender, Recommender],
) -> None:
    _, exact = recommenders
    assert EXACT_SCAN_MAX_ITEMS == 100_000
    assert exact.taste.norm_order is None
    order = NormOrder.of(exact.taste.item_norms, exact.taste.trained, exact.catalog.categories)
    assert np.array_equal(np.sort(order.rows), np.flatnonzero(exact.taste.trained))
    assert np.all(np.diff(order.norms) <= 0)  # falling
    for category in exact.catalog.index.categories.tolist():
        rows, norms = order.within(category)
        in_category = exact.catalog.categories[: len(exact.taste.trained)] == category
        assert np.array_equal(np.sort(rows), np.flatnonzero(exact.taste.trained & in_category))
        assert np.all(np.diff(norms) <= 0)
        np.testing.assert_array_equal(norms, exact.taste.item_norms[rows].astype(np.float32))
    assert len(order.within("Nowhere")[0]) == 0
