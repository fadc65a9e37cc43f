"""Training commands: train (and retrain on a schedule), evaluate, tune."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..artifact import VersionStore
from ..config import write_settings
from ..data.dataset import Files, Source
from ..data.spark import SparkFiles
from ..evaluation.compare import evaluate_dataset, evaluate_moments_dataset, report_dataset
from ..evaluation.holdout import DEFAULT_SPLIT, SPLITS, holdout_for, scored_described
from ..evaluation.report import write_report
from ..evaluation.tuning import best, tune, write_trials
from ..pipeline import TrainReport, read_dataset, retrain_every, train
from ..store.source import Database
from .options import (
    data_options,
    database_option,
    domain_errors,
    evaluation_options,
    metrics_table,
    open_shop,
    open_store,
    store_option,
    training_config,
    training_options,
)


@click.command("train")
@data_options
@store_option
@training_options
@click.option(
    "--max-ndcg-drop",
    type=float,
    default=None,
    help="Refuse to publish when holdout NDCG@10 falls more than this below the"
    " current version's settings on the same holdout. [default: 0.01]",
)
@click.option("--force", is_flag=True, help="Publish even when the quality gate refuses.")
@click.option(
    "--promote/--no-promote",
    default=True,
    show_default=True,
    help="Make the new version current; --no-promote publishes it beside the current one"
    " (no quality gate), e.g. as an experiment's variant (recsvc experiments start).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars. [default: when the terminal is interactive]",
)
@click.option(
    "--from-db",
    is_flag=True,
    help="Read events and catalog from the store ($DATABASE_URL) instead of files.",
)
@click.option(
    "--window-days",
    type=float,
    default=None,
    help="With --from-db: only events of the last this many days. [default: all]",
)
@click.option(
    "--engine",
    type=click.Choice(["implicit", "spark"]),
    default="implicit",
    show_default=True,
    help="Where to fit: implicit on this machine, or Apache Spark (pip install"
    " 'recsvc[spark]'; local[*], or the cluster of spark-submit; --model als; docs/spark.md).",
)
@click.option(
    "--every",
    type=float,
    default=None,
    help="Keep running: train again every this many hours (the Procfile's worker)."
    " A failed run is reported and the next one goes ahead.",
)
@database_option
@domain_errors
def train_command(
    events: str | None,
    items: str | None,
    models: str | None,
    force: bool,
    promote: bool,
    progress: bool | None,
    from_db: bool,
    window_days: float | None,
    engine: str,
    every: float | None,
    database: str | None,
    **options: Any,
) -> None:
    """Train on an events file, evaluate on a time holdout, and publish a new version.

    The new version becomes current unless its holdout NDCG@10 drops more than
    --max-ndcg-drop below what the current version's settings reach on the same
    holdout (exit status 3, nothing published).
    """
    config = training_config(options)
    store = open_store(models)
    show = sys.stderr.isatty() if progress is None else progress
    source: Source | SparkFiles
    if from_db and events is None:
        if engine == "spark":
            raise click.UsageError("--engine spark reads --events (files or URLs), not --from-db")
        source = Database(open_shop(database), window_days)
    elif events is not None and not from_db:
        source = SparkFiles(events, items) if engine == "spark" else Files(events, items)
    else:
        raise click.UsageError("give either --events FILE or --from-db")

    def run() -> None:
        report = train(source, config=config, store=store, force=force, promote=promote,
                       show_progress=show, say=lambda text: click.echo(text, err=True))  # fmt: skip
        _print_report(report, store)

    if every is None:
        run()
    else:
        retrain_every(every, run, say=lambda text: click.echo(text, err=True))


def _print_report(report: TrainReport, store: VersionStore) -> None:
    state = "current" if report.promoted else "not current: --no-promote"
    click.echo(f"published {report.version} to {store.location} ({state})")
    click.echo("counts: " + ", ".join(f"{k} {v:,}" for k, v in report.counts.items()))
    click.echo("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.steps.items()))
    holdout = report.metrics["holdout"]
    scored = scored_described(holdout["users_scored"], holdout.get("sampled_from", 0))
    click.echo(f"holdout ({holdout['split']}, {scored}):")
    click.echo(
        metrics_table(
            {"recsvc": report.metrics["model"], "popularity": report.metrics["popularity"]}
        )
    )
    if report.gate is not None:
        click.echo(f"quality gate: {report.gate['message']}")


@click.command("evaluate")
@data_options
@evaluation_options
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default=DEFAULT_SPLIT,
    show_default=True,
    help="forward: everything before a cut-off trains, and the truth is what each shopper"
    " known then buys after it that they never bought (shoppers new after it are counted"
    " apart); user-time: each user's latest events are the test part (the benchmark's"
    " 80/20, docs/evaluation.md); global-time: all events after one moment are.",
)
@click.option(
    "--test-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="With --split forward: the last this many days are the future."
    " [default: the latest --holdout-fraction of the events]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option(
    "--moments",
    is_flag=True,
    help="Also score the session and product-page strategies beside baselines.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write an HTML report (tables, NDCG by user activity, popularity bias).",
)
@click.option(
    "--trials",
    "trials_table",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="With --report: the trials CSV of a recsvc tune run, to plot.",
)
@domain_errors
def evaluate_command(
    events: str | None,
    items: str | None,
    split: str,
    test_days: float | None,
    as_json: bool,
    moments: bool,
    report: Path | None,
    trials_table: Path | None,
    **options: Any,
) -> None:
    """Score the configured model, the other models and the baselines on one holdout.

    The `recsvc (..., served)` row is the model `recsvc train` would publish, scored
    through the serving recommender. With --moments, the session and product-page
    strategies too, beside popularity and item co-occurrence.
    """
    config = training_config(options)
    if events is None:
        raise click.UsageError("--events is required")
    data = read_dataset(Files(events, items), config)
    if test_days is not None and split != "forward":
        raise click.UsageError("--test-days goes with --split forward")
    holdout = holdout_for(data, config, split=split, test_days=test_days)
    tables = {"home": evaluate_dataset(data, config, split=split, holdout=holdout)}
    if moments:
        tables["moments"] = evaluate_moments_dataset(data, config, split=split)
    if report is not None:
        write_report(report, report_dataset(data, config, split=split), trials=trials_table)
    if as_json:
        click.echo(json.dumps(tables if moments else tables["home"], indent=2))
        return
    span = f"last {test_days:g} days" if test_days else f"fraction {config.holdout_fraction:g}"
    click.echo(f"split: {split}, holdout {span}: {holdout.scored},"
               f" {holdout.new_shoppers:,} new shoppers who bought (not scored)")  # fmt: skip
    for name, rows in tables.items():
        click.echo(f"\n{name}:")
        click.echo(metrics_table(rows))
    if report is not None:
        click.echo(f"\nreport: {report}")


@click.command("tune")
@data_options
@evaluation_options
@click.option(
    "--seconds",
    type=float,
    default=600,
    show_default=True,
    help="Time budget: no new trial starts after it.",
)
@click.option(
    "--trials",
    "max_trials",
    type=int,
    default=200,
    show_default=True,
    help="At most this many trials.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default="tuned.env",
    show_default=True,
    help="Settings file for the best trial (RECSVC_SETTINGS).",
)
@click.option(
    "--table",
    type=click.Path(dir_okay=False, path_type=Path),
    default="tuning-trials.csv",
    show_default=True,
    help="Every trial, as CSV.",
)
@click.option(
    "--folds",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="Validation windows per trial, each further back in time (averaged).",
)
@click.option(
    "--min-coverage",
    type=float,
    default=0.0,
    show_default=True,
    help="Choose the best NDCG@10 among trials with at least this catalog coverage.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar. [default: when the terminal is interactive]",
)
@domain_errors
def tune_command(
    events: str | None,
    items: str | None,
    seconds: float,
    max_trials: int,
    folds: int,
    min_coverage: float,
    out: Path,
    table: Path,
    progress: bool | None,
    **options: Any,
) -> None:
    """Search the settings on a validation split carved from the training part only.

    The test part of the evaluation split is never read. The best trial's settings go
    to --out: name it with RECSVC_SETTINGS (or source it) so that train and evaluate
    use them.
    """
    config = training_config(options)
    if events is None:
        raise click.UsageError("--events is required")
    show = sys.stderr.isatty() if progress is None else progress
    trials = tune(read_dataset(Files(events, items), config), config, seconds=seconds,
                  max_trials=max_trials, folds=folds, show_progress=show)  # fmt: skip
    write_trials(table, trials)
    chosen = best(trials, min_coverage=min_coverage)
    write_settings(out, chosen.config, comment=(
        f"recsvc tune: best of {len(trials)} trials on the validation split of {events}\n"
        f"trial {chosen.number}: validation NDCG@10 {chosen.metrics['ndcg@10']:.4f},"
        f" coverage {chosen.metrics['coverage']:.4f}"))  # fmt: skip
    click.echo(metrics_table({f"#{t.number} {t.config.model}": t.metrics for t in trials[:10]}))
    click.echo(f"{len(trials)} trials in {table}; trial {chosen.number}'s settings in {out}"
               f" (use: RECSVC_SETTINGS={out})")  # fmt: skip
