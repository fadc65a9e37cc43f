"""Item-item neighbour models: item-kNN over the weighted interactions, and "bought
together" (cosine over what users bought or carted) for the cart placement."""

from __future__ import annotations

from functools import cached_property

import implicit.nearest_neighbours
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from .base import Keys, Ranker, Split, no_keys, sparse_split

WEIGHTINGS = ("cosine", "bm25")


def _item_item(weighted: sp.csr_matrix, neighbours: int, *, show_progress: bool) -> sp.csr_matrix:
    """Each item's ``neighbours`` largest dot products with the others (implicit's kNN on
    all cores)."""
    with threadpool_limits(1, "blas"):
        model = implicit.nearest_neighbours.ItemItemRecommender(K=neighbours, num_threads=0)
        model.fit(weighted, show_progress=show_progress)
    return sp.csr_matrix(model.similarity, dtype=np.float32)


class ItemKnnModel(Ranker):
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
            raise ValueError(f"unknown weighting {weighting!r}; one of {', '.join(WEIGHTINGS)}")
        return cls(_item_item(sp.csr_matrix(weighted, dtype=np.float64), neighbours,
                              show_progress=False))  # fmt: skip

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Each user's items' similarities, summed."""
        return np.asarray(self.split(users, rows).sparse.toarray())

    @cached_property
    def keys(self) -> Keys:
        """Of rank 0: the scores are only sparse (the neighbours of a user's items)."""
        return no_keys(self.similarity.shape[0])

    def split(self, users: np.ndarray, rows: sp.csr_matrix) -> Split:
        """The neighbours of the users' items."""
        return sparse_split(rows @ self.similarity)


class BoughtTogetherModel(Ranker):
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
        similarity = _item_item(normalized, neighbours, show_progress=show_progress)
        similarity.setdiag(0)
        similarity.eliminate_zeros()
        return cls(similarity)

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Items bought with each user's items, summed."""
        return np.asarray((rows @ self.similarity).todense())

    def top_items(
        self,
        user_items: sp.csr_matrix,
        k: int,
        *,
        users: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Items most bought with each user's items (sparse: only items with a score),
        the users' own items and those of ``exclude`` left out; ties by column."""
        users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
        rows = sp.csr_matrix(user_items[users])
        scored = (rows @ self.similarity).tocsr()
        items = np.full((len(users), k), -1, dtype=np.int32)
        scores = np.zeros((len(users), k), dtype=np.float32)
        for r in range(len(users)):
            start, end = scored.indptr[r], scored.indptr[r + 1]
            cols, values = scored.indices[start:end], scored.data[start:end]
            keep = ~np.isin(cols, rows.indices[rows.indptr[r] : rows.indptr[r + 1]])
            if exclude is not None:
                keep &= ~np.isin(cols, exclude)
            cols, values = cols[keep], values[keep]
            order = np.lexsort((cols, -values))[:k]
            items[r, : len(order)], scores[r, : len(order)] = cols[order], values[order]
        return items, scores
