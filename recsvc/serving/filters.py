"""Business filters: which items a request may be shown.

A placement's rules (in stock only, nothing already bought or seen) and a request's
filters (category, price range, ids to leave out) become one predicate over item
rows, :class:`Allowed`, that every candidate source's items pass through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .catalog import NONE, LiveCatalog


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Business rules a request adds to its placement's."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    exclude: Sequence[str] = ()
    #: None: the placement's rule (in stock only, by default)
    in_stock: bool | None = None


#: a request's filters when it gives none
NO_FILTERS = Filters()


class Allowed:
    """Which items a request may be shown: not ``excluded`` (sorted rows), in stock if
    asked, and within the filters' category and prices (read live from the catalog).
    Called with some item rows, it says which of them pass (a pad, -1, never does)."""

    def __init__(
        self, catalog: LiveCatalog, excluded: np.ndarray, *, in_stock: bool, filters: Filters
    ) -> None:
        self.catalog, self.excluded, self.in_stock, self.filters = (
            catalog, excluded, in_stock, filters)  # fmt: skip
        index = catalog.index
        self.category = None if filters.category is None else index.code_of(filters.category)

    def __call__(self, items: np.ndarray) -> np.ndarray:
        catalog, excluded = self.catalog, self.excluded
        # a pad (-1) reads the last entry of in_stock (False), and whatever it
        # reads below is masked by that
        ok = catalog.in_stock[items] if self.in_stock else items >= 0
        if len(excluded):
            ok &= ~among(items, excluded)
        if self.category is not None:
            ok &= catalog.index.category_code[items] == self.category
        return self._priced(ok, catalog.price[items])

    def scope(self, count: int) -> tuple[np.ndarray | None, np.ndarray]:
        """Where a scan of the first ``count`` rows (the model's items) need look: the
        rows of the filters' category (sorted), or None for all ``count``; and which of
        those pass. Without a category it costs a few passes over ``count`` booleans,
        not a search per item."""
        if self.category is not None:
            rows = self.catalog.index.category_rows(self.category)
            rows = rows[: rows.searchsorted(count)]
            return rows, self(rows)
        catalog, excluded = self.catalog, self.excluded
        ok = catalog.in_stock[:count].copy() if self.in_stock else np.ones(count, dtype=bool)
        ok[excluded[excluded < count]] = False
        return None, self._priced(ok, catalog.price[:count])

    def _priced(self, ok: np.ndarray, price: np.ndarray) -> np.ndarray:
        if self.filters.min_price is not None:
            ok &= price >= self.filters.min_price
        if self.filters.max_price is not None:
            ok &= price <= self.filters.max_price
        return ok


def among(items: np.ndarray, sorted_items: np.ndarray) -> np.ndarray:
    """Which of ``items`` are among ``sorted_items`` (a binary search beats np.isin on
    short lists)."""
    if not len(sorted_items):
        return np.zeros(len(items), dtype=bool)
    found: np.ndarray = sorted_items.take(sorted_items.searchsorted(items), mode="clip") == items
    return found


def union(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The items of some lists, sorted (for the binary search in :func:`among`, which
    repeats do not disturb)."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return NONE
    items = np.concatenate(parts).astype(np.int64, copy=False)
    items.sort()
    return items
