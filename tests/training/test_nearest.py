"""Similar items through an HNSW index against the exact neighbours, and the size
threshold that switches between them."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsvc.training import nearest
from recsvc.training.models.als import AlsModel


def _als(items: int, users: int = 400, seed: int = 3) -> AlsModel:
    """ALS factors of a random shop whose users each like one of 20 groups of items."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 20, size=users)
    rows, cols = [], []
    for user in range(users):
        liked = np.flatnonzero(np.arange(items) % 20 == group[user])
        picks = rng.choice(liked, size=min(8, len(liked)), replace=False)
        rows += [user] * len(picks)
        cols += picks.tolist()
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(users, items))
    return AlsModel.fit(matrix, factors=8, regularization=0.1, alpha=1.0, iterations=8, seed=1)


def _exact_sets(factors: np.ndarray, k: int) -> list[set[int]]:
    unit = nearest.unit_rows(factors)
    scores = unit @ unit.T
    np.fill_diagonal(scores, -np.inf)
    return [set(row) for row in np.argsort(-scores, axis=1, kind="stable")[:, :k].tolist()]


def test_an_index_searched_through_finds_the_exact_neighbours() -> None:
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(300, 8)).astype(np.float32)  # no ties
    found = nearest.approximate(factors, 10, seed=1, ef=300)  # searches every node
    assert found.method == "hnsw"
    assert found.items.shape == (300, 10)
    assert [set(row) for row in found.items.tolist()] == _exact_sets(factors, 10)
    assert found.recall == 1.0
    assert all(row not in found.items[row] for row in range(300))  # never itself
    assert np.all(np.diff(found.scores, axis=1) <= 1e-6)  # best first
    unit = nearest.unit_rows(factors)
    expected = np.einsum("if,ikf->ik", unit, unit[found.items])
    np.testing.assert_allclose(found.scores, expected, atol=1e-5)  # cosines


def test_the_index_recall_is_measured_and_high_where_exact_is_affordable() -> None:
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(60, 16))
    factors = centers[rng.integers(0, 60, size=4_000)] + 0.4 * rng.normal(size=(4_000, 16))
    found = nearest.approximate(factors.astype(np.float32), 20, seed=1)
    unit = nearest.unit_rows(factors)
    scores = unit @ unit.T
    np.fill_diagonal(scores, -np.inf)
    kth = -np.partition(-scores, 19, axis=1)[:, 19]  # the exact 20th best of every item
    got = np.take_along_axis(scores, found.items, axis=1)
    full = float(np.mean(got >= kth[:, None] - 1e-5))  # over every item, ties as hits
    assert full >= 0.95
    assert found.recall is not None
    assert abs(found.recall - full) < 0.02


def test_sampled_recall_counts_the_exact_neighbours_found() -> None:
    rng = np.random.default_rng(2)
    unit = nearest.unit_rows(rng.normal(size=(200, 6)))
    exact = np.array([sorted(s) for s in _exact_sets(unit, 4)])
    assert nearest.sampled_recall(unit, exact, seed=0) == 1.0
    half = exact.copy()
    for i, row in enumerate(half):  # two of four replaced by the farthest items
        far = np.argsort(unit @ unit[i])[:2]
        row[2:] = far
    assert nearest.sampled_recall(unit, half, seed=0) == 0.5


def test_the_threshold_switches_from_exact_to_the_index() -> None:
    als = _als(items=200)
    exact = als.similar_items(5)
    assert exact.method == "exact"
    assert exact.recall is None
    assert als.similar_items(5, exact_max_items=200).method == "exact"  # at the threshold
    indexed = als.similar_items(5, exact_max_items=199, seed=1)
    assert indexed.method == "hnsw"
    assert indexed.recall is not None
    assert indexed.recall >= 0.95
    assert indexed.items.shape == exact.items.shape
    # a catalog too small for a useful index stays exact whatever the threshold
    assert als.similar_items(60, exact_max_items=10).method == "exact"
    # the same factors and seed: the same neighbours (the graph is built on one thread)
    again = als.similar_items(5, exact_max_items=199, seed=1)
    assert np.array_equal(again.items, indexed.items)


def test_building_and_searching_in_batches_changes_nothing() -> None:
    rng = np.random.default_rng(4)
    factors = rng.normal(size=(500, 8)).astype(np.float32)
    whole = nearest.approximate(factors, 10, seed=2)
    batched = nearest.approximate(factors, 10, seed=2, batch=64)
    assert np.array_equal(whole.items, batched.items)
    np.testing.assert_array_equal(whole.scores, batched.scores)
