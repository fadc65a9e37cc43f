"""Candidate sources: each gives its stages only when it applies to the moment."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsvc.serving.placements import DEFAULT_PLACEMENTS
from recsvc.serving.sources import SOURCES, Moment, Parts, bought_with

NONE = np.array([], dtype=np.int64)
Make = Callable[..., Moment]


def names(parts: Parts, source: str, at: Moment) -> list[str]:
    return [name for name, _ in SOURCES[source](parts, at)]


def test_which_sources_apply_to_which_moments(parts: Parts, moment: Make) -> None:
    anonymous, known = moment(), moment(user=0)
    session = moment(user=0, session=np.array([1, 2]), latest=np.array([2, 1]))
    cart = moment(cart=np.array([3]))
    # precomputed candidates, then the catalog scored by the taste
    assert names(parts, "taste", known) == ["personalized", "personalized"]
    assert names(parts, "taste", anonymous) == []
    assert names(parts, "taste", session) == []  # a session re-ranks the taste
    # placements that show seen items cannot use candidates that leave them out
    showing_seen = moment(user=0, placement=DEFAULT_PLACEMENTS["popular"])
    assert names(parts, "taste", showing_seen) == ["personalized"]
    assert names(parts, "session", session) == ["session"]
    assert names(parts, "session", known) == []
    assert names(parts, "bought-together", cart) == ["cart"]
    assert names(parts, "cart-taste", cart) == ["cart"]
    assert names(parts, "bought-together", anonymous) == []
    assert names(parts, "popular", anonymous) == ["popular"]
    product = moment(item=5, placement=DEFAULT_PLACEMENTS["product"])
    assert names(parts, "similar", product) == ["similar"]
    assert names(parts, "similar", moment(item=5, user=0,
                                          placement=DEFAULT_PLACEMENTS["product"])) == [
        "similar+taste"]  # fmt: skip
    assert names(parts, "similar-scan", product) == ["similar"]


def test_bought_with_sums_the_items_rows() -> None:
    import scipy.sparse as sp

    together = sp.csr_matrix(np.array([[0, 2, 1, 0], [2, 0, 0, 3], [1, 0, 0, 0], [0, 3, 0, 0]],
                                      dtype=np.float32))  # fmt: skip
    items, scores = bought_with(together, np.array([0, 2]))
    assert items.tolist() == [1, 0, 2]  # 1: 2, 0: 1 (from 2), 2: 1 (from 0); ties by row
    assert scores.tolist() == [2.0, 1.0, 1.0]
    assert bought_with(together, NONE)[0].tolist() == []


def test_precomputed_candidates_are_the_users_own(parts: Parts, moment: Make) -> None:
    (_, stage), _ = SOURCES["taste"](parts, moment(user=3))
    items, scores = stage(10, lambda rows: rows >= 0)
    assert np.array_equal(items, parts.user_top_items[3])
    assert np.array_equal(scores, parts.user_top_scores[3])
