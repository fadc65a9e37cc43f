"""The one interface every model recsvc fits implements.

A :class:`Ranker` scores every item for some users given those users' own rows of
the interaction matrix; each user's best items and the top-``n`` lists evaluation
asks for are derived from that. Callers always pass the whole user x item matrix and
the users they want: a ranker takes the users' rows itself.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

#: dense scores computed at once while ranking: users per batch x items
BATCH_CELLS = 10_000_000


class Ranker(ABC):
    """A fitted model that ranks items for users."""

    @abstractmethod
    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Every item's score for each of ``users`` (dense, one row per user); ``rows``
        are those users' rows of the interaction matrix."""

    def top_items(
        self,
        user_items: sp.csr_matrix,
        k: int,
        *,
        users: np.ndarray | None = None,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best untouched items of each user (of ``users``, default all):
        (items, scores), best first, -1 padded."""
        users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
        k = min(k, user_items.shape[1])
        items = np.full((len(users), k), -1, dtype=np.int32)
        scores = np.zeros((len(users), k), dtype=np.float32)
        batch = max(1, BATCH_CELLS // max(user_items.shape[1], 1))
        parts = [slice(start, start + batch) for start in range(0, len(users), batch)]

        def top(part: slice) -> tuple[np.ndarray, np.ndarray]:
            return self._top(users[part], sp.csr_matrix(user_items[users[part]]), k)

        # numpy's sorting and arithmetic release the GIL: one batch per core
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            done = tqdm(pool.map(top, parts), total=len(parts), desc="best items per user",
                        unit=" batches", disable=not show_progress)  # fmt: skip
            for part, (ids, values) in zip(parts, done, strict=True):
                items[part], scores[part] = ids, values
        return items, scores

    def recommend(self, users: np.ndarray, user_items: sp.csr_matrix, n: int) -> np.ndarray:
        """Top-``n`` item columns per user (one row per user of ``users``), the users' own
        items in ``user_items`` (the whole matrix) excluded; -1 where fewer could be ranked."""
        return self.top_items(user_items, n, users=np.asarray(users))[0]

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
        return padded(top.astype(np.int32), values)


def padded(items: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mark slots filled with filtered-out items as -1 (scored -FLT_MAX by implicit,
    -inf here)."""
    empty = ~(scores > np.finfo(np.float32).min / 2)
    items[empty] = -1
    scores[empty] = 0
    return items, scores
