"""Time-based holdouts: the events a model learns from, and what it must then find.

The protocol "user-time 80/20" (docs/evaluation.md): each user's first
``floor(0.8 * count)`` events (by time, stable) train, the rest test; a user's
ground truth is the items purchased in the test part that the user did not touch
in the training part; users without ground truth (or without training events)
are not scored. ``global-time`` splits all events at one moment instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..config import TrainingConfig
from ..data.dataset import Dataset
from ..data.events import DAY, PURCHASES, Events
from ..data.ids import IdMap
from ..training.matrix import Interactions, build_interactions

SPLITS = ("user-time", "global-time", "forward")
#: the protocol a shop lives by, and the default of evaluation, training's holdout, the
#: quality gate, tuning and the model's choice: trained on the past, asked for the future
DEFAULT_SPLIT = "forward"


def holdout_mask(
    events: Events,
    *,
    split: str = "user-time",
    fraction: float = 0.2,
    test_days: float | None = None,
) -> np.ndarray:
    """Boolean mask of the test events of a time-based split.

    ``forward``: every event from a cut-off time on, the cut-off being ``test_days``
    before the newest event, or else the time that leaves ``fraction`` of the events
    after it (events at the same second stay on one side).
    """
    test = np.zeros(len(events), dtype=bool)
    if split == "forward":
        return events.timestamp >= forward_cutoff(events, fraction=fraction, test_days=test_days)
    if split == "global-time":
        order = np.argsort(events.timestamp, kind="stable")
        test[order[int(np.floor((1 - fraction) * len(events))) :]] = True
        return test
    if split != "user-time":
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    user = events.codes("user_id", IdMap.of(events.user_id))
    # by user, then time, then position in the file (a stable sort by time per user)
    order = np.lexsort((np.arange(len(events)), events.timestamp, user))
    counts = np.bincount(user)
    first = np.cumsum(counts) - counts
    position = np.arange(len(order)) - np.repeat(first, counts)
    train_counts = np.floor((1 - fraction) * counts).astype(np.int64)
    test[order[position >= np.repeat(train_counts, counts)]] = True
    return test


def forward_cutoff(events: Events, *, fraction: float = 0.2, test_days: float | None = None) -> int:
    """The forward split's cut-off (epoch seconds): events from it on are the future."""
    if not len(events):
        return 0
    if test_days is not None:
        return days_cutoff(int(events.timestamp.max()), test_days)
    times = np.sort(events.timestamp, kind="stable")
    return int(times[cutoff_position(len(times), fraction)])


def days_cutoff(newest: int, test_days: float) -> int:
    """The forward cut-off that leaves ``test_days`` before the ``newest`` event after it."""
    return int(newest - test_days * DAY) + 1


def cutoff_position(count: int, fraction: float) -> int:
    """Where, among ``count`` events sorted by time, the forward cut-off that leaves
    ``fraction`` of them after it lies."""
    return min(int(np.floor((1 - fraction) * count)), count - 1)


@dataclass(frozen=True, eq=False)
class Truth:
    """A training matrix and the ground truth it is scored against (however the split
    was made: here, or on Spark by recsvc.evaluation.spark)."""

    train: Interactions
    users: np.ndarray  # rows of the scored users
    truth: sp.csr_matrix  # one row per scored user: items to find
    #: shoppers first seen in the test part who bought there (the cold-start path: not
    #: scored, counted apart)
    new_shoppers: int = 0
    #: known shoppers with something to find, when ``users`` are a sample of them (0:
    #: every one is scored)
    sampled_from: int = 0

    @property
    def scored(self) -> str:
        """How many shoppers are scored, in words."""
        return scored_described(len(self.users), self.sampled_from)


@dataclass(frozen=True, eq=False, kw_only=True)
class Holdout(Truth):
    """A split made here: the truth, and the training part's events (to build a whole
    model from them)."""

    train_events: Events
    #: what ``train`` was built with (event weights, half-life, least events a user and
    #: users an item), as :func:`build_interactions` takes them
    train_settings: tuple[Any, ...] | None = None

    def train_matrix(self, config: TrainingConfig, items: IdMap) -> Interactions | None:
        """The training part's matrix, where ``config`` builds the same over ``items``."""
        if self.train.items is not items or self.train_settings != _matrix_settings(
            config.event_weights, config.half_life_days, config.min_user_events,
            config.min_item_users,
        ):  # fmt: skip
            return None
        return self.train


def _matrix_settings(
    weights: Mapping[str, float], half_life_days: float | None, min_user_events: int,
    min_item_users: int,
) -> tuple[Any, ...]:  # fmt: skip
    return (sorted(weights.items()), half_life_days, min_user_events, min_item_users)


def make_holdout(
    events: Events,
    weights: Mapping[str, float],
    *,
    split: str = "user-time",
    fraction: float = 0.2,
    half_life_days: float | None = None,
    min_user_events: int = 1,
    min_item_users: int = 1,
    target_types: Iterable[str] = PURCHASES,
    items: IdMap | None = None,
    test_days: float | None = None,
    max_users: int | None = None,
    seed: int = 0,
) -> Holdout:
    """Split events in time and build the training matrix and the ground truth.

    The truth of a user: items of ``target_types`` in the test part that the user did
    not touch in the training part; with the ``forward`` split, that the user did not
    buy in the training part (a shop's question: what will each shopper buy that they
    never bought?). Beyond ``max_users`` such users, a sample of them (``seed``) is
    scored.
    """
    test = holdout_mask(events, split=split, fraction=fraction, test_days=test_days)
    # the ids encoded once, before the split: the training part keeps the encoding, and
    # a fit on all the events (the version's) finds it made
    for column in ("user_id", "item_id"):
        events.distinct(column)
    items = items or IdMap.of(events.distinct("item_id")[0])
    train_events = events.take(~test)
    train = build_interactions(
        train_events,
        weights,
        half_life_days=half_life_days,
        min_user_events=min_user_events,
        min_item_users=min_item_users,
        items=items,
    )
    known = train_events
    if split == "forward":
        known = train_events.take(train_events.of_types(target_types))
    touched = build_interactions(known, weights, users=train.users, items=items)
    targets = events.take(test & events.of_types(target_types))
    truth = build_interactions(targets, weights, users=train.users, items=items).matrix
    truth = truth - truth.multiply(touched.matrix > 0)
    truth.eliminate_zeros()
    has_history = np.diff(train.matrix.indptr) > 0
    users, sampled_from = sampled(
        np.flatnonzero((np.diff(truth.indptr) > 0) & has_history), max_users, seed=seed
    )
    buyers = set(targets.user_id.unique().to_pylist())
    new = len(buyers - set(train.users.ids[has_history].tolist()))
    return Holdout(
        train=train, users=users, truth=sp.csr_matrix(truth[users] > 0),
        train_events=train_events, new_shoppers=new, sampled_from=sampled_from,
        train_settings=_matrix_settings(weights, half_life_days, min_user_events,
                                        min_item_users),
    )  # fmt: skip


def scored_described(users: int, sampled_from: int = 0) -> str:
    """``users`` shoppers scored (of ``sampled_from`` when a sample), in words."""
    sample = f" (a sample of {sampled_from:,})" if sampled_from else ""
    return f"{users:,} shoppers scored{sample}"


def sampled(users: np.ndarray, most: int | None, *, seed: int) -> tuple[np.ndarray, int]:
    """The users to score: all of them, or beyond ``most`` a sample of them (``seed``,
    sorted); and how many there were when sampled (else 0)."""
    if most is None or len(users) <= most:
        return users, 0
    return np.sort(np.random.default_rng(seed).choice(users, most, replace=False)), len(users)


def holdout_for(
    data: Dataset, config: TrainingConfig, *, split: str = DEFAULT_SPLIT,
    test_days: float | None = None,
) -> Holdout:  # fmt: skip
    """The evaluation holdout of a dataset under a configuration's weights and limits."""
    return make_holdout(
        data.events,
        config.event_weights,
        split=split,
        test_days=test_days,
        fraction=config.holdout_fraction,
        half_life_days=config.half_life_days,
        min_user_events=config.min_user_events,
        min_item_users=config.min_item_users,
        items=data.items,
        max_users=config.holdout_max_shoppers,
        seed=config.seed,
    )
