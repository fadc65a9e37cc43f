"""Serving's shared fixtures: a trained model's serving parts, and moments to ask with."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from recsvc.artifact import ModelStore
from recsvc.serving.placements import DEFAULT_PLACEMENTS
from recsvc.serving.sources import Moment, Parts

NONE = np.array([], dtype=np.int64)


@pytest.fixture(scope="module")
def parts(trained_store: ModelStore) -> Parts:
    """The serving parts of the trained model (do not modify)."""
    return Parts.of(trained_store.load())


@pytest.fixture
def moment() -> Callable[..., Moment]:
    """A shopper's moment: an anonymous shopper on the home page, with the given fields."""

    def make(**fields: object) -> Moment:
        base: dict[str, object] = {"placement": DEFAULT_PLACEMENTS["home"], "user": -1,
                                   "session": NONE, "latest": NONE, "cart": NONE, "item": -1,
                                   "category": None}  # fmt: skip
        return Moment(**{**base, **fields})  # type: ignore[arg-type]

    return make
