"""Training end to end: events in, an evaluated model out, published if it passes the gate.

Steps: read events and catalog → evaluate on a time-based holdout (the model and the
popularity baseline, and the current version's settings on the same holdout for the
quality gate) → fit on all events → publish atomically.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import implicit
import numpy as np
import scipy.sparse as sp

from . import __version__
from .artifact import Model, VersionStore, with_manifest
from .config import TrainingConfig
from .data.catalog import Catalog, read_catalog
from .data.events import Events, read_events
from .errors import ConfigError, QualityGateFailed
from .report import ReportData
from .serving.offline import evaluate_moments, evaluate_recommender, served_lists
from .serving.recommender import Recommender
from .store.shop import ShopStore
from .training.evaluation import (
    Holdout,
    evaluate,
    lists,
    make_holdout,
    per_user_scores,
    score,
)
from .training.matrix import DAY, IdMap, Interactions, build_interactions, sequences
from .training.models import (
    AlsModel,
    BlendModel,
    BoughtTogetherModel,
    Candidates,
    EaseModel,
    ItemKnnModel,
    NextItemsModel,
    PopularityModel,
)

#: the event types whose holdout items a model must find
TARGET_EVENT_TYPES = ("purchase",)


@dataclass
class TrainReport:
    """What a training run did: time per step, counts, metrics, the gate, the version."""

    steps: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    version: str | None = None


@dataclass(frozen=True)
class Dataset:
    """Validated events with the catalog (if any) and the items they name."""

    events: Events
    catalog: Catalog | None
    items: IdMap


def _dataset(events: Events, catalog: Catalog | None) -> Dataset:
    if catalog is None:
        items = IdMap.of(events.item_id)
    else:
        items = IdMap.of(events.item_id, catalog.item_id)
    return Dataset(events=events, catalog=catalog, items=items)


@dataclass(frozen=True)
class Files:
    """Events (and catalog) files as the training data."""

    events: Path | str
    items: Path | str | None = None

    def read(self, config: TrainingConfig) -> Dataset:
        """Read and validate the files."""
        events = read_events(self.events, event_types=config.event_weights)
        catalog = read_catalog(self.items) if self.items is not None else None
        return _dataset(events, catalog)


@dataclass(frozen=True)
class Database:
    """The event-and-catalog store as the training data, optionally its latest days only."""

    shop: ShopStore
    window_days: float | None = None

    def read(self, config: TrainingConfig) -> Dataset:
        """Stream the events (of the window) and the current catalog from the store."""
        since = None if self.window_days is None else int(time.time() - self.window_days * DAY)
        events = self.shop.read_events(event_types=config.event_weights, since=since)
        return _dataset(events, self.shop.read_catalog())


def read_dataset(
    events_path: Path | str, items_path: Path | str | None, config: TrainingConfig
) -> Dataset:
    """Read and validate the events (and catalog) files."""
    return Files(events_path, items_path).read(config)


def holdout_for(data: Dataset, config: TrainingConfig, *, split: str = "user-time") -> Holdout:
    """The evaluation holdout of a dataset under a configuration's weights and limits."""
    return make_holdout(
        data.events,
        config.event_weights,
        split=split,
        fraction=config.holdout_fraction,
        half_life_days=config.half_life_days,
        min_user_events=config.min_user_events,
        min_item_users=config.min_item_users,
        target_types=TARGET_EVENT_TYPES,
        items=data.items,
    )


def fit_als(
    matrix: sp.csr_matrix,
    config: TrainingConfig,
    *,
    show_progress: bool = False,
) -> AlsModel:
    """ALS with the configuration's hyperparameters."""
    return AlsModel.fit(
        matrix,
        factors=config.als_factors,
        regularization=config.als_regularization,
        alpha=config.als_alpha,
        iterations=config.als_iterations,
        seed=config.seed,
        show_progress=show_progress,
    )


def train(
    source: Files | Database,
    *,
    config: TrainingConfig,
    store: VersionStore,
    force: bool = False,
    show_progress: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> TrainReport:
    """Train, evaluate, gate and publish; returns what happened.

    Raises :class:`QualityGateFailed` (nothing published) when the holdout NDCG@10
    is more than ``config.max_ndcg_drop`` below what the current version's settings
    reach on the same holdout, unless ``force``.
    """
    report = TrainReport()
    timer = _StepTimer(report.steps, say)
    with timer("read events"):
        data = source.read(config)
    report.counts["events"] = len(data.events)

    with timer("evaluate on holdout"):
        holdout = holdout_for(data, config)
        model_metrics = evaluate_served(data, holdout, config)
        popular = PopularityModel.fit(holdout.train.matrix)
        report.metrics = {
            "holdout": {"split": "user-time", "fraction": config.holdout_fraction,
                        "users_scored": len(holdout.users), "through": "serving (home)"},
            "model": model_metrics,
            "popularity": evaluate(popular, holdout),
        }  # fmt: skip

    current = store.current()
    if current is not None:
        with timer("quality gate"):
            report.gate = _gate(data, model_metrics, store, current, config)
        if not report.gate["passed"] and not force:
            raise QualityGateFailed(report.gate["message"])

    model = build_model(data.events, data, config, show_progress=show_progress, timer=timer)
    report.counts.update(
        users=len(model.users), items=len(model.items),
        interactions=int(model.user_items.nnz), purchases=int(model.purchased.nnz),
    )  # fmt: skip
    model = with_manifest(model, _manifest(data, config, report))
    with timer("publish"):
        report.version = store.publish(model)
    return report


def build_model(
    events: Events,
    data: Dataset,
    config: TrainingConfig,
    *,
    show_progress: bool = False,
    timer: Callable[[str], AbstractContextManager[None]] = lambda _: nullcontext(),
    similar: bool = True,
    candidates_for: Sequence[str] | None = None,
) -> Model:
    """Everything a model version holds, fitted on ``events`` (all, or a holdout's training
    part) over the dataset's items and catalog.

    To score a holdout, ``similar=False`` skips the item neighbours (the home placement
    does not use them) and ``candidates_for`` limits the precomputed candidates to the
    users to be scored (the others get none)."""
    with timer("build matrix"):
        interactions = build_interactions(
            events,
            config.event_weights,
            half_life_days=config.half_life_days,
            min_user_events=config.min_user_events,
            min_item_users=config.min_item_users,
            items=data.items,
        )
        bought = build_interactions(
            events.take(events.of_types(config.bought_together_event_types)),
            config.event_weights, users=interactions.users, items=data.items,
        ).matrix  # fmt: skip
        purchased = build_interactions(
            events.take(events.of_types(TARGET_EVENT_TYPES)),
            config.event_weights, users=interactions.users, items=data.items,
        ).matrix  # fmt: skip
        purchased.data[:] = 1
    with timer("fit ALS"):
        als = fit_als(interactions.matrix, config, show_progress=show_progress)
    with timer("precompute candidates"):
        next_items = (
            fit_next_items(interactions, events, config) if config.next_items_weight > 0 else None
        )
        ranker = fit_ranker(interactions, events, config, als, next_items)
        if candidates_for is None:
            user_top_items, user_top_scores = ranker.top_items(
                interactions.matrix, config.candidates_per_user, show_progress=show_progress
            )
        else:
            rows = interactions.users.index(np.asarray(candidates_for))
            rows = rows[rows >= 0]
            some_items, some_scores = ranker.top_items(
                interactions.matrix, config.candidates_per_user, users=rows
            )
            user_top_items = np.full((len(interactions.users), some_items.shape[1]), -1,
                                     dtype=np.int32)  # fmt: skip
            user_top_scores = np.zeros(user_top_items.shape, dtype=np.float32)
            user_top_items[rows], user_top_scores[rows] = some_items, some_scores
        if similar:
            similar_items, similar_scores = als.similar_items(
                config.similar_items_per_item, show_progress=show_progress
            )
        else:
            similar_items = np.zeros((len(data.items), 0), dtype=np.int32)
            similar_scores = np.zeros((len(data.items), 0), dtype=np.float32)
    with timer("fit bought-together"):
        together = BoughtTogetherModel.fit(
            bought, neighbours=config.bought_together_neighbours, show_progress=show_progress
        )
    catalog = Catalog.empty() if data.catalog is None else data.catalog
    return Model(
        users=interactions.users,
        items=interactions.items,
        als=als,
        user_items=interactions.matrix,
        purchased=purchased,
        bought_together=together,
        next_items=(next_items.following if next_items else sp.csr_matrix((len(data.items),) * 2)),
        popularity=PopularityModel.fit(interactions.matrix).counts,
        user_top_items=user_top_items,
        user_top_scores=user_top_scores,
        similar_items=similar_items,
        similar_scores=similar_scores,
        catalog=catalog.aligned_to(data.items.ids),
        manifest=_model_manifest(events, config),
    )


def fit_ranker(
    train: Interactions,
    events: Events,
    config: TrainingConfig,
    als: AlsModel | None = None,
    next_items: NextItemsModel | None = None,
) -> Candidates:
    """The configured ranker of a user's best items (``config.model``, plus what users
    touch next when ``next_items_weight`` > 0), fitted on ``train`` and the ``events``
    it was built from; ``als`` and ``next_items``, when given, are already fitted on
    the same data with the same settings."""
    matrix = train.matrix
    if config.model in ("als", "blend") and als is None:
        als = fit_als(matrix, config)
    ranker: Candidates
    if config.model == "als":
        assert als is not None
        ranker = als
    elif config.model == "ease":
        if matrix.shape[1] > config.ease_max_items:
            raise ConfigError(
                f"EASE holds an items x items matrix: {matrix.shape[1]:,} items is over"
                f" RECSVC_EASE_MAX_ITEMS={config.ease_max_items:,}; choose another model"
            )
        ranker = EaseModel.fit(matrix, regularization=config.ease_regularization)
    else:
        ranker = ItemKnnModel.fit(matrix, neighbours=config.knn_neighbours,
                                  weighting=config.knn_weighting)  # fmt: skip
        if config.model == "blend":
            assert als is not None
            ranker = BlendModel([(als, 1.0), (ranker, config.blend_weight)])
    if config.next_items_weight > 0:
        next_items = next_items or fit_next_items(train, events, config)
        ranker = BlendModel([(ranker, 1.0), (next_items, config.next_items_weight)])
    return ranker


def fit_next_items(train: Interactions, events: Events, config: TrainingConfig) -> NextItemsModel:
    """What the users of ``train`` touch after each item, from ``events``."""
    rows, cols = sequences(events, train.users, train.items)
    return NextItemsModel.fit(
        rows, cols, shape=train.matrix.shape, window=config.next_items_window,
        recent=config.next_items_recent, decay=config.next_items_decay,
        neighbours=config.next_items_neighbours,
    )  # fmt: skip


def served_name(config: TrainingConfig) -> str:
    """The evaluation's name for the model `recsvc train` would publish."""
    plus = " + next items" if config.next_items_weight > 0 else ""
    return f"recsvc ({config.model}{plus}, served)"


def evaluate_served(data: Dataset, holdout: Holdout, config: TrainingConfig) -> dict[str, float]:
    """Fit what `recsvc train` would publish on the holdout's training part and score the
    serving recommender's home lists, with its default filters."""
    scored = holdout.train.users.ids[holdout.users]
    model = build_model(holdout.train_events, data, config, similar=False, candidates_for=scored)
    return evaluate_recommender(Recommender(model), holdout)


#: implicit's own defaults: the "ALS, library defaults" row of BENCHMARK.md
LIBRARY_DEFAULT_ALS = TrainingConfig(
    als_factors=100, als_regularization=0.01, als_alpha=1.0, als_iterations=15
)


def evaluate_dataset(
    data: Dataset, config: TrainingConfig, *, split: str = "user-time"
) -> dict[str, dict[str, float]]:
    """The configured model beside the baselines and the other models, fitted and scored
    on one holdout in one run.

    Rows: ``popularity``, ``als (library defaults)``, ``bought-together`` (item-item
    cosine over what users bought, as the cart placement uses it), each model of
    ``MODELS`` with the configured hyperparameters (EASE only up to
    ``ease_max_items``), and ``recsvc``: what `recsvc train` would publish with this
    configuration, scored through the serving recommender.
    """
    holdout = holdout_for(data, config, split=split)
    matrix = holdout.train.matrix
    als = fit_als(matrix, config)
    rows = {
        "popularity": evaluate(PopularityModel.fit(matrix), holdout),
        "als (library defaults)": evaluate(
            fit_als(matrix, LIBRARY_DEFAULT_ALS.replace(seed=config.seed)), holdout
        ),
        "bought-together": evaluate(
            BoughtTogetherModel.fit(matrix, neighbours=config.bought_together_neighbours), holdout
        ),
        "als": evaluate(als, holdout),
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
        if variant.model == "ease" and matrix.shape[1] > config.ease_max_items:
            continue
        ranker = fit_ranker(holdout.train, holdout.train_events, variant, als)
        rows[name] = evaluate(ranker, holdout)  # type: ignore[arg-type]
    rows["next items"] = evaluate(fit_next_items(holdout.train, holdout.train_events, config),
                                  holdout)  # fmt: skip
    rows[served_name(config)] = evaluate_served(data, holdout, config)
    return rows


def report_dataset(
    data: Dataset, config: TrainingConfig, *, split: str = "user-time"
) -> ReportData:
    """The figures of the evaluation report: the served model beside popularity and
    library-default ALS, by user activity, and their popularity bias."""
    holdout = holdout_for(data, config, split=split)
    matrix = holdout.train.matrix
    scored = holdout.train.users.ids[holdout.users]
    served = build_model(holdout.train_events, data, config, similar=False,
                         candidates_for=scored)  # fmt: skip
    recommended = {
        "popularity": lists(PopularityModel.fit(matrix), holdout),
        "als (library defaults)": lists(
            fit_als(matrix, LIBRARY_DEFAULT_ALS.replace(seed=config.seed)), holdout
        ),
        served_name(config): served_lists(Recommender(served), holdout),
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
        notes=[f"split {split}, holdout fraction {config.holdout_fraction:g},"
               f" {len(holdout.users):,} users scored, {count:,} items; model settings:"
               f" {config.model}, ALS {config.als_factors} factors, regularization"
               f" {config.als_regularization:g}, alpha {config.als_alpha:g}; next items"
               f" weight {config.next_items_weight:g}, window {config.next_items_window},"
               f" recent {config.next_items_recent}, decay {config.next_items_decay:g}"],
    )  # fmt: skip


def evaluate_moments_dataset(
    data: Dataset, config: TrainingConfig, *, split: str = "user-time"
) -> dict[str, dict[str, float]]:
    """The session and product-page strategies of the model `recsvc train` would publish,
    fitted on the holdout's training part, beside their baselines."""
    holdout = holdout_for(data, config, split=split)
    model = build_model(holdout.train_events, data, config, candidates_for=[])
    return evaluate_moments(Recommender(model), holdout)


def _gate(
    data: Dataset,
    candidate: Mapping[str, float],
    store: VersionStore,
    current: str,
    config: TrainingConfig,
) -> dict[str, Any]:
    """Compare with the current version's settings, refitted on the same holdout."""
    current_config = TrainingConfig.from_dict(store.manifest(current).get("parameters", {}))
    if current_config == config:
        reference = candidate["ndcg@10"]
    else:
        current_holdout = holdout_for(data, current_config)
        reference = evaluate_served(data, current_holdout, current_config)["ndcg@10"]
    drop = reference - candidate["ndcg@10"]
    passed = drop <= config.max_ndcg_drop
    message = (
        f"holdout NDCG@10 {candidate['ndcg@10']:.4f} vs {reference:.4f} for the current"
        f" version {current}'s settings on the same holdout: "
        + ("within" if passed else "drops more than")
        + f" the allowed {config.max_ndcg_drop:g}"
    )
    return {"current": current, "current_ndcg@10": reference,
            "candidate_ndcg@10": candidate["ndcg@10"], "max_drop": config.max_ndcg_drop,
            "passed": passed, "message": message}  # fmt: skip


def _model_manifest(events: Events, config: TrainingConfig) -> dict[str, Any]:
    """What a model needs to serve: its settings, and where its data ends (the version is
    named when it is published)."""
    return {
        "version": "unpublished",
        "data_window": {
            "first_event": _iso(int(events.timestamp.min())),
            "last_event": _iso(int(events.timestamp.max())),
        },
        "parameters": config.as_dict(),
    }


def _manifest(data: Dataset, config: TrainingConfig, report: TrainReport) -> dict[str, Any]:
    times = data.events.timestamp
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data_window": {
            "first_event": _iso(int(times.min())),
            "last_event": _iso(int(times.max())),
        },
        "counts": dict(report.counts),
        "parameters": config.as_dict(),
        "metrics": report.metrics,
        "quality_gate": report.gate,
        # Serving must rank with one thread: a multi-threaded OpenMP region in a
        # preloaded gunicorn master hangs every forked worker (ARCHITECTURE.md).
        "serving": {"num_threads": 1, "blas_threads": 1},
        "software": {"recsvc": __version__, "implicit": implicit.__version__,
                     "numpy": np.__version__},
    }  # fmt: skip


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")


class _StepTimer:
    """Times named steps into a dict and says when each is done."""

    def __init__(self, steps: dict[str, float], say: Callable[[str], None]) -> None:
        self.steps, self.say = steps, say

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.say(f"{name}…")
        yield
        self.steps[name] = time.perf_counter() - start
        self.say(f"{name}: done in {self.steps[name]:.1f} s")
