"""EASE (Steck 2019): a closed-form item-item model."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.linalg.lapack
import scipy.sparse as sp

from .base import Keys, Ranker, Split, no_keys, sparse_split


class EaseModel(Ranker):
    """EASE, for catalogs small enough to hold an items x items matrix."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights

    @classmethod
    def fit(cls, matrix: sp.csr_matrix, *, regularization: float) -> EaseModel:
        """Solve for the item-item weights on the binarized interactions: in double
        precision below ``SINGLE_MIN_ITEMS`` items, in single from there."""
        single = matrix.shape[1] >= SINGLE_MIN_ITEMS
        binary = sp.csr_matrix(matrix, dtype=np.float32 if single else np.float64, copy=True)
        binary.data[:] = 1
        # items^2 held once (it was held four times over, with the sparse product:
        # 4.6 GB above the data at 12,649 items, docs/training-speed.md)
        gram = _gram(binary)
        gram[np.diag_indices_from(gram)] += regularization
        inverse = _inverse_in_place(gram)
        inverse /= -np.diag(inverse).copy()
        inverse[np.diag_indices_from(inverse)] = 0
        return cls(inverse.astype(np.float32, copy=False))

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Each user's row times the item-item weights."""
        binary = sp.csr_matrix(rows, dtype=np.float32, copy=True)
        binary.data[:] = 1
        return np.asarray(binary @ self.weights)


#: columns of the gram matrix (and rows of its inverse) worked on at once
BLOCK = 2048
#: catalogs from this many items are solved in single precision: the inverse's
#: n^3 in half the time and memory (27.7 s against 17.7 s at 12,649 items), its
#: weights within 1e-6 of the largest and every sampled shopper's top 10 the same
#: (docs/training-speed.md); the gram's counts stay exact below 2^24 shoppers a pair
SINGLE_MIN_ITEMS = 5_000


def _gram(binary: sp.csr_matrix) -> np.ndarray:
    """X^T X, dense, in ``binary``'s dtype, a block of columns at a time (no items x
    items sparse product)."""
    count = binary.shape[1]
    gram = np.empty((count, count), dtype=binary.dtype)
    columns = binary.tocsc()
    for start in range(0, count, BLOCK):
        gram[:, start : start + BLOCK] = (binary.T @ columns[:, start : start + BLOCK]).toarray()
    return gram


def _inverse_in_place(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix, in its own memory and
    precision: LAPACK's Cholesky on its Fortran-ordered view (the same matrix, being
    symmetric), whose result holds one triangle, mirrored to the other a block of rows
    at a time."""
    potrf, potri = scipy.linalg.lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    factor, info = potrf(matrix.T, lower=0, overwrite_a=1, clean=0)
    if info == 0:
        _, info = potri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"regularized gram matrix not positive definite ({info})")
    # the Fortran view's upper triangle is this array's lower one
    count = len(matrix)
    for start in range(0, count, BLOCK):
        end = min(start + BLOCK, count)
        matrix[start:end, end:] = matrix[end:, start:end].T
        square = matrix[start:end, start:end]
        upper = np.triu_indices(end - start, 1)
        square[upper] = square.T[upper]
    return matrix


class SparseEaseModel(Ranker):
    """EASE for catalogs too large for an items x items matrix: each item's weights are
    its ridge regression on only its ``neighbours`` most co-occurring items.

    EASE's column j is the ridge regression of item j on all the other items
    (``-P[:, j] / P[j, j]`` with ``P = (G + lambda I)^-1`` is ``(G_oo + lambda I)^-1 G_oj``,
    by block inversion), so with ``neighbours`` at least the catalog's size less one this
    equals :class:`EaseModel`; below, it keeps each item's strongest weights, sparse."""

    def __init__(self, weights: sp.csr_matrix) -> None:
        self.weights = weights

    @classmethod
    def fit(cls, matrix: sp.csr_matrix, *, regularization: float, neighbours: int
            ) -> SparseEaseModel:  # fmt: skip
        """Solve each item's small regression on its nearest items (by co-occurrence)."""
        binary = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        binary.data[:] = 1
        gram = (binary.T @ binary).tocsr()
        count = gram.shape[0]
        dense_rows = neighbours >= count - 1  # every other item: the exact closed form
        rows, columns, values = [], [], []
        for item in range(count):
            start, end = gram.indptr[item], gram.indptr[item + 1]
            others, counts = gram.indices[start:end], gram.data[start:end]
            if dense_rows:
                full = np.zeros(count)
                full[others] = counts
                others = np.delete(np.arange(count), item)
                counts = full[others]
            keep = others != item
            others, counts = others[keep], counts[keep]
            if not len(others):
                continue
            strongest = np.lexsort((others, -counts))[:neighbours]
            near = others[strongest]
            system = gram[near][:, near].toarray()
            system[np.diag_indices_from(system)] += regularization
            weights = np.linalg.solve(system, counts[strongest])
            rows.append(near)
            columns.append(np.full(len(near), item))
            values.append(weights)
        if not rows:
            return cls(sp.csr_matrix((count, count), dtype=np.float32))
        weights = sp.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
            shape=(count, count), dtype=np.float32,
        )  # fmt: skip
        return cls(weights)

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Each user's row times the item-item weights."""
        return np.asarray(self.split(users, rows).sparse.toarray())

    @cached_property
    def keys(self) -> Keys:
        """Of rank 0: the scores are only sparse (the kept weights of a user's items)."""
        return no_keys(self.weights.shape[0])

    def split(self, users: np.ndarray, rows: sp.csr_matrix) -> Split:
        """The kept weights of the users' items, summed."""
        binary = sp.csr_matrix(rows, dtype=np.float32, copy=True)
        binary.data[:] = 1
        return sparse_split(binary @ self.weights)
