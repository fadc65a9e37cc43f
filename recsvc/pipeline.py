"""Training end to end: events in, an evaluated model out, published if it passes the gate.

Steps: read events and catalog → evaluate on a time-based holdout (the model and the
popularity baseline, and the current version's settings on the same holdout for the
quality gate) → fit on all events → publish atomically. :func:`retrain_every` runs it
on a schedule (the Procfile's ``worker``).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import implicit
import numpy as np
import sqlalchemy.exc

from . import __version__
from .artifact import Model, VersionStore, with_manifest
from .config import TrainingConfig
from .data.dataset import Dataset, Source
from .data.spark import SparkFiles
from .data.spark import session as spark_session
from .errors import QualityGateFailed, RecsvcError
from .evaluation.gate import gate
from .evaluation.holdout import Holdout, holdout_for
from .evaluation.selection import chosen_record, reused_choice, select
from .evaluation.served import evaluate_model, evaluate_served, fit_for, holdout_metrics
from .evaluation.spark import evaluate_forward
from .training.fit import Followers, Start, build_model
from .training.models import AUTO, check_model
from .training.spark import SPARK_MODELS
from .training.spark import build_model as build_spark_model


@dataclass
class TrainReport:
    """What a training run did: time per step, counts, metrics, the gate, the version."""

    steps: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    version: str | None = None
    #: whether the version was made current (False: published as a candidate)
    promoted: bool = True
    #: with model auto: the chosen candidate and every candidate tried
    selection: dict[str, Any] | None = None


def read_dataset(source: Source, config: TrainingConfig) -> Dataset:
    """Read and validate a source's events (of the configuration's types and times) and
    catalog."""
    return source.read(config)


def train(
    source: Source | SparkFiles,
    *,
    config: TrainingConfig,
    store: VersionStore,
    force: bool = False,
    promote: bool = True,
    show_progress: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> TrainReport:
    """Train, evaluate, gate and publish; returns what happened.

    Raises :class:`QualityGateFailed` (nothing published) when the holdout NDCG@10
    is more than ``config.max_ndcg_drop`` below what the current version's settings
    reach on the same holdout, unless ``force``. ``promote=False`` publishes without
    making the version current (a candidate for an experiment) and skips the gate.
    A :class:`~recsvc.data.spark.SparkFiles` source trains on Spark (``--engine spark``).
    """
    check_model(config)
    report = TrainReport()
    timer = _StepTimer(report.steps, say)
    if isinstance(source, SparkFiles):
        return _train_on_spark(source, config, store, report, timer, force=force,
                               promote=promote, show_progress=show_progress, say=say)  # fmt: skip
    with timer("read events"):
        data = read_dataset(source, config)
    report.counts["events"] = len(data.events)

    holdout = holdout_for(data, config)
    if config.model == AUTO:
        config = _choose(data.with_events(holdout.train_events), config, store, report, timer,
                         show_progress=show_progress, say=say)  # fmt: skip

    with timer("evaluate on holdout"):
        report.metrics, start = _evaluate(data, holdout, config)

    def score(settings: TrainingConfig) -> float:
        return evaluate_served(data, holdout_for(data, settings), settings)["ndcg@10"]

    return _gate_and_publish(
        config, store, report, timer, score=score,
        build=lambda: build_model(data.events, data, config, show_progress=show_progress,
                                  timer=timer, start=start),
        force=force, promote=promote, say=say,
    )  # fmt: skip


def _evaluate(data: Dataset, holdout: Holdout, config: TrainingConfig
              ) -> tuple[dict[str, Any], Start]:  # fmt: skip
    """The holdout's metrics (what `recsvc train` would publish, fitted on the holdout's
    training part and served), and that fit's ALS factors and follower counts, the
    version's fit's start; the rest of the holdout's model is let go here."""
    followers: list[Followers] = []
    fitted = fit_for(data, holdout, config, followers=followers.append)
    metrics = holdout_metrics(holdout, evaluate_model(fitted, holdout), config,
                              in_stock=data.in_stock())  # fmt: skip
    return metrics, Start.of(fitted, followers[0] if followers else None)


def _choose(
    data: Dataset,
    config: TrainingConfig,
    store: VersionStore,
    report: TrainReport,
    timer: _StepTimer,
    *,
    show_progress: bool,
    say: Callable[[str], None],
) -> TrainingConfig:
    """``--model auto``: the current version's choice while it may be reused, else a
    new choice on ``data`` (the holdout's training part: the holdout then scores the
    choice as it scores any model, on what the choice never read); the settings to fit."""
    now = dt.datetime.now(dt.UTC)
    current = store.current()
    manifest = store.manifest(current) if current is not None else {}
    reused = reused_choice(manifest, config, now=now)
    if reused is not None:
        selection = manifest["selection"]
        # when it was chosen, not when reused: a choice is reused for its days, no longer
        chosen_at = selection.get("chosen_at") or manifest.get("created")
        report.selection = {**selection, "chosen_at": chosen_at, "reused_from": current}
        say(f"reusing {current}'s choice, {selection['chosen']} (chosen {chosen_at}; reused"
            f" while at most --reuse-choice-days {config.selection_reuse_days:g} old,"
            " 0 chooses again)")  # fmt: skip
        return reused
    with timer("choose the model"):
        chosen, tried = select(data, config, budget=config.selection_budget,
                               min_coverage=config.selection_min_coverage,
                               show_progress=show_progress)  # fmt: skip
    report.selection = chosen_record(chosen, tried, config, now=now)
    said = (f"chose {chosen.name}: validation NDCG@10 {chosen.metrics['ndcg@10']:.4f}"
            f" of {len(tried)} candidates")  # fmt: skip
    best = report.selection["best"]
    if best["name"] != chosen.name:
        said += (f" (the best, {best['name']}, {best['ndcg@10']:.4f}, is not better"
                 f" within the validation's noise and costs {best['cost_ratio']:.1f}x as"
                 " much)")  # fmt: skip
    say(said)
    return chosen.config


def _train_on_spark(
    source: SparkFiles,
    config: TrainingConfig,
    store: VersionStore,
    report: TrainReport,
    timer: _StepTimer,
    *,
    force: bool,
    promote: bool,
    show_progress: bool,
    say: Callable[[str], None],
) -> TrainReport:
    """:func:`train` on Spark: read, hold out, fit and score on the cluster; gate and
    publish as any version."""
    if config.model not in SPARK_MODELS:
        raise RecsvcError(
            f"--engine spark fits --model {' or '.join(SPARK_MODELS)} (MLlib's ALS, with next"
            f" items and popularity blended as configured), not {config.model!r}: the choice"
            " among models runs on one machine (--engine implicit)"
        )
    spark = spark_session(show_progress=show_progress)
    with timer("read events"):
        data = source.read(spark, config)
        report.counts["events"] = data.events.count()
    with timer("evaluate on holdout"):
        report.metrics = evaluate_forward(spark, data, config)

    def score(settings: TrainingConfig) -> float:
        if settings.model not in SPARK_MODELS:
            raise QualityGateFailed(
                f"the current version was fitted with --model {settings.model}, which the"
                " spark engine cannot refit to compare on the same holdout: --force publishes"
                " without the comparison, --no-promote beside the current version"
            )
        return float(evaluate_forward(spark, data, settings)["model"]["ndcg@10"])

    try:
        return _gate_and_publish(
            config, store, report, timer, score=score,
            build=lambda: build_spark_model(spark, data, config, timer=timer),
            force=force, promote=promote, say=say,
        )  # fmt: skip
    finally:
        data.events.unpersist()


def _gate_and_publish(
    config: TrainingConfig,
    store: VersionStore,
    report: TrainReport,
    timer: _StepTimer,
    *,
    score: Callable[[TrainingConfig], float],
    build: Callable[[], Model],
    force: bool,
    promote: bool,
    say: Callable[[str], None],
) -> TrainReport:
    """The quality gate (``score``: other settings' holdout NDCG@10 on the same data),
    then the whole version (``build``), published."""
    current = store.current()
    if current is not None and promote:
        with timer("quality gate"):
            try:
                report.gate = gate(report.metrics["model"], store, current, config, score=score)
            except QualityGateFailed as exc:  # the current settings cannot be refitted here
                if not force:
                    raise
                report.gate = {"current": current, "passed": False, "message": str(exc)}
        if not report.gate["passed"] and not force:
            raise QualityGateFailed(report.gate["message"])

    model = build()
    report.counts.update(
        users=len(model.users), items=len(model.items),
        interactions=int(model.user_items.nnz), purchases=int(model.purchased.nnz),
    )  # fmt: skip
    similar = model.manifest["similar_items"]
    if similar.get("recall") is not None:
        say(f"similar items through an HNSW index ({len(model.items):,} items, above"
            f" {config.similar_items_exact_max_items:,}): recall@{similar['per_item']}"
            f" {similar['recall']:.3f} against exact on {similar['recall_sample']:,}"
            " sampled items")  # fmt: skip
    model = with_manifest(model, _manifest(model, config, report))
    with timer("publish"):
        report.version = store.publish(model, promote=promote)
    report.promoted = promote
    return report


def retrain_every(
    hours: float,
    run: Callable[[], object],
    *,
    say: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> None:
    """Call ``run`` every ``hours`` (the Procfile's worker); a failed run (a recsvc error,
    the gate refusing, the database away) is reported and the next one goes ahead.
    ``rounds`` bounds the runs (None: forever)."""
    done = 0
    while rounds is None or done < rounds:
        try:
            run()
        except (RecsvcError, sqlalchemy.exc.OperationalError) as exc:
            say(f"retrain failed, next in {hours:g} h: {exc}")
        done += 1
        if rounds is None or done < rounds:
            sleep(hours * 3600)


def _manifest(model: Model, config: TrainingConfig, report: TrainReport) -> dict[str, Any]:
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data_window": model.manifest["data_window"],
        "similar_items": model.manifest["similar_items"],
        "engine": model.manifest.get("engine", {"name": "implicit"}),
        "counts": dict(report.counts),
        "parameters": config.as_dict(),
        "metrics": report.metrics,
        "quality_gate": report.gate,
        "selection": report.selection,
        # Serving must rank with one thread: a multi-threaded OpenMP region in a
        # preloaded gunicorn master hangs every forked worker (docs/architecture.md).
        "serving": {"num_threads": 1, "blas_threads": 1},
        "software": {"recsvc": __version__, "implicit": implicit.__version__,
                     "numpy": np.__version__},
    }  # fmt: skip


class _StepTimer:
    """Times named steps into a dict and says when each is done, with the process's peak
    memory so far (where the platform tells it): the step that raised it is the one
    to look at."""

    def __init__(self, steps: dict[str, float], say: Callable[[str], None]) -> None:
        self.steps, self.say = steps, say

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.say(f"{name}…")
        yield
        self.steps[name] = time.perf_counter() - start
        peak = _peak_memory_mib()
        memory = f" (peak memory so far {peak:,.0f} MiB)" if peak is not None else ""
        self.say(f"{name}: done in {self.steps[name]:.1f} s{memory}")


def _peak_memory_mib() -> float | None:
    """This process's peak resident memory in MiB (None where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes there, KiB here
