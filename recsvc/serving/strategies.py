"""Strategies: which candidate sources a placement walks, in order, and its fallbacks.

A placement names a strategy (``RECSVC_PLACEMENTS``); a strategy is data, a list of
source names (:data:`recsvc.serving.sources.SOURCES`) walked in order. When none of
them applies to a request (a cart placement with an empty cart), its ``fallback``
list is walked instead; popular items always come last, so a list is filled while
any item passes the filters. An unknown strategy or source name is a configuration
error when placements are read, at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError
from .candidates import Stage
from .sources import SOURCES, Moment, Parts, Source

#: the source every request ends with
LAST = "popular"


@dataclass(frozen=True)
class Strategy:
    """Source names walked in order; ``fallback`` when none of them applies."""

    sources: tuple[str, ...]
    fallback: tuple[str, ...] = ()
    _walks: tuple[tuple[Source, ...], tuple[Source, ...]] = field(init=False, repr=False,
                                                                compare=False)  # fmt: skip

    def __post_init__(self) -> None:
        unknown = [s for s in (*self.sources, *self.fallback) if s not in SOURCES]
        if unknown:
            raise ConfigError(f"unknown candidate sources {unknown}; known: {', '.join(SOURCES)}")
        # resolved once: a request walks them
        object.__setattr__(self, "_walks", (
            tuple(SOURCES[name] for name in self.sources),
            tuple(SOURCES[name] for name in self.fallback),
        ))  # fmt: skip

    def stages(self, parts: Parts, moment: Moment) -> list[Stage]:
        """The request's stages: the sources', else the fallback's, then popular items."""
        sources, fallback = self._walks
        stages = [stage for source in sources for stage in source(parts, moment)]
        if not stages:
            stages = [stage for source in fallback for stage in source(parts, moment)]
        stages.extend(_LAST(parts, moment))
        return stages


_LAST = SOURCES[LAST]
_PERSONALIZED = ("session", "taste")

#: every strategy a placement can name
STRATEGIES: Mapping[str, Strategy] = {
    # the shopper's taste: this session's, else a known shopper's
    "personalized": Strategy(_PERSONALIZED),
    # like the item on the page
    "similar": Strategy(("similar", "similar-scan")),
    # what goes with the cart; with an empty cart, the shopper's taste
    "cart": Strategy(("bought-together", "cart-taste"), fallback=_PERSONALIZED),
    # best sellers only
    "popular": Strategy(()),
}
