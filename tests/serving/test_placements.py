"""Placements: the built-in ones, and RECSVC_PLACEMENTS changing or adding them."""

from __future__ import annotations

import re

import pytest

from recsvc.errors import ConfigError
from recsvc.serving.placements import parse_placements


def test_placements_are_configurable() -> None:
    placements = parse_placements('{"cart": {"exclude_purchased": false}, '
                                  '"checkout": {"strategy": "cart"}}')  # fmt: skip
    assert placements["cart"].exclude_purchased is False
    assert placements["checkout"].strategy == "cart"
    assert placements["home"].strategy == "personalized"
    for bad, words in [
        ("[1]", "JSON object"),
        ('{"x": {"strategy": "magic"}}', "unknown strategy"),
        ('{"x": {"colour": 1}}', "unknown rules"),
        ("{", "not valid JSON"),
    ]:
        with pytest.raises(ConfigError, match=words):
            parse_placements(bad)


def test_every_default_placement_names_a_known_strategy() -> None:
    from recsvc.serving.placements import DEFAULT_PLACEMENTS
    from recsvc.serving.strategies import STRATEGIES

    assert {p.strategy for p in DEFAULT_PLACEMENTS.values()} == set(STRATEGIES)
    with pytest.raises(ConfigError, match="taste_weight must not be negative"):
        parse_placements('{"product": {"taste_weight": -1}}')


def test_changed_rules_are_checked_by_type_and_range() -> None:
    from recsvc.serving.placements import DEFAULT_PLACEMENTS, changed

    product = DEFAULT_PLACEMENTS["product"]
    assert changed(product, {"taste_weight": 0}, where="b").taste_weight == 0
    assert changed(product, {}, where="b") == product
    for rules, words in [
        ({"taste_weight": "0"}, "b: taste_weight must be a float, not '0'"),
        ({"taste_weight": True}, "must be a float"),
        ({"exclude_seen": 1}, "b: exclude_seen must be a bool, not 1"),
        ({"strategy": None}, "strategy must be a str"),
        ({"strategy": "magic"}, "b: unknown strategy 'magic'"),
        ({"taste_weight": -0.5}, "b: taste_weight must not be negative"),
        ({"colour": "red"}, "b: unknown rules ['colour']"),
        ([], "b must be an object of placement rules"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            changed(product, rules, where="b")
