"""Next items: what shoppers go on to touch after each item, in order."""

from __future__ import annotations

import functools
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from .base import Keys, Ranker, Split, no_keys, sparse_split


class NextItemsModel(Ranker):
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
        counts: sp.csr_matrix | None = None,
    ) -> NextItemsModel:
        """Fit on events as :func:`~recsvc.training.matrix.sequences` orders them;
        ``shape``: (users, items) of the matrix the model ranks for; each item keeps
        its ``neighbours`` most frequent followers (what scoring costs grows with them).
        ``counts``: the events' :func:`follower_counts` (``window``), already counted;
        the model takes them (they are scaled in place: 1.6 GB at 50M events, not copied)."""
        users, items = shape
        following = follower_counts(rows, cols, items, window) if counts is None else counts
        _scale_rows(following, 1 / np.maximum(np.asarray(following.sum(axis=1)).ravel(), 1e-9))
        following = _strongest(following, neighbours)
        # each event's distance from its user's latest event
        ends = np.cumsum(np.bincount(rows, minlength=users))
        back = ends[rows] - 1 - np.arange(len(rows))
        latest = back < recent
        weights = np.power(decay, back[latest]).astype(np.float32)
        history = sp.csr_matrix((weights, (rows[latest], cols[latest])), shape=shape)
        return cls(following.tocsr(), history)

    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Every item's score for each user (dense, one row per user)."""
        return np.asarray(self.split(users, rows).sparse.toarray())

    @cached_property
    def keys(self) -> Keys:
        """Of rank 0: the scores are only sparse (the followers of a user's latest items)."""
        return no_keys(self.following.shape[0])

    def split(self, users: np.ndarray, rows: sp.csr_matrix) -> Split:
        """The followers of the users' latest items."""
        return sparse_split(self.recent[users] @ self.following)


#: threads summing the followers at most
SUMMING_THREADS = 2


def follower_counts(
    rows: np.ndarray,
    cols: np.ndarray,
    items: int,
    window: int,
    *,
    counted: np.ndarray | None = None,
) -> sp.csr_matrix:
    """How often each item came within ``window`` events after another in a user's
    history (``rows``, ``cols`` as :func:`~recsvc.training.matrix.sequences` orders
    them), each time weighing 1/distance: the sums :class:`NextItemsModel` makes each
    item's followers of. ``counted``: each row's first events already counted (a
    holdout's, whose history is each user's beginning): only the pairs whose later
    event comes after them are, what the longer histories add to the earlier sums.

    The distances are shared out among (at most ``SUMMING_THREADS``) threads (numpy's
    masks and scipy's sparse sums run outside the GIL), each summing its own, then
    their sums are added."""
    new = None
    if counted is not None:  # each event's place in its row, against the row's counted
        starts = np.searchsorted(rows, np.arange(len(counted)))
        new = np.arange(len(rows)) - starts[rows] >= counted[rows]

    def summed(distances: range) -> sp.csr_matrix:
        following = sp.csr_matrix((items, items), dtype=np.float32)
        for distance in distances:
            later = (rows[distance:] == rows[:-distance]) & (cols[distance:] != cols[:-distance])
            if new is not None:
                later &= new[distance:]
            following = following + sp.csr_matrix(
                (np.full(int(later.sum()), 1.0 / distance, dtype=np.float32),
                 (cols[:-distance][later], cols[distance:][later])),
                shape=(items, items),
            )  # fmt: skip
        return following

    # each thread holds a sum near the whole's size: two threads took 1.1 GB more than
    # one at 50M events (docs/training-speed.md), so two, whatever the cores
    threads = max(1, min(window, os.cpu_count() or 1, SUMMING_THREADS))
    # every thread-th distance each: pairs grow fewer with the distance, so shares even out
    shares = [range(first, window + 1, threads) for first in range(1, threads + 1)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        sums = list(pool.map(summed, shares))
    return functools.reduce(operator.add, sums)


#: rows of a matrix scaled at once by :func:`_scale_rows`
SCALED_ROWS = 1_024


def _scale_rows(matrix: sp.csr_matrix, scale: np.ndarray) -> None:
    """Multiply each row of a CSR matrix by its ``scale`` (float32), in place, a few rows
    at a time (a factor per entry at once would be the size of the data)."""
    counts = np.diff(matrix.indptr)
    factors = scale.astype(np.float32)
    for first in range(0, matrix.shape[0], SCALED_ROWS):
        last = min(first + SCALED_ROWS, matrix.shape[0])
        start, end = matrix.indptr[first], matrix.indptr[last]
        matrix.data[start:end] *= np.repeat(factors[first:last], counts[first:last])


def _strongest(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Each row's ``k`` largest entries (ties broken by column)."""
    counts = np.diff(matrix.indptr)
    if not len(counts) or counts.max() <= k:
        return matrix
    keep = np.ones(matrix.nnz, dtype=bool)
    for row in np.flatnonzero(counts > k):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        data = matrix.data[start:end]
        kth = np.partition(data, len(data) - k)[len(data) - k]  # the k-th largest
        tied = np.flatnonzero(data == kth)  # of which the lowest columns fill the k
        tied = tied[np.argsort(matrix.indices[start:end][tied], kind="stable")]
        keep[start:end] = data > kth
        keep[start + tied[: k - int(np.count_nonzero(data > kth))]] = True
    # each row keeps min(its entries, k), in the order it held them
    indptr = np.concatenate([[0], np.cumsum(np.minimum(counts, k))])
    return sp.csr_matrix((matrix.data[keep], matrix.indices[keep], indptr), shape=matrix.shape)
