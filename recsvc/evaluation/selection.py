"""Choosing the model per shop: candidates scored on the shop's own recent past.

The data's latest events (a forward split: the last ``holdout_fraction`` of the events
in time; an evaluation on another protocol validates on that protocol) are set aside
as validation; each candidate is fitted on what comes before
them and scored through the serving recommender (the home placement, its default
filters) on what each known shopper bought then that they never bought before. The
best by NDCG@10 among candidates with at least ``min_coverage`` of the catalog wins;
its settings are what ``recsvc train --model auto`` refits on all the data and
publishes. A time budget bounds the search: candidates are tried cheapest and most
likely first, and none starts after the budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

from ..config import TrainingConfig
from ..data.dataset import Dataset
from ..errors import ConfigError
from ..training.fit import Fits
from ..training.models import AUTO
from .holdout import DEFAULT_SPLIT, holdout_for
from .metrics import best_first
from .served import evaluate_served

#: recency added to a taste: (weight, half-life in days)
RECENCY = ((0.0, None), (1.0, 7.0), (2.0, 7.0), (1.0, 30.0), (2.0, 30.0))


@dataclass(frozen=True)
class Candidate:
    """One candidate: its name, settings, validation metrics and fitting time."""

    name: str
    config: TrainingConfig
    metrics: dict[str, float]
    seconds: float

    def row(self) -> dict[str, Any]:
        """The candidate as a row of the manifest's table."""
        names = ("model", "next_items_weight", "popularity_weight", "popularity_half_life_days")
        settings = {name: self.config.as_dict()[name] for name in names}
        return {"name": self.name, "settings": settings, "seconds": round(self.seconds, 2),
                **{k: round(v, 4) for k, v in self.metrics.items()}}  # fmt: skip


def candidates(config: TrainingConfig, *, items: int) -> list[tuple[str, TrainingConfig]]:
    """The candidate settings, cheapest and most likely first: recent popularity alone,
    then each taste (ALS with the configured settings, EASE — sparse above its catalog
    limit — and item-kNN) with and without next items, each with recency added at a few weights."""
    listed = [
        (f"popular ({days:g}-day half-life)" if days else "popular (all time)",
         config.replace(model="popular", next_items_weight=0.0, popularity_weight=0.0,
                        popularity_half_life_days=days))
        for days in (7.0, 30.0, None)
    ]  # fmt: skip
    next_weight = config.next_items_weight or 0.5
    tastes = ["als", "ease", "itemknn"]
    for taste in tastes:
        for next_items in (next_weight, 0.0):
            for weight, days in RECENCY:
                name = taste + (" + next items" if next_items else "")
                if weight:
                    name += f" + {weight:g} x popularity ({days:g}-day)"
                listed.append((name, config.replace(
                    model=taste, next_items_weight=next_items, popularity_weight=weight,
                    popularity_half_life_days=days if weight else config.popularity_half_life_days,
                )))  # fmt: skip
    return listed


def select(
    data: Dataset,
    config: TrainingConfig,
    *,
    split: str = DEFAULT_SPLIT,
    budget: float = 180.0,
    min_coverage: float = 0.0,
    show_progress: bool = False,
    listed: Sequence[tuple[str, TrainingConfig]] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Candidate, list[Candidate]]:
    """The best candidate on a validation split of ``data`` (forward by default: the
    question a shop asks; an evaluation on another protocol validates on its own), and
    every candidate tried, best first. :class:`ConfigError` if none reaches
    ``min_coverage``."""
    validation = holdout_for(data, config, split=split)
    listed = listed or candidates(config, items=len(data.items))
    deadline = clock() + budget
    tried: list[Candidate] = []
    fits = Fits()  # the candidates' shared parts: one ALS, one EASE, one next-items...
    for name, candidate in tqdm(listed, desc="choosing the model", unit=" candidates",
                                disable=not show_progress):  # fmt: skip
        if tried and clock() >= deadline:
            break
        start = clock()
        metrics = evaluate_served(data, validation, candidate, fits=fits)
        tried.append(Candidate(name, candidate, metrics, clock() - start))
    tried.sort(key=lambda c: best_first(c.metrics))
    eligible = [c for c in tried if c.metrics["coverage"] >= min_coverage]
    if not eligible:
        raise ConfigError(f"no candidate reached catalog coverage {min_coverage:g}")
    return eligible[0], tried


def resolved(
    config: TrainingConfig, data: Dataset, *, split: str = DEFAULT_SPLIT
) -> tuple[TrainingConfig, list[Candidate]]:
    """The configuration itself, or with ``model`` auto, the chosen candidate's settings,
    and the candidates tried, best first (none for a fixed model). ``data`` is all a
    selection may read: for an evaluation, its training part."""
    if config.model != AUTO:
        return config, []
    chosen, tried = select(data, config, split=split, budget=config.selection_budget,
                           min_coverage=config.selection_min_coverage)  # fmt: skip
    return chosen.config, tried
