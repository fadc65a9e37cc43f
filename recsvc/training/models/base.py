"""The one interface every model recsvc fits implements.

A :class:`Ranker` scores every item for some users given those users' own rows of
the interaction matrix; each user's best items and the top-``n`` lists evaluation
asks for are derived from that. Callers always pass the whole user x item matrix and
the users they want: a ranker takes the users' rows itself.

Most rankers' scores are a low-rank part (users' factors times items' keys) plus a
sparse part (the items reached from a user's own: neighbours, followers) plus a
constant per user (:class:`Split`); blends of them are too. On a large catalog
(``SPLIT_MIN_ITEMS``, ``SPARSE_SPLIT_MIN_ITEMS``) their best items are found without
a dense user x item matrix: the low-rank part scored in bands of falling norm, the
sparse part added to the items it reaches, until no item left can beat the best found
(:func:`low_rank_top`), merged with the reached items past the last band, scored
whole. That is the same top-k as the dense scores' (but for ties within float error),
at a cost that grows with the catalog only through the low-rank part.
"""

from __future__ import annotations

import itertools
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from ...scoring import spread

#: dense scores computed at once while ranking: users per batch x items
BATCH_CELLS = 10_000_000
#: users per batch when ranking from split scores (a band's scores hold users x band)
SPLIT_BATCH_USERS = 2_000
#: the catalog from which split scores rank, for rankers with factors (ALS and its
#: blends), and for the others, whose scores are sparse, or sparse plus popularity
#: (item-kNN, next items, sparse EASE: more entries per user to merge); below, dense
#: scores cost as little or less
#: (docs/training-speed.md, "Best items without dense scores": since the banded scan
#: of reached items, split wins ALS's blends by 2x at 12,649 items and ties at 5,000)
SPLIT_MIN_ITEMS = 10_000
SPARSE_SPLIT_MIN_ITEMS = 200_000


@dataclass(frozen=True)
class Split:
    """Some users' scores of every item as ``query @ keys.T + sparse + offset[:, None]``,
    with the ranker's ``keys`` (:attr:`Ranker.keys`)."""

    #: users x rank, float32
    query: np.ndarray
    #: users x items, float32, no duplicate entries (as products and sums of CSR give)
    sparse: sp.csr_matrix
    #: one constant per user, float64
    offset: np.ndarray

    def moments(self, keys: Keys) -> tuple[np.ndarray, np.ndarray]:
        """Each user's mean score over the catalog and its standard deviation (float64),
        as :func:`recsvc.scoring.standardized` takes them from dense scores."""
        count = max(keys.count, 1)
        query = self.query.astype(np.float64)
        sparse = self.sparse
        sparse_sum = np.asarray(sparse.sum(axis=1), dtype=np.float64).ravel()
        sparse_squares = np.asarray(sparse.multiply(sparse).sum(axis=1), dtype=np.float64).ravel()
        # the low-rank part's cross terms with the sparse part: sparse @ keys
        crossed = np.asarray(sparse @ keys.values, dtype=np.float64)
        mean = query @ keys.mean + sparse_sum / count
        low_rank = np.einsum("ij,jk,ik->i", query, keys.gram, query)
        cross = 2 * np.einsum("ij,ij->i", query, crossed)
        squares = low_rank + (cross + sparse_squares) / count
        return mean + self.offset, spread(mean, squares)


class Keys:
    """Items' keys of a low-rank part, with what the moments of scores need; a blend's
    are its parts' side by side, ``groups`` saying how many columns each part has."""

    def __init__(self, values: np.ndarray, groups: Sequence[int] | None = None) -> None:
        self.values = np.ascontiguousarray(values, dtype=np.float32)
        self.count = self.values.shape[0]
        self.groups = tuple(groups) if groups is not None else (self.values.shape[1],)
        as64 = self.values.astype(np.float64)
        self.mean = as64.mean(axis=0) if self.count else np.zeros(as64.shape[1])
        self.gram = as64.T @ as64 / max(self.count, 1)

    def group_norms(self, vectors: np.ndarray) -> np.ndarray:
        """Each row's norm within each group of columns (rows x groups)."""
        edges = np.cumsum((0, *self.groups))
        return np.stack([np.linalg.norm(vectors[:, a:b], axis=1)
                         for a, b in itertools.pairwise(edges.tolist())], axis=1)  # fmt: skip

    @cached_property
    def norms(self) -> np.ndarray:
        """Each item's key norm within each group (items x groups)."""
        return self.group_norms(self.values)

    @cached_property
    def by_norm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The items in falling order of their keys' norms (each group's relative to its
        largest, summed): (items, their keys in that order, each item's place in it,
        and for each place the largest norm of each group from there on)."""
        norms = self.norms
        relative = norms / np.maximum(norms.max(axis=0, initial=0.0), 1e-30)
        items = np.argsort(-relative.sum(axis=1), kind="stable")
        place = np.empty(self.count, dtype=np.int64)
        place[items] = np.arange(self.count)
        largest = np.maximum.accumulate(norms[items][::-1], axis=0)[::-1]
        return items, np.ascontiguousarray(self.values[items]), place, largest


def no_keys(count: int) -> Keys:
    """Keys of rank 0 over ``count`` items (scores with no low-rank part)."""
    return Keys(np.zeros((count, 0), dtype=np.float32))


def sparse_split(sparse: sp.spmatrix) -> Split:
    """Scores that are only a sparse part."""
    return Split(np.zeros((sparse.shape[0], 0), dtype=np.float32),
                 sp.csr_matrix(sparse, dtype=np.float32), np.zeros(sparse.shape[0]))  # fmt: skip


def low_rank_split(query: np.ndarray, items: int) -> Split:
    """Scores that are only a low-rank part."""
    empty = sp.csr_matrix((len(query), items), dtype=np.float32)
    return Split(np.asarray(query, dtype=np.float32), empty, np.zeros(len(query)))


class Ranker(ABC):
    """A fitted model that ranks items for users."""

    @abstractmethod
    def scores(self, users: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Every item's score for each of ``users`` (dense, one row per user); ``rows``
        are those users' rows of the interaction matrix."""

    @cached_property
    def keys(self) -> Keys | None:
        """The items' keys of the scores' low-rank part, where the scores split
        (:meth:`split`); None where they only come dense."""
        return None

    def split(self, users: np.ndarray, rows: sp.csr_matrix) -> Split:
        """The users' scores split (only where :attr:`keys` is not None)."""
        raise NotImplementedError(f"{type(self).__name__}'s scores do not split")

    def top_items(
        self,
        user_items: sp.csr_matrix,
        k: int,
        *,
        users: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        show_progress: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best untouched items of each user (of ``users``, default all), the
        item columns ``exclude`` left out for all: (items, scores), best first, -1
        padded."""
        users = np.arange(user_items.shape[0]) if users is None else np.asarray(users)
        exclude = np.zeros(0, dtype=np.int64) if exclude is None else np.asarray(exclude)
        k = min(k, user_items.shape[1])
        items = np.full((len(users), k), -1, dtype=np.int32)
        scores = np.zeros((len(users), k), dtype=np.float32)
        keys = self.keys
        if keys is not None:
            # factors (ALS's); popularity's counts alone are of rank 1, and leave the
            # sparse part the bulk of the work
            factored = keys.values.shape[1] > 1
            split_from = SPLIT_MIN_ITEMS if factored else SPARSE_SPLIT_MIN_ITEMS
            keys = keys if user_items.shape[1] >= split_from else None
        batch = (SPLIT_BATCH_USERS if keys is not None
                 else max(1, BATCH_CELLS // max(user_items.shape[1], 1)))  # fmt: skip
        parts = [slice(start, start + batch) for start in range(0, len(users), batch)]

        def top(part: slice) -> tuple[np.ndarray, np.ndarray]:
            some = users[part]
            rows = sp.csr_matrix(user_items[some])
            if keys is None:
                return self._top(some, rows, k, exclude)
            return _top_split(keys, self.split(some, rows), rows, k, exclude)

        # numpy's sorting and arithmetic, and implicit's top-k, release the GIL: one
        # batch per core, each on one BLAS thread (BLAS's own threads on top took 1.5x
        # as long: docs/training-speed.md)
        with (
            threadpool_limits(1, "blas"),
            ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool,
        ):
            done = tqdm(pool.map(top, parts), total=len(parts), desc="best items per user",
                        unit=" batches", disable=not show_progress)  # fmt: skip
            for part, (ids, values) in zip(parts, done, strict=True):
                items[part], scores[part] = ids, values
        return items, scores

    def recommend(
        self,
        users: np.ndarray,
        user_items: sp.csr_matrix,
        n: int,
        *,
        exclude: np.ndarray | None = None,
    ) -> np.ndarray:
        """Top-``n`` item columns per user (one row per user of ``users``), the users' own
        items in ``user_items`` (the whole matrix) and the columns ``exclude`` left out;
        -1 where fewer could be ranked."""
        return self.top_items(user_items, n, users=np.asarray(users), exclude=exclude)[0]

    def _top(
        self, users: np.ndarray, rows: sp.csr_matrix, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        # negated in place, so that the best come first in ascending order
        cost = np.array(self.scores(users, rows), dtype=np.float32)
        np.negative(cost, out=cost)
        cost[rows.nonzero()] = np.inf
        if exclude is not None:
            cost[:, exclude] = np.inf
        top = smallest(cost, min(k, cost.shape[1]))
        values = -np.take_along_axis(cost, top, axis=1)
        return padded(top.astype(np.int32), values)


def smallest(cost: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` smallest columns, smallest first (ties in any order).

    The columns are cut into blocks of ``width``, about sqrt(columns / 2k), and a block
    holding one of a row's ``k`` smallest has a minimum no larger than the ``k``-th
    smallest, which every other block's exceeds (but for ties): so those are among the
    ``k`` blocks of smallest minimum, and only their cells are partitioned. Block ``j``
    is columns ``j, j + blocks, ...``, so its minima are ``width`` vectorized passes
    over the row's slices. A partition of every cell cost 1.3x (2,048 columns) to 4.5x
    (28,284) more (docs/training-speed.md)."""
    rows, count = cost.shape
    width = max(2, int(np.sqrt(count / (2 * max(k, 1)))))
    blocks = -(-count // width)
    if blocks <= k:
        top = np.argpartition(cost, k - 1, axis=1)[:, :k]
    else:
        minima = cost[:, :blocks].copy()
        for start in range(blocks, count, blocks):
            end = min(count, start + blocks)
            np.minimum(minima[:, : end - start], cost[:, start:end], out=minima[:, : end - start])
        best = np.argpartition(minima, k - 1, axis=1)[:, :k]
        cells = (best[:, :, None] + np.arange(0, width * blocks, blocks)).reshape(rows, -1)
        inside = cells < count  # the last slice is short
        values = np.take_along_axis(cost, np.where(inside, cells, 0), axis=1)
        values[~inside] = np.inf
        top = np.take_along_axis(cells, np.argpartition(values, k - 1, axis=1)[:, :k], axis=1)
    order = np.argsort(np.take_along_axis(cost, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def _top_split(
    keys: Keys, split: Split, rows: sp.csr_matrix, k: int, exclude: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items of each row's split scores, its own items (``rows``) and the
    columns ``exclude`` left out: the low-rank part's bands scored with the sparse part
    added (:func:`low_rank_top`), merged with the sparse part's items past where a row's
    bands stopped, scored whole."""
    users = rows.shape[0]
    sparse = sp.csr_matrix(split.sparse, dtype=np.float32)
    own = sp.csr_matrix((np.ones(rows.nnz, dtype=np.float32), rows.indices, rows.indptr),
                        shape=rows.shape)  # fmt: skip
    low_ids, low_scores, reach = low_rank_top(
        keys, np.ascontiguousarray(split.query, dtype=np.float32), k, own, exclude, added=sparse
    )
    found = low_scores > np.finfo(np.float32).min / 2
    low_scores = np.where(found, low_scores + split.offset[:, None], -np.inf)
    # the reached items no band of their row scored, not owned, scored whole; only those
    # whose bound (their sparse score plus the query's norm times their key's, group by
    # group) reaches the row's k-th best can enter its list
    reached_rows = np.repeat(np.arange(users, dtype=np.int64), np.diff(sparse.indptr))
    late = keys.by_norm[2][sparse.indices] >= reach[reached_rows]
    late_rows, late_cols = reached_rows[late], sparse.indices[late]
    bound = np.einsum("ij,ij->i", keys.group_norms(split.query)[late_rows],
                      keys.norms[late_cols]) + sparse.data[late]  # fmt: skip
    kth = low_scores[:, -1] - split.offset if k else np.full(users, -np.inf)
    enters = bound + 1e-5 * np.abs(bound) + 1e-6 >= kth[late_rows]  # float error
    late[late] = enters
    late_rows, late_cols = late_rows[enters], late_cols[enters]
    count = np.int64(sparse.shape[1])
    owned = np.repeat(np.arange(users, dtype=np.int64), np.diff(rows.indptr)) * count
    keep = ~np.isin(late_rows * count + late_cols, owned + rows.indices)
    keep &= ~np.isin(late_cols, exclude)
    rows_of, cols_of = late_rows[keep], late_cols[keep]
    whole = (np.einsum("ij,ij->i", split.query[rows_of], keys.values[cols_of], dtype=np.float64)
             + sparse.data[late][keep] + split.offset[rows_of])  # fmt: skip
    best_ids, best_scores = _row_top(rows_of, cols_of, whole, users, k)
    # both lists merged, best first
    ids = np.hstack([best_ids, low_ids.astype(np.int64)])
    values = np.hstack([best_scores, low_scores])
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    ids = np.take_along_axis(ids, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    return padded(ids.astype(np.int32), values.astype(np.float32))


#: the items :func:`low_rank_top` scores first, by falling norm; each band after is
#: twice the one before; and the scores it holds at once (queries x a band's items)
FIRST_BAND = 2_048
BAND_CELLS = 10_000_000


def low_rank_top(
    keys: Keys,
    query: np.ndarray,
    k: int,
    filtered: sp.csr_matrix,
    exclude: np.ndarray,
    *,
    added: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's ``k`` best items by ``query @ keys.values.T`` (plus its row of
    ``added``, where given), its row of ``filtered`` and the columns ``exclude`` left
    out, best first (ties by item): (items int32, scores float32, and how far each
    query's bands went: no item at or past that place in the norm order was scored),
    -FLT_MAX scored where fewer than ``k`` pass (as implicit's top-k pads).

    The items are scored in bands of falling key norm, and a query stops once its
    ``k``-th best is at least what any item left could score by its key: the sum over
    the keys' groups (a blend's parts) of the query's norm in the group times the
    largest norm left in it (Cauchy-Schwarz, group by group). So without ``added`` the
    lists are those of scoring every item (but for ties within float error); with it,
    those of every item but the ``added`` ones past a query's reach, which the caller
    scores (docs/training-speed.md)."""
    items, ordered, place, largest = keys.by_norm
    count, users = len(items), len(query)
    k = min(k, count)
    floor = np.float32(-np.finfo(np.float32).max)
    best_ids = np.full((users, k), -1, dtype=np.int64)  # places in the norm order
    best = np.full((users, k), floor, dtype=np.float32)
    reach = np.zeros(users, dtype=np.int64)
    edges = _band_edges(count)
    # what each query must not get (its filtered items), and what is added to its
    # scores, by band
    floored = _Banded.of(filtered, place, edges)
    raised = _Banded.of(added, place, edges) if added is not None else None
    left_out = np.zeros(count, dtype=bool)
    left_out[place[np.asarray(exclude, dtype=np.int64)]] = True
    norms = keys.group_norms(query)
    active = np.arange(users) if k else np.arange(0)
    for band, (start, end) in enumerate(itertools.pairwise(edges.tolist())):
        if not len(active):
            break
        band_floored = floored.band(band, start)
        band_raised = raised.band(band, start) if raised is not None else None
        at_once = max(1, BAND_CELLS // (end - start))
        for part in range(0, len(active), at_once):
            some = active[part : part + at_once]
            scores = query[some] @ ordered[start:end].T
            among = np.full(users, -1, dtype=np.int64)
            among[some] = np.arange(len(some))
            if band_raised is not None:
                rows, places, values = band_raised
                mine = among[rows] >= 0
                scores[among[rows[mine]], places[mine]] += values[mine]
            rows, places, _ = band_floored
            mine = among[rows] >= 0
            scores[among[rows[mine]], places[mine]] = floor
            scores[:, left_out[start:end]] = floor
            # this band's k best, joined to the best so far
            if scores.shape[1] > k:
                cost = np.negative(scores, out=scores)
                top = smallest(cost, k)
                scores = -np.take_along_axis(cost, top, axis=1)
                top += start
            else:
                top = np.broadcast_to(np.arange(start, end), scores.shape)
            joined = np.hstack([best[some], scores])
            joined_ids = np.hstack([best_ids[some], top])
            keep = np.argpartition(-joined, k - 1, axis=1)[:, :k]
            best[some] = np.take_along_axis(joined, keep, axis=1)
            best_ids[some] = np.take_along_axis(joined_ids, keep, axis=1)
        reach[active] = end
        if end < count:  # done: the k-th best beats every item left
            kth = best[active].min(axis=1)
            bound = norms[active] @ largest[end]
            active = active[~((kth > floor) & (kth >= bound))]
    ids = np.where(best_ids >= 0, items[np.maximum(best_ids, 0)], -1)
    order = np.lexsort((ids, -best), axis=1)
    return (np.take_along_axis(ids, order, axis=1).astype(np.int32),
            np.take_along_axis(best, order, axis=1), reach)  # fmt: skip


def _band_edges(count: int) -> np.ndarray:
    """Where :func:`low_rank_top`'s bands of ``count`` places start and end."""
    edges, width = [0], FIRST_BAND
    while edges[-1] < count:
        edges.append(min(count, edges[-1] + width))
        width *= 2
    return np.asarray(edges)


@dataclass(frozen=True)
class _Banded:
    """A sparse matrix's entries (row, place in the norm order, value), band by band."""

    rows: np.ndarray
    places: np.ndarray
    values: np.ndarray
    #: where each band's entries start (and the last ends)
    starts: np.ndarray

    @classmethod
    def of(cls, matrix: sp.csr_matrix, place: np.ndarray, edges: np.ndarray) -> _Banded:
        """``matrix``'s entries by band (``edges``), each item at its ``place``."""
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        places = place[matrix.indices]
        bands = (np.searchsorted(edges, places, side="right") - 1).astype(np.int8)
        order = np.argsort(bands, kind="stable")  # a radix sort of small integers
        starts = np.searchsorted(bands[order], np.arange(len(edges)))
        return cls(rows[order], places[order], matrix.data[order], starts)

    def band(self, band: int, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of a band: rows, places counted from the band's ``start``, values."""
        low, high = self.starts[band], self.starts[band + 1]
        return self.rows[low:high], self.places[low:high] - start, self.values[low:high]


#: cells of the padded rows ranked at once by :func:`_row_top`
ROW_TOP_CELLS = 4_000_000


def _row_top(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, count: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` best (column, value) entries, best first (ties by column),
    from entries in row order: (columns -1 padded, values -inf padded), ``count`` rows.
    Rows of similar length are padded to a rectangle together and partitioned, so the
    cost grows with the entries, not with sorting them all."""
    ids = np.full((count, k), -1, dtype=np.int64)
    best = np.full((count, k), -np.inf)
    lengths = np.bincount(rows, minlength=count)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    by_length = np.argsort(lengths, kind="stable")
    by_length = by_length[lengths[by_length] > 0]
    begin = 0
    while begin < len(by_length):
        # the longest rows last: a group's width is its last row's length
        end = begin + 1
        while end < len(by_length) and (end + 1 - begin) * lengths[by_length[end]] <= ROW_TOP_CELLS:
            end += 1
        group = by_length[begin:end]
        width = int(lengths[group[-1]])
        sizes = lengths[group]
        at = np.repeat(np.arange(len(group)), sizes)
        place = np.arange(len(at)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        source = np.repeat(starts[group], sizes) + place
        table = np.full((len(group), width), -np.inf)
        columns = np.full((len(group), width), -1, dtype=np.int64)
        table[at, place], columns[at, place] = values[source], cols[source]
        if width > k:
            top = np.argpartition(-table, k - 1, axis=1)[:, :k]
            table = np.take_along_axis(table, top, axis=1)
            columns = np.take_along_axis(columns, top, axis=1)
        # by column, then (stably) by value: best first, ties by column
        order = np.argsort(np.where(columns < 0, np.iinfo(np.int64).max, columns), axis=1)
        table = np.take_along_axis(table, order, axis=1)
        columns = np.take_along_axis(columns, order, axis=1)
        order = np.argsort(-table, axis=1, kind="stable")
        kept = min(k, table.shape[1])
        best[group, :kept] = np.take_along_axis(table, order, axis=1)[:, :kept]
        ids[group, :kept] = np.take_along_axis(columns, order, axis=1)[:, :kept]
        begin = end
    return ids, best


def padded(items: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mark slots filled with filtered-out items as -1 (scored -FLT_MAX by implicit,
    -inf here)."""
    empty = ~(scores > np.finfo(np.float32).min / 2)
    items[empty] = -1
    scores[empty] = 0
    return items, scores
