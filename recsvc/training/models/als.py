"""Implicit ALS: the personalized model, whose factors also fold in sessions and find
similar items at serving."""

from __future__ import annotations

from functools import cached_property

import implicit.cpu.als
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .. import nearest
from ..nearest import Neighbours
from .base import Keys, Ranker, Split, low_rank_split, padded


class AlsModel(Ranker):
    """Implicit ALS factors, fitted with all cores; ranks through the common paths of
    :class:`~.base.Ranker` (dense scores, or on a large catalog implicit's top-k)."""

    def __init__(self, implicit_model: implicit.cpu.als.AlternatingLeastSquares) -> None:
        self.implicit = implicit_model

    @classmethod
    def fit(
        cls,
        matrix: sp.csr_matrix,
        *,
        factors: int,
        regularization: float,
        alpha: float,
        iterations: int,
        seed: int,
        start: tuple[np.ndarray, np.ndarray] | None = None,
        show_progress: bool = False,
    ) -> AlsModel:
        """Fit on a user x item matrix with all cores (implicit's OpenMP, BLAS on one
        thread as implicit recommends); ``start``: the (user, item) factors the
        iterations start from, one row per row and column of ``matrix`` (else random)."""
        with threadpool_limits(1, "blas"):
            model = implicit.cpu.als.AlternatingLeastSquares(
                factors=factors,
                regularization=regularization,
                alpha=alpha,
                iterations=iterations,
                random_state=seed,
                num_threads=0,
            )
            if start is not None:  # implicit starts from factors already set
                model.user_factors, model.item_factors = (
                    np.array(part, dtype=np.float32, order="C") for part in start
                )
            model.fit(matrix, show_progress=show_progress)
        # ranks with one thread: nothing multi-threaded runs after fitting, so a
        # process that forks later (a test, a benchmark) cannot hang (the fork +
        # OpenMP fact in docs/architecture.md)
        model.num_threads = 1
        return cls(model)

    @classmethod
    def of_factors(cls, user_factors: np.ndarray, item_factors: np.ndarray) -> AlsModel:
        """A model of factors fitted elsewhere (Spark's ALS, recsvc.training.spark), ranking
        and finding neighbours as a fitted one does, with one thread."""
        with threadpool_limits(1, "blas"):  # implicit warns of BLAS threads otherwise
            model = implicit.cpu.als.AlternatingLeastSquares(
                factors=item_factors.shape[1], num_threads=1
            )
        model.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
        model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        return cls(model)

    @property
    def user_factors(self) -> np.ndarray:
        """One row of latent factors per user."""
        factors: np.ndarray = self.implicit.user_factors
        return factors

    @property
    def item_factors(self) -> np.ndarray:
        """One row of latent factors per item."""
        factors: np.ndarray = self.implicit.item_factors
        return factors

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Every item's score for each user (dense, one row per user)."""
        return np.asarray(self.user_factors[users] @ self.item_factors.T)

    @cached_property
    def keys(self) -> Keys:
        """The item factors (scores are the users' factors times them)."""
        return Keys(self.item_factors)

    def split(self, users: np.ndarray, rows: sp.csr_matrix) -> Split:
        """The users' factors as the query of the item factors."""
        return low_rank_split(self.user_factors[users], self.item_factors.shape[0])

    def similar_items(
        self,
        k: int,
        *,
        exact_max_items: int | None = None,
        seed: int = 0,
        batch: int = 20_000,
        rows: np.ndarray | None = None,
        show_progress: bool = False,
    ) -> Neighbours:
        """Every item's ``k`` nearest items by cosine of their factors, itself left out:
        exact up to ``exact_max_items`` items (None: always), above through an HNSW
        graph (recsvc.training.nearest). ``rows``: only these items' neighbours (exact;
        one row each, in their order), as a Spark executor finds a block of them."""
        count = self.item_factors.shape[0]
        k = min(k, count - 1)
        if rows is None and exact_max_items is not None and count > max(exact_max_items, 4 * k):
            return nearest.approximate(self.item_factors, k, seed=seed,
                                       show_progress=show_progress)  # fmt: skip
        wanted = np.arange(count) if rows is None else np.asarray(rows)
        items = np.full((len(wanted), k), -1, dtype=np.int32)
        scores = np.zeros((len(wanted), k), dtype=np.float32)
        for start in tqdm(range(0, len(wanted), batch), desc="nearest items per item",
                          unit=" batches", disable=not show_progress):  # fmt: skip
            block = slice(start, min(start + batch, len(wanted)))
            ids, vals = self.implicit.similar_items(wanted[block], N=k + 1)
            last = nearest.others(ids, wanted[block], k)
            items[block] = np.take_along_axis(ids, last, axis=1)
            scores[block] = np.take_along_axis(vals, last, axis=1)
        return Neighbours(*padded(items, scores), "exact")
