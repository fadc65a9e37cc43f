"""The recommender: one loaded model version answering for every placement.

A request runs through stages until it has ``n`` items that pass its filters: the
strategy's precomputed candidates first (a known user's best items, an item's
nearest items, what the cart's items are bought with), then a full scoring of the
catalog by the same taste, then popular items within the same filters. No item is
returned twice, and fewer than ``n`` only when fewer pass the filters.

Everything here is numpy on one thread: no OpenMP region ever runs in a serving
process (ARCHITECTURE.md: the fork + OpenMP hang).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import scipy.sparse as sp

from ..artifact import Model
from ..errors import InvalidRequest, UnknownItem
from .placements import DEFAULT_PLACEMENTS, Placement

Allowed = Callable[[np.ndarray], np.ndarray]
#: a named source of candidates: (how many are wanted, which items pass) -> (items, scores)
Candidates = Callable[[int, Allowed], tuple[np.ndarray, np.ndarray]]
Stage = tuple[str, Candidates]


@dataclass(frozen=True, kw_only=True)
class Filters:
    """Business rules a request adds to its placement's."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    exclude: Sequence[str] = ()
    #: None: the placement's rule (in stock only, by default)
    in_stock: bool | None = None


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
    #: where each category's run starts in popular_by_category
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
            category_start=np.searchsorted(code[by_category], np.arange(len(categories) + 1)),
        )

    def code_of(self, category: str) -> int:
        """The code of a category, -1 if no item has it."""
        code = int(np.searchsorted(self.categories, category))
        found = code < len(self.categories) and self.categories[code] == category
        return code if found else -1


@dataclass(frozen=True)
class Live:
    """What a shopper did after the model's data window ended (from the event store)."""

    #: items viewed, carted or bought since, newest first: folded into the taste
    touched: Sequence[str] = ()
    #: items bought since: left out like the ones bought before
    bought: Sequence[str] = ()


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
class Recommendations:
    """A response: the items, and where they came from."""

    items: list[RecommendedItem]
    strategy: str
    placement: str
    model_version: str
    #: 128 random bits in hex (building a uuid.UUID for them cost 2 µs a request)
    recommendation_id: str = field(default_factory=lambda: os.urandom(16).hex())
    #: ids in recent_items / cart_items that the model does not know
    ignored_items: list[str] = field(default_factory=list)


class Recommender:
    """Answers recommendation requests from one model version."""

    def __init__(
        self, model: Model, placements: Mapping[str, Placement] = DEFAULT_PLACEMENTS
    ) -> None:
        self.model = model
        self.placements = placements
        catalog = model.catalog
        # plain ndarray views of the memory-mapped arrays: indexing a np.memmap costs
        # microseconds a call, and a request makes dozens
        self.user_ids = np.asarray(model.users.ids)
        self.user_factors = np.asarray(model.als.user_factors)
        self.user_top_items = np.asarray(model.user_top_items)
        self.user_top_scores = np.asarray(model.user_top_scores)
        self.similar_items = np.asarray(model.similar_items)
        self.similar_scores = np.asarray(model.similar_scores)
        self.seen = _plain(model.user_items)
        self.purchased = _plain(model.purchased)
        # Per-item arrays cover the model's items, then catalog items added since
        # training (apply_catalog): those have no factors and no popularity, so they
        # only fill popular lists after every known item of their category.
        self.item_ids = np.asarray(model.items.ids)
        self.titles = np.asarray(catalog.title)
        self.item_categories = np.asarray(catalog.category)
        # live stock updates it; one entry more, always False, for the -1 that pads
        # candidate lists, so a single lookup checks both
        self._in_stock = np.append(np.asarray(catalog.available, dtype=bool), False)
        self.available = self._in_stock[:-1]
        self.price = np.array(catalog.price, dtype=np.float64)  # live price updates it
        self.popularity = np.asarray(model.popularity, dtype=np.float32)
        self.new_items: dict[str, int] = {}
        self._index_catalog()
        self.item_factors = np.asarray(model.als.item_factors)
        self.item_norms = np.linalg.norm(self.item_factors, axis=1)
        self.item_norms[self.item_norms == 0] = 1e-10
        #: items with no interactions have all-zero factors: no taste can rank them
        self.trained = self.popularity[: len(self.item_factors)] > 0
        als = model.als.implicit
        self.regularization = float(als.regularization)
        self.alpha = float(als.alpha)
        self.gram = self.item_factors.T @ self.item_factors  # YtY, for folding in
        #: the mean item factor: with the gram matrix, the spread of a taste's scores
        #: over the catalog without scoring it
        self.mean_factor = self.item_factors.mean(axis=0, dtype=np.float64)
        #: the same for cosines: unit-length item factors, their gram and mean
        self.unit_factors = self.item_factors / self.item_norms[:, None]
        self.unit_gram = self.unit_factors.T @ self.unit_factors
        self.mean_unit_factor = self.unit_factors.mean(axis=0, dtype=np.float64)
        #: the newest event the model learned from (epoch seconds): later ones are live
        last_event = model.manifest.get("data_window", {}).get("last_event")
        self.trained_until = (
            int(np.datetime64(last_event.rstrip("Z"), "s").astype(np.int64)) if last_event else 0
        )
        parameters = model.manifest["parameters"]
        #: what users touched after each item, and how a session's items are scored by
        #: it (the training settings; off for versions without it)
        self.next_items = _plain(model.next_items)
        self.next_weight = float(parameters.get("next_items_weight", 0)) * bool(self.next_items.nnz)
        self.next_recent = int(parameters.get("next_items_recent", 10))
        self.next_decay = float(parameters.get("next_items_decay", 0.9))
        weights = parameters["event_weights"]
        self.view_weight = float(weights.get("view", 1.0))
        self.cart_weight = float(weights.get("add_to_cart", self.view_weight))

    def _index_catalog(self) -> None:
        """Category codes and popular orders of every item, swapped in as one object."""
        self.index = CatalogIndex.of(self.item_categories, self.popularity)

    @property
    def popular_order(self) -> np.ndarray:
        """Every item, most popular first."""
        return self.index.popular_order

    @property
    def categories(self) -> np.ndarray:
        """The catalog's categories, sorted."""
        return self.index.categories

    @property
    def version(self) -> str:
        """The model version served."""
        return self.model.version

    def recommend(
        self,
        *,
        placement: str = "home",
        user_id: str | None = None,
        recent_items: Sequence[str] = (),
        cart_items: Sequence[str] = (),
        item_id: str | None = None,
        n: int = 10,
        filters: Filters = Filters(),
        live: Live = Live(),
    ) -> Recommendations:
        """Top-``n`` items for a placement, given what is known of the shopper's moment."""
        rules = self._placement(placement)
        if rules.needs_category and filters.category is None:
            raise InvalidRequest(f"placement {placement!r} needs a category", field="category")
        user = self._user_row(user_id)
        recent, unknown_recent = self._known_items(recent_items)  # oldest first
        cart, unknown_cart = self._known_items(cart_items)
        latest = recent[::-1]  # newest first: this page's session, then the stored events
        if live.touched:
            touched = self._item_indices(live.touched)
            recent = np.concatenate([recent, touched])
            latest = np.concatenate([latest, touched])
        excluded = [self._item_indices(filters.exclude), cart]
        if rules.exclude_purchased:
            excluded.append(self._item_indices(live.bought))
            if user >= 0:
                excluded.append(_row(self.purchased, user))
        if rules.exclude_seen:
            excluded.append(recent)  # the session's views and the live events
            if user >= 0:
                excluded.append(_row(self.seen, user))
        viewed = -1
        if rules.strategy == "similar":
            if item_id is None:
                raise InvalidRequest(f"placement {placement!r} needs item_id", field="item_id")
            viewed = self.item_index(item_id)
            excluded.append(np.array([viewed]))
        allowed = self._allowed(
            _union(excluded),
            in_stock=rules.in_stock_only if filters.in_stock is None else filters.in_stock,
            filters=filters,
        )
        if rules.strategy == "similar":
            stages = self._similar_stages(viewed, user, rules.taste_weight)
        elif rules.strategy == "cart" and len(cart):
            stages = self._cart_stages(cart, user)
        elif rules.strategy == "popular":
            stages = []
        else:
            if len(recent):  # items added to the catalog since training have no factors
                recent = recent[recent < len(self.item_factors)]
                latest = latest[latest < len(self.item_factors)]
            stages = self._taste_stages(user, recent, latest, precomputed=rules.exclude_seen)
        stages.append(("popular", self._popular_stage(filters.category)))
        items, scores, strategy = _pick(n, allowed, stages)
        return Recommendations(
            items=self._items(items, scores),
            strategy=strategy,
            placement=placement,
            model_version=self.version,
            ignored_items=unknown_recent + unknown_cart,
        )

    def apply_catalog(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Take catalog changes (``item_id``, ``available``, ``price``, and for new items
        ``title`` and ``category``); the next request sees them."""
        if not entries:
            return
        index = self._known_items([e["item_id"] for e in entries], keep_unknown=True)[0]
        added = [e for row, e in zip(index.tolist(), entries, strict=True) if row < 0]
        if added:
            self._add_items(added)
            index = self._known_items([e["item_id"] for e in entries], keep_unknown=True)[0]
        for row, entry in zip(index.tolist(), entries, strict=True):
            self.available[row] = bool(entry["available"])
            price = entry.get("price")
            self.price[row] = np.nan if price is None else float(price)

    def _add_items(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Catalog items the model never saw: listed after the known ones, by category."""
        start = len(self.item_ids)
        for offset, entry in enumerate(entries):
            self.new_items[entry["item_id"]] = start + offset
        count = len(entries)
        self.titles = np.concatenate([self.titles, [e.get("title") or "" for e in entries]])
        self.item_categories = np.concatenate(
            [self.item_categories, [e.get("category") or "" for e in entries]]
        )
        self.price = np.concatenate([self.price, np.full(count, np.nan)])
        self._in_stock = np.concatenate([self.available, np.ones(count, dtype=bool), [False]])
        self.available = self._in_stock[:-1]
        self.popularity = np.concatenate([self.popularity, np.zeros(count, np.float32)])
        self.item_ids = np.concatenate([self.item_ids, [e["item_id"] for e in entries]])
        self._index_catalog()

    def item_index(self, item_id: str) -> int:
        """The model's column of an item; :class:`UnknownItem` if the model does not know it."""
        index = int(self.model.items.index([item_id])[0])
        if index < 0:
            raise UnknownItem(f"unknown item {item_id!r}", field="item_id")
        return index

    # -- stages ------------------------------------------------------------------------

    def _taste_stages(
        self, user: int, recent: np.ndarray, latest: np.ndarray, *, precomputed: bool
    ) -> list[Stage]:
        """A known user's precomputed best items, then the catalog scored by their taste.

        Recent items (this session's views, and events since the model's data) are
        folded into the taste on the fly, and what users touched after the ``latest``
        of them (newest first) is added as training added it to the candidates.
        """
        stages: list[Stage] = []
        if user >= 0 and not len(recent):
            if precomputed:
                top = self.user_top_items[user]
                scores = self.user_top_scores[user]
                stages.append(("personalized", lambda *_: (top, scores)))
            factors = self.user_factors[user]
            stages.append(("personalized", self._scan(lambda: self.item_factors @ factors)))
        elif len(recent):
            history = self.seen[user] if user >= 0 else None
            taste = self._fold_in(recent, self.view_weight, history)

            def session() -> np.ndarray:
                scores: np.ndarray = self.item_factors @ taste
                if self.next_weight and len(latest):
                    self._add_next_items(scores, taste, latest)
                return scores

            stages.append(("session", self._scan(session)))
        return stages

    def _add_next_items(self, scores: np.ndarray, taste: np.ndarray, latest: np.ndarray) -> None:
        """Add to a taste's scores what users touched after the ``latest`` items, as
        training blends them: each standardized over the catalog, then weighted.

        Per request the means drop out of the ranking, so this adds
        ``weight x spread(taste) / spread(next) x next`` where next items has scores:
        a few hundred entries, and the taste's spread comes from the gram matrix."""
        items, values = self._next_scores(latest)
        count = len(scores)
        next_spread = np.sqrt(max(values @ values / count - (values.sum() / count) ** 2, 0.0))
        mean = float(self.mean_factor @ taste)
        spread = np.sqrt(max(float(taste @ self.gram @ taste) / count - mean**2, 0.0))
        if next_spread > 0:
            scores[items] += self.next_weight * spread / next_spread * values

    def _next_scores(self, latest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
            return (columns[0], weights[0]) if columns else (_NONE, _NO_SCORES)
        items, where = np.unique(np.concatenate(columns), return_inverse=True)
        return items, np.bincount(where, weights=np.concatenate(weights))

    def _similar_stages(self, item: int, user: int, taste_weight: float) -> list[Stage]:
        """The item's nearest items (tilted to a known user's taste), then a cosine scan."""
        neighbours = self.similar_items[item]
        similarity = self.similar_scores[item]
        strategy = "similar"
        if self.next_weight and item < self.next_items.shape[0]:
            neighbours, similarity = self._with_followers(item, neighbours, similarity)
        if user >= 0 and taste_weight > 0 and len(neighbours):
            valid = neighbours >= 0
            taste = self.item_factors[neighbours[valid]] @ self.user_factors[user]
            scale = float(np.abs(taste).max()) or 1.0
            similarity = similarity.copy()
            similarity[valid] += taste_weight * taste / scale
            order = np.argsort(-similarity, kind="stable")
            neighbours, similarity = neighbours[order], similarity[order]
            strategy = "similar+taste"

        def cosine() -> np.ndarray:
            scores = self.item_factors @ self.item_factors[item]
            return np.asarray(scores / (self.item_norms * self.item_norms[item]))

        return [
            (strategy, lambda *_: (neighbours, similarity)),
            ("similar", self._scan(cosine)),
        ]

    def _with_followers(
        self, item: int, neighbours: np.ndarray, similarity: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """An item's nearest items and what users touched after it, ranked as training
        blends a taste with next items: cosine + weight x next items, each on the
        catalog's scale (the cosines' spread from the normalized factors' gram)."""
        followers, following = self._next_scores(np.array([item]))
        others = followers != item
        followers, following = followers[others], following[others]
        count = len(self.unit_factors)
        next_spread = np.sqrt(
            max(following @ following / count - (following.sum() / count) ** 2, 0.0)
        )
        if not next_spread:
            return neighbours, similarity
        unit = self.unit_factors[item]
        mean = float(self.mean_unit_factor @ unit)
        spread = np.sqrt(max(float(unit @ self.unit_gram @ unit) / count - mean**2, 0.0))
        candidates = np.union1d(neighbours[neighbours >= 0], followers)
        scores = self.unit_factors[candidates] @ unit
        scores[candidates.searchsorted(followers)] += (
            self.next_weight * spread / next_spread * following
        )
        order = np.argsort(-scores, kind="stable")
        return candidates[order], scores[order]

    def _cart_stages(self, cart: np.ndarray, user: int) -> list[Stage]:
        """What the cart's items are bought with, then the catalog scored by the cart."""
        together = self.model.bought_together.similarity
        summed = np.asarray(together[cart].sum(axis=0)).reshape(-1)
        candidates = np.flatnonzero(summed)
        order = candidates[np.argsort(-summed[candidates], kind="stable")]
        history = self.seen[user] if user >= 0 else None
        taste = self._fold_in(cart, self.cart_weight, history)
        return [
            ("cart", lambda *_: (order, summed[order])),
            ("cart", self._scan(lambda: self.item_factors @ taste)),
        ]

    def _popular_stage(self, category: str | None) -> Candidates:
        order: np.ndarray
        scores: np.ndarray
        index = self.index
        if category is None:
            order, scores = index.popular_order, index.popular_scores
        else:
            code = index.code_of(category)
            if code < 0:
                order, scores = _NONE, _NO_SCORES
            else:
                span = slice(index.category_start[code], index.category_start[code + 1])
                order = index.popular_by_category[span]
                scores = index.popular_by_category_scores[span]
        return lambda *_: (order, scores)

    def _scan(self, score_all: Callable[[], np.ndarray]) -> Candidates:
        """A stage scoring every trained item that passes the rules, best first.

        Only runs when the stages before it fell short.
        """

        def stage(wanted: int, allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
            passing = self.trained & allowed(np.arange(len(self.trained)))  # model's items
            k = min(wanted, int(passing.sum()))
            if k <= 0:
                return np.array([], dtype=np.int64), np.array([], dtype=np.float32)
            scores = np.where(passing, score_all(), -np.inf)
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            return top, scores[top]

        return stage

    # -- helpers -----------------------------------------------------------------------

    def _fold_in(
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

    def _allowed(self, excluded: np.ndarray, *, in_stock: bool, filters: Filters) -> Allowed:
        """Which of some items pass the request's rules."""
        index = self.index
        category = None if filters.category is None else index.code_of(filters.category)

        def allowed(items: np.ndarray) -> np.ndarray:
            # a pad (-1) reads the last entry of _in_stock (False), and whatever it
            # reads below is masked by that
            ok = self._in_stock[items] if in_stock else items >= 0
            if len(excluded):  # sorted: a binary search beats np.isin on short lists
                ok &= excluded.take(excluded.searchsorted(items), mode="clip") != items
            if category is not None:
                ok &= index.category_code[items] == category
            if filters.min_price is not None:
                ok &= self.price[items] >= filters.min_price
            if filters.max_price is not None:
                ok &= self.price[items] <= filters.max_price
            return ok

        return allowed

    def _placement(self, name: str) -> Placement:
        try:
            return self.placements[name]
        except KeyError:
            known = ", ".join(self.placements)
            raise InvalidRequest(
                f"unknown placement {name!r} (known: {known})", field="placement"
            ) from None

    def _user_row(self, user_id: str | None) -> int:
        if user_id is None:
            return -1
        row = int(self.user_ids.searchsorted(user_id))
        return row if row < len(self.user_ids) and self.user_ids[row] == user_id else -1

    def _item_indices(self, item_ids: Sequence[str]) -> np.ndarray:
        """Rows of the ids known to the model or added since; unknown ids dropped."""
        if not item_ids:
            return _NONE
        rows = self._known_items(item_ids, keep_unknown=True)[0]
        return rows[rows >= 0]

    def _known_items(
        self, item_ids: Sequence[str], *, keep_unknown: bool = False
    ) -> tuple[np.ndarray, list[str]]:
        """Rows of the ids the model (or the live catalog) knows, and the unknown ids.

        Items added since training count as known only with ``keep_unknown`` (which
        keeps -1 for the truly unknown, in place): the model has nothing else on them.
        """
        if not item_ids:
            return _NONE, []
        found = self.model.items.index(list(item_ids))
        if keep_unknown:
            for i in np.flatnonzero(found < 0).tolist():
                found[i] = self.new_items.get(item_ids[i], -1)
            return found, []
        unknown = [item_ids[int(i)] for i in np.flatnonzero(found < 0)]
        return found[found >= 0], unknown

    def _items(self, items: np.ndarray, scores: np.ndarray) -> list[RecommendedItem]:
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
                self.item_ids[items].tolist(),
                scores.tolist(),
                self.titles[items].tolist(),
                self.item_categories[items].tolist(),
                self.price[items].tolist(),
                self.available[items].tolist(),
                strict=True,
            )
        ]


_NONE = np.array([], dtype=np.int64)
_NO_SCORES = np.array([], dtype=np.float32)


def _plain(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same CSR matrix over plain ndarray views of its (memory-mapped) arrays."""
    return sp.csr_matrix(
        (np.asarray(matrix.data), np.asarray(matrix.indices), np.asarray(matrix.indptr)),
        shape=matrix.shape,
        copy=False,
    )


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """The items of some lists, sorted (for the binary search in ``allowed``, which
    repeats do not disturb)."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return _NONE
    union = np.concatenate(parts).astype(np.int64, copy=False)
    union.sort()
    return union


def _row(matrix: sp.csr_matrix, row: int) -> np.ndarray:
    indices: np.ndarray = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
    return indices


def _pick(n: int, allowed: Allowed, stages: list[Stage]) -> tuple[np.ndarray, np.ndarray, str]:
    """Take allowed items from the stages in order until there are ``n``.

    Candidates are checked in growing windows, so a long list (the popular order of
    a large catalog) costs in proportion to what is taken, not to its length. A
    stage lists each item once; an item an earlier stage gave is not taken again.
    The strategy reported is the stage that gave the first item.
    """
    items: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    taken: set[int] = set()
    count = 0
    strategy = stages[-1][0]
    for name, stage in stages:
        before = count
        candidates, candidate_scores = stage(n + before, allowed)
        start, window = 0, max(64, 4 * (n + before))
        while start < len(candidates) and count < n:
            part = np.asarray(candidates[start : start + window], dtype=np.int64)
            keep = allowed(part)
            if before:
                keep &= [item not in taken for item in part.tolist()]
            chosen = keep.nonzero()[0][: n - count]
            items.append(part[chosen])
            scores.append(candidate_scores[start + chosen if start else chosen])
            count += len(chosen)
            start, window = start + window, window * 4
        if before == 0 and count:
            strategy = name
        if count == n:
            break
        taken.update(np.concatenate(items).tolist() if items else ())
    if len(items) == 1:
        return items[0], scores[0], strategy
    return np.concatenate([_NONE, *items]), np.concatenate([_NO_SCORES, *scores]), strategy
