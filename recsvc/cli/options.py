"""What the commands share: options read into settings, the stores they open, and
recsvc's errors turned into one line and an exit status."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import click
import sqlalchemy.exc

from ..artifact import VersionStore
from ..config import (
    TRAIN_ONLY,
    ServingConfig,
    TrainingConfig,
    format_event_weights,
    models_dir,
    parse_event_weights,
)
from ..errors import ConfigError, QualityGateFailed, RecsvcError
from ..evaluation.metrics import METRICS
from ..store.database import connect, database_url
from ..store.models import open_model_store
from ..store.shop import ShopStore
from ..training.models import AUTO, MODELS, WEIGHTINGS, check_model

#: exit status when the quality gate refuses to publish (1 is any other error)
EXIT_GATE_FAILED = 3


class GateFailure(click.ClickException):
    exit_code = EXIT_GATE_FAILED


def domain_errors(command: Callable[..., None]) -> Callable[..., None]:
    """Turn recsvc's errors into a one-line message and an exit status, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except QualityGateFailed as exc:
            raise GateFailure(f"not published: {exc} (use --force to publish anyway)") from exc
        except RecsvcError as exc:
            raise click.ClickException(str(exc)) from exc
        except sqlalchemy.exc.OperationalError as exc:
            raise click.ClickException(f"database unavailable: {exc.orig}") from exc

    return wrapper


def store_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--models",
        "models",
        default=None,
        help="Model store: a folder, or 'database' (DATABASE_URL's) or a database URL."
        " [default: $RECSVC_MODELS, else models]",
    )(command)


def open_store(models: str | None) -> VersionStore:
    return open_model_store(models if models is not None else str(models_dir()))


def data_options(command: Callable[..., None]) -> Callable[..., None]:
    # text, not a path: with --engine spark a folder or a URL (s3a://...) too
    command = click.option(
        "--items", type=str, default=None, metavar="FILE",
        help="Catalog file: item_id, optional title, category, price, available.",
    )(command)  # fmt: skip
    return click.option(
        "--events", type=str, default=None, metavar="FILE",
        help="Events file (.csv, .parquet or .jsonl): user_id, item_id, event_type, timestamp."
        " With --engine spark also a folder (events.parquet/) or a URL Spark reads (s3a://...).",
    )(command)  # fmt: skip


#: options whose values are a fixed list
_CHOICES: Mapping[str, click.Choice[str]] = {"model": click.Choice([*MODELS, AUTO]),
                                        "knn_weighting": click.Choice(WEIGHTINGS)}  # fmt: skip


def training_options(command: Callable[..., None]) -> Callable[..., None]:
    """An option for each training setting that has one (config.option), named as the
    setting, so that the values go to TrainingConfig as they are."""
    return _setting_options(command, skip=frozenset())


def evaluation_options(command: Callable[..., None]) -> Callable[..., None]:
    """:func:`training_options` but those only ``recsvc train`` reads (``TRAIN_ONLY``)."""
    return _setting_options(command, skip=TRAIN_ONLY)


def _setting_options(command: Callable[..., None], *, skip: frozenset[str]) -> Callable[..., None]:
    defaults = TrainingConfig()
    hints = get_type_hints(TrainingConfig)
    for setting in reversed(dataclasses.fields(TrainingConfig)):
        if "help" not in setting.metadata or setting.name in skip:
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


def training_config(options: Mapping[str, Any]) -> TrainingConfig:
    """Defaults, then the settings file and RECSVC_* variables, then the command line."""
    changes = dict(options)
    if changes.get("event_weights") is not None:
        changes["event_weights"] = parse_event_weights(changes["event_weights"])
    try:
        return check_model(TrainingConfig.from_env().replace(**changes))
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


def database_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--database", default=None,
        help="SQLAlchemy URL of the event store. [default: $DATABASE_URL, else var/recsvc.db]",
    )(command)  # fmt: skip


def open_shop(database: str | None) -> ShopStore:
    """The event store, crediting events to recommendations as the service does."""
    hours = ServingConfig.from_env().attribution_hours
    return ShopStore(connect(database or database_url()), attribution_hours=hours)


def metrics_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """The metrics of each row, with NDCG@10's 95% interval where it was measured."""
    width = max(len(name) for name in rows)
    lines = [f"{'model':<{width}}  " + "  ".join(f"{m:>12}" for m in METRICS)
             + "  ndcg@10 95% interval"]  # fmt: skip
    for name, metrics in rows.items():
        interval = (f"  [{metrics['ndcg@10 low']:.4f}, {metrics['ndcg@10 high']:.4f}]"
                    if "ndcg@10 low" in metrics else "")  # fmt: skip
        lines.append(f"{name:<{width}}  " + "  ".join(f"{metrics[m]:>12.4f}" for m in METRICS)
                     + interval)  # fmt: skip
    return "\n".join(lines)


def utc_minute(epoch: int | None) -> str:
    """A time for a person to read: ``YYYY-MM-DD HH:MM`` (UTC); "-" for none."""
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")
