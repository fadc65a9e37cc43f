"""Blends: rankers' scores put on one scale and summed with weights."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from ...scoring import MIN_SPREAD, standardized
from .base import Keys, Ranker, Split


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

    @cached_property
    def keys(self) -> Keys | None:
        """The parts' keys side by side, where every part's scores split."""
        keys = [ranker.keys for ranker, _ in self.parts]
        if any(part is None for part in keys):
            return None
        present = [part for part in keys if part is not None]
        return Keys(np.hstack([part.values for part in present]),
                    groups=[group for part in present for group in part.groups])  # fmt: skip

    def split(self, users: np.ndarray, rows: sp.csr_matrix) -> Split:
        """Each part's split scaled by weight / its spread, less its mean: the weighted
        sum of z-scores, split (the same as :meth:`scores`, without dense scores)."""
        queries, sparse, offset = [], sp.csr_matrix(rows.shape, dtype=np.float32), 0.0
        for ranker, weight in self.parts:
            keys = ranker.keys
            assert keys is not None, "split only where every part splits"
            part = ranker.split(users, rows)
            mean, spread = part.moments(keys)
            scale = weight / np.maximum(spread, MIN_SPREAD)
            queries.append(part.query * scale[:, None].astype(np.float32))
            sparse = sparse + sp.diags(scale.astype(np.float32)) @ part.sparse
            offset = offset + scale * (part.offset - mean)
        return Split(np.hstack(queries), sp.csr_matrix(sparse),
                     np.broadcast_to(offset, (len(users),)).astype(np.float64))  # fmt: skip
