"""Hyperparameter search on a validation split carved from the training part only.

The data is split in time as for evaluation (the forward split: the latest
``holdout_fraction`` of the events are the test part); the test part is then set aside,
unread, and the
training part is split again the same way into fitting and validation parts. Trials
are drawn at random from log grids (Rendle et al. 2022: regularization and the weight
of observed pairs matter more than the factor count), starting with the current
settings, until the time budget or the trial count runs out. The best trial's
settings are what `recsvc train` should use: write them to a settings file and name
it with ``RECSVC_SETTINGS``.
"""

from __future__ import annotations

import csv
import dataclasses
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..config import TrainingConfig
from ..data.dataset import Dataset
from ..errors import ConfigError
from ..training.fit import fit_ranker
from ..training.models import AUTO, MODELS
from .holdout import DEFAULT_SPLIT, holdout_for, holdout_mask
from .metrics import METRICS, best_first, evaluate

#: the search space: each setting's candidate values
SPACE: Mapping[str, Sequence[Any]] = {
    "model": tuple(MODELS),
    "als_factors": (32, 64, 128),
    "als_regularization": (0.3, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0),
    "als_alpha": (0.3, 1.0, 2.0, 3.0, 5.0, 10.0),
    "knn_neighbours": (50, 100, 200, 400, 800),
    "blend_weight": (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5),
    "ease_regularization": (50.0, 100.0, 200.0, 500.0, 1000.0),
    "half_life_days": (None, 30.0, 90.0, 180.0, 365.0),
    "purchase_weight": (2.0, 4.0, 8.0, 16.0),
    "next_items_weight": (0.0, 0.3, 0.5, 1.0, 1.5, 2.0),
    "next_items_window": (3, 5, 10, 20),
    "next_items_recent": (5, 10, 20, 50),
    "next_items_decay": (0.7, 0.8, 0.9, 1.0),
}


#: draws in a row that repeat an earlier trial before the space counts as exhausted
MAX_REPEATS = 1_000
#: the next-items settings besides its weight (unused at weight 0)
NEXT_ITEMS = ("next_items_window", "next_items_recent", "next_items_decay")
_OWN_SETTINGS = {name for kind in MODELS.values() for name in kind.settings}
#: settings a model does not use (not varied for it, so no trial repeats another)
IRRELEVANT: Mapping[str, tuple[str, ...]] = {
    name: tuple(sorted(_OWN_SETTINGS - set(kind.settings))) for name, kind in MODELS.items()
}


@dataclass(frozen=True)
class Trial:
    """One configuration and its validation metrics."""

    number: int
    config: TrainingConfig
    metrics: dict[str, float]
    seconds: float


def validation_data(data: Dataset, config: TrainingConfig) -> Dataset:
    """The training part of the evaluation split, as a dataset: all that tuning reads."""
    test = holdout_mask(data.events, split=DEFAULT_SPLIT, fraction=config.holdout_fraction)
    return data.with_events(data.events.take(~test))


def tune(
    data: Dataset,
    config: TrainingConfig,
    *,
    seconds: float,
    max_trials: int = 200,
    folds: int = 1,
    seed: int = 0,
    show_progress: bool = False,
    space: Mapping[str, Sequence[Any]] = SPACE,
) -> list[Trial]:
    """Random search on the validation split; trials best first (by NDCG@10). With
    ``model`` auto, the search starts from ALS (it draws the model itself)."""
    if config.model == AUTO:
        config = config.replace(model="als")
    train_part = validation_data(data, config)
    rng = random.Random(seed)
    trials: list[Trial] = []
    seen: set[str] = set()
    repeats = 0
    deadline = time.monotonic() + seconds
    candidates = _draws(config, space, rng)
    with tqdm(total=max_trials, desc="tuning", unit=" trials", disable=not show_progress) as bar:
        while len(trials) < max_trials and time.monotonic() < deadline:
            candidate = next(candidates)
            key = repr(sorted(_varied(candidate).items()))
            if key in seen:
                repeats += 1
                if repeats >= MAX_REPEATS:
                    break  # the space is exhausted
                continue
            repeats = 0
            seen.add(key)
            start = time.monotonic()
            metrics = validate(train_part, candidate, folds=folds)
            trials.append(Trial(len(trials) + 1, candidate, metrics, time.monotonic() - start))
            bar.update(1)
            best = max(t.metrics["ndcg@10"] for t in trials)
            bar.set_postfix_str(f"best NDCG@10 {best:.4f}")
    return sorted(trials, key=lambda t: best_first(t.metrics))


def best(trials: Sequence[Trial], *, min_coverage: float = 0.0) -> Trial:
    """The trial with the best NDCG@10 among those with at least ``min_coverage``."""
    eligible = [t for t in trials if t.metrics["coverage"] >= min_coverage]
    if not eligible:
        raise ConfigError(
            f"no trial reached catalog coverage {min_coverage:g} (best:"
            f" {max(t.metrics['coverage'] for t in trials):.3f}); lower --min-coverage"
        )
    return min(eligible, key=lambda t: best_first(t.metrics))


def validate(train_part: Dataset, config: TrainingConfig, *, folds: int = 1) -> dict[str, float]:
    """Fit on the fitting part and score the ranking on the validation part.

    With ``folds`` > 1 the validation window also moves back in time: fold ``k`` first
    sets aside each user's latest ``k / folds`` share of a holdout fraction, then splits
    what is left the same way; the metrics are averaged (less noise from one window).
    """
    scores = []
    for fold in range(folds):
        events = train_part.events
        if fold:
            shift = config.holdout_fraction * fold / folds
            events = events.take(~holdout_mask(events, split=DEFAULT_SPLIT, fraction=shift))
        holdout = holdout_for(train_part.with_events(events), config)
        scores.append(evaluate(fit_ranker(holdout.train, holdout.train_events, config), holdout))
    return {name: float(np.mean([s[name] for s in scores])) for name in METRICS}


def write_trials(path: Path, trials: Sequence[Trial]) -> None:
    """The table of trials as CSV: settings, metrics, seconds."""
    settings = sorted({k for t in trials for k in _varied(t.config)})
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", *settings, *METRICS, "seconds"])
        for t in sorted(trials, key=lambda t: t.number):
            varied = _varied(t.config)
            writer.writerow(
                [
                    t.number,
                    *(varied.get(k) for k in settings),
                    *(f"{t.metrics[m]:.5f}" for m in METRICS),
                    f"{t.seconds:.2f}",
                ]
            )


def _varied(config: TrainingConfig) -> dict[str, Any]:
    data = config.as_dict()
    values = {k: data[k] for k in SPACE if k in data}
    values["purchase_weight"] = config.event_weights.get("purchase")
    return values


def _draws(
    base: TrainingConfig, space: Mapping[str, Sequence[Any]], rng: random.Random
) -> Iterator[TrainingConfig]:
    """The base settings, then random points of the space."""
    yield base
    while True:
        choice = {name: rng.choice(list(values)) for name, values in space.items()}
        weights = dict(base.event_weights)
        purchase = choice.pop("purchase_weight", None)
        if purchase is not None and "purchase" in weights:
            weights["purchase"] = purchase
        unused = IRRELEVANT[choice.get("model", base.model)]
        if choice.get("next_items_weight", base.next_items_weight) == 0:
            unused += NEXT_ITEMS
        for name in unused:
            choice.pop(name, None)  # keep the base value: the model does not use it
        yield dataclasses.replace(base, **choice, event_weights=weights)
