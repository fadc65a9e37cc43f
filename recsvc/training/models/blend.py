"""Blends: rankers' scores put on one scale and summed with weights."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from ...scoring import standardized
from .base import Ranker


class BlendModel(Ranker):
    """Rankers' scores, each standardized per user, summed with weights."""

    def __init__(self, parts: Sequence[tuple[Ranker, float]]) -> None:
        self.parts = list(parts)

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """The sum of weight x z(scores) over the parts."""
        total = np.zeros((len(users), rows.shape[1]), dtype=np.float32)
        for ranker, weight in self.parts:
            total += weight * standardized(ranker.scores(users, rows))
        return total
