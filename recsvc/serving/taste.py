"""A shopper's taste: ALS's item factors, folding in a session, and what follows items.

A large catalog's scans for a taste go through the items in falling order of their
factors' norm (:class:`NormOrder`): no item can score above the taste's norm times its
own (Cauchy-Schwarz), so a scan stops once its best items beat that bound for every
item left, with the same items as a scan of the whole catalog. ALS gives the items
shoppers touch most the longest factors: at a million items, the 10th best of a
shopper's taste was beaten by the bound of all but 0.02% of the catalog (median of 200
shoppers, docs/serving-speed.md).

Everything here is numpy on one thread: no OpenMP region ever runs in a serving
process (docs/architecture.md: the fork + OpenMP hang).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..artifact import Model
from ..scoring import added_weight, spread
from .catalog import NO_SCORES, NONE

#: catalogs above this many items scan by the norm order (below, every item is scored:
#: 1.3-1.7 ms at 100,000 items, docs/serving-speed.md)
EXACT_SCAN_MAX_ITEMS = 100_000


@dataclass(frozen=True)
class NormOrder:
    """The trained items in falling order of their factors' norm, and the norms; and the
    same within each category (runs of ``category_rows``)."""

    rows: np.ndarray
    norms: np.ndarray
    category_rows: np.ndarray
    category_norms: np.ndarray
    #: each category's run (start, end) in category_rows
    runs: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, item_norms: np.ndarray, trained: np.ndarray, categories: np.ndarray) -> NormOrder:
        """The orders of the ``trained`` items (0.5 s and 15 MB at a million items);
        ``categories``: each item's (the model's items never change theirs)."""
        rows = np.flatnonzero(trained).astype(np.int32)
        falling = rows[np.argsort(-item_norms[rows], kind="stable")]
        names, codes = np.unique(np.asarray(categories)[rows], return_inverse=True)
        grouped = rows[np.lexsort((-item_norms[rows], codes))]
        starts = np.searchsorted(np.sort(codes), np.arange(len(names) + 1)).tolist()
        runs = {str(name): (starts[i], starts[i + 1]) for i, name in enumerate(names.tolist())}
        return cls(falling, item_norms[falling].astype(np.float32),
                   grouped, item_norms[grouped].astype(np.float32), runs)  # fmt: skip

    def within(self, category: str | None) -> tuple[np.ndarray, np.ndarray]:
        """The rows and norms of the catalog's order, or of a category's (none for a
        category no trained item has)."""
        if category is None:
            return self.rows, self.norms
        start, end = self.runs.get(category, (0, 0))
        return self.category_rows[start:end], self.category_norms[start:end]


class Ordered(NamedTuple):
    """A scan by a taste through a norm order: no row past position ``p`` of ``rows``
    scores above ``taste_norm * norms[p]``, except ``first``'s (sorted), which are
    scored before all."""

    rows: np.ndarray
    norms: np.ndarray
    taste_norm: float
    first: np.ndarray


class Taste:
    """Scores of the catalog's trained items for a taste, an item, or a session."""

    def __init__(self, model: Model) -> None:
        self.item_factors = np.asarray(model.item_factors)
        self.item_norms = np.linalg.norm(self.item_factors, axis=1)
        self.item_norms[self.item_norms == 0] = 1e-10
        #: items with no interactions have all-zero factors: no taste can rank them
        self.trained = np.asarray(model.popularity)[: len(self.item_factors)] > 0
        parameters = model.parameters
        # what ALS fitted with: folding in a taste solves with them
        self.regularization = float(parameters["als_regularization"])
        self.alpha = float(parameters["als_alpha"])
        weights = parameters["event_weights"]
        self.view_weight = float(weights.get("view", 1.0))
        self.cart_weight = float(weights.get("add_to_cart", self.view_weight))
        self.gram = self.item_factors.T @ self.item_factors  # YtY, for folding in
        #: the mean item factor: with the gram matrix, the spread of a taste's scores
        #: over the catalog without scoring it
        self.mean_factor = self.item_factors.mean(axis=0, dtype=np.float64)
        #: the same for cosines: unit-length item factors, their gram and mean
        self.unit_factors = self.item_factors / self.item_norms[:, None]
        self.unit_gram = self.unit_factors.T @ self.unit_factors
        self.mean_unit_factor = self.unit_factors.mean(axis=0, dtype=np.float64)
        #: what users touched after each item, and how a session's items are scored by
        #: it (the training settings; off for versions without it)
        self.next_items = plain(model.next_items)
        self.next_weight = float(parameters.get("next_items_weight", 0)) * bool(self.next_items.nnz)
        self.next_recent = int(parameters.get("next_items_recent", 10))
        self.next_decay = float(parameters.get("next_items_decay", 0.9))
        #: a catalog of more items than EXACT_SCAN_MAX_ITEMS is scanned by the norm order
        self.norm_order = None
        if len(self.item_factors) > EXACT_SCAN_MAX_ITEMS:
            categories = np.asarray(model.catalog.category)[: len(self.item_factors)]
            self.norm_order = NormOrder.of(self.item_norms, self.trained, categories)

    def __len__(self) -> int:
        """How many items have factors (the model's items)."""
        return len(self.item_factors)

    def fold_in(
        self, items: np.ndarray, weight: float, history: sp.csr_matrix | None
    ) -> np.ndarray:
        """A taste vector from items, as ALS would fit it with the item factors fixed.

        The same solve as implicit's ``recalculate_user`` (confidence = alpha x weight),
        in numpy so that no OpenMP runs in a serving process.
        """
        weights = np.full(len(items), weight, dtype=np.float64)
        if history is not None and history.nnz:
            items = np.concatenate([history.indices, items])
            weights = np.concatenate([history.data, weights])
        unique, inverse = np.unique(items, return_inverse=True)
        confidence = self.alpha * np.bincount(inverse, weights=weights)
        factors = self.item_factors[unique].astype(np.float64)
        size = factors.shape[1]
        a = self.gram + self.regularization * np.eye(size)
        a += factors.T @ ((confidence - 1)[:, None] * factors)
        b = factors.T @ confidence
        return np.asarray(np.linalg.solve(a, b), dtype=np.float32)

    def ordered(
        self, taste: np.ndarray, category: str | None, latest: np.ndarray = NONE
    ) -> Ordered | None:
        """A scan by ``taste`` of the catalog or a category through the norm order, with
        what follows a session's ``latest`` items (scored first: their scores are not
        the taste's alone); None for a catalog of at most ``EXACT_SCAN_MAX_ITEMS`` items,
        whose scans score every item."""
        if self.norm_order is None:
            return None
        first = self.next_scores(latest)[0] if self.next_weight and len(latest) else NONE
        rows, norms = self.norm_order.within(category)
        return Ordered(rows, norms, float(np.linalg.norm(taste)), first)

    def scores(self, taste: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Every item's score for a taste (a new array), or some rows' (sorted)."""
        factors = self.item_factors if rows is None else self.item_factors[rows]
        scores: np.ndarray = factors @ taste
        return scores

    def session_scores(
        self, taste: np.ndarray, latest: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """A session's scores, of every item or of some rows (sorted): its taste's, plus
        what users touched after its ``latest`` items (newest first) as training blends
        them (:mod:`recsvc.scoring`).

        Next items score a few hundred items; the taste's spread over the catalog
        comes from the gram matrix, so the catalog is scored at most once."""
        scores = self.scores(taste, rows)
        if self.next_weight and len(latest):
            items, values = self.next_scores(latest)
            count = len(self.item_factors)  # the catalog's spread, whatever is scored
            next_spread = spread(values.sum() / count, values @ values / count)
            mean = float(self.mean_factor @ taste)
            taste_spread = spread(mean, float(taste @ self.gram @ taste) / count)
            values = added_weight(self.next_weight, taste_spread, next_spread) * values
            if rows is None:
                scores[items] += values
            else:
                at = _positions(rows, items)
                scores[at[at >= 0]] += values[at >= 0]
        return scores

    def next_scores(self, latest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What users touched after these items (newest first), each step back weighing
        ``next_decay`` times the one after it (as the next-items model scores users):
        the items with a score, and their scores."""
        following = self.next_items
        columns, weights = [], []
        for age, item in enumerate(latest[: self.next_recent].tolist()):
            row = slice(following.indptr[item], following.indptr[item + 1])
            columns.append(following.indices[row])
            weights.append(self.next_decay**age * following.data[row])
        if len(columns) < 2:  # one row of a CSR matrix: distinct items already
            return (columns[0], weights[0]) if columns else (NONE, NO_SCORES)
        items, where = np.unique(np.concatenate(columns), return_inverse=True)
        return items, np.bincount(where, weights=np.concatenate(weights))

    def cosines(self, item: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Every item's cosine with an item (of their factors), or some rows'."""
        norms = self.item_norms if rows is None else self.item_norms[rows]
        scores = self.scores(self.item_factors[item], rows)
        return np.asarray(scores / (norms * self.item_norms[item]))

    def with_followers(
        self, item: int, neighbours: np.ndarray, similarity: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """An item's nearest items and what users touched after it, ranked as training
        blends a taste with next items: cosine + weight x next items, each on the
        catalog's scale (the cosines' spread from the normalized factors' gram)."""
        followers, following = self.next_scores(np.array([item]))
        others = followers != item
        followers, following = followers[others], following[others]
        count = len(self.unit_factors)
        next_spread = spread(following.sum() / count, following @ following / count)
        if not next_spread:
            return neighbours, similarity
        unit = self.unit_factors[item]
        mean = float(self.mean_unit_factor @ unit)
        cosine_spread = spread(mean, float(unit @ self.unit_gram @ unit) / count)
        candidates = np.union1d(neighbours[neighbours >= 0], followers)
        scores = self.unit_factors[candidates] @ unit
        scores[candidates.searchsorted(followers)] += (
            added_weight(self.next_weight, cosine_spread, next_spread) * following
        )
        order = np.argsort(-scores, kind="stable")
        return candidates[order], scores[order]


def _positions(rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Where each of ``items`` is in ``rows`` (sorted), -1 where it is not."""
    at = rows.searchsorted(items)
    inside = at < len(rows)
    found = np.zeros(len(items), dtype=bool)
    found[inside] = rows[at[inside]] == items[inside]
    return np.where(found, at, -1)


def plain(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same CSR matrix over plain ndarray views of its (memory-mapped) arrays."""
    return sp.csr_matrix(
        (np.asarray(matrix.data), np.asarray(matrix.indices), np.asarray(matrix.indptr)),
        shape=matrix.shape,
        copy=False,
    )
