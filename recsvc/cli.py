"""The ``recsvc`` command: train, evaluate and manage model versions.

Options override the ``RECSVC_*`` environment variables, which override the defaults
(see recsvc/config.py).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import click
import sqlalchemy.exc

from .artifact import VersionStore, iter_manifests
from .config import (
    TrainingConfig,
    format_event_weights,
    models_dir,
    parse_event_weights,
    write_settings,
)
from .data.catalog import read_catalog
from .data.dataset import Files, Source
from .data.events import read_events
from .errors import ConfigError, QualityGateFailed, RecsvcError
from .evaluation.compare import evaluate_dataset, evaluate_moments_dataset, report_dataset
from .evaluation.holdout import SPLITS
from .evaluation.metrics import METRICS
from .evaluation.report import write_report
from .evaluation.tuning import best, tune, write_trials
from .pipeline import TrainReport, read_dataset, retrain_every, train
from .store.database import connect, database_url, upgrade
from .store.models import open_model_store
from .store.shop import EVENT_FIELDS, ShopStore
from .store.source import Database
from .training.models import MODELS, WEIGHTINGS, check_model

#: exit status when the quality gate refuses to publish (1 is any other error)
EXIT_GATE_FAILED = 3


class _GateFailure(click.ClickException):
    exit_code = EXIT_GATE_FAILED


def _domain_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn recsvc's errors into a one-line message and an exit status, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except QualityGateFailed as exc:
            raise _GateFailure(f"not published: {exc} (use --force to publish anyway)") from exc
        except RecsvcError as exc:
            raise click.ClickException(str(exc)) from exc
        except sqlalchemy.exc.OperationalError as exc:
            raise click.ClickException(f"database unavailable: {exc.orig}") from exc

    return wrapper


def _store_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--models",
        "models",
        default=None,
        help="Model store: a folder, or 'database' (DATABASE_URL's) or a database URL."
        " [default: $RECSVC_MODELS, else models]",
    )(command)


def _store(models: str | None) -> VersionStore:
    return open_model_store(models if models is not None else str(models_dir()))


def _data_options(command: Callable[..., None]) -> Callable[..., None]:
    path = click.Path(dir_okay=False, path_type=Path)
    command = click.option(
        "--items", type=path, default=None,
        help="Catalog file: item_id, optional title, category, price, available.",
    )(command)  # fmt: skip
    return click.option(
        "--events", type=path, default=None,
        help="Events file (.csv, .parquet or .jsonl): user_id, item_id, event_type, timestamp.",
    )(command)  # fmt: skip


#: options whose values are a fixed list
_CHOICES: Mapping[str, click.Choice[str]] = {"model": click.Choice(list(MODELS)),
                                        "knn_weighting": click.Choice(WEIGHTINGS)}  # fmt: skip


def _training_options(command: Callable[..., None]) -> Callable[..., None]:
    """An option for each training setting that has one (config.option), named as the
    setting, so that the values go to TrainingConfig as they are."""
    defaults = TrainingConfig()
    hints = get_type_hints(TrainingConfig)
    for setting in reversed(dataclasses.fields(TrainingConfig)):
        if "help" not in setting.metadata:
            continue
        flag = setting.metadata["flag"] or "--" + setting.name.replace("_", "-")
        default = getattr(defaults, setting.name)
        if setting.name == "event_weights":
            default = format_event_weights(default)
        command = click.option(
            flag,
            setting.name,
            type=_option_type(setting.name, hints),
            default=None,
            help=f"{setting.metadata['help']} [default: {default}]",
        )(command)
    return command


def _option_type(name: str, hints: Mapping[str, Any]) -> Any:
    """A setting's click type: its choices, else int or float (also when optional), else
    text."""
    if name in _CHOICES:
        return _CHOICES[name]
    hint = hints[name]
    kinds = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    return next((kind for kind in (int, float) if kind in kinds), str)


def _config(options: Mapping[str, Any]) -> TrainingConfig:
    """Defaults, then the settings file and RECSVC_* variables, then the command line."""
    changes = dict(options)
    if changes.get("event_weights") is not None:
        changes["event_weights"] = parse_event_weights(changes["event_weights"])
    try:
        return check_model(TrainingConfig.from_env().replace(**changes))
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


def _database_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--database", default=None,
        help="SQLAlchemy URL of the event store. [default: $DATABASE_URL, else var/recsvc.db]",
    )(command)  # fmt: skip


def _shop(database: str | None) -> ShopStore:
    return ShopStore(connect(database or database_url()))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recsvc")
def main() -> None:
    """recsvc: train, evaluate and publish recommendation models for a shop."""


@main.command("train")
@_data_options
@_store_option
@_training_options
@click.option(
    "--max-ndcg-drop",
    type=float,
    default=None,
    help="Refuse to publish when holdout NDCG@10 falls more than this below the"
    " current version's settings on the same holdout. [default: 0.01]",
)
@click.option("--force", is_flag=True, help="Publish even when the quality gate refuses.")
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
    "--every",
    type=float,
    default=None,
    help="Keep running: train again every this many hours (the Procfile's worker)."
    " A failed run is reported and the next one goes ahead.",
)
@_database_option
@_domain_errors
def train_command(
    events: Path | None,
    items: Path | None,
    models: str | None,
    force: bool,
    progress: bool | None,
    from_db: bool,
    window_days: float | None,
    every: float | None,
    database: str | None,
    **options: Any,
) -> None:
    """Train on an events file, evaluate on a time holdout, and publish a new version.

    The new version becomes current unless its holdout NDCG@10 drops more than
    --max-ndcg-drop below what the current version's settings reach on the same
    holdout (exit status 3, nothing published).
    """
    config = _config(options)
    store = _store(models)
    show = sys.stderr.isatty() if progress is None else progress
    source: Source
    if from_db and events is None:
        source = Database(_shop(database), window_days)
    elif events is not None and not from_db:
        source = Files(events, items)
    else:
        raise click.UsageError("give either --events FILE or --from-db")

    def run() -> None:
        report = train(source, config=config, store=store, force=force, show_progress=show,
                       say=lambda text: click.echo(text, err=True))  # fmt: skip
        _print_report(report, store)

    if every is None:
        run()
    else:
        retrain_every(every, run, say=lambda text: click.echo(text, err=True))


def _print_report(report: TrainReport, store: VersionStore) -> None:
    click.echo(f"published {report.version} to {store.location} (current)")
    click.echo("counts: " + ", ".join(f"{k} {v:,}" for k, v in report.counts.items()))
    click.echo("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.steps.items()))
    holdout = report.metrics["holdout"]
    click.echo(f"holdout ({holdout['split']}, {holdout['users_scored']:,} users scored):")
    click.echo(
        _table({"recsvc": report.metrics["model"], "popularity": report.metrics["popularity"]})
    )
    if report.gate is not None:
        click.echo(f"quality gate: {report.gate['message']}")


@main.command("evaluate")
@_data_options
@_training_options
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default="user-time",
    show_default=True,
    help="user-time: each user's latest events are the test part (BENCHMARK.md);"
    " global-time: all events after one moment are.",
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
@_domain_errors
def evaluate_command(
    events: Path | None,
    items: Path | None,
    split: str,
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
    config = _config(options)
    if events is None:
        raise click.UsageError("--events is required")
    data = read_dataset(Files(events, items), config)
    tables = {"home": evaluate_dataset(data, config, split=split)}
    if moments:
        tables["moments"] = evaluate_moments_dataset(data, config, split=split)
    if report is not None:
        write_report(report, report_dataset(data, config, split=split), trials=trials_table)
    if as_json:
        click.echo(json.dumps(tables if moments else tables["home"], indent=2))
        return
    click.echo(f"split: {split}, holdout fraction {config.holdout_fraction:g}")
    for name, rows in tables.items():
        click.echo(f"\n{name}:")
        click.echo(_table(rows))
    if report is not None:
        click.echo(f"\nreport: {report}")


@main.command("tune")
@_data_options
@_training_options
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
@_domain_errors
def tune_command(
    events: Path | None,
    items: Path | None,
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
    config = _config(options)
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
    click.echo(_table({f"#{t.number} {t.config.model}": t.metrics for t in trials[:10]}))
    click.echo(f"{len(trials)} trials in {table}; trial {chosen.number}'s settings in {out}"
               f" (use: RECSVC_SETTINGS={out})")  # fmt: skip


@main.group("models")
def models_group() -> None:
    """List, inspect, promote and roll back published model versions."""


@models_group.command("list")
@_store_option
@_domain_errors
def models_list(models: str | None) -> None:
    """Every version in the store, oldest first; * marks the current one."""
    store = _store(models)
    current = store.current()
    rows = list(iter_manifests(store))
    if not rows:
        click.echo(f"no versions in {store.location}")
    for version, manifest in rows:
        mark = "*" if version == current else " "
        if isinstance(manifest, Exception):
            click.echo(f"{mark} {version}  unreadable: {manifest}")
            continue
        ndcg = manifest.get("metrics", {}).get("model", {}).get("ndcg@10")
        counts = manifest.get("counts", {})
        click.echo(
            f"{mark} {version}  created {manifest.get('created')}  "
            f"events {counts.get('events', 0):,}  items {counts.get('items', 0):,}  "
            f"NDCG@10 {ndcg if ndcg is None else f'{ndcg:.4f}'}"
        )


@models_group.command("show")
@click.argument("version", required=False)
@_store_option
@_domain_errors
def models_show(version: str | None, models: str | None) -> None:
    """Print a version's manifest (default: the current version)."""
    click.echo(json.dumps(_store(models).manifest(version), indent=2, sort_keys=True))


@models_group.command("verify")
@click.argument("version", required=False)
@_store_option
@_domain_errors
def models_verify(version: str | None, models: str | None) -> None:
    """Check a version's files against its checksums (default: the current version)."""
    store = _store(models)
    model = store.load(version)
    click.echo(f"{model.version}: {len(model.manifest['files'])} files verified")


@models_group.command("promote")
@click.argument("version")
@_store_option
@_domain_errors
def models_promote(version: str, models: str | None) -> None:
    """Make VERSION current (it is verified first)."""
    store = _store(models)
    store.promote(version)
    click.echo(f"current version: {version}")


@models_group.command("rollback")
@_store_option
@_domain_errors
def models_rollback(models: str | None) -> None:
    """Make the previously current version current again."""
    click.echo(f"current version: {_store(models).rollback()}")


@main.group("db")
def db_group() -> None:
    """The event-and-catalog database."""


@db_group.command("upgrade")
@_database_option
@_domain_errors
def db_upgrade(database: str | None) -> None:
    """Create or migrate the schema (idempotent: the Procfile's release process runs it)."""
    made = upgrade(_shop(database).engine)
    click.echo(f"created {', '.join(made)}" if made else "schema up to date")


@main.command("import-events")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_database_option
@_domain_errors
def import_events(path: Path, database: str | None) -> None:
    """Load an events file into the store (validated whole first; all or nothing)."""
    config = TrainingConfig.from_env()
    events = read_events(path, event_types=config.event_weights)
    types = list(events.event_types)
    rows = [
        dict(zip(EVENT_FIELDS[1:6], values, strict=True))
        for values in zip(
            events.user_id.to_pylist(), events.item_id.to_pylist(),
            [types[c] for c in events.event_type.tolist()], events.timestamp.tolist(),
            events.quantity.tolist(), strict=True,
        )
    ]  # fmt: skip
    stored = _shop(database).add_events(rows)
    click.echo(f"imported {stored.stored:,} events from {path}")


@main.command("import-items")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_database_option
@_domain_errors
def import_items(path: Path, database: str | None) -> None:
    """Create or replace catalog entries from a catalog file (all or nothing)."""
    catalog = read_catalog(path)
    rows = [
        {"item_id": i, "title": t or None, "category": c or None,
         "price": None if p != p else p, "available": a}
        for i, t, c, p, a in zip(catalog.item_id.tolist(), catalog.title.tolist(),
                                 catalog.category.tolist(), catalog.price.tolist(),
                                 catalog.available.tolist(), strict=True)
    ]  # fmt: skip
    click.echo(f"imported {_shop(database).upsert_items(rows):,} items from {path}")


def _table(rows: Mapping[str, Mapping[str, float]]) -> str:
    width = max(len(name) for name in rows)
    lines = [f"{'model':<{width}}  " + "  ".join(f"{m:>12}" for m in METRICS)]
    for name, metrics in rows.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{metrics[m]:>12.4f}" for m in METRICS))
    return "\n".join(lines)
