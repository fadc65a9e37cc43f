"""The models recsvc fits, each behind the same small interface.

- :class:`AlsModel`: implicit's alternating least squares, for personalized
  recommendations, session fold-in and similar items.
- :class:`BoughtTogetherModel`: item-item cosine over what users bought (or
  carted), for the cart placement.
- :class:`PopularityModel`: the baseline, and the fallback for unknown users.
- :class:`ItemKnnModel` (cosine or BM25), :class:`EaseModel` (closed form) and
  :class:`BlendModel` (standardized scores summed, e.g. ALS plus item-kNN): other
  rankings of a user's best items, selected by configuration; the one chosen fills
  the precomputed candidates.
- :class:`NextItemsModel`: what users touch after each item, blended into any of
  those (``next_items_weight``).

Fitting uses every core (implicit's OpenMP with BLAS single-threaded, as implicit
recommends; the dense rankers' batches in threads); a model built for serving uses
one thread (see ARCHITECTURE.md: a multi-threaded OpenMP region in gunicorn's master
hangs every forked worker).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import implicit.cpu.als
import implicit.nearest_neighbours
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
from tqdm import tqdm


class Ranker(Protocol):
    """Anything that ranks items for users, given the users' rows of the matrix."""

    def recommend(self, users: np.ndarray, user_items: sp.csr_matrix, n: int) -> np.ndarray:
        """Top-``n`` item columns per user (one row per user), items in the rows excluded.

        A row may end in -1 where fewer than ``n`` items could be ranked.
        """
        ...


class Candidates(Protocol):
    """Anything that precomputes every user's best untouched items."""

    def top_items(
        self,
        user_items: sp.csr_matrix,
        k: int,
        *,
        users: np.ndarray | None = None,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(items, scores) per user (of ``users``, default all), best first, -1 padded."""
        ...


class Scorer(Protocol):
    """Anything that scores every item for some users (what a blend sums)."""

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Every item's score for each user (dense, one row per user)."""
        ...


class AlsModel:
    """Implicit ALS factors, fitted here or loaded from an artifact."""

    def __init__(
        self,
        user_factors: np.ndarray,
        item_factors: np.ndarray,
        *,
        regularization: float,
        alpha: float,
        num_threads: int = 1,
    ) -> None:
        # regularization and alpha matter after fitting too: folding in a user
        # (recalculate_user) solves with them
        with threadpool_limits(1, "blas"):
            model = implicit.cpu.als.AlternatingLeastSquares(
                factors=item_factors.shape[1],
                regularization=regularization,
                alpha=alpha,
                num_threads=num_threads,
            )
        model.user_factors = user_factors
        model.item_factors = item_factors
        self.implicit = model

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
        show_progress: bool = False,
    ) -> AlsModel:
        """Fit on a user x item matrix with all cores; the result ranks with one thread."""
        with threadpool_limits(1, "blas"):
            model = implicit.cpu.als.AlternatingLeastSquares(
                factors=factors,
                regularization=regularization,
                alpha=alpha,
                iterations=iterations,
                random_state=seed,
                num_threads=0,
            )
            model.fit(matrix, show_progress=show_progress)
        return cls(
            model.user_factors, model.item_factors, regularization=regularization, alpha=alpha
        )

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

    def recommend(self, users: np.ndarray, user_items: sp.csr_matrix, n: int) -> np.ndarray:
        """Top-``n`` items per user by factor score, the users' own items excluded."""
        n = min(n, self.item_factors.shape[0])
        ids, _ = self.implicit.recommend(users, user_items, N=n, filter_already_liked_items=True)
        return np.asarray(ids)

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Every item's score for each user (dense, one row per user)."""
        return np.asarray(self.user_factors[users] @ self.item_factors.T)

    def top_items(
        self,
        user_items: sp.csr_matrix,
        k: int,
        *,
        users: np.ndarray | None = None,
        batch: int = 20_000,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best untouched items of each user (of ``users``, default all):
        (items, scores), -1 padded."""
        users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
        k = min(k, self.item_factors.shape[0])
        items = np.full((len(users), k), -1, dtype=np.int32)
        scores = np.zeros((len(users), k), dtype=np.float32)
        for start in tqdm(range(0, len(users), batch), desc="best items per user",
                          unit=" batches", disable=not show_progress):  # fmt: skip
            part = slice(start, start + batch)
            ids, vals = self.implicit.recommend(users[part], user_items[users[part]], N=k)
            items[part] = ids
            scores[part] = vals
        return _padded(items, scores)

    def similar_items(
        self, k: int, *, batch: int = 20_000, show_progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every item's ``k`` nearest items by cosine of their factors, itself left out."""
        count = self.item_factors.shape[0]
        k = min(k, count - 1)
        items = np.full((count, k), -1, dtype=np.int32)
        scores = np.zeros((count, k), dtype=np.float32)
        for start in tqdm(range(0, count, batch), desc="nearest items per item", unit=" batches",
                          disable=not show_progress):  # fmt: skip
            rows = np.arange(start, min(start + batch, count))
            ids, vals = self.implicit.similar_items(rows, N=k + 1)
            # move each item itself (normally first) to the end of its row, then drop it
            last = np.argsort(ids == rows[:, None], axis=1, kind="stable")[:, :k]
            items[rows] = np.take_along_axis(ids, last, axis=1)
            scores[rows] = np.take_along_axis(vals, last, axis=1)
        return _padded(items, scores)


class BoughtTogetherModel:
    """Item-item cosine similarity over users' purchase (and cart) history."""

    def __init__(self, similarity: sp.csr_matrix) -> None:
        self.similarity = similarity

    @classmethod
    def fit(
        cls, bought: sp.csr_matrix, *, neighbours: int, show_progress: bool = False
    ) -> BoughtTogetherModel:
        """Keep the ``neighbours`` most similar items of each item (a user x item matrix in)."""
        binary = sp.csr_matrix(bought, dtype=np.float32, copy=True)
        binary.data[:] = 1
        # Cosine is the dot product of L2-normalized item columns; normalizing here
        # keeps the matrix CSR (implicit's CosineRecommender hands its kNN a COO).
        norms = np.sqrt(np.bincount(binary.indices, minlength=binary.shape[1]))
        normalized = sp.csr_matrix(binary.multiply(1 / np.maximum(norms, 1)[None, :]))
        with threadpool_limits(1, "blas"):
            model = implicit.nearest_neighbours.ItemItemRecommender(K=neighbours, num_threads=0)
            model.fit(normalized, show_progress=show_progress)
        similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
        similarity.setdiag(0)
        similarity.eliminate_zeros()
        return cls(similarity)

    def recommend(self, users: np.ndarray, user_items: sp.csr_matrix, n: int) -> np.ndarray:
        """Items most bought with each user's items, the users' own items excluded."""
        rows = user_items[users] if user_items.shape[0] != len(users) else user_items
        scores = (rows @ self.similarity).tocsr()
        return _top_n_sparse(scores, rows, n)


class PopularityModel:
    """Items ranked by their summed event weight (BENCHMARK.md's popularity baseline)."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts
        self.order = np.argsort(-counts, kind="stable")

    @classmethod
    def fit(cls, matrix: sp.csr_matrix) -> PopularityModel:
        """Sum each item column of a weighted user x item matrix."""
        return cls(np.asarray(matrix.sum(axis=0), dtype=np.float32).reshape(-1))

    def recommend(self, users: np.ndarray, user_items: sp.csr_matrix, n: int) -> np.ndarray:
        """The most popular items each user has not touched."""
        rows = user_items[users] if user_items.shape[0] != len(users) else user_items
        out = np.full((len(users), n), -1, dtype=np.int64)
        for r in range(len(users)):
            seen = rows.indices[rows.indptr[r] : rows.indptr[r + 1]]
            head = self.order[: n + len(seen)]
            head = head[~np.isin(head, seen)][:n]
            out[r, : len(head)] = head
        return out


class _DenseRanker:
    """Ranking from dense per-user scores: top-k excluding each user's own items."""

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        raise NotImplementedError

    def recommend(self, users: np.ndarray, user_items: sp.csr_matrix, n: int) -> np.ndarray:
        """Top-``n`` items per user, the users' own items excluded."""
        rows = user_items[users] if user_items.shape[0] != len(users) else user_items
        return self._top(users, sp.csr_matrix(rows), n)[0]

    def top_items(
        self,
        user_items: sp.csr_matrix,
        k: int,
        *,
        users: np.ndarray | None = None,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best untouched items of each user (of ``users``, default all):
        (items, scores), -1 padded."""
        users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
        k = min(k, user_items.shape[1])
        items = np.full((len(users), k), -1, dtype=np.int32)
        scores = np.zeros((len(users), k), dtype=np.float32)
        batch = max(1, 10_000_000 // max(user_items.shape[1], 1))
        parts = [slice(start, start + batch) for start in range(0, len(users), batch)]

        def top(part: slice) -> tuple[np.ndarray, np.ndarray]:
            return self._top(users[part], user_items[users[part]], k)

        # numpy's sorting and arithmetic release the GIL: one batch per core
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            done = tqdm(pool.map(top, parts), total=len(parts), desc="best items per user",
                        unit=" batches", disable=not show_progress)  # fmt: skip
            for part, (ids, values) in zip(parts, done, strict=True):
                items[part], scores[part] = ids, values
        return items, scores

    def _top(self, users: np.ndarray, rows: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        # negated in place, so that the best come first in ascending order
        cost = np.array(self.scores(users, rows), dtype=np.float32)
        np.negative(cost, out=cost)
        cost[rows.nonzero()] = np.inf
        k = min(k, cost.shape[1])
        top = np.argpartition(cost, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(cost, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        values = -np.take_along_axis(cost, top, axis=1)
        return _padded(top.astype(np.int32), values)


class ItemKnnModel(_DenseRanker):
    """Item-item similarity (cosine or BM25-weighted) over the weighted interactions."""

    def __init__(self, similarity: sp.csr_matrix) -> None:
        self.similarity = similarity

    @classmethod
    def fit(
        cls, matrix: sp.csr_matrix, *, neighbours: int, weighting: str = "cosine"
    ) -> ItemKnnModel:
        """Keep each item's ``neighbours`` most similar items."""
        if weighting == "bm25":
            weighted = implicit.nearest_neighbours.bm25_weight(matrix.T).T.tocsr()
        elif weighting == "cosine":
            norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).reshape(-1))
            weighted = sp.csr_matrix(matrix.multiply(1 / np.maximum(norms, 1e-9)[None, :]))
        else:
            raise ValueError(f"unknown weighting {weighting!r}; cosine or bm25")
        with threadpool_limits(1, "blas"):
            model = implicit.nearest_neighbours.ItemItemRecommender(K=neighbours, num_threads=0)
            model.fit(sp.csr_matrix(weighted, dtype=np.float64), show_progress=False)
        return cls(sp.csr_matrix(model.similarity, dtype=np.float32))

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Each user's items' similarities, summed."""
        return np.asarray((rows @ self.similarity).todense())


class EaseModel(_DenseRanker):
    """EASE (Steck 2019): a closed-form item-item model, for catalogs small enough to hold
    an items x items matrix."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights

    @classmethod
    def fit(cls, matrix: sp.csr_matrix, *, regularization: float) -> EaseModel:
        """Solve for the item-item weights on the binarized interactions."""
        binary = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        binary.data[:] = 1
        gram = (binary.T @ binary).toarray()
        gram[np.diag_indices_from(gram)] += regularization
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices_from(weights)] = 0
        return cls(weights.astype(np.float32))

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Each user's row times the item-item weights."""
        binary = sp.csr_matrix(rows, dtype=np.float32, copy=True)
        binary.data[:] = 1
        return np.asarray(binary @ self.weights)


class NextItemsModel(_DenseRanker):
    """What users go on to touch after each item, from each user's latest items.

    ``following[i, j]``: how often j came within ``window`` events after i in some
    user's history (weight 1/distance), each row summing to 1. A user's scores: the
    rows of their latest ``recent`` items, the newest weighing most (``decay`` per
    step back). A shop's histories have an order that a matrix of counts forgets:
    the tripod after the camera, the next volume after this one.
    """

    def __init__(self, following: sp.csr_matrix, recent: sp.csr_matrix) -> None:
        self.following, self.recent = following, recent

    @classmethod
    def fit(
        cls,
        rows: np.ndarray,
        cols: np.ndarray,
        *,
        shape: tuple[int, int],
        window: int,
        recent: int,
        decay: float,
        neighbours: int,
    ) -> NextItemsModel:
        """Fit on events as :func:`~recsvc.training.matrix.sequences` orders them;
        ``shape``: (users, items) of the matrix the model ranks for; each item keeps
        its ``neighbours`` most frequent followers (what scoring costs grows with them)."""
        users, items = shape
        following = sp.csr_matrix((items, items), dtype=np.float32)
        for distance in range(1, window + 1):
            later = (rows[distance:] == rows[:-distance]) & (cols[distance:] != cols[:-distance])
            following = following + sp.csr_matrix(
                (np.full(int(later.sum()), 1.0 / distance, dtype=np.float32),
                 (cols[:-distance][later], cols[distance:][later])),
                shape=(items, items),
            )  # fmt: skip
        totals = np.asarray(following.sum(axis=1)).ravel()
        following = sp.diags(1 / np.maximum(totals, 1e-9)).astype(np.float32) @ following
        following = _strongest(following.tocsr(), neighbours)
        # each event's distance from its user's latest event
        ends = np.cumsum(np.bincount(rows, minlength=users))
        back = ends[rows] - 1 - np.arange(len(rows))
        latest = back < recent
        weights = np.power(decay, back[latest]).astype(np.float32)
        history = sp.csr_matrix((weights, (rows[latest], cols[latest])), shape=shape)
        return cls(following.tocsr(), history)

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Every item's score for each user (dense, one row per user)."""
        return np.asarray((self.recent[users] @ self.following).toarray())


class BlendModel(_DenseRanker):
    """Rankers' scores, each standardized per user, summed with weights."""

    def __init__(self, parts: list[tuple[Scorer, float]]) -> None:
        self.parts = parts

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """The sum of weight x z(scores) over the parts."""
        total = np.zeros((len(users), rows.shape[1]), dtype=np.float32)
        for ranker, weight in self.parts:
            total += weight * _standardized(ranker.scores(users, rows))
        return total


def _strongest(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's ``k`` largest entries (ties broken by column)."""
    counts = np.diff(matrix.indptr)
    if not len(counts) or counts.max() <= k:
        return matrix
    keep = np.ones(matrix.nnz, dtype=bool)
    for row in np.flatnonzero(counts > k):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        order = np.lexsort((matrix.indices[start:end], -matrix.data[start:end]))
        keep[start + order[k:]] = False
    rows = np.repeat(np.arange(matrix.shape[0]), counts)[keep]
    return sp.csr_matrix((matrix.data[keep], (rows, matrix.indices[keep])), shape=matrix.shape)


def _standardized(scores: np.ndarray) -> np.ndarray:
    """Each row's scores less their mean, over their standard deviation (a float32
    copy, worked on in place: this runs over every user x item at training)."""
    z = np.array(scores, dtype=np.float32)
    z -= z.mean(axis=1, keepdims=True)
    spread = np.sqrt(np.einsum("ij,ij->i", z, z) / max(z.shape[1], 1))
    z /= np.maximum(spread, 1e-9)[:, None]
    return z


def _padded(items: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mark slots that implicit filled with filtered-out items as -1.

    implicit scores those -FLT_MAX (-inf in some versions).
    """
    empty = ~(scores > np.finfo(np.float32).min / 2)
    items[empty] = -1
    scores[empty] = 0
    return items, scores


def _top_n_sparse(scores: sp.csr_matrix, exclude: sp.csr_matrix, n: int) -> np.ndarray:
    out = np.full((scores.shape[0], n), -1, dtype=np.int64)
    for r in range(scores.shape[0]):
        start, end = scores.indptr[r], scores.indptr[r + 1]
        cols, vals = scores.indices[start:end], scores.data[start:end]
        keep = ~np.isin(cols, exclude.indices[exclude.indptr[r] : exclude.indptr[r + 1]])
        cols, vals = cols[keep], vals[keep]
        best = cols[np.lexsort((cols, -vals))][:n]
        out[r, : len(best)] = best
    return out
