"""Every model beside the baselines, fitted and scored on one holdout in one run.

What `recsvc evaluate` prints (and its HTML report): the popularity and
library-default ALS baselines of the benchmark (docs/evaluation.md), each model of
the registry, next items, and the model `recsvc train` would publish, scored through
the serving recommender.
"""

from __future__ import annotations

import functools

import numpy as np

from ..config import TrainingConfig
from ..data.dataset import Dataset
from ..serving.recommender import Recommender
from ..training.fit import build_model, fit_next_items, fit_ranker
from ..training.models import AUTO, BoughtTogetherModel, PopularityModel, fit_als
from .holdout import DEFAULT_SPLIT, Holdout, holdout_for
from .metrics import evaluate as evaluate_metrics
from .metrics import lists, per_user_scores, score
from .report import ReportData
from .selection import resolved, select
from .served import evaluate_moments, evaluate_served, fit_for, served_lists

#: implicit's own defaults: the "ALS, library defaults" row of the benchmark
LIBRARY_DEFAULT_ALS = TrainingConfig(
    als_factors=100, als_regularization=0.01, als_alpha=1.0, als_iterations=15
)


def served_name(config: TrainingConfig, *, auto: bool = False) -> str:
    """The evaluation's name for the model `recsvc train` would publish."""
    plus = " + next items" if config.next_items_weight > 0 else ""
    if config.popularity_weight > 0:
        days = config.popularity_half_life_days or 0
        plus += f" + {config.popularity_weight:g} x popularity ({days:g}-day)"
    if config.half_life_days:
        plus += f", events halving every {config.half_life_days:g} days"
    if config.model in ("als", "blend") and auto:
        plus += f", ALS {config.als_factors} factors, regularization {config.als_regularization:g}"
    chosen = "auto: " if auto else ""
    return f"recsvc ({chosen}{config.model}{plus}, served)"


#: half-lives (days) of the recency-weighted popularity baselines
RECENT_POPULARITY_DAYS = (30.0, 7.0)


def evaluate_dataset(
    data: Dataset, config: TrainingConfig, *, split: str = DEFAULT_SPLIT,
    test_days: float | None = None, holdout: Holdout | None = None,
) -> dict[str, dict[str, float]]:  # fmt: skip
    """The configured model beside the baselines and the other models, fitted and scored
    on one holdout in one run.

    Rows: ``popularity`` (all time, and weighted by recency: each event's weight halves
    every 30 or 7 days before the newest), ``als (library defaults)``, ``als (tuned)``
    (factors and regularization chosen on a validation carved from the training part),
    ``bought-together`` (item-item
    cosine over what users bought, as the cart placement uses it), each model with the
    configured hyperparameters (EASE sparse above ``ease_max_items``), and ``recsvc``:
    what `recsvc train` would publish with this configuration, scored through the
    serving recommender.
    """
    holdout = holdout or holdout_for(data, config, split=split, test_days=test_days)
    matrix = holdout.train.matrix
    # every row is held to what the served lists are: items in stock only
    evaluate = functools.partial(evaluate_metrics, in_stock=data.in_stock())
    als = fit_als(matrix, config)
    rows = {
        "popularity": evaluate(PopularityModel.fit(matrix), holdout),
        **{
            f"popularity ({days:g}-day half-life)": evaluate(
                recent_popularity(holdout, config, half_life_days=days), holdout
            )
            for days in RECENT_POPULARITY_DAYS
        },
        "als (library defaults)": evaluate(
            fit_als(matrix, LIBRARY_DEFAULT_ALS.replace(seed=config.seed)), holdout
        ),
        "bought-together": evaluate(
            BoughtTogetherModel.fit(matrix, neighbours=config.bought_together_neighbours), holdout
        ),
        "als": evaluate(als, holdout),
        "als (tuned)": evaluate(
            fit_als(matrix, tuned_als(data.with_events(holdout.train_events), config, split)),
            holdout,
        ),
    }
    alone = config.replace(next_items_weight=0)
    for name, variant in (
        ("item-kNN (cosine)", alone.replace(model="itemknn", knn_weighting="cosine")),
        ("item-kNN (bm25)", alone.replace(model="itemknn", knn_weighting="bm25")),
        ("ease", alone.replace(model="ease")),
        ("blend (als + item-kNN)", alone.replace(model="blend")),
        ("als + next items", config.replace(model="als", next_items_weight=1.0)
         if config.next_items_weight == 0 else config.replace(model="als")),
    ):  # fmt: skip
        ranker = fit_ranker(holdout.train, holdout.train_events, variant, als)
        rows[name] = evaluate(ranker, holdout)
    rows["next items"] = evaluate(fit_next_items(holdout.train, holdout.train_events, config)[0],
                                  holdout)  # fmt: skip
    # with model auto, chosen on the training part only (its own forward validation)
    served, _ = resolved(config, data.with_events(holdout.train_events), split=split)
    rows[served_name(served, auto=config.model == AUTO)] = evaluate_served(data, holdout, served)
    return rows


#: the "tuned ALS" baseline's grid: factors x regularization
TUNED_ALS_GRID = tuple((f, r) for f in (32, 64, 128) for r in (1.0, 10.0, 30.0))


def tuned_als(data: Dataset, config: TrainingConfig, split: str) -> TrainingConfig:
    """ALS with the factors and regularization of :data:`TUNED_ALS_GRID` that score best
    on a validation carved from ``data`` (an evaluation's training part) by ``split``."""
    plain = config.replace(model="als", next_items_weight=0.0, popularity_weight=0.0)
    listed = [
        (
            f"als {f} factors, regularization {r:g}",
            plain.replace(als_factors=f, als_regularization=r),
        )
        for f, r in TUNED_ALS_GRID
    ]
    # the best of the grid, whatever it costs: a baseline tuned for quality alone
    chosen, _ = select(data, plain, split=split, listed=listed, refine=False,
                       cheaper_within_noise=False, budget=config.selection_budget)  # fmt: skip
    return chosen.config


def recent_popularity(
    holdout: Holdout, config: TrainingConfig, *, half_life_days: float
) -> PopularityModel:
    """Popularity of the holdout's training part with each event's weight halving every
    ``half_life_days`` before its newest event ("this season's best sellers")."""
    train, events = holdout.train, holdout.train_events
    return PopularityModel.fit_recent(train, events, config.event_weights,
                                      half_life_days=half_life_days)  # fmt: skip


def evaluate_moments_dataset(
    data: Dataset, config: TrainingConfig, *, split: str = DEFAULT_SPLIT
) -> dict[str, dict[str, float]]:
    """The session and product-page strategies of the model `recsvc train` would publish,
    fitted on the holdout's training part, beside their baselines."""
    holdout = holdout_for(data, config, split=split)
    served, _ = resolved(config, data.with_events(holdout.train_events), split=split)
    model = build_model(holdout.train_events, data, served, candidates_for=[])
    return evaluate_moments(Recommender(model), holdout)


def report_dataset(
    data: Dataset, config: TrainingConfig, *, split: str = DEFAULT_SPLIT
) -> ReportData:
    """The figures of the evaluation report: the served model beside popularity and
    library-default ALS, by user activity, and their popularity bias."""
    holdout = holdout_for(data, config, split=split)
    matrix = holdout.train.matrix
    served, tried = resolved(config, data.with_events(holdout.train_events), split=split)
    recommended = {
        "popularity": lists(PopularityModel.fit(matrix), holdout),
        "als (library defaults)": lists(
            fit_als(matrix, LIBRARY_DEFAULT_ALS.replace(seed=config.seed)), holdout
        ),
        served_name(served, auto=config.model == AUTO): served_lists(
            Recommender(fit_for(data, holdout, served)), holdout
        ),
    }
    count = len(holdout.train.items)
    metrics = {name: score(r, holdout.truth, item_count=count) for name, r in recommended.items()}
    activity = np.diff(matrix.indptr)[holdout.users]
    cuts = np.quantile(activity, [1 / 3, 2 / 3]) if len(activity) else np.zeros(2)
    segment = np.digitize(activity, cuts, right=True)
    ndcg = {name: per_user_scores(r, holdout.truth)["ndcg@10"] for name, r in recommended.items()}
    segments = {}
    for code, label in enumerate(("new", "light", "heavy")):
        members = segment == code
        if members.any():
            span = f"{label} ({activity[members].min()}-{activity[members].max()} items)"
            segments[span] = {name: float(v[members].mean()) for name, v in ndcg.items()}
    popularity = np.asarray(matrix.sum(axis=0)).reshape(-1)
    percentile = 100.0 * np.argsort(np.argsort(popularity, kind="stable")) / max(count - 1, 1)
    bias = {name: percentile[r[r >= 0]] for name, r in recommended.items()}
    bias["bought (ground truth)"] = percentile[holdout.truth.indices]
    return ReportData(
        title="recsvc evaluation",
        metrics=metrics,
        segments=segments,
        popularity=bias,
        candidates=[candidate.row() for candidate in tried],
        notes=[f"split {split}, holdout fraction {config.holdout_fraction:g},"
               f" {holdout.scored}, {count:,} items; model settings:"
               f" {config.model}, ALS {config.als_factors} factors, regularization"
               f" {config.als_regularization:g}, alpha {config.als_alpha:g}; next items"
               f" weight {config.next_items_weight:g}, window {config.next_items_window},"
               f" recent {config.next_items_recent}, decay {config.next_items_decay:g}"],
    )  # fmt: skip
