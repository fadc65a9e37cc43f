from __future__ import annotations

import pytest

from recsvc.config import TrainingConfig, models_dir, parse_event_weights
from recsvc.errors import ConfigError


def test_environment_overrides_defaults() -> None:
    config = TrainingConfig.from_env(
        {
            "RECSVC_ALS_FACTORS": "64",
            "RECSVC_ALS_REGULARIZATION": "0.5",
            "RECSVC_HALF_LIFE_DAYS": "30",
            "RECSVC_EVENT_WEIGHTS": "view=1, purchase=6, wishlist=2",
            "RECSVC_BOUGHT_TOGETHER_EVENT_TYPES": "purchase",
        }
    )
    assert config.als_factors == 64
    assert config.als_regularization == 0.5
    assert config.half_life_days == 30
    assert dict(config.event_weights) == {"view": 1, "purchase": 6, "wishlist": 2}
    assert config.bought_together_event_types == ("purchase",)
    assert TrainingConfig.from_env({"RECSVC_HALF_LIFE_DAYS": "off"}).half_life_days is None


def test_options_override_environment() -> None:
    config = TrainingConfig.from_env({"RECSVC_ALS_FACTORS": "64"}).replace(
        als_factors=16, als_alpha=None
    )
    assert config.als_factors == 16
    assert config.als_alpha == TrainingConfig().als_alpha


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"RECSVC_ALS_FACTORS": "many"}, "RECSVC_ALS_FACTORS: cannot read 'many' as int"),
        ({"RECSVC_ALS_FACTORS": "0"}, "als_factors must be at least 1"),
        ({"RECSVC_EVENT_WEIGHTS": "view"}, "expected 'type=weight'"),
        ({"RECSVC_EVENT_WEIGHTS": "view=-1"}, "must be positive"),
        ({"RECSVC_EVENT_WEIGHTS": "view=x"}, "not a number"),
        ({"RECSVC_HOLDOUT_FRACTION": "1.5"}, "holdout_fraction must be in (0, 1)"),
        ({"RECSVC_BOUGHT_TOGETHER_EVENT_TYPES": "gift"}, "names none of the event types"),
        ({"RECSVC_NEXT_ITEMS_DECAY": "0"}, "next_items_decay in (0, 1]"),
        ({"RECSVC_NEXT_ITEMS_WEIGHT": "-1"}, "next_items_weight must be >= 0"),
        ({"RECSVC_NEXT_ITEMS_WINDOW": "0"}, "next_items_window must be at least 1"),
        ({"RECSVC_ALS_WARM_ITERATIONS": "-1"}, "als_warm_iterations must be >= 0, got -1"),
    ],
)
def test_bad_settings_say_what_is_wrong(environ: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainingConfig.from_env(environ)
    assert words in str(caught.value)


def test_round_trip_through_a_manifest() -> None:
    config = TrainingConfig(event_weights=parse_event_weights("view=2,purchase=3"),
                            half_life_days=14.0)  # fmt: skip
    assert TrainingConfig.from_dict(config.as_dict()) == config
    assert TrainingConfig.from_dict({**config.as_dict(), "from_the_future": 1}) == config


def test_models_dir() -> None:
    assert str(models_dir({})) == "models"
    assert str(models_dir({"RECSVC_MODELS": "/srv/models"})) == "/srv/models"
