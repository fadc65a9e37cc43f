"""Business filters: which items a request may be shown.

A placement's rules (in stock only, nothing already bought or seen) and a request's
filters (category, price range, ids to leave out) become one predicate over item
rows, :data:`Allowed`, that every candidate source's items pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .catalog import NONE, LiveCatalog

#: which of some item rows pass a request's rules (a pad, -1, never does)
Allowed = Callable[[np.ndarray], np.ndarray]


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


def allowed(
    catalog: LiveCatalog, excluded: np.ndarray, *, in_stock: bool, filters: Filters
) -> Allowed:
    """Which of some items pass: not ``excluded`` (sorted rows), in stock if asked, and
    within the filters' category and prices (read live from the catalog)."""
    index = catalog.index
    category = None if filters.category is None else index.code_of(filters.category)
    stock, price = catalog.in_stock, catalog.price

    def passing(items: np.ndarray) -> np.ndarray:
        # a pad (-1) reads the last entry of in_stock (False), and whatever it
        # reads below is masked by that
        ok = stock[items] if in_stock else items >= 0
        if len(excluded):  # sorted: a binary search beats np.isin on short lists
            ok &= excluded.take(excluded.searchsorted(items), mode="clip") != items
        if category is not None:
            ok &= index.category_code[items] == category
        if filters.min_price is not None:
            ok &= price[items] >= filters.min_price
        if filters.max_price is not None:
            ok &= price[items] <= filters.max_price
        return ok

    return passing


def union(parts: Sequence[np.ndarray]) -> np.ndarray:
    """The items of some lists, sorted (for the binary search in :func:`allowed`, which
    repeats do not disturb)."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return NONE
    items = np.concatenate(parts).astype(np.int64, copy=False)
    items.sort()
    return items
