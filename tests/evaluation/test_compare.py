"""Every model beside the baselines, on one holdout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from recsvc.config import TrainingConfig
from recsvc.data.events import Events
from recsvc.evaluation.compare import recent_popularity
from recsvc.evaluation.holdout import make_holdout

DAY_S = 86_400


def test_recent_popularity_halves_an_events_weight_every_half_life(
    events_of: Callable[[list[str]], Events],
) -> None:
    d = DAY_S
    events = events_of([f"u1,old,purchase,{0}", f"u2,old,purchase,{0}",
                        f"u3,new,view,{14 * d}", f"u4,x,view,{14 * d}",
                        f"u4,new,purchase,{15 * d}"])  # fmt: skip
    weights = {"view": 1.0, "purchase": 4.0}
    config = TrainingConfig(event_weights=weights)
    holdout = make_holdout(events, weights, split="forward", test_days=0.5)
    model = recent_popularity(holdout, config, half_life_days=7)
    items = holdout.train.items
    old, new = items.index(["old", "new"])
    # relative to the newest training event (day 14): "old" is two half-lives back
    assert model.counts[old] == pytest.approx(2 * 4 * 0.25)
    assert model.counts[new] == pytest.approx(1.0)
    assert np.argmax(model.counts) == old  # 2.0 against 1.0
    recent = recent_popularity(holdout, config, half_life_days=1)
    assert np.argmax(recent.counts) == new  # the same sales, a shorter memory
