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
    for name, rules in data.items():
        placements[name] = changed(placements.get(name, Placement()), rules,
                                   where=f"RECSVC_PLACEMENTS[{name!r}]")  # fmt: skip
    return placements


#: each rule's type, from the defaults (a number may be given for a float)
_TYPES: Mapping[str, type] = {f.name: type(f.default) for f in dataclasses.fields(Placement)}


def changed(base: Placement, rules: Any, *, where: str) -> Placement:
    """``base`` with some of its rules changed (a JSON object of rule names and values:
    ``RECSVC_PLACEMENTS``' entries, an experiment variant's rules); :class:`ConfigError`
    naming ``where`` for an unknown rule, a value of the wrong type or out of range."""
    if not isinstance(rules, dict):
        raise ConfigError(f"{where} must be an object of placement rules")
    unknown = set(rules) - _TYPES.keys()
    if unknown:
        raise ConfigError(f"{where}: unknown rules {sorted(unknown)}; known: {sorted(_TYPES)}")
    for rule, value in rules.items():
        kind = _TYPES[rule]
        fits = (isinstance(value, (int, float)) and not isinstance(value, bool)
                if kind is float else type(value) is kind)  # fmt: skip
        if not fits:
            raise ConfigError(f"{where}: {rule} must be a {kind.__name__}, not {value!r}")
    try:
        return dataclasses.replace(base, **rules)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
