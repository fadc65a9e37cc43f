"""Offline evaluation: time-based holdouts, ranking metrics, and baselines in the same run.

The protocol is BENCHMARK.md's "user-time 80/20": each user's first
``floor(0.8 * count)`` events (by time, stable) train, the rest test; a user's
ground truth is the items purchased in the test part that the user did not touch
in the training part; users without ground truth (or without training events)
are not scored. ``global-time`` splits all events at one moment instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..data.events import Events
from .matrix import IdMap, Interactions, build_interactions
from .models import Ranker

SPLITS = ("user-time", "global-time")
K = 10
METRICS = ("ndcg@10", "precision@10", "recall@10", "map@10", "coverage")


def holdout_mask(events: Events, *, split: str = "user-time", fraction: float = 0.2) -> np.ndarray:
    """Boolean mask of the test events of a time-based split."""
    test = np.zeros(len(events), dtype=bool)
    if split == "global-time":
        order = np.argsort(events.timestamp, kind="stable")
        test[order[int(np.floor((1 - fraction) * len(events))) :]] = True
        return test
    if split != "user-time":
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    user = IdMap.of(events.user_id).codes(events.user_id)
    # by user, then time, then position in the file (a stable sort by time per user)
    order = np.lexsort((np.arange(len(events)), events.timestamp, user))
    counts = np.bincount(user)
    first = np.cumsum(counts) - counts
    position = np.arange(len(order)) - np.repeat(first, counts)
    train_counts = np.floor((1 - fraction) * counts).astype(np.int64)
    test[order[position >= np.repeat(train_counts, counts)]] = True
    return test


@dataclass(frozen=True, eq=False)
class Holdout:
    """A training matrix and the ground truth it is scored against."""

    train: Interactions
    users: np.ndarray  # rows of the scored users
    truth: sp.csr_matrix  # one row per scored user: items to find
    #: the training part's events (to build a whole model from them)
    train_events: Events


def make_holdout(
    events: Events,
    weights: Mapping[str, float],
    *,
    split: str = "user-time",
    fraction: float = 0.2,
    half_life_days: float | None = None,
    min_user_events: int = 1,
    min_item_users: int = 1,
    target_types: Iterable[str] = ("purchase",),
    items: IdMap | None = None,
) -> Holdout:
    """Split events in time and build the training matrix and the ground truth."""
    test = holdout_mask(events, split=split, fraction=fraction)
    items = items or IdMap.of(events.item_id)
    train_events = events.take(~test)
    train = build_interactions(
        train_events,
        weights,
        half_life_days=half_life_days,
        min_user_events=min_user_events,
        min_item_users=min_item_users,
        items=items,
    )
    touched = build_interactions(train_events, weights, users=train.users, items=items)
    targets = events.take(test & events.of_types(target_types))
    truth = build_interactions(targets, weights, users=train.users, items=items).matrix
    truth = truth - truth.multiply(touched.matrix > 0)
    truth.eliminate_zeros()
    has_history = np.diff(train.matrix.indptr) > 0
    users = np.flatnonzero((np.diff(truth.indptr) > 0) & has_history)
    return Holdout(
        train=train, users=users, truth=sp.csr_matrix(truth[users] > 0),
        train_events=train_events,
    )  # fmt: skip


def score(recommended: np.ndarray, truth: sp.csr_matrix, *, item_count: int) -> dict[str, float]:
    """Mean P@k, R@k, NDCG@k (binary gain, log2 discount), MAP@k, and catalog coverage.

    ``recommended`` has one row of item columns per user (-1 for none); ``truth``
    the matching rows of relevant items.
    """
    if recommended.shape[0] == 0:
        return dict.fromkeys(METRICS, 0.0)
    per_user = per_user_scores(recommended, truth)
    flat = recommended.reshape(-1)
    covered = len(np.unique(flat[flat >= 0]))
    return {
        **{name: float(np.mean(values)) for name, values in per_user.items()},
        "coverage": float(covered / item_count) if item_count else 0.0,
    }


def per_user_scores(recommended: np.ndarray, truth: sp.csr_matrix) -> dict[str, np.ndarray]:
    """P@k, R@k, NDCG@k and AP@k of each user (the means of :func:`score`)."""
    n_users, k = recommended.shape
    row_of = np.repeat(np.arange(n_users), k)
    flat = recommended.reshape(-1)
    valid = flat >= 0
    hit = np.zeros(n_users * k, dtype=bool)
    hit[valid] = np.asarray(truth[row_of[valid], flat[valid]]).reshape(-1) > 0
    hit = hit.reshape(n_users, k)
    relevant = np.diff(truth.indptr).astype(np.float64)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(relevant, k).astype(int) - 1]
    precision_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    return {
        "ndcg@10": (hit * discount).sum(axis=1) / ideal,
        "precision@10": hit.sum(axis=1) / k,
        "recall@10": hit.sum(axis=1) / relevant,
        "map@10": (precision_at * hit).sum(axis=1) / np.minimum(relevant, k),
    }


def lists(ranker: Ranker, holdout: Holdout, *, k: int = K) -> np.ndarray:
    """Each scored user's top-``k`` item columns from a fitted model (-1 padded)."""
    if len(holdout.users) == 0:
        return np.zeros((0, k), dtype=np.int64)
    return np.asarray(ranker.recommend(holdout.users, holdout.train.matrix[holdout.users], k))


def evaluate(ranker: Ranker, holdout: Holdout, *, k: int = K) -> dict[str, float]:
    """Score a fitted model on a holdout."""
    return score(lists(ranker, holdout, k=k), holdout.truth, item_count=len(holdout.train.items))


def compare(
    models: Mapping[str, Callable[[sp.csr_matrix], Ranker]], holdout: Holdout
) -> dict[str, dict[str, float]]:
    """Fit each model on the holdout's training matrix and score it, in this one run."""
    return {name: evaluate(fit(holdout.train.matrix), holdout) for name, fit in models.items()}
