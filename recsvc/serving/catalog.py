"""The live catalog a serving process answers from: the model's items, then items added
since training, with stock and prices as the store last said.

Per-item arrays cover the model's items, then catalog items added since training
(:meth:`LiveCatalog.apply`): those have no factors and no popularity, so they only
fill popular lists after every known item of their category.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

from ..artifact import Model
from ..data.ids import IdMap
from ..errors import UnknownItem

NONE = np.array([], dtype=np.int64)
NO_SCORES = np.array([], dtype=np.float32)


class RecommendedItem(TypedDict):
    """One recommended item, with what the catalog knows of it (the response's shape:
    a request builds these dicts once, and they go out as they are)."""

    item_id: str
    score: float
    title: str | None
    category: str | None
    price: float | None
    available: bool


@dataclass(frozen=True)
class CatalogIndex:
    """Category codes and popular orders, overall and per category (built together, so
    a request reads one consistent set while the live catalog grows)."""

    categories: np.ndarray
    category_code: np.ndarray
    popular_order: np.ndarray
    #: popularity in popular_order, so a request slices instead of gathering
    popular_scores: np.ndarray
    popular_by_category: np.ndarray
    popular_by_category_scores: np.ndarray
    #: each category's items in row order, in the same runs
    by_category: np.ndarray
    #: where each category's run starts in popular_by_category and by_category
    category_start: np.ndarray

    @classmethod
    def of(cls, item_categories: np.ndarray, popularity: np.ndarray) -> CatalogIndex:
        """Index items by their categories and popularity."""
        categories, codes = np.unique(item_categories, return_inverse=True)
        code = codes.astype(np.int32)
        order = np.argsort(-popularity, kind="stable").astype(np.int32)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(rank), dtype=np.int32)
        by_category = np.lexsort((rank, code)).astype(np.int32)
        return cls(
            categories=categories,
            category_code=code,
            popular_order=order,
            popular_scores=popularity[order],
            popular_by_category=by_category,
            popular_by_category_scores=popularity[by_category],
            by_category=np.argsort(code, kind="stable").astype(np.int32),
            category_start=np.searchsorted(code[by_category], np.arange(len(categories) + 1)),
        )

    def code_of(self, category: str) -> int:
        """The code of a category, -1 if no item has it."""
        code = int(np.searchsorted(self.categories, category))
        found = code < len(self.categories) and self.categories[code] == category
        return code if found else -1

    def category_rows(self, code: int) -> np.ndarray:
        """The rows of a category's items (by its code), in order; none for -1."""
        if code < 0:
            return NONE
        return self.by_category[self.category_start[code] : self.category_start[code + 1]]

    def popular(self, category: str | None) -> tuple[np.ndarray, np.ndarray]:
        """Items most popular first, within a category if given: (items, popularity)."""
        if category is None:
            return self.popular_order, self.popular_scores
        code = self.code_of(category)
        if code < 0:
            return NONE, NO_SCORES
        span = slice(self.category_start[code], self.category_start[code + 1])
        return self.popular_by_category[span], self.popular_by_category_scores[span]


class LiveCatalog:
    """Every item this process can recommend, with its live stock and price."""

    def __init__(self, model: Model) -> None:
        catalog = model.catalog
        #: the model's items (a request's ids are looked up here first)
        self.model_items: IdMap = model.items
        # plain ndarray views of the memory-mapped arrays: indexing a np.memmap costs
        # microseconds a call, and a request makes dozens
        self.item_ids = np.asarray(model.items.ids)
        self.titles = np.asarray(catalog.title)
        self.categories = np.asarray(catalog.category)
        # live stock updates it; one entry more, always False, for the -1 that pads
        # candidate lists, so a single lookup checks both
        self.in_stock = np.append(np.asarray(catalog.available, dtype=bool), False)
        self.available = self.in_stock[:-1]
        self.price = np.array(catalog.price, dtype=np.float64)  # live price updates it
        self.popularity = np.asarray(model.popularity, dtype=np.float32)
        #: items added since training, by id: their rows follow the model's items
        self.new_items: dict[str, int] = {}
        self.index = CatalogIndex.of(self.categories, self.popularity)

    def apply(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Take catalog changes (``item_id``, ``available``, ``price``, and for new items
        ``title`` and ``category``); the next request sees them."""
        if not entries:
            return
        rows = self.rows([e["item_id"] for e in entries], keep_unknown=True)[0]
        added = [e for row, e in zip(rows.tolist(), entries, strict=True) if row < 0]
        if added:
            self._add(added)
            rows = self.rows([e["item_id"] for e in entries], keep_unknown=True)[0]
        for row, entry in zip(rows.tolist(), entries, strict=True):
            self.available[row] = bool(entry["available"])
            price = entry.get("price")
            self.price[row] = np.nan if price is None else float(price)

    def _add(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Catalog items the model never saw: listed after the known ones, by category."""
        start = len(self.item_ids)
        for offset, entry in enumerate(entries):
            self.new_items[entry["item_id"]] = start + offset
        count = len(entries)
        self.titles = np.concatenate([self.titles, [e.get("title") or "" for e in entries]])
        self.categories = np.concatenate(
            [self.categories, [e.get("category") or "" for e in entries]]
        )
        self.price = np.concatenate([self.price, np.full(count, np.nan)])
        self.in_stock = np.concatenate([self.available, np.ones(count, dtype=bool), [False]])
        self.available = self.in_stock[:-1]
        self.popularity = np.concatenate([self.popularity, np.zeros(count, np.float32)])
        self.item_ids = np.concatenate([self.item_ids, [e["item_id"] for e in entries]])
        self.index = CatalogIndex.of(self.categories, self.popularity)

    def model_row(self, item_id: str, *, field: str = "item_id") -> int:
        """The model's row of an item; :class:`UnknownItem` if the model does not know it."""
        row = int(self.model_items.index([item_id])[0])
        if row < 0:
            raise UnknownItem(f"unknown item {item_id!r}", field=field)
        return row

    def known_rows(self, item_ids: Sequence[str]) -> np.ndarray:
        """Rows of the ids known to the model or added since; unknown ids dropped."""
        if not item_ids:
            return NONE
        rows = self.rows(item_ids, keep_unknown=True)[0]
        return rows[rows >= 0]

    def rows(
        self, item_ids: Sequence[str], *, keep_unknown: bool = False
    ) -> tuple[np.ndarray, list[str]]:
        """Rows of the ids the model (or the live catalog) knows, and the unknown ids.

        Items added since training count as known only with ``keep_unknown`` (which
        keeps -1 for the truly unknown, in place): the model has nothing else on them.
        """
        if not item_ids:
            return NONE, []
        found = self.model_items.index(list(item_ids))
        if keep_unknown:
            for i in np.flatnonzero(found < 0).tolist():
                found[i] = self.new_items.get(item_ids[i], -1)
            return found, []
        unknown = [item_ids[int(i)] for i in np.flatnonzero(found < 0)]
        return found[found >= 0], unknown

    def items(self, rows: np.ndarray, scores: np.ndarray) -> list[RecommendedItem]:
        """The response's items for some rows and their scores."""
        return [
            {
                "item_id": item_id,
                "score": score,
                "title": title or None,
                "category": category or None,
                "price": None if price != price else price,  # NaN: unknown
                "available": available,
            }
            for item_id, score, title, category, price, available in zip(
                self.item_ids[rows].tolist(),
                scores.tolist(),
                self.titles[rows].tolist(),
                self.categories[rows].tolist(),
                self.price[rows].tolist(),
                self.available[rows].tolist(),
                strict=True,
            )
        ]
