"""A shopper's taste: the numpy fold-in, and next items on the catalog's scale."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsvc.artifact import ModelStore
from recsvc.serving.recommender import Recommendations, Recommender


@pytest.fixture(scope="module")
def recommender(trained_store: ModelStore) -> Recommender:
    return Recommender(trained_store.load())


def ids(result: Recommendations) -> list[str]:
    return [item["item_id"] for item in result.items]


def test_session_fold_in_matches_implicit_and_reports_unknown_ids(
    recommender: Recommender,
) -> None:
    recent = ["p3", "p5", "no-such-item", "p8"]
    result = recommender.recommend(recent_items=recent, n=10)
    assert result.strategy == "session"
    assert result.ignored_items == ["no-such-item"]
    # the numpy fold-in is implicit's recalculate_user
    import implicit.cpu.als

    model = recommender.model
    reference = implicit.cpu.als.AlternatingLeastSquares(
        factors=model.item_factors.shape[1], regularization=recommender.taste.regularization,
        alpha=recommender.taste.alpha, num_threads=1,
    )  # fmt: skip
    reference.item_factors = np.array(model.item_factors)
    cols = model.items.index(["p3", "p5", "p8"])
    row = sp.csr_matrix((np.full(3, recommender.taste.view_weight, np.float32),
                         (np.zeros(3, int), cols)), shape=(1, len(model.items)))  # fmt: skip
    expected = reference.recalculate_user(0, row)
    ours = recommender.taste.fold_in(cols, recommender.taste.view_weight, None)
    assert np.allclose(ours, expected, atol=1e-4)


def test_a_sessions_scores_rank_as_the_standardized_blend_of_training(
    trained_store: ModelStore,
) -> None:
    """The serving shortcut (spreads from the gram matrix and the few next-items
    scores) is an affine map of z(fold-in scores) + weight x z(next-items scores)."""
    recommender = Recommender(trained_store.load())
    assert recommender.taste.next_weight > 0
    cols = recommender.model.items.index(["p3", "p5", "p8"])
    taste = recommender.taste.fold_in(cols, recommender.taste.view_weight, None)
    taste_scores = (recommender.taste.item_factors @ taste).astype(np.float64)
    items, values = recommender.taste.next_scores(cols[::-1])
    following = np.zeros_like(taste_scores)
    following[items] = values

    def z(scores: np.ndarray) -> np.ndarray:
        return (scores - scores.mean()) / scores.std()

    expected = z(taste_scores) + recommender.taste.next_weight * z(following)
    shortcut = recommender.taste.session_scores(taste, cols[::-1]).astype(np.float64)
    assert z(shortcut) == pytest.approx(z(expected), abs=1e-4)


def test_a_product_page_adds_what_users_touched_after_the_item(
    trained_store: ModelStore,
) -> None:
    recommender = Recommender(trained_store.load())
    model = recommender.model
    viewed = int(model.items.index(["p3"])[0])
    items, values = recommender.taste.next_scores(np.array([viewed]))
    assert len(items)  # p3 has followers in the small shop
    following = np.zeros(len(recommender.taste.unit_factors))
    following[items] = values
    following[viewed] = 0
    cosine = recommender.taste.unit_factors @ recommender.taste.unit_factors[viewed]

    def z(scores: np.ndarray) -> np.ndarray:
        return (scores - scores.mean()) / scores.std()

    # the candidates rank as z(cosine) + weight x z(next items) over the catalog does
    expected = z(cosine) + recommender.taste.next_weight * z(following)
    neighbours = recommender.parts.similar_items[viewed]
    candidates, scores = recommender.taste.with_followers(
        viewed, neighbours, recommender.parts.similar_scores[viewed]
    )
    assert set(candidates.tolist()) == set(neighbours[neighbours >= 0].tolist()) | (
        set(items.tolist()) - {viewed}
    )
    assert z(scores) == pytest.approx(z(expected[candidates]), abs=1e-4)
    assert np.all(np.diff(scores) <= 0)
    # served: the product placement's list starts with the best of them that may be shown
    result = recommender.recommend(placement="product", item_id="p3", n=5)
    assert result.strategy == "similar"
    allowed = [i for i in candidates.tolist() if recommender.catalog.available[i]]
    assert ids(result) == [str(model.items.ids[i]) for i in allowed[:5]]
