"""The taste index: the trained items' factors in clusters, the number of clusters a taste
probes chosen for a measured recall, and the size threshold below which there is none."""

from __future__ import annotations

import numpy as np

from recsvc.training import taste_index


def _factors(items: int, seed: int = 5) -> np.ndarray:
    """Item factors in groups, with norms that differ (as popular items' do)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, 12))
    factors = centers[rng.integers(0, 40, size=items)] + 0.5 * rng.normal(size=(items, 12))
    return (factors * rng.lognormal(0, 0.5, size=(items, 1))).astype(np.float32)


def test_lifting_keeps_every_tastes_ranking_on_the_unit_sphere() -> None:
    factors = _factors(500)
    lifted = taste_index.lifted(factors)
    np.testing.assert_allclose(np.linalg.norm(lifted, axis=1), 1, atol=1e-5)
    taste = np.random.default_rng(1).normal(size=12).astype(np.float32)
    assert np.array_equal(np.argsort(-(factors @ taste), kind="stable"),
                          np.argsort(-(lifted[:, :-1] @ taste), kind="stable"))  # fmt: skip


def test_every_trained_item_is_in_one_cluster_and_untrained_ones_in_none() -> None:
    factors = _factors(12_000)
    trained = np.ones(12_000, dtype=bool)
    trained[::7] = False
    built = taste_index.build(factors, trained, _factors(800, seed=9), seed=3)
    index = built.index
    clusters = len(index.centroids)
    assert clusters == round(np.sqrt(trained.sum()))  # the square root of the items
    assert index.centroids.shape == (clusters, 13)
    assert index.starts[0] == 0
    assert index.starts[-1] == len(index.items)
    assert np.all(np.diff(index.starts) >= 0)
    assert np.array_equal(np.sort(index.items), np.flatnonzero(trained))
    assert 1 <= index.probe <= clusters
    assert built.summary["probe"] == index.probe
    assert built.summary["clusters"] == clusters


def test_the_probe_is_the_fewest_clusters_that_hold_the_wanted_recall() -> None:
    factors = _factors(20_000)
    tastes = _factors(1_000, seed=11)
    built = taste_index.build(factors, np.ones(20_000, dtype=bool), tastes, seed=3)
    index, recall = built.index, built.summary["recall_at_10"]
    assert recall >= taste_index.RECALL

    def held(probe: int) -> float:  # the share of each taste's exact top 10 in its clusters
        found = []
        for taste in tastes:
            best = np.argsort(-(factors @ taste))[:10]
            chosen = np.argsort(-(index.centroids[:, :-1] @ taste))[:probe]
            rows = np.concatenate([index.items[index.starts[c]:index.starts[c + 1]]
                                   for c in chosen])  # fmt: skip
            found.append(np.isin(best, rows).mean())
        return float(np.mean(found))

    assert held(index.probe) == recall
    assert held(index.probe - 1) < taste_index.RECALL  # one fewer would not do


def test_a_catalog_at_the_threshold_has_no_index_and_one_above_has() -> None:
    factors = _factors(3_000)
    popularity = np.ones(3_000, dtype=np.float32)
    users = _factors(200, seed=2)
    assert taste_index.for_catalog(factors, popularity, users, exact_max_items=3_000,
                                   seed=1) is None  # fmt: skip
    popularity[:10] = 0  # items nobody touched have no place in it
    built = taste_index.for_catalog(factors, popularity, users, exact_max_items=2_999, seed=1)
    assert built is not None
    assert np.array_equal(np.sort(built.index.items), np.arange(10, 3_000))
