"""Candidate sources: each offers a request the stages it can give, or none.

A source reads the served model (:class:`Parts`) and the shopper's moment
(:class:`Moment`) and returns its stages (:mod:`.candidates`), or an empty list
when it does not apply (no known shopper, an empty cart...). Strategies
(:mod:`.strategies`) name the sources they walk, in order; :data:`SOURCES` is the
registry of their names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from ..artifact import Model
from .candidates import Stage, fixed, scan
from .catalog import NO_SCORES, NONE, LiveCatalog
from .taste import Taste, plain

if TYPE_CHECKING:  # placements name strategies, which walk these sources
    from .placements import Placement


@dataclass(frozen=True, eq=False)
class Parts:
    """What candidate sources read of the served model."""

    catalog: LiveCatalog
    taste: Taste
    user_factors: np.ndarray
    #: each known shopper's precomputed best items (and scores), -1 padded
    user_top_items: np.ndarray
    user_top_scores: np.ndarray
    #: each item's precomputed nearest items (and cosines), -1 padded
    similar_items: np.ndarray
    similar_scores: np.ndarray
    #: what each shopper touched in training (weighted), and bought
    seen: sp.csr_matrix
    purchased: sp.csr_matrix
    #: item x item: what is bought with what
    bought_together: sp.csr_matrix

    @classmethod
    def of(cls, model: Model) -> Parts:
        """The serving parts of a loaded model, over plain views of its arrays."""
        return cls(
            catalog=LiveCatalog(model),
            taste=Taste(model),
            # plain ndarray views of the memory-mapped arrays: indexing a np.memmap
            # costs microseconds a call, and a request makes dozens
            user_factors=np.asarray(model.user_factors),
            user_top_items=np.asarray(model.user_top_items),
            user_top_scores=np.asarray(model.user_top_scores),
            similar_items=np.asarray(model.similar_items),
            similar_scores=np.asarray(model.similar_scores),
            seen=plain(model.user_items),
            purchased=plain(model.purchased),
            bought_together=plain(model.bought_together),
        )

    def history(self, user: int) -> sp.csr_matrix | None:
        """A known shopper's training row (None for an unknown one)."""
        return self.seen[user] if user >= 0 else None


@dataclass(eq=False, slots=True)
class Moment:
    """What a request knows of the shopper's moment, as rows of the model."""

    placement: Placement
    #: the shopper's row, -1 when the model does not know them
    user: int
    #: this session's items and the live events, oldest first, that have factors
    session: np.ndarray
    #: the same, newest first (what follows them is scored from the newest)
    latest: np.ndarray
    cart: np.ndarray
    #: the item on the page (product placement), -1 without one
    item: int
    category: str | None


Source = Callable[[Parts, Moment], list[Stage]]


def session(parts: Parts, moment: Moment) -> list[Stage]:
    """The session's items folded into a taste (on top of a known shopper's history),
    plus what shoppers touched after its latest items, over the catalog."""
    if not len(moment.session):
        return []
    taste = parts.taste
    folded = taste.fold_in(moment.session, taste.view_weight, parts.history(moment.user))
    return [("session", scan(taste.trained,
                             lambda rows: taste.session_scores(folded, moment.latest, rows),
                             lambda kind: taste.ordered(folded, kind, moment.latest)))]  # fmt: skip


def taste(parts: Parts, moment: Moment) -> list[Stage]:
    """A known shopper's trained taste (no session: that re-ranks the taste): their best
    untouched items ranked at training, then the catalog scored by it. The precomputed
    items leave out what the shopper touched, so only placements that do so too use
    them."""
    user = moment.user
    if user < 0 or len(moment.session):
        return []
    factors = parts.user_factors[user]
    taste = parts.taste
    scan_all = ("personalized", scan(taste.trained, lambda rows: taste.scores(factors, rows),
                                     lambda kind: taste.ordered(factors, kind)))  # fmt: skip
    if not moment.placement.exclude_seen:
        return [scan_all]
    return [("personalized", fixed(parts.user_top_items[user], parts.user_top_scores[user])),
            scan_all]  # fmt: skip


def similar(parts: Parts, moment: Moment) -> list[Stage]:
    """The item's nearest items and what shoppers touched after it, tilted to a known
    shopper's taste by the placement's ``taste_weight``."""
    item, user, taste = moment.item, moment.user, parts.taste
    neighbours, similarity = parts.similar_items[item], parts.similar_scores[item]
    strategy = "similar"
    if taste.next_weight and item < taste.next_items.shape[0]:
        neighbours, similarity = taste.with_followers(item, neighbours, similarity)
    weight = moment.placement.taste_weight
    if user >= 0 and weight > 0 and len(neighbours):
        valid = neighbours >= 0
        tilt = taste.item_factors[neighbours[valid]] @ parts.user_factors[user]
        scale = float(np.abs(tilt).max()) or 1.0
        similarity = similarity.copy()
        similarity[valid] += weight * tilt / scale
        order = np.argsort(-similarity, kind="stable")
        neighbours, similarity = neighbours[order], similarity[order]
        strategy = "similar+taste"
    return [(strategy, fixed(neighbours, similarity))]


def similar_scan(parts: Parts, moment: Moment) -> list[Stage]:
    """The catalog by cosine with the item."""
    return [
        ("similar", scan(parts.taste.trained, lambda rows: parts.taste.cosines(moment.item, rows)))
    ]


def bought_together(parts: Parts, moment: Moment) -> list[Stage]:
    """What the cart's items are bought with, most first."""
    if not len(moment.cart):
        return []
    order, scores = bought_with(parts.bought_together, moment.cart)
    return [("cart", fixed(order, scores))]


def cart_taste(parts: Parts, moment: Moment) -> list[Stage]:
    """The catalog scored by the cart folded into a taste."""
    if not len(moment.cart):
        return []
    taste = parts.taste
    folded = taste.fold_in(moment.cart, taste.cart_weight, parts.history(moment.user))
    return [("cart", scan(taste.trained, lambda rows: taste.scores(folded, rows),
                          lambda kind: taste.ordered(folded, kind)))]  # fmt: skip


def popular(parts: Parts, moment: Moment) -> list[Stage]:
    """Best sellers, within the request's category if it names one."""
    return [("popular", fixed(*parts.catalog.index.popular(moment.category)))]


def bought_with(together: sp.csr_matrix, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The items bought with some items (their rows of the bought-together matrix
    summed, in its dtype and the rows' order), most first, ties by row: (items, summed
    similarity). Only the rows' entries are read, not a vector of the catalog's length
    (2.7 ms of a cart's 3.9 at a million items)."""
    rows = [slice(together.indptr[item], together.indptr[item + 1]) for item in items.tolist()]
    if not rows:
        return NONE, NO_SCORES
    columns = np.concatenate([together.indices[row] for row in rows])
    candidates, where = np.unique(columns, return_inverse=True)
    summed = np.zeros(len(candidates), dtype=together.dtype)
    np.add.at(summed, where, np.concatenate([together.data[row] for row in rows]))
    kept = summed != 0  # a stored zero is no evidence
    candidates, summed = candidates[kept], summed[kept]
    order = np.argsort(-summed, kind="stable")
    return candidates[order], summed[order]


#: every candidate source, by the name strategies give it
SOURCES: Mapping[str, Source] = {
    "session": session,
    "taste": taste,
    "similar": similar,
    "similar-scan": similar_scan,
    "bought-together": bought_together,
    "cart-taste": cart_taste,
    "popular": popular,
}
