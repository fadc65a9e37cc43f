"""Settings from the environment, with defaults that run on a laptop.

Every setting has an environment variable (``RECSVC_`` + the field name in upper
case, e.g. ``RECSVC_ALS_FACTORS=64``); the ``recsvc`` command reads the same
variables and its options override them.
"""

from __future__ import annotations

import dataclasses
import os
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, Union, get_args, get_origin, get_type_hints

import numpy as np

from .errors import ConfigError

#: Weight of one event of each type in the interaction matrix. Event types not in
#: this mapping are rejected when reading events, so adding a type here (e.g.
#: ``RECSVC_EVENT_WEIGHTS="view=1,add_to_cart=3,purchase=4,wishlist=2"``) is how a
#: shop makes a new type known.
DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = types.MappingProxyType(
    {"view": 1.0, "add_to_cart": 3.0, "purchase": 4.0}
)


def option(text: str, *, flag: str | None = None) -> dict[str, str | None]:
    """A setting's command-line option: its help text, and its flag when it is not
    ``--`` + the field's name with dashes (`recsvc train --factors 64`)."""
    return {"help": text, "flag": flag}


def parse_event_weights(text: str) -> dict[str, float]:
    """Parse ``"view=1,purchase=4"`` into ``{"view": 1.0, "purchase": 4.0}``."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"event weights: expected 'type=weight', got {part.strip()!r}")
        try:
            weight = float(value)
        except ValueError:
            raise ConfigError(
                f"event weights: weight of {name!r} is not a number: {value!r}"
            ) from None
        if not weight > 0:
            raise ConfigError(f"event weights: weight of {name!r} must be positive, got {value}")
        weights[name] = weight
    return weights


def read_settings(path: Path) -> dict[str, str]:
    """``RECSVC_*=value`` lines of a settings file (blank lines and ``#`` comments skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"RECSVC_SETTINGS: cannot read {path}: {exc}") from exc
    settings = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip().startswith("RECSVC_"):
            raise ConfigError(f"{path}, line {number}: expected RECSVC_NAME=value, got {line!r}")
        settings[name.strip()] = value.strip()
    return settings


def write_settings(path: Path, config: TrainingConfig, *, comment: str = "") -> None:
    """Write a configuration as a settings file that ``RECSVC_SETTINGS`` can name."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for name, value in config.as_dict().items():
        if name == "event_weights":
            value = format_event_weights(value)
        elif isinstance(value, list):
            value = ",".join(value)
        lines.append(f"RECSVC_{name.upper()}={'off' if value is None else value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def format_event_weights(weights: Mapping[str, float]) -> str:
    """The inverse of :func:`parse_event_weights`."""
    return ",".join(f"{name}={weight:g}" for name, weight in weights.items())


#: the earliest event time accepted by default (1990-01-01, before any web shop)
EARLIEST_EVENT = "1990-01-01"


@dataclass(frozen=True)
class TimeBounds:
    """When a shop's events can have happened: not before ``earliest`` (epoch seconds),
    and not more than ``future_seconds`` after the moment they are checked."""

    earliest: int = 631_152_000  # EARLIEST_EVENT
    future_seconds: float = 86_400.0

    def latest(self) -> float:
        """The latest acceptable time, now."""
        return time.time() + self.future_seconds


class _FromEnvironment:
    """Builds a frozen dataclass from ``RECSVC_<FIELD>`` variables over its defaults."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Defaults, overridden by the settings file ``RECSVC_SETTINGS`` names (``KEY=VALUE``
        lines, as `recsvc tune` writes), overridden by the ``RECSVC_*`` variables set."""
        environ = os.environ if environ is None else environ
        if environ.get("RECSVC_SETTINGS"):
            environ = {**read_settings(Path(environ["RECSVC_SETTINGS"])), **environ}
        values: dict[str, Any] = {}
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            name = f"RECSVC_{f.name.upper()}"
            if name in environ:
                values[f.name] = _convert(name, environ[name], hints[f.name])
        return cls(**values)

    def replace(self, **changes: Any) -> Self:
        """A copy with the given fields changed; ``None`` values are ignored."""
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True, kw_only=True)
class ServingConfig(_FromEnvironment):
    """How the HTTP service runs (``PORT`` and ``WEB_CONCURRENCY`` belong to gunicorn.conf.py)."""

    #: the model store: a folder, or "database" (DATABASE_URL's; RECSVC_MODEL_CACHE is
    #: the local folder that versions are fetched into)
    models: str = "models"
    #: API key for admin endpoints (model reload); unset disables them
    admin_key: str | None = None
    #: API key for write endpoints (events, catalog); unset disables them
    write_key: str | None = None
    #: seconds between checks of the store for a newly published version (0: never)
    reload_interval: float = 5.0
    #: largest request body accepted (HTTP 413 beyond)
    max_body_bytes: int = 1 << 20
    #: JSON changing or adding placements (see recsvc/serving/placements.py)
    placements: str | None = None
    #: most events one POST /v1/events may carry
    max_events_per_batch: int = 1000
    #: a shopper's latest events after the model's data window that a request folds
    #: in (0: no live personalization)
    live_events: int = 50
    #: seconds between a worker's reads of the store for new events and catalog changes
    catalog_interval: float = 0.5
    #: seconds a request may wait on the event store (writes answer 503 beyond it)
    database_timeout: float = 2.0
    #: impressions (recsvc/serving/impressions.py): the share of served lists recorded
    #: (0: none), the most a worker buffers before it drops new ones, and the seconds
    #: between its background writes
    impression_sample_rate: float = 1.0
    impression_buffer: int = 10_000
    impression_flush_interval: float = 1.0
    #: hours within which an add-to-cart or purchase without a recommendation_id is
    #: credited to the shopper's recommended view of the same item
    attribution_hours: float = 24.0
    #: "json": one JSON line per request on stdout (with its request id); off by default
    #: (Heroku's router logs every request)
    access_log: str = "off"

    def __post_init__(self) -> None:
        if self.reload_interval < 0 or self.max_body_bytes < 1:
            raise ConfigError("reload_interval must be >= 0 and max_body_bytes >= 1")
        if not 0 <= self.impression_sample_rate <= 1:
            raise ConfigError(
                f"impression_sample_rate must be within [0, 1], got {self.impression_sample_rate}"
            )
        if self.impression_buffer < 1 or not self.impression_flush_interval > 0:
            raise ConfigError("impression_buffer must be >= 1 and impression_flush_interval > 0")
        if self.access_log not in ("off", "json"):
            raise ConfigError(f"access_log must be off or json, got {self.access_log!r}")
        if self.attribution_hours < 0:
            raise ConfigError(f"attribution_hours must be >= 0, got {self.attribution_hours}")
        if not self.database_timeout > 0:
            raise ConfigError(f"database_timeout must be > 0, got {self.database_timeout}")


#: settings only ``recsvc train`` reads: how long a retrain reuses the current version's
#: choice, and the version's own fit after the holdout. They change neither a choice nor
#: a holdout, so ``evaluate`` and ``tune`` do not offer them and a retrain that differs
#: only in them reuses the choice (recsvc.evaluation.selection.reused_choice)
TRAIN_ONLY = frozenset({"selection_reuse_days", "als_warm_iterations"})


@dataclass(frozen=True, kw_only=True)
class TrainingConfig(_FromEnvironment):
    """What `recsvc train` and `recsvc evaluate` do, and with which hyperparameters."""

    #: weight of one event, per event type (see DEFAULT_EVENT_WEIGHTS)
    event_weights: Mapping[str, float] = field(
        default_factory=lambda: DEFAULT_EVENT_WEIGHTS,
        metadata=option("Weight per event type, e.g. 'view=1,add_to_cart=3,purchase=4'."),
    )
    #: halve an event's weight for every this many days it is older than the newest
    #: event; None turns time decay off
    half_life_days: float | None = field(
        default=None, metadata=option("Halve an event's weight per this many days of age.")
    )
    #: users with fewer events are left out of training (they get popular items)
    min_user_events: int = field(default=1, metadata=option("Leave out users with fewer events."))
    #: items touched by fewer distinct users are left out of training
    min_item_users: int = field(
        default=1, metadata=option("Leave out items touched by fewer users.")
    )
    als_factors: int = field(default=32, metadata=option("ALS latent factors.", flag="--factors"))
    als_regularization: float = field(
        default=10.0, metadata=option("ALS L2 regularization.", flag="--regularization")
    )
    als_alpha: float = field(
        default=1.0,
        metadata=option("ALS confidence scaling (confidence = alpha x weight).", flag="--alpha"),
    )
    als_iterations: int = field(default=15, metadata=option("ALS iterations.", flag="--iterations"))
    #: the version's ALS fit starts from the holdout's factors (fitted on the same
    #: settings, most of the same events) and runs this many iterations; 0: every
    #: als_iterations from random factors. Measured in docs/training-speed.md: 1 to 8
    #: warm iterations score as a cold fit on the next weeks and agree with it as a
    #: fit of another seed does
    als_warm_iterations: int = field(
        default=3,
        metadata=option(
            "ALS iterations of the version's fit, which starts from the holdout's factors"
            " (0: all --iterations from random factors).",
            flag="--warm-iterations",
        ),
    )
    #: what ranks a user's best items (the precomputed candidates of the home and
    #: category placements): a model of recsvc.training.models.MODELS, checked there, or
    #: auto, chosen on the shop's own latest events (recsvc.evaluation.selection)
    model: str = field(
        default="auto",
        metadata=option("What ranks a user's best items (auto: chosen on the shop's past)."),
    )
    #: item-kNN (alone or in the blend): neighbours per item, and cosine or bm25
    knn_neighbours: int = field(
        default=200, metadata=option("Item-kNN (alone or blended): neighbours per item.")
    )
    knn_weighting: str = field(default="cosine", metadata=option("Item-kNN similarity."))
    #: EASE's L2 regularization, and the largest catalog it is fitted on (items^2 memory)
    ease_regularization: float = field(default=200.0, metadata=option("EASE's L2 regularization."))
    ease_max_items: int = 20_000
    #: above ease_max_items: the weights each item keeps (sparse EASE)
    ease_neighbours: int = field(
        default=100, metadata=option("EASE above RECSVC_EASE_MAX_ITEMS: weights kept per item.")
    )
    #: blend: the weight of the item-kNN scores beside ALS's (both standardized)
    blend_weight: float = field(
        default=0.3, metadata=option("Blend: weight of item-kNN beside ALS (both standardized).")
    )
    #: what users touch next: the weight of the next-items scores added to the
    #: model's (both standardized; 0 leaves them out), the events after an item that
    #: count as following it, and each user's latest events that the scores start
    #: from, each step back weighing ``next_items_decay`` times the one after it
    next_items_weight: float = field(
        default=0.5,
        metadata=option("Weight of what users touch next, added to the model's scores (0: off)."),
    )
    next_items_window: int = field(
        default=20, metadata=option("Next items: events after an item that count as following it.")
    )
    next_items_recent: int = field(
        default=10, metadata=option("Next items: a user's latest events the scores start from.")
    )
    next_items_decay: float = field(
        default=0.9, metadata=option("Next items: weight of each step back in a user's history.")
    )
    #: followers kept per item (the most frequent): bounds the model's size and the
    #: cost of ranking every user's candidates
    next_items_neighbours: int = field(
        default=100, metadata=option("Next items: followers kept per item (the most frequent).")
    )
    #: recency: popularity (best sellers, the cold-start and fill lists) counts each
    #: event's weight halving every this many days before the newest event (None: all
    #: time), and is added with this weight to the model's scores of each shopper's
    #: best items (both standardized; 0 leaves it out): taste, and what sells now
    popularity_half_life_days: float | None = field(
        default=None,
        metadata=option("Popularity's half-life in days (best sellers of this season)."),
    )
    popularity_weight: float = field(
        default=0.0, metadata=option("Weight of recent popularity added to the model's scores.")
    )
    #: model auto: seconds a selection may spend starting candidates, and the catalog
    #: coverage a candidate needs to be chosen
    selection_budget: float = field(
        default=180.0, metadata=option("With --model auto: seconds the choice may take.",
                                       flag="--budget"),
    )  # fmt: skip
    #: model auto: events the choice reads at most; beyond, every event of a seeded
    #: sample of the shoppers (docs/scaling.md: the choice's cost stops growing with the
    #: shop)
    selection_max_events: int = field(
        default=2_000_000,
        metadata=option("With --model auto: events the choice reads at most (those of a"
                        " seeded sample of the shoppers beyond)."),
    )  # fmt: skip
    selection_min_coverage: float = field(
        default=0.0,
        metadata=option("With --model auto: the catalog coverage a candidate needs."),
    )
    #: model auto: a retrain reuses the current version's choice (its model and the
    #: settings the choice sets) made at most this many days ago, when every other
    #: setting is the same; 0 chooses again every time
    selection_reuse_days: float = field(
        default=7.0,
        metadata=option("With --model auto: reuse the current version's choice made at most"
                        " this many days ago (0: choose every time).",
                        flag="--reuse-choice-days"),
    )  # fmt: skip
    #: events before this date (ISO 8601) or more than this many days in the future are
    #: refused, in files, imports and the API
    earliest_event: str = field(
        default=EARLIEST_EVENT, metadata=option("Refuse events before this date (ISO 8601).")
    )
    future_event_days: float = field(
        default=1.0, metadata=option("Refuse events more than this many days in the future.")
    )
    #: neighbours kept per item in the "bought together" model
    bought_together_neighbours: int = field(
        default=50,
        metadata=option("Items kept per item in the bought-together model.", flag="--neighbours"),
    )
    #: event types that count as buying an item together with another
    bought_together_event_types: tuple[str, ...] = ("add_to_cart", "purchase")
    #: best untouched items precomputed per user, so serving a known user ranks
    #: these instead of scanning the catalog
    candidates_per_user: int = 100
    #: nearest items precomputed per item, for the product placement: exact up to this
    #: many items, through an HNSW index above (recsvc.training.nearest)
    similar_items_per_item: int = 50
    similar_items_exact_max_items: int = 100_000
    #: share of each user's latest events held out to evaluate before publishing
    holdout_fraction: float = field(
        default=0.2, metadata=option("Share of each user's latest events held out to evaluate.")
    )
    #: shoppers a holdout scores at most; beyond, a sample of them (seeded): the metrics'
    #: interval says how close it is, and scoring each of 1.2M shoppers took minutes
    holdout_max_shoppers: int = field(
        default=20_000,
        metadata=option("Shoppers a holdout scores at most (a seeded sample beyond)."),
    )
    #: a retrained model whose holdout NDCG@10 is more than this below the current
    #: version's (same holdout) is not published unless forced
    max_ndcg_drop: float = 0.01
    seed: int = field(default=42, metadata=option("Random seed."))

    def __post_init__(self) -> None:
        if self.half_life_days is not None and not self.half_life_days > 0:
            raise ConfigError(f"half_life_days must be positive, got {self.half_life_days}")
        if not 0 < self.holdout_fraction < 1:
            raise ConfigError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        counts = (
            "min_user_events",
            "min_item_users",
            "als_factors",
            "als_iterations",
            "bought_together_neighbours",
            "candidates_per_user",
            "similar_items_per_item",
            "similar_items_exact_max_items",
            "next_items_window",
            "next_items_recent",
            "next_items_neighbours",
            "ease_neighbours",
            "holdout_max_shoppers",
            "selection_max_events",
        )
        for name in counts:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.als_warm_iterations < 0:
            raise ConfigError(f"als_warm_iterations must be >= 0, got {self.als_warm_iterations}")
        if self.als_regularization < 0 or not self.als_alpha > 0:
            raise ConfigError("als_regularization must be >= 0 and als_alpha > 0")
        if self.popularity_weight < 0 or (
            self.popularity_half_life_days is not None and not self.popularity_half_life_days > 0
        ):
            raise ConfigError("popularity_weight must be >= 0 and popularity_half_life_days > 0")
        if self.next_items_weight < 0 or not 0 < self.next_items_decay <= 1:
            raise ConfigError("next_items_weight must be >= 0 and next_items_decay in (0, 1]")
        try:
            self.time_bounds()
        except ValueError:
            raise ConfigError(
                f"earliest_event must be an ISO 8601 date, got {self.earliest_event!r}"
            ) from None
        if not self.selection_reuse_days >= 0:
            raise ConfigError(f"selection_reuse_days must be >= 0, got {self.selection_reuse_days}")
        if not self.future_event_days >= 0:
            raise ConfigError(f"future_event_days must be >= 0, got {self.future_event_days}")
        if not set(self.bought_together_event_types) & set(self.event_weights):
            raise ConfigError(
                f"bought_together_event_types {list(self.bought_together_event_types)}"
                f" names none of the event types {list(self.event_weights)}"
            )

    def time_bounds(self) -> TimeBounds:
        """When events may have happened (``earliest_event``, ``future_event_days``)."""
        earliest = np.datetime64(self.earliest_event.rstrip("Z"), "s").astype(np.int64)
        return TimeBounds(earliest=int(earliest), future_seconds=self.future_event_days * 86_400)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as recorded in a model's manifest."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["event_weights"] = dict(self.event_weights)
        data["bought_together_event_types"] = list(self.bought_together_event_types)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """The inverse of :meth:`as_dict`; unknown keys (from newer versions) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "bought_together_event_types" in values:
            values["bought_together_event_types"] = tuple(values["bought_together_event_types"])
        return cls(**values)


def _convert(name: str, text: str, hint: Any) -> Any:
    """Convert an environment variable's text to the field's type."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if text.strip().lower() in ("", "none", "off"):
            return None
        hint = next(a for a in get_args(hint) if a is not type(None))
        origin = get_origin(hint)
    try:
        if origin is tuple:
            return tuple(part.strip() for part in text.split(",") if part.strip())
        if hint is Mapping[str, float] or origin is Mapping:
            return parse_event_weights(text)
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        kind = getattr(hint, "__name__", hint)
        raise ConfigError(f"{name}: cannot read {text!r} as {kind}") from None
    return text


def models_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The model store folder: ``RECSVC_MODELS``, default ``models``."""
    return Path(ServingConfig.from_env(environ).models)
