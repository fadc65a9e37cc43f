from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsvc.training.models import AlsModel, BoughtTogetherModel, PopularityModel
from recsvc.training.models.base import Keys


def checkerboard(users: int = 40, items: int = 20) -> sp.csr_matrix:
    """Even users like even items, odd users odd items; each user misses a few."""
    rng = np.random.default_rng(0)
    dense = np.zeros((users, items), dtype=np.float32)
    for u in range(users):
        liked = np.arange(u % 2, items, 2)
        dense[u, rng.choice(liked, size=len(liked) - 3, replace=False)] = 1
    return sp.csr_matrix(dense)


def test_als_recommends_the_missing_items_of_the_users_half() -> None:
    matrix = checkerboard()  # rank 2: two factors capture it
    model = AlsModel.fit(matrix, factors=2, regularization=0.01, alpha=1.0, iterations=10,
                         seed=1)  # fmt: skip
    users = np.arange(matrix.shape[0])
    top = model.recommend(users, matrix, 3)
    assert top.shape == (40, 3)
    for u in users:
        same_half = np.arange(u % 2, matrix.shape[1], 2)
        missing = set(same_half) - set(matrix[u].indices)
        assert set(top[u]) == missing


def test_als_fit_is_reproducible_with_its_seed() -> None:
    matrix = checkerboard()
    args = {"factors": 4, "regularization": 0.1, "alpha": 2.0, "iterations": 5}
    one = AlsModel.fit(matrix, seed=3, **args)  # type: ignore[arg-type]
    two = AlsModel.fit(matrix, seed=3, **args)  # type: ignore[arg-type]
    assert np.array_equal(one.item_factors, two.item_factors)
    assert one.implicit.num_threads == 1  # fitted with all cores, ranks with one


def test_bought_together_finds_co_bought_items() -> None:
    # items 0 and 1 are always bought together, 2 and 3 too
    bought = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]],
                                    dtype=np.float32))  # fmt: skip
    model = BoughtTogetherModel.fit(bought, neighbours=3)
    similarity = model.similarity.toarray()
    assert similarity.diagonal().tolist() == [0, 0, 0, 0]
    assert similarity[0].argmax() == 1
    assert similarity[2].argmax() == 3
    basket = sp.csr_matrix(np.array([[1, 0, 0, 0]], dtype=np.float32))
    assert model.recommend(np.array([0]), basket, 1).tolist() == [[1]]


def test_popularity_skips_what_the_user_has() -> None:
    matrix = sp.csr_matrix(np.array([[5, 1, 0, 0], [4, 0, 2, 0], [0, 0, 0, 1]], dtype=np.float32))
    model = PopularityModel.fit(matrix)
    assert model.counts.tolist() == [9, 1, 2, 1]
    assert model.recommend(np.arange(3), matrix, 2).tolist() == [[2, 3], [1, 3], [0, 2]]
    assert model.recommend(np.array([0]), matrix[[0]], 3).tolist() == [[2, 3, -1]]


def test_precomputed_candidates_skip_touched_items_and_pad() -> None:
    matrix = sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [0, 1, 0, 1, 1], [1, 0, 0, 0, 1]],
                                    dtype=np.float32))  # fmt: skip
    model = AlsModel.fit(matrix, factors=2, regularization=0.1, alpha=1.0, iterations=5, seed=1)
    items, scores = model.top_items(matrix, 4)
    assert items.shape == (3, 4)
    assert sorted(items[0][:2]) == [3, 4]  # the two items user 0 has not touched...
    assert items[0][2:].tolist() == [-1, -1]  # ...and nothing else
    assert scores[0][2:].tolist() == [0, 0]
    assert np.all(np.diff(scores[2][:3]) <= 0)  # best first
    similar = model.similar_items(3).items
    assert similar.shape == (5, 3)
    assert all(row not in similar[row] for row in range(5))


def test_item_item_models_and_the_blend_find_the_users_half() -> None:
    from recsvc.training.models import BlendModel, EaseModel, ItemKnnModel

    matrix = checkerboard()
    als = AlsModel.fit(matrix, factors=2, regularization=0.01, alpha=1.0, iterations=10,
                       seed=1)  # fmt: skip
    rankers = [
        ItemKnnModel.fit(matrix, neighbours=10, weighting="cosine"),
        ItemKnnModel.fit(matrix, neighbours=10, weighting="bm25"),
        EaseModel.fit(matrix, regularization=1.0),
        BlendModel([(als, 1.0), (ItemKnnModel.fit(matrix, neighbours=10), 0.5)]),
    ]
    users = np.arange(matrix.shape[0])
    for ranker in rankers:
        top = ranker.recommend(users, matrix, 3)
        for u in users:
            missing = set(np.arange(u % 2, matrix.shape[1], 2)) - set(matrix[u].indices)
            assert set(top[u]) == missing, type(ranker).__name__
        items, scores = ranker.top_items(matrix, 5)
        assert items.shape == (40, 5)
        assert np.all(np.diff(scores[:, :3], axis=1) <= 0)


def test_candidates_for_some_users_equal_those_of_all() -> None:
    from recsvc.training.models import BlendModel, ItemKnnModel

    matrix = checkerboard()
    als = AlsModel.fit(matrix, factors=2, regularization=0.01, alpha=1.0, iterations=5,
                       seed=1)  # fmt: skip
    some = np.array([3, 17, 0])
    for ranker in (als, BlendModel([(als, 1.0), (ItemKnnModel.fit(matrix, neighbours=10), 0.5)])):
        every_items, every_scores = ranker.top_items(matrix, 4)
        some_items, some_scores = ranker.top_items(matrix, 4, users=some)
        assert np.array_equal(some_items, every_items[some])
        assert np.allclose(some_scores, every_scores[some])


def test_next_items_on_a_hand_computed_case() -> None:
    """Users 0: a b c, 1: a c (columns a=0, b=1, c=2), window 2."""
    from recsvc.training.models import NextItemsModel

    rows, cols = np.array([0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 2])
    model = NextItemsModel.fit(
        rows, cols, shape=(2, 3), window=2, recent=2, decay=0.5, neighbours=5
    )
    # a: b at distance 1, c at 2 (user 0: 1/2) and 1 (user 1: 1) -> 1 : 1.5, normalized
    # b: c at distance 1; c: nothing follows it
    assert model.following.toarray() == pytest.approx(
        np.array([[0, 0.4, 0.6], [0, 0, 1], [0, 0, 0]])
    )
    # user 0's latest two: c (weight 1), b (0.5); user 1's: c (1), a (0.5)
    assert model.recent.toarray() == pytest.approx(np.array([[0, 0.5, 1], [0.5, 0, 1]]))
    assert model.scores(np.array([0, 1]), sp.csr_matrix((2, 3))) == pytest.approx(
        np.array([[0, 0, 0.5], [0, 0.2, 0.3]])
    )
    # a repeated item does not follow itself
    again = NextItemsModel.fit(np.zeros(3, int), np.array([0, 0, 1]), shape=(1, 2), window=1,
                               recent=1, decay=1.0, neighbours=5)  # fmt: skip
    assert again.following.toarray() == pytest.approx(np.array([[0, 1], [0, 0]]))


def test_a_blend_sums_standardized_scores_with_weights() -> None:
    from recsvc.training.models import BlendModel

    class Fixed:
        def __init__(self, scores: list[float]) -> None:
            self.values = np.array([scores], dtype=np.float32)

        def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
            return self.values

    one, two = Fixed([1, 2, 3]), Fixed([30, 10, 20])
    z = np.sqrt(1.5)  # both have spread sqrt(2/3)
    blend = BlendModel([(one, 1.0), (two, 0.5)])
    expected = np.array([[-1, 0, 1]]) * z + 0.5 * np.array([[1, -1, 0]]) * z
    assert blend.scores(np.array([0]), sp.csr_matrix((1, 3))) == pytest.approx(expected)


def test_next_items_keep_each_items_most_frequent_followers() -> None:
    from recsvc.training.models import NextItemsModel

    # item 0 is followed by 1 three times, by 2 twice, by 3 once
    cols = np.array([0, 1, 0, 1, 0, 1, 0, 2, 0, 2, 0, 3])
    rows = np.repeat(np.arange(6), 2)
    model = NextItemsModel.fit(rows, cols, shape=(6, 4), window=1, recent=1, decay=1.0,
                               neighbours=2)  # fmt: skip
    assert model.following[0].toarray() == pytest.approx(np.array([[0, 0.5, 1 / 3, 0]]))


def test_next_items_counts_every_distance_and_keeps_the_strongest_ties_by_column() -> None:
    """The followers, summed on several threads, against a loop over every pair, and
    the same as the counts of each user's first events plus the pairs after them; each
    item's strongest, against sorting each row by (weight falling, column)."""
    from recsvc.training.models.next_items import _strongest, follower_counts

    rng = np.random.default_rng(7)
    rows = np.sort(rng.integers(0, 40, size=600))
    cols = rng.integers(0, 12, size=600)
    window, items = 7, 12
    expected = np.zeros((items, items))
    for p in range(len(rows)):
        for q in range(p + 1, min(p + window, len(rows) - 1) + 1):
            if rows[q] == rows[p] and cols[q] != cols[p]:
                expected[cols[p], cols[q]] += 1 / (q - p)
    following = follower_counts(rows, cols, items, window)
    assert following.toarray() == pytest.approx(expected, rel=1e-5)
    # a holdout's counts (each user's first events, some none, some all), then the rest
    counted = rng.integers(0, 25, size=40)
    place = np.arange(len(rows)) - np.searchsorted(rows, rows)
    first = place < counted[rows]
    assert 0 < first.sum() < len(rows)
    earlier = follower_counts(rows[first], cols[first], items, window)
    later = follower_counts(rows, cols, items, window, counted=counted)
    assert later.nnz > 0
    assert (earlier + later).toarray() == pytest.approx(expected, rel=1e-5)
    # ties: weights of a few values, so many rows hold equal weights at the cut
    ties = sp.csr_matrix(np.round(expected * 2) / 2, dtype=np.float32)
    for k in (1, 3, 5):
        kept = _strongest(ties, k).toarray()
        for item, row in enumerate(ties.toarray()):
            columns = np.flatnonzero(row)
            best = columns[np.lexsort((columns, -row[columns]))][:k]
            assert np.flatnonzero(kept[item]).tolist() == sorted(best.tolist())
            assert kept[item][best] == pytest.approx(row[best])


def test_popularity_never_gives_a_user_another_users_items_back() -> None:
    """Users asked for out of order on a matrix of exactly that many rows: each list
    leaves out the user's own items (rows are always the users' own)."""
    matrix = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))
    model = PopularityModel(np.array([3.0, 2.0, 1.0], dtype=np.float32))
    top = model.recommend(np.array([1, 0]), matrix, 2).tolist()
    assert top == [[0, 2], [1, 2]]  # user 1 has item 1, user 0 has item 0


def test_every_model_of_the_registry_fits_and_ranks_unseen_items() -> None:
    from recsvc.config import TrainingConfig
    from recsvc.data.ids import IdMap
    from recsvc.training.matrix import Interactions
    from recsvc.training.models import MODELS

    matrix = checkerboard()
    train = Interactions(users=IdMap(np.array([f"u{u:03d}" for u in range(matrix.shape[0])])),
                         items=IdMap(np.array([f"i{i:03d}" for i in range(matrix.shape[1])])),
                         matrix=matrix)  # fmt: skip
    config = TrainingConfig(als_factors=2, als_iterations=5, knn_neighbours=10)
    users = np.arange(matrix.shape[0])
    for name, kind in MODELS.items():
        top = kind.fit(train, None, config, None).recommend(users, matrix, 3)  # type: ignore[arg-type]
        assert top.shape == (len(users), 3), name
        for u in users:  # never an item the user already has
            assert not set(top[u]) & set(matrix[u].indices), name


def test_an_unknown_model_name_lists_the_valid_ones() -> None:
    from recsvc.errors import ConfigError
    from recsvc.training.models import MODELS, model_named

    with pytest.raises(
        ConfigError, match=r"unknown model 'alss'.*als, itemknn, ease, blend, popular"
    ):
        model_named("alss")
    assert list(MODELS) == ["als", "itemknn", "ease", "blend", "popular"]


def test_sparse_ease_is_exact_with_every_neighbour_and_sparse_below() -> None:
    from recsvc.training.models import EaseModel, SparseEaseModel

    matrix = checkerboard()
    exact = EaseModel.fit(matrix, regularization=2.0).weights
    whole = SparseEaseModel.fit(matrix, regularization=2.0, neighbours=matrix.shape[1] - 1)
    assert np.allclose(whole.weights.toarray(), exact, atol=1e-5)
    few = SparseEaseModel.fit(matrix, regularization=2.0, neighbours=3)
    assert np.diff(few.weights.tocsc().indptr).max() <= 3  # each item keeps 3 weights
    users = np.arange(matrix.shape[0])
    top = few.recommend(users, matrix, 3)
    for u in users:  # the checkerboard: each user's missing items of their half
        assert all(i % 2 == u % 2 for i in top[u])


def test_ease_above_its_catalog_limit_is_sparse() -> None:
    from recsvc.config import TrainingConfig
    from recsvc.data.ids import IdMap
    from recsvc.training.matrix import Interactions
    from recsvc.training.models import MODELS, EaseModel, SparseEaseModel

    matrix = checkerboard()
    train = Interactions(users=IdMap(np.array([f"u{u:03d}" for u in range(matrix.shape[0])])),
                         items=IdMap(np.array([f"i{i:03d}" for i in range(matrix.shape[1])])),
                         matrix=matrix)  # fmt: skip
    small = TrainingConfig(ease_max_items=10, ease_neighbours=4)
    assert isinstance(MODELS["ease"].fit(train, None, small, None), SparseEaseModel)  # type: ignore[arg-type]
    assert isinstance(MODELS["ease"].fit(train, None, TrainingConfig(), None), EaseModel)  # type: ignore[arg-type]


@pytest.mark.parametrize("first_band", [2_048, 16])
def test_best_items_from_split_scores_equal_the_dense_ones(
    first_band: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rankers whose scores split (low rank + sparse + a constant per user) rank without
    dense scores on a large catalog (here: any); the lists and scores equal those of the
    dense path (``_top``). With bands of 16 items, many shoppers stop before the last,
    so some of the items their sparse part reaches are scored past the bands."""
    from recsvc.training.models import (
        BlendModel,
        ItemKnnModel,
        NextItemsModel,
        SparseEaseModel,
        base,
    )

    rng = np.random.default_rng(3)
    users, items = 300, 500
    taste = rng.random((users, 4)) @ rng.random((4, items))
    rows, cols = np.nonzero(rng.random((users, items)) < taste / taste.max() * 0.08)
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                           shape=(users, items))  # fmt: skip
    als = AlsModel.fit(matrix, factors=8, regularization=0.1, alpha=1.0, iterations=5,
                       seed=1)  # fmt: skip
    following = NextItemsModel.fit(rows, cols, shape=(users, items), window=2, recent=3,
                                   decay=0.5, neighbours=20)  # fmt: skip
    knn = ItemKnnModel.fit(matrix, neighbours=20)
    popular = PopularityModel.fit(matrix)
    rankers = {
        "als": als,
        "knn": knn,
        "sparse EASE": SparseEaseModel.fit(matrix, regularization=10.0, neighbours=20),
        "als + next + popular": BlendModel([(als, 1.0), (following, 0.5), (popular, 0.3)]),
        "knn + next": BlendModel([(knn, 1.0), (following, 0.5)]),
        "als + knn": BlendModel([(als, 1.0), (knn, 0.3)]),
        # a blend in a blend (the blend model with next items): parts with both halves
        "(als + knn) + next": BlendModel(
            [(BlendModel([(als, 1.0), (knn, 0.3)]), 1.0), (following, 0.5)]
        ),
    }
    some = np.arange(0, users, 3)
    # below the catalog size, the dense path itself
    for name, ranker in rankers.items():
        items_, scores_ = ranker.top_items(matrix, 30, users=some)
        dense_items, dense_scores = ranker._top(some, sp.csr_matrix(matrix[some]), 30)
        assert np.array_equal(items_, dense_items), name
        assert np.array_equal(scores_, dense_scores), name
    monkeypatch.setattr(base, "SPLIT_MIN_ITEMS", items)
    monkeypatch.setattr(base, "SPARSE_SPLIT_MIN_ITEMS", items)
    monkeypatch.setattr(base, "FIRST_BAND", first_band)
    for name, ranker in rankers.items():
        assert ranker.keys is not None, name
        split_items, split_scores = ranker.top_items(matrix, 30, users=some)
        dense_items, dense_scores = ranker._top(some, sp.csr_matrix(matrix[some]), 30)
        assert split_scores == pytest.approx(dense_scores, abs=1e-4), name
        for r, user in enumerate(some):
            split = dict(zip(split_items[r].tolist(), split_scores[r].tolist(), strict=True))
            dense = dict(zip(dense_items[r].tolist(), dense_scores[r].tolist(), strict=True))
            for item in split.keys() & dense.keys():
                assert split[item] == pytest.approx(dense[item], abs=1e-4), name
            # only ties at the cut, within float error, may differ
            for item in split.keys() ^ dense.keys():
                score = split.get(item, dense.get(item))
                assert score == pytest.approx(dense_scores[r, -1], abs=1e-4), name
            assert not split.keys() & set(matrix[user].indices.tolist()), name


@pytest.mark.parametrize("split_from", [50_000, 0])
def test_excluded_items_are_left_out_as_a_filtered_wider_list_would(
    split_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items left out for everyone (out of stock, in evaluation): each user's list is
    the list without them, filtered from a list long enough to hold them all (from
    dense scores, and from split scores)."""
    from recsvc.training.models import BlendModel, EaseModel, ItemKnnModel, base

    monkeypatch.setattr(base, "SPLIT_MIN_ITEMS", split_from)
    monkeypatch.setattr(base, "SPARSE_SPLIT_MIN_ITEMS", split_from)

    matrix = checkerboard(items=30)
    als = AlsModel.fit(matrix, factors=3, regularization=0.01, alpha=1.0, iterations=5,
                       seed=1)  # fmt: skip
    knn = ItemKnnModel.fit(matrix, neighbours=10)
    exclude = np.array([1, 4, 5, 12])
    users = np.arange(matrix.shape[0])
    for ranker in (als, knn, EaseModel.fit(matrix, regularization=1.0),
                   BlendModel([(als, 1.0), (knn, 0.5)]), PopularityModel.fit(matrix),
                   BoughtTogetherModel.fit(matrix, neighbours=10)):  # fmt: skip
        kept, kept_scores = ranker.top_items(matrix, 4, users=users, exclude=exclude)
        wider, wider_scores = ranker.top_items(matrix, 4 + len(exclude), users=users)
        for row, items in enumerate(wider):
            left = [(item, score) for item, score in zip(items, wider_scores[row], strict=True)
                    if item >= 0 and item not in exclude][:4]  # fmt: skip
            # items scored 0 tie (the other half's, for item-item models): any may come
            expected = [item for item, score in left if score != 0]
            assert kept[row][kept_scores[row] != 0].tolist() == expected, type(ranker).__name__
            assert not set(kept[row]) & set(exclude)


def test_ease_equals_its_closed_form_solved_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """EASE's weights, -P / diag(P) with P = (X^T X + lambda I)^-1 and a zero diagonal,
    though the gram matrix is built and inverted a block at a time in its own memory."""
    from recsvc.training.models import EaseModel, ease

    monkeypatch.setattr(ease, "BLOCK", 64)  # several blocks, a ragged last one
    matrix = sp.random(500, 300, density=0.05, random_state=2, format="csr")
    binary = (matrix > 0).astype(np.float64)
    gram = (binary.T @ binary).toarray() + 5.0 * np.eye(300)
    inverse = np.linalg.inv(gram)
    expected = -inverse / np.diag(inverse)
    np.fill_diagonal(expected, 0)
    assert EaseModel.fit(matrix, regularization=5.0).weights == pytest.approx(expected, abs=1e-6)
    # in single precision (a catalog from SINGLE_MIN_ITEMS): the same weights within
    # float32's error, and the same best items
    monkeypatch.setattr(ease, "SINGLE_MIN_ITEMS", 300)
    single = EaseModel.fit(matrix, regularization=5.0)
    assert single.weights == pytest.approx(expected, abs=1e-5)
    monkeypatch.setattr(ease, "SINGLE_MIN_ITEMS", 301)
    double = EaseModel.fit(matrix, regularization=5.0)
    assert np.array_equal(single.top_items(matrix, 10)[0], double.top_items(matrix, 10)[0])


def test_rankers_with_factors_split_from_a_smaller_catalog_than_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ALS and its blends rank from split scores from SPLIT_MIN_ITEMS; sparse rankers,
    and sparse ones with popularity (a low-rank part of rank 1), from
    SPARSE_SPLIT_MIN_ITEMS."""
    from recsvc.training.models import BlendModel, ItemKnnModel, base

    matrix = checkerboard(items=30)
    als = AlsModel.fit(matrix, factors=3, regularization=0.01, alpha=1.0, iterations=5,
                       seed=1)  # fmt: skip
    knn = ItemKnnModel.fit(matrix, neighbours=10)
    popular = PopularityModel.fit(matrix)
    calls: list[int] = []
    split = base._top_split
    monkeypatch.setattr(base, "_top_split", lambda *a: calls.append(1) or split(*a))
    monkeypatch.setattr(base, "SPLIT_MIN_ITEMS", 30)  # the catalog: split from here
    monkeypatch.setattr(base, "SPARSE_SPLIT_MIN_ITEMS", 31)
    blend_keys = BlendModel([(als, 1.0), (popular, 0.3)]).keys
    assert blend_keys is not None
    assert blend_keys.groups == (3, 1)  # bounded part by part when ranked in bands
    for name, ranker, splits in (
        ("als", als, True),
        ("als + popular", BlendModel([(als, 1.0), (popular, 0.3)]), True),
        ("knn", knn, False),
        ("knn + popular", BlendModel([(knn, 1.0), (popular, 0.3)]), False),
    ):
        calls.clear()
        ranker.top_items(matrix, 5)
        assert bool(calls) is splits, name


def test_the_low_rank_parts_best_by_bands_of_norm_are_those_of_every_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large catalog's low-rank best items, scored in bands of falling norm until no
    item left can beat the k-th best, against scoring every item: the same items and
    scores (random scores: no ties), the filtered and excluded never, -FLT_MAX padding
    where fewer pass; with bands of 1, 7 and 64 items, the queries of a band scored
    all at once or a few at a time (``BAND_CELLS``); for factors alone, and for a
    blend's keys (factors beside counts of another scale: bounded part by part)."""
    from recsvc.training.models import base

    rng = np.random.default_rng(3)
    items, users, rank = 500, 40, 6
    values = (rng.normal(size=(items, rank)) * rng.gamma(1.0, size=(items, 1))).astype(np.float32)
    values[rng.random(items) < 0.05] = 0  # untouched items' keys
    query = rng.normal(size=(users, rank)).astype(np.float32)
    mask = rng.random((users, items)) < 0.2
    mask[0] = True  # the first query may get nothing
    filtered = sp.csr_matrix(mask.astype(np.float32))
    exclude = rng.choice(items, size=30, replace=False)
    # a blend's keys: factors beside popularity's counts, whose scale is another's
    counts = rng.gamma(0.5, 300.0, size=(items, 1)).astype(np.float32)
    blend = np.hstack([values, counts])
    blend_query = np.hstack([query, rng.uniform(0, 0.02, size=(users, 1))]).astype(np.float32)
    for keys, queries in ((base.Keys(values), query),
                          (base.Keys(blend, groups=(rank, 0, 1)), blend_query)):  # fmt: skip
        scores = queries @ keys.values.T
        scores[filtered.nonzero()] = -np.inf
        scores[:, exclude] = -np.inf
        _check_low_rank_top(monkeypatch, keys, queries, filtered, exclude, scores)


def _check_low_rank_top(
    monkeypatch: pytest.MonkeyPatch,
    keys: Keys,
    query: np.ndarray,
    filtered: sp.csr_matrix,
    exclude: np.ndarray,
    scores: np.ndarray,
) -> None:
    from recsvc.training.models import base

    floor = -np.finfo(np.float32).max
    users = len(query)
    for band, cells in ((1, 10_000), (7, 10_000), (64, 10_000), (64, 200)):
        monkeypatch.setattr(base, "FIRST_BAND", band)
        monkeypatch.setattr(base, "BAND_CELLS", cells)
        for k in (1, 10, 100):
            ids, found, _ = base.low_rank_top(keys, query, k, filtered, exclude)
            assert ids.shape == found.shape == (users, k)
            assert np.all(found[0] == floor)  # nothing passes for the first
            for user in range(1, users):
                expected = np.argsort(-scores[user], kind="stable")[:k]
                assert ids[user].tolist() == expected.tolist(), (band, k, user)
                assert found[user] == pytest.approx(scores[user][expected], rel=1e-5)
    # with values added to some items' scores (a sparse part's): each list is the best
    # of the items scanned (those placed before the query's reach in the norm order),
    # added values included, and no item past the reach that nothing is
    # added to could have entered it (bands of 64: some queries stop early)
    rng = np.random.default_rng(5)
    items = scores.shape[1]
    added = sp.random(users, items, density=0.05, random_state=6, format="csr",
                      data_rvs=lambda n: rng.gamma(1.0, 2.0, n), dtype=np.float32)  # fmt: skip
    place = keys.by_norm[2]
    whole = np.where(np.isfinite(scores), scores + added.toarray(), -np.inf)
    for k in (1, 10):
        ids, found, reach = base.low_rank_top(keys, query, k, filtered, exclude, added=added)
        assert np.any(reach < items)  # some queries stop early: the case checked
        for user in range(1, users):
            scanned = np.where(place < reach[user], whole[user], -np.inf)
            expected = np.argsort(-scanned, kind="stable")[:k]
            assert ids[user].tolist() == expected.tolist(), (k, user)
            assert found[user] == pytest.approx(scanned[expected], rel=1e-5)
            past = (place >= reach[user]) & (added[user].toarray().ravel() == 0)
            assert np.all(scores[user][past] <= found[user][-1] + 1e-5), (k, user)


# up to k blocks (a partition of every cell), and more (of the k blocks of smallest
# minimum): blocks of 2 at 250 columns, of 4 at 3,200 and 3,217 (the last slice as long
# as the others, and short), of 7 at 12,649 and 12,650
@pytest.mark.parametrize("count", [40, 250, 3_200, 3_217, 12_649, 12_650])
def test_the_smallest_columns_through_block_minima_are_those_of_a_full_sort(count: int) -> None:
    from recsvc.training.models import base

    rng = np.random.default_rng(count)
    k = 100
    cost = -(rng.exponential(size=(60, count)) ** 3).astype(np.float32)
    cost[:, rng.integers(0, count, 30)] = np.inf  # the users' own items
    cost[0, : max(count - 50, 0)] = np.inf  # fewer than k to rank
    cost[1, :] = np.round(cost[1, :])  # ties
    cost[2, -1] = -1e9  # the best in the short last slice
    k = min(k, count)
    found = base.smallest(cost, k)
    expected = np.argsort(cost, axis=1, kind="stable")[:, :k]
    # the same values in the same order; the same columns where no value ties (the
    # filtered-out items all cost inf)
    values = np.take_along_axis(cost, expected, axis=1)
    assert np.array_equal(np.take_along_axis(cost, found, axis=1), values)
    finite = np.isfinite(values)
    assert np.array_equal(np.where(finite, found, -1)[3:], np.where(finite, expected, -1)[3:])
    assert found[2, 0] == count - 1
    assert all(len(set(row)) == k for row in found.tolist())
