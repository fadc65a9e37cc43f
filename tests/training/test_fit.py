"""Fitting a whole version: what the settings put in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def test_the_version_s_als_starts_from_the_holdout_s_factors_and_converges_in_few_iterations(
    ml100k: Path,
) -> None:
    from implicit.cpu._als import calculate_loss

    from recsvc.evaluation.holdout import holdout_for
    from recsvc.evaluation.served import fit_for
    from recsvc.training.fit import Start

    config = TrainingConfig(model="als", next_items_weight=0.0)
    data = read_dataset(Files(ml100k / "events.csv", ml100k / "items.csv"), config)
    start = Start.of(fit_for(data, holdout_for(data, config), config))

    def fitted(settings: TrainingConfig, start: Start | None = None) -> tuple[float, dict]:
        model = build_model(data.events, data, settings, similar=False, start=start)
        matrix = (model.user_items * settings.als_alpha).astype(np.float32).tocsr()
        loss = calculate_loss(matrix, model.user_factors, model.item_factors,
                              settings.als_regularization, num_threads=1)  # fmt: skip
        return loss, model.manifest["engine"]["als"]

    cold, cold_as = fitted(config)
    short, _ = fitted(config.replace(als_iterations=config.als_warm_iterations))
    warm, warm_as = fitted(config, start)
    assert cold_as == {"iterations": 15, "from": "random factors"}
    assert warm_as == {"iterations": 3, "from": "the holdout's factors"}
    # three iterations from the holdout's factors reach what fifteen from random do
    # (measured: 0.05765 against 0.05755), three from random do not (0.06219)
    assert warm < cold * 1.01
    assert short > cold * 1.03
    # 0 warm iterations: the version's fit from random factors, all its iterations
    _, off = fitted(config.replace(als_warm_iterations=0), start)
    assert off == cold_as


@pytest.mark.parametrize("split", ["forward", "user-time", "global-time"])
def test_the_version_s_next_items_add_the_pairs_after_the_holdout_s_to_its_counts(
    ml100k: Path, split: str
) -> None:
    """The version's follower counts, the holdout's plus the pairs whose later event is
    after its cut-off, are those counted from scratch (each user's training events are
    the beginning of their history, whatever the split); handed over once, and not
    where the holdout left out users who had pairs (min_user_events above 2)."""
    from recsvc.evaluation.holdout import make_holdout
    from recsvc.evaluation.served import fit_for
    from recsvc.training.fit import Followers, Start

    config = TrainingConfig(model="als", als_iterations=1, candidates_per_user=5)
    data = read_dataset(Files(ml100k / "events.csv", ml100k / "items.csv"), config)
    holdout = make_holdout(data.events, config.event_weights, split=split, items=data.items)

    def counts(start: Start | None) -> Followers:
        kept: list[Followers] = []
        build_model(data.events, data, config, similar=False, start=start,
                    followers=kept.append)  # fmt: skip
        return kept[0]

    kept: list[Followers] = []
    start = Start.of(fit_for(data, holdout, config, followers=kept.append), kept[0])
    assert kept[0].counts.nnz > 0
    added = counts(start)
    scratch = counts(None)
    assert added.counts.nnz == scratch.counts.nnz > kept[0].counts.nnz
    np.testing.assert_allclose(added.counts.toarray(), scratch.counts.toarray(), rtol=1e-5)
    assert np.array_equal(added.counted, scratch.counted)
    assert start.take_followers(config) is None  # taken by the version's fit
    again = Start.of(fit_for(data, holdout, config), kept[0])
    assert again.take_followers(config.replace(min_user_events=3)) is None


def test_a_start_s_factors_go_to_the_same_ids_and_new_ones_start_small_and_random() -> None:
    from recsvc.data.ids import IdMap
    from recsvc.training.fit import Start

    start = Start(IdMap(np.array(["u1", "u2"])), IdMap(np.array(["a", "b", "c"])),
                  np.array([[1.0, 1.0], [2.0, 2.0]], dtype=np.float32),
                  np.array([[3.0, 3.0], [4.0, 4.0], [5.0, 5.0]], dtype=np.float32))  # fmt: skip
    users, items = start.aligned(IdMap(np.array(["u0", "u2", "u3"])),
                                 IdMap(np.array(["b", "c", "d"])), seed=1)  # fmt: skip
    assert users.dtype == items.dtype == np.float32
    assert users.shape == items.shape == (3, 2)
    assert np.array_equal(users[1], [2.0, 2.0])
    assert np.array_equal(items[:2], [[4.0, 4.0], [5.0, 5.0]])
    for new in (users[0], users[2], items[2]):
        assert np.all((new >= 0) & (new < 0.01))
    again, _ = start.aligned(IdMap(np.array(["u0", "u2", "u3"])), IdMap(np.array(["b"])), seed=1)
    assert np.array_equal(again, users)  # seeded


def test_fits_tell_what_work_would_have_cost_with_nothing_shared() -> None:
    from recsvc.training.fit import Fits

    now = [0.0]

    def taking(seconds: float, then: object = None) -> object:
        now[0] += seconds
        return then() if callable(then) else then

    fits = Fits(clock=lambda: now[0])
    # the first: fits the matrix (2 s) and ALS (10 s), and scores (1 s)
    first, alone = fits.alone(lambda: (fits.get(("matrix",), lambda: taking(2.0, "m")),
                                       fits.get(("als",), lambda: taking(10.0, "a")),
                                       taking(1.0)))  # fmt: skip
    assert first[:2] == ("m", "a")
    assert alone == 13.0
    # the second shares both (fitted before: no time now) and fits EASE, which gets the
    # matrix inside its own fit (2 s of its own, counted once)
    _, alone = fits.alone(lambda: (fits.get(("als",), lambda: taking(99.0)),
                                   fits.get(("ease",), lambda: taking(
                                       5.0, lambda: fits.get(("matrix",), lambda: taking(99.0)))),
                                   taking(1.0)))  # fmt: skip
    assert alone == 10.0 + 5.0 + 2.0 + 1.0
    assert now[0] == 13.0 + 5.0 + 1.0  # what it took, shared
