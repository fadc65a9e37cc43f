"""Popularity: the baseline, and the fallback for shoppers the model does not know."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from ...data.events import Events
from ..matrix import Interactions, build_interactions
from .base import Keys, Ranker, Split, low_rank_split


class PopularityModel(Ranker):
    """Items ranked by their summed event weight (the benchmark's popularity baseline)."""

    def __init__(self, counts: np.ndarray) -> None:
        self.counts = counts
        self.order = np.argsort(-counts, kind="stable")

    @classmethod
    def fit(cls, matrix: sp.csr_matrix) -> PopularityModel:
        """Sum each item column of a weighted user x item matrix."""
        return cls(np.asarray(matrix.sum(axis=0), dtype=np.float32).reshape(-1))

    @classmethod
    def fit_recent(
        cls,
        train: Interactions,
        events: Events,
        weights: Mapping[str, float],
        *,
        half_life_days: float | None,
    ) -> PopularityModel:
        """Popularity over ``train``'s users and items from ``events``, each event's weight
        halving every ``half_life_days`` before the newest ("this season's best
        sellers"); all time without a half-life."""
        if half_life_days is None:
            return cls.fit(train.matrix)
        decayed = build_interactions(events, weights, half_life_days=half_life_days,
                                     users=train.users, items=train.items)  # fmt: skip
        return cls.fit(decayed.matrix)

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """The same popularity for every user."""
        return np.broadcast_to(self.counts, (len(users), len(self.counts)))

    @cached_property
    def keys(self) -> Keys:
        """The counts (each user's query is 1)."""
        return Keys(self.counts[:, None])

    def split(self, users: np.ndarray, rows: sp.csr_matrix) -> Split:
        """A query of 1 for every user."""
        return low_rank_split(np.ones((len(users), 1)), len(self.counts))

    def top_items(
        self,
        user_items: sp.csr_matrix,
        k: int,
        *,
        users: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The most popular items each user has not touched (ties by column), those of
        ``exclude`` left out, without a dense score matrix."""
        users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
        rows = sp.csr_matrix(user_items[users])
        order = self.order if exclude is None else self.order[~np.isin(self.order, exclude)]
        items = np.full((len(users), k), -1, dtype=np.int32)
        for r in range(len(users)):
            seen = rows.indices[rows.indptr[r] : rows.indptr[r + 1]]
            head = order[: k + len(seen)]
            head = head[~np.isin(head, seen)][:k]
            items[r, : len(head)] = head
        scores = np.where(items >= 0, self.counts[items], 0).astype(np.float32)
        return items, scores
