"""The recommender: one loaded model version answering for every placement.

A request is a recipe: find the placement's rules, turn the shopper's moment into
rows of the model, decide which items may be shown (:mod:`.filters`), let the
placement's strategy (:mod:`.strategies`) list its candidate sources' stages, and
take items from them in order until there are ``n`` that pass (:mod:`.candidates`):
the strategy's precomputed candidates first, then a full scoring of the catalog by
the same taste, then popular items within the same filters. No item is returned
twice, and fewer than ``n`` only when fewer pass the filters.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..artifact import Model
from ..errors import InvalidRequest
from .candidates import pick
from .catalog import LiveCatalog, RecommendedItem
from .filters import NO_FILTERS, Allowed, Filters, union
from .placements import DEFAULT_PLACEMENTS, Placement
from .sources import Moment, Parts
from .strategies import STRATEGIES
from .taste import Taste


@dataclass(frozen=True)
class Live:
    """What a shopper did after the model's data window ended (from the event store)."""

    #: items viewed, carted or bought since, newest first: folded into the taste
    touched: Sequence[str] = ()
    #: items bought since: left out like the ones bought before
    bought: Sequence[str] = ()


def recommendation_id() -> str:
    """A new list's id: a UUIDv7 (RFC 9562) as 32 hex digits, the time in milliseconds
    first, then 74 random bits. Ids made one after the other sort together, so the
    database's index over them grows at its end: with random ids, storing a batch of
    impressions touched a page of the index per row, and took 4-5 times as long once
    the table held 400,000 rows (docs/serving-speed.md)."""
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")  # 80 bits: 74 used
    value = ((milliseconds & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (random >> 68) << 64
             | 0b10 << 62 | random & 0x3FFF_FFFF_FFFF_FFFF)  # fmt: skip
    return f"{value:032x}"


@dataclass(frozen=True)
class Recommendations:
    """A response: the items, and where they came from."""

    items: list[RecommendedItem]
    strategy: str
    placement: str
    model_version: str
    #: a UUIDv7 in hex: time-ordered (see :func:`recommendation_id`)
    recommendation_id: str = field(default_factory=lambda: recommendation_id())
    #: ids in recent_items / cart_items that the model does not know
    ignored_items: list[str] = field(default_factory=list)


class Recommender:
    """Answers recommendation requests from one model version."""

    def __init__(
        self, model: Model, placements: Mapping[str, Placement] = DEFAULT_PLACEMENTS
    ) -> None:
        self.model = model
        self.placements = placements
        self.parts = Parts.of(model)
        self._user_ids = np.asarray(model.users.ids)  # a plain view: see Parts.of
        self._user_id_width = model.users.width
        self._factored_items = len(self.parts.taste)
        #: the newest event the model learned from (epoch seconds): later ones are live
        last_event = model.manifest.get("data_window", {}).get("last_event")
        self.trained_until = (
            int(np.datetime64(last_event.rstrip("Z"), "s").astype(np.int64)) if last_event else 0
        )

    @property
    def version(self) -> str:
        """The model version served."""
        return self.model.version

    @property
    def catalog(self) -> LiveCatalog:
        """The live catalog (stock, prices, items added since training)."""
        return self.parts.catalog

    @property
    def taste(self) -> Taste:
        """The model's item factors and what follows each item."""
        return self.parts.taste

    def recommend(
        self,
        *,
        placement: str = "home",
        user_id: str | None = None,
        recent_items: Sequence[str] = (),
        cart_items: Sequence[str] = (),
        item_id: str | None = None,
        n: int = 10,
        filters: Filters = NO_FILTERS,
        live: Live = Live(),
        rules: Placement | None = None,
    ) -> Recommendations:
        """Top-``n`` items for a placement, given what is known of the shopper's moment;
        ``rules`` replace the placement's own (an experiment's variant)."""
        if rules is None:
            rules = self._placement(placement)
        if rules.needs_category and filters.category is None:
            raise InvalidRequest(f"placement {placement!r} needs a category", field="category")
        catalog = self.parts.catalog
        recent, unknown_recent = catalog.rows(recent_items)  # oldest first
        cart, unknown_cart = catalog.rows(cart_items)
        touched = recent  # this page's session, then the stored events (newest first)
        latest = recent[::-1]
        if live.touched:
            stored = catalog.known_rows(live.touched)
            touched = np.concatenate([recent, stored])
            latest = np.concatenate([latest, stored])
        if len(touched):  # items added to the catalog since training have no factors
            factored = self._factored_items
            touched_factored, latest = touched[touched < factored], latest[latest < factored]
        else:
            touched_factored = touched
        moment = Moment(
            placement=rules,
            user=self._user_row(user_id),
            session=touched_factored,
            latest=latest,
            cart=cart,
            item=-1 if rules.strategy != "similar" else self._viewed(placement, item_id),
            category=filters.category,
        )
        passing = self._allowed(rules, moment, touched, filters, live)
        stages = STRATEGIES[rules.strategy].stages(self.parts, moment)
        items, scores, strategy = pick(n, passing, stages)
        return Recommendations(
            items=catalog.items(items, scores),
            strategy=strategy,
            placement=placement,
            model_version=self.version,
            ignored_items=unknown_recent + unknown_cart,
        )

    def apply_catalog(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Take catalog changes (see :meth:`LiveCatalog.apply`); the next request sees them."""
        self.catalog.apply(entries)

    def _allowed(
        self, rules: Placement, moment: Moment, touched: np.ndarray, filters: Filters, live: Live
    ) -> Allowed:
        """What the request may be shown: the placement's exclusions and the filters."""
        parts, user = self.parts, moment.user
        excluded = [moment.cart]
        if filters.exclude:
            excluded.append(parts.catalog.known_rows(filters.exclude))
        if rules.exclude_purchased:
            if live.bought:
                excluded.append(parts.catalog.known_rows(live.bought))
            if user >= 0:
                excluded.append(_row(parts.purchased, user))
        if rules.exclude_seen:
            excluded.append(touched)  # the session's views and the live events
            if user >= 0:
                excluded.append(_row(parts.seen, user))
        if moment.item >= 0:
            excluded.append(np.array([moment.item]))
        in_stock = rules.in_stock_only if filters.in_stock is None else filters.in_stock
        return Allowed(parts.catalog, union(excluded), in_stock=in_stock, filters=filters)

    def _placement(self, name: str) -> Placement:
        try:
            return self.placements[name]
        except KeyError:
            known = ", ".join(self.placements)
            raise InvalidRequest(
                f"unknown placement {name!r} (known: {known})", field="placement"
            ) from None

    def _viewed(self, placement: str, item_id: str | None) -> int:
        """The row of the item on the page, for placements that rank by it."""
        if item_id is None:
            raise InvalidRequest(f"placement {placement!r} needs item_id", field="item_id")
        return self.catalog.model_row(item_id)

    def _user_row(self, user_id: str | None) -> int:
        if user_id is None:
            return -1
        ids = self._user_ids
        if len(user_id) > self._user_id_width:  # unknown; and searching it would widen ids
            return -1
        row = int(ids.searchsorted(user_id))
        return row if row < len(ids) and ids[row] == user_id else -1


def _row(matrix: sp.csr_matrix, row: int) -> np.ndarray:
    indices: np.ndarray = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
    return indices
