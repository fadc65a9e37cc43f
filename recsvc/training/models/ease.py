"""EASE (Steck 2019): a closed-form item-item model."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Ranker


class EaseModel(Ranker):
    """EASE, for catalogs small enough to hold an items x items matrix."""

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
