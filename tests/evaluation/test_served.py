from __future__ import annotations

from pathlib import Path

import numpy as np

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.evaluation.holdout import holdout_for
from recsvc.evaluation.metrics import evaluate
from recsvc.evaluation.served import evaluate_recommender, evaluate_served
from recsvc.pipeline import read_dataset
from recsvc.serving.recommender import Recommender
from recsvc.training.fit import build_model, fit_ranker


def test_the_serving_path_scores_as_the_protocol_when_nothing_is_filtered(ml100k: Path) -> None:
    """Every MovieLens item is in stock, and both leave out what the user has seen: the
    recommender's home lists are the configured ranking itself, so the metrics agree
    exactly (ALS alone, and the default: ALS plus next items)."""
    for config in (TrainingConfig(model="als", next_items_weight=0), TrainingConfig(model="als")):
        data = read_dataset(Files(ml100k / "events.csv", ml100k / "items.csv"), config)
        holdout = holdout_for(data, config)
        ranker = fit_ranker(holdout.train, holdout.train_events, config)
        direct = evaluate(ranker, holdout)  # type: ignore[arg-type]
        assert evaluate_served(data, holdout, config) == direct


def test_served_lists_follow_the_default_filters(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    data = read_dataset(Files(*small_shop), fast_config)
    holdout = holdout_for(data, fast_config)
    model = build_model(holdout.train_events, data, fast_config, similar=False)
    recommender = Recommender(model)
    shoes = recommender.catalog.categories == "Shoes"
    recommender.catalog.available[shoes] = False  # the whole category goes out of stock
    metrics = evaluate_recommender(recommender, holdout)
    in_stock = int(recommender.catalog.available.sum())
    assert 0 < metrics["coverage"] * len(model.items) <= in_stock
    for user in holdout.train.users.ids[holdout.users[:50]].tolist():
        listed = recommender.recommend(user_id=user).items
        assert not any(item["category"] == "Shoes" for item in listed)
    assert np.all(recommender.catalog.available[~shoes] == model.catalog.available[~shoes])


def test_last_items_are_each_users_latest_distinct_training_items(
    events_of: object, fast_config: TrainingConfig
) -> None:
    from recsvc.evaluation.holdout import make_holdout
    from recsvc.evaluation.served import last_items

    rows = ["u1,a,view,1", "u1,b,view,2", "u1,a,view,3", "u1,c,view,4", "u1,d,view,5",
            "u1,e,purchase,9", "u2,a,view,1", "u2,b,view,2"]  # fmt: skip
    holdout = make_holdout(events_of(rows), fast_config.event_weights, fraction=0.2)  # type: ignore[operator]
    users = holdout.train.users.ids[holdout.users].tolist()
    assert users == ["u1"]
    latest = last_items(holdout, count=3)
    # u1 trains on its first 4 events (a, b, a, c): the latest distinct, oldest first
    assert latest == {int(holdout.users[0]): ["b", "a", "c"]}


def test_moments_are_scored_beside_their_baselines(ml100k: Path) -> None:
    from recsvc.evaluation.compare import evaluate_moments_dataset

    config = TrainingConfig()
    data = read_dataset(Files(ml100k / "events.csv", ml100k / "items.csv"), config)
    rows = evaluate_moments_dataset(data, config, split="user-time")  # the benchmark protocol
    assert set(rows) == {"session", "similar", "popular (excluding the session)",
                         "co-occurrence (session)", "co-occurrence (last item)"}  # fmt: skip
    # folding the session into the model's taste beats both baselines on MovieLens
    assert rows["session"]["ndcg@10"] > rows["co-occurrence (session)"]["ndcg@10"]
    assert rows["session"]["ndcg@10"] > rows["popular (excluding the session)"]["ndcg@10"]


def test_a_holdout_s_fit_takes_its_training_matrix_where_built_with_the_same_settings(
    ml100k: Path,
) -> None:
    """The holdout's fit does not build the training part's matrix again where the
    settings it depends on are the holdout's (and the catalog the same); other weights,
    half-life, least events or catalog build their own."""
    from recsvc.data.ids import IdMap
    from recsvc.evaluation.served import fit_for

    config = TrainingConfig(model="als", als_iterations=1, candidates_per_user=5)
    data = read_dataset(Files(ml100k / "events.csv", ml100k / "items.csv"), config)
    holdout = holdout_for(data, config)
    assert holdout.train_matrix(config, data.items) is holdout.train
    assert fit_for(data, holdout, config).user_items is holdout.train.matrix
    for other in (
        config.replace(half_life_days=30.0),
        config.replace(event_weights={**config.event_weights, "view": 0.5}),
        config.replace(min_user_events=2),
    ):
        assert holdout.train_matrix(other, data.items) is None
        assert fit_for(data, holdout, other).user_items is not holdout.train.matrix
    assert holdout.train_matrix(config, IdMap(data.items.ids.copy())) is None
