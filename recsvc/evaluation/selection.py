"""Choosing the model per shop: candidates scored on the shop's own recent past.

The data's latest events (a forward split: the last ``holdout_fraction`` of the events
in time; an evaluation on another protocol validates on that protocol) are set aside
as validation; each candidate is fitted on what comes before
them and scored through the serving recommender (the home placement, its default
filters) on what each known shopper bought then that they never bought before. Where
that window scores fewer than ``ENOUGH_SHOPPERS`` shoppers, the window before it (as
many events, the candidate fitted on what precedes it) is scored too, and a
candidate's metrics are over the shoppers of both: one small window's noise chose
worse models than two windows' average on the shops measured (docs/quality.md). The
best by NDCG@10 among candidates with at least ``min_coverage`` of the catalog wins,
unless a cheaper one is as good within the validation's noise (:func:`chosen_of`:
within one standard error of the best, on the same shoppers, at most half its cost):
then the best of those. Its settings are what ``recsvc train --model auto`` refits
on all the data and publishes. A time budget bounds the search: candidates are tried
cheapest and most likely first, and none starts after the budget is spent.

A shop of more than ``selection_max_events`` events is chosen for on a seeded sample of
its shoppers (every event of each shopper sampled, the catalog whole): a candidate's
fit then costs about what it costs on a shop of that size, however long the shop's
history (not what grows with the catalog: sparse EASE's fit above 20,000 items), and
at 10M events every first-round candidate is tried within the budget (docs/scaling.md).

The search has two rounds: the combinations (a taste, next items or not, recency at a
few weights), then the winner refined one setting at a time: the interactions' time
decay (an event's weight halving every 30 or 90 days) and, for an ALS taste, a small
grid of its factors and regularization. Each refinement is a candidate like the others,
scored the same way; the best of both rounds wins.

A retrain reuses the current version's choice (:func:`reused_choice`) while it is at
most ``selection_reuse_days`` old and every setting the choice does not set is the
same: the choice costs many fits (docs/scaling.md), which a retrain every few hours
need not repeat; ``--reuse-choice-days 0`` chooses again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm import tqdm

from ..config import TRAIN_ONLY, TrainingConfig
from ..data.dataset import Dataset
from ..errors import ConfigError
from ..serving.recommender import Recommender
from ..training.fit import Fits
from ..training.models import AUTO, model_named
from .holdout import DEFAULT_SPLIT, Holdout, holdout_for
from .metrics import best_first, per_user_scores, score
from .served import fit_for, served_lists

#: recency added to a taste: (weight, half-life in days)
RECENCY = ((0.0, None), (1.0, 7.0), (2.0, 7.0), (1.0, 30.0), (2.0, 30.0))
#: the second round: the interactions' time decay (half-life in days) tried on the winner
INTERACTION_HALF_LIVES = (30.0, 90.0)
#: ... and for an ALS taste, (factors, regularization) around recsvc's defaults
ALS_GRID = ((64, 10.0), (128, 30.0), (32, 1.0), (64, 1.0))
#: forward validation windows at most, each the holdout's share of the events: a window
#: before the latest is added while those taken score fewer shoppers than this
WINDOWS = 2
ENOUGH_SHOPPERS = 5_000
#: a cheaper candidate is chosen over the best where its NDCG@10 is within this many
#: standard errors of the best's (the shoppers' differences: both are scored on the
#: same shoppers) — the "one standard error" rule — and the best costs more than
#: ``COST_RATIO`` times as much to fit and score (costs closer than that are within the
#: run-to-run noise of a measured time, and a cheaper model that close is no saving)
NOISE_ERRORS = 1.0
COST_RATIO = 2.0
#: ... and saves at least this many seconds of the choice's: on a small shop every
#: candidate takes about a second, and which is cheaper is the noise of a busy
#: machine, which stretches one candidate's time by a few seconds now and then
COST_FLOOR = 5.0
#: the settings a candidate's row in the manifest shows: those the choice sets
SHOWN = ("model", "next_items_weight", "popularity_weight", "popularity_half_life_days",
         "half_life_days", "als_factors", "als_regularization")  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """One candidate: its name, settings, validation metrics, what it was validated on
    (in words), and its time: ``seconds`` spent on it in the choice (its parts shared
    with the candidates before it were not fitted again) and ``cost_seconds``, what
    fitting and scoring it would have taken with nothing shared (its cost:
    :meth:`~recsvc.training.fit.Fits.alone`).
    ``ndcg`` holds each validation shopper's NDCG@10, in the same order for every
    candidate of a choice."""

    name: str
    config: TrainingConfig
    metrics: dict[str, float]
    seconds: float
    validation: str
    cost_seconds: float = 0.0
    ndcg: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def row(self) -> dict[str, Any]:
        """The candidate as a row of the manifest's table."""
        settings = {name: self.config.as_dict()[name] for name in SHOWN}
        return {"name": self.name, "settings": settings, "seconds": round(self.seconds, 2),
                "cost_seconds": round(self.cost_seconds, 2),
                **{k: round(v, 4) for k, v in self.metrics.items()}}  # fmt: skip


class Validation:
    """The windows a choice scores candidates on, latest first, each with the parts
    that candidates fitted on the same events share."""

    def __init__(self, data: Dataset, config: TrainingConfig, *, split: str) -> None:
        data, self.shoppers_sampled, self.shoppers = shoppers_sample(
            data, config.selection_max_events, seed=config.seed
        )
        self.data, self.split, self.share = data, split, config.holdout_fraction
        windows: list[Holdout] = []
        if split != "forward":  # another protocol validates on its own split, once
            windows.append(holdout_for(data, config, split=split))
        else:
            for window in forward_windows(data, config):
                windows.append(window)
                if (len(windows) == WINDOWS
                        or sum(len(w.users) for w in windows) >= ENOUGH_SHOPPERS):  # fmt: skip
                    break
        self.windows: list[tuple[Holdout, Fits]] = [(window, Fits()) for window in windows]

    def candidate(self, name: str, config: TrainingConfig) -> Candidate:
        """The candidate ``name``: what ``recsvc train`` would publish with ``config``,
        fitted before each window and scored through the serving recommender on its
        shoppers, all windows' shoppers together (``windows``: how many)."""
        start = time.perf_counter()
        lists, truths, alone = [], [], 0.0
        for window, fits in self.windows:
            found, seconds = fits.alone(partial(self._served, window, fits, config))
            lists.append(found)
            truths.append(window.truth)
            alone += seconds
        recommended, truth = np.vstack(lists), sp.csr_matrix(sp.vstack(truths))
        metrics = score(recommended, truth, item_count=len(self.data.items))
        return Candidate(name, config, {**metrics, "windows": len(self.windows)},
                         time.perf_counter() - start, self.described, alone,
                         per_user_scores(recommended, truth)["ndcg@10"])  # fmt: skip

    def _served(self, window: Holdout, fits: Fits, config: TrainingConfig) -> np.ndarray:
        """The lists served to ``window``'s shoppers by ``config`` fitted before it."""
        return served_lists(Recommender(fit_for(self.data, window, config, fits=fits)), window)

    @property
    def described(self) -> str:
        """What the candidates are validated on, in words."""
        share = f"{self.share:g} of its events"
        if self.split != "forward":
            text = f"{self.split}, within the holdout's training part ({share})"
        elif len(self.windows) == 1:
            text = f"forward, within the holdout's training part (the latest {share})"
        else:
            text = (f"forward, within the holdout's training part (the latest"
                    f" {len(self.windows)} windows of {share} each, their shoppers"
                    " together)")  # fmt: skip
        if self.shoppers_sampled:
            text += (f", on a sample of {self.shoppers_sampled:,} of its {self.shoppers:,}"
                     f" shoppers ({len(self.data.events):,} events)")  # fmt: skip
        return text


def shoppers_sample(data: Dataset, most_events: int, *, seed: int) -> tuple[Dataset, int, int]:
    """``data`` itself where it holds at most ``most_events`` events; beyond, every event
    of a seeded sample of its shoppers, drawn in a random order while their events add up
    to at most ``most_events`` (the catalog whole): (data, shoppers sampled, shoppers in
    all), the counts 0 where not sampled."""
    events = data.events
    if len(events) <= most_events:
        return data, 0, 0
    coded = events.user_id.combine_chunks().dictionary_encode()
    codes = coded.indices.to_numpy()
    shoppers = len(coded.dictionary)
    order = np.random.default_rng(seed).permutation(shoppers)
    fits = np.cumsum(np.bincount(codes, minlength=shoppers)[order]) <= most_events
    taken = np.zeros(shoppers, dtype=bool)
    taken[order[fits]] = True
    return data.with_events(events.take(taken[codes])), int(fits.sum()), shoppers


def forward_windows(data: Dataset, config: TrainingConfig) -> Iterator[Holdout]:
    """The latest forward window of ``data`` (the holdout's share of its events), then
    each window before it, as many events, while a window's fit keeps at least half of
    the events; each made when asked for."""
    share = config.holdout_fraction
    window = holdout_for(data, config, split="forward")
    yield window
    taken = 1
    while 1 - share * (taken + 1) >= 0.5:
        left = 1 - share * taken  # of the events, before the windows taken
        before = data.with_events(window.train_events)
        window = holdout_for(before, config.replace(holdout_fraction=share / left))
        yield window
        taken += 1


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


def refinements(name: str, config: TrainingConfig) -> list[tuple[str, TrainingConfig]]:
    """The second round's candidates: ``config`` (the first round's winner, ``name``)
    with its interactions' time decay (for a model that learns from their weights: not
    EASE, which reads only which items a shopper touched, nor popularity, whose
    half-life the first round chose), and for ALS its factors and regularization, each
    changed on its own."""
    listed = [
        (f"{name}, events halving every {days:g} days", config.replace(half_life_days=days))
        for days in INTERACTION_HALF_LIVES
        if model_named(config.model).weighted and config.half_life_days != days
    ]
    if config.model == "als":
        listed += [
            (f"{name}, ALS {factors} factors, regularization {reg:g}",
             config.replace(als_factors=factors, als_regularization=reg))
            for factors, reg in ALS_GRID
            if (factors, reg) != (config.als_factors, config.als_regularization)
        ]  # fmt: skip
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
    refine: bool | None = None,
    cheaper_within_noise: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Candidate, list[Candidate]]:
    """The best candidate on a validation split of ``data`` (forward by default: the
    question a shop asks; an evaluation on another protocol validates on its own), and
    every candidate tried, best first. ``listed`` replaces the first round's candidates
    and ``refine`` (True unless ``listed`` is given) adds the second round's; without
    ``cheaper_within_noise`` the best is chosen whatever its cost (:func:`chosen_of`).
    :class:`ConfigError` if none reaches ``min_coverage``."""
    validation = Validation(data, config, split=split)
    refine = listed is None if refine is None else refine
    listed = listed or candidates(config, items=len(data.items))
    deadline = clock() + budget
    tried: list[Candidate] = []

    def chosen() -> Candidate:
        eligible = best_eligible(tried, min_coverage)
        return chosen_of(eligible) if cheaper_within_noise else eligible[0]

    def run(round_: Sequence[tuple[str, TrainingConfig]], desc: str) -> None:
        for name, candidate in tqdm(round_, desc=desc, unit=" candidates",
                                    disable=not show_progress):  # fmt: skip
            if tried and clock() >= deadline:
                return
            tried.append(validation.candidate(name, candidate))

    run(listed, "choosing the model")
    if refine and clock() < deadline:
        winner = chosen()
        run(refinements(winner.name, winner.config), "refining the choice")
    tried.sort(key=lambda c: best_first(c.metrics))
    return chosen(), tried


def best_eligible(tried: Sequence[Candidate], min_coverage: float) -> list[Candidate]:
    """The candidates with at least ``min_coverage`` of the catalog, best first;
    :class:`ConfigError` if none."""
    eligible = [c for c in sorted(tried, key=lambda c: best_first(c.metrics))
                if c.metrics["coverage"] >= min_coverage]  # fmt: skip
    if not eligible:
        raise ConfigError(f"no candidate reached catalog coverage {min_coverage:g}")
    return eligible


def chosen_of(eligible: Sequence[Candidate]) -> Candidate:
    """Of candidates best first, the best (``eligible[0]``), or the best of those that
    cost at most 1 / ``COST_RATIO`` of it, ``COST_FLOOR`` seconds less at least, and
    score within ``NOISE_ERRORS`` standard errors of it: a choice that cannot tell two
    candidates apart on the validation's shoppers takes the one cheaper to fit, serve
    and retrain."""
    best = eligible[0]
    cheaper = (c for c in eligible[1:]
               if c.cost_seconds <= min(best.cost_seconds / COST_RATIO,
                                         best.cost_seconds - COST_FLOOR)
               and not worse(c, best))  # fmt: skip
    return next(cheaper, best)


def worse(candidate: Candidate, best: Candidate) -> bool:
    """Whether ``candidate``'s NDCG@10 is more than ``NOISE_ERRORS`` standard errors below
    ``best``'s, the error that of the mean of their shoppers' differences."""
    differences = best.ndcg - candidate.ndcg
    if len(differences) < 2:
        return bool(differences.sum() > 0)
    error = differences.std(ddof=1) / np.sqrt(len(differences))
    return bool(differences.mean() > NOISE_ERRORS * error)


def chosen_record(
    chosen: Candidate, tried: Sequence[Candidate], config: TrainingConfig, *, now: dt.datetime
) -> dict[str, Any]:
    """What a manifest keeps of a choice (``selection``): the chosen candidate, when, its
    settings, what it validated on, the best eligible by NDCG@10 (the
    chosen itself unless a cheaper one was as good within the noise: its name, NDCG@10
    and cost in the chosen's), and every candidate tried."""
    best = best_eligible(tried, config.selection_min_coverage)[0]
    return {
        "chosen": chosen.name,
        "best": {
            "name": best.name,
            "ndcg@10": round(best.metrics["ndcg@10"], 4),
            "cost_ratio": round(best.cost_seconds / max(chosen.cost_seconds, 1e-9), 2),
        },
        "chosen_at": now.isoformat(timespec="seconds"),
        "settings": {name: chosen.config.as_dict()[name] for name in SHOWN},
        "validation": chosen.validation,
        "budget_seconds": config.selection_budget,
        "candidates": [candidate.row() for candidate in tried],
    }


def reused_choice(
    manifest: Mapping[str, Any], config: TrainingConfig, *, now: dt.datetime
) -> TrainingConfig | None:
    """The settings to refit when a retrain with ``config`` (model auto) may reuse the
    choice of the version whose ``manifest`` is given: that version was chosen for
    (``selection``; not a fixed model), at most ``config.selection_reuse_days`` before
    ``now``, with every setting the choice does not set equal to ``config``'s. None:
    choose again."""
    selection = manifest.get("selection") or {}
    if not selection.get("chosen") or not config.selection_reuse_days:
        return None
    chosen_at = selection.get("chosen_at") or manifest.get("created")
    try:
        when = dt.datetime.fromisoformat(str(chosen_at))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if (now - when).total_seconds() > config.selection_reuse_days * 86_400:
        return None
    try:
        fitted = TrainingConfig.from_dict(manifest.get("parameters", {})).replace(
            **{name: getattr(config, name) for name in TRAIN_ONLY}
        )
    except (ConfigError, TypeError):  # settings this version cannot read
        return None
    # dataclasses.replace, not .replace: a setting the choice set may be None
    unchosen = dataclasses.replace(fitted, **{name: getattr(config, name) for name in SHOWN})
    return fitted if unchosen == config and fitted.model != AUTO else None


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
