"""Strategies: source names walked in order, fallbacks, popular items last."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from recsvc.errors import ConfigError
from recsvc.serving.sources import SOURCES, Moment, Parts
from recsvc.serving.strategies import STRATEGIES, Strategy

NONE = np.array([], dtype=np.int64)
Make = Callable[..., Moment]


def stage_names(strategy: str, parts: Parts, at: Moment) -> list[str]:
    return [name for name, _ in STRATEGIES[strategy].stages(parts, at)]


def test_every_strategy_ends_with_popular_items(parts: Parts, moment: Make) -> None:
    assert stage_names("personalized", parts, moment(user=0)) == [
        "personalized", "personalized", "popular"]  # fmt: skip
    assert stage_names("personalized", parts, moment()) == ["popular"]
    assert stage_names("popular", parts, moment(user=0)) == ["popular"]
    assert stage_names("similar", parts, moment(item=2)) == ["similar", "similar", "popular"]


def test_a_cart_placement_with_an_empty_cart_falls_back_to_the_taste(
    parts: Parts, moment: Make
) -> None:
    assert stage_names("cart", parts, moment(user=0, cart=np.array([1]))) == [
        "cart", "cart", "popular"]  # fmt: skip
    assert stage_names("cart", parts, moment(user=0)) == ["personalized", "personalized",
                                                          "popular"]  # fmt: skip


def test_an_unknown_source_name_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unknown candidate sources"):
        Strategy(("personalised",))
    for strategy in STRATEGIES.values():
        assert set(strategy.sources) | set(strategy.fallback) <= set(SOURCES)
