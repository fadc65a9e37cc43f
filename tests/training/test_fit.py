"""Fitting a whole version: what the settings put in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.pipeline import read_dataset
from recsvc.training.fit import build_model, fit_ranker
from recsvc.training.matrix import build_interactions
from recsvc.training.models import BlendModel, PopularityModel


def test_recent_popularity_is_served_and_blended_into_the_candidates(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    config = fast_config.replace(popularity_half_life_days=7.0, popularity_weight=1.5)
    data = read_dataset(Files(*small_shop), config)
    model = build_model(data.events, data, config, similar=False)
    train = build_interactions(data.events, config.event_weights, items=data.items)
    recent = PopularityModel.fit_recent(train, data.events, config.event_weights,
                                        half_life_days=7.0)  # fmt: skip
    # best sellers (the popular placement, cold start, fill) are this season's
    assert np.allclose(model.popularity, recent.counts)
    assert not np.allclose(model.popularity, PopularityModel.fit(train.matrix).counts)
    ranker = fit_ranker(train, data.events, config)
    assert isinstance(ranker, BlendModel)
    assert [weight for _, weight in ranker.parts] == [1.0, config.next_items_weight, 1.5]
    assert isinstance(ranker.parts[2][0], PopularityModel)
    # "popular" alone ranks by this season's popularity
    alone = fit_ranker(train, data.events, config.replace(model="popular", next_items_weight=0,
                                                          popularity_weight=0))  # fmt: skip
    assert np.allclose(alone.counts, recent.counts)  # type: ignore[attr-defined]


def test_models_fitted_with_shared_parts_equal_models_fitted_alone(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    from recsvc.training.fit import Fits

    data = read_dataset(Files(*small_shop), fast_config)
    fits = Fits()
    variants = [fast_config, fast_config.replace(popularity_weight=2.0,
                                                 popularity_half_life_days=7.0)]  # fmt: skip
    shared = [build_model(data.events, data, c, similar=False, fits=fits) for c in variants]
    alone = [build_model(data.events, data, c, similar=False) for c in variants]
    for one, other in zip(shared, alone, strict=True):
        assert np.array_equal(one.user_top_items, other.user_top_items)
        assert np.allclose(one.popularity, other.popularity)
    assert shared[0].item_factors is shared[1].item_factors  # one ALS fit for both
    assert not np.array_equal(shared[0].user_top_items, shared[1].user_top_items)
