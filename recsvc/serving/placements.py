"""Placements: the micro-moment slots of a shop's pages and the rules each one follows.

``RECSVC_PLACEMENTS`` (JSON) changes the defaults or adds placements, e.g.
``{"cart": {"exclude_purchased": false}, "checkout": {"strategy": "cart"}}``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .strategies import STRATEGIES


@dataclass(frozen=True, kw_only=True)
class Placement:
    """How one placement recommends."""

    #: a strategy of recsvc.serving.strategies: personalized (the shopper's taste),
    #: similar (to the item viewed), cart (bought together with the cart's items) or
    #: popular
    strategy: str = "personalized"
    #: leave out what the shopper already bought
    exclude_purchased: bool = True
    #: leave out what the shopper already viewed, carted or bought
    exclude_seen: bool = True
    #: leave out items not in stock (a request's filters can turn this off)
    in_stock_only: bool = True
    #: a category must be given (category pages)
    needs_category: bool = False
    #: similar items only: how much the shopper's taste re-ranks them (0 = not at all)
    taste_weight: float = 0.3

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.strategy!r}; one of {', '.join(STRATEGIES)}")
        if self.taste_weight < 0:
            raise ConfigError("taste_weight must not be negative")


DEFAULT_PLACEMENTS: Mapping[str, Placement] = {
    # "I want to buy", discovery
    "home": Placement(strategy="personalized"),
    # "I want to know / compare": like the item viewed, tilted to the shopper's taste
    "product": Placement(strategy="similar"),
    # "I want to buy": what goes with the cart, never the cart itself
    "cart": Placement(strategy="cart"),
    # personalized within the category being browsed
    "category": Placement(strategy="personalized", needs_category=True),
    # best sellers (GET /v1/popular), seen items allowed
    "popular": Placement(strategy="popular", exclude_seen=False),
}


def parse_placements(text: str | None) -> dict[str, Placement]:
    """The default placements, changed or extended by a JSON object (``RECSVC_PLACEMENTS``)."""
    placements = dict(DEFAULT_PLACEMENTS)
    if not text:
        return placements
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"RECSVC_PLACEMENTS is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("RECSVC_PLACEMENTS must be a JSON object of placement names")
    names = {f.name for f in dataclasses.fields(Placement)}
    for name, rules in data.items():
        if not isinstance(rules, dict):
            raise ConfigError(f"RECSVC_PLACEMENTS[{name!r}] must be an object")
        unknown = set(rules) - names
        if unknown:
            raise ConfigError(
                f"RECSVC_PLACEMENTS[{name!r}]: unknown rules {sorted(unknown)};"
                f" known: {sorted(names)}"
            )
        base: Any = placements.get(name, Placement())
        placements[name] = dataclasses.replace(base, **rules)
    return placements
