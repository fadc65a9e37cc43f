"""Ranking metrics: P@k, R@k, NDCG@k, MAP@k and catalog coverage of top-k lists."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..training.models import Ranker
from .holdout import Truth

K = 10
METRICS = ("ndcg@10", "precision@10", "recall@10", "map@10", "coverage")
#: resamples of the users for NDCG@10's interval, and the interval's level
RESAMPLES = 1000
LEVEL = 0.95


def best_first(metrics: dict[str, float]) -> tuple[float, float]:
    """Sort key of validation results, best first: NDCG@10, then catalog coverage."""
    return (-metrics["ndcg@10"], -metrics["coverage"])


def score(recommended: np.ndarray, truth: sp.csr_matrix, *, item_count: int) -> dict[str, float]:
    """Mean P@k, R@k, NDCG@k (binary gain, log2 discount), MAP@k, and catalog coverage;
    also the users scored and a 95% bootstrap interval of NDCG@k (``ndcg@10 low`` and
    ``ndcg@10 high``): with about a hundred users a difference of 0.01 is noise.

    ``recommended`` has one row of item columns per user (-1 for none); ``truth``
    the matching rows of relevant items.
    """
    if recommended.shape[0] == 0:
        return {**dict.fromkeys(METRICS, 0.0), "users": 0}
    per_user = per_user_scores(recommended, truth)
    flat = recommended.reshape(-1)
    covered = len(np.unique(flat[flat >= 0]))
    low, high = bootstrap_interval(per_user["ndcg@10"])
    return {
        **{name: float(np.mean(values)) for name, values in per_user.items()},
        "coverage": float(covered / item_count) if item_count else 0.0,
        "users": recommended.shape[0],
        "ndcg@10 low": low,
        "ndcg@10 high": high,
    }


def bootstrap_interval(
    values: np.ndarray, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of per-user values: the users are
    resampled with replacement ``resamples`` times (a fixed seed: the same interval for
    the same values)."""
    if len(values) == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, 100):  # bounded memory for many users
        picks = rng.integers(0, len(values), size=(min(100, resamples - start), len(values)))
        means[start : start + len(picks)] = values[picks].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


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


def lists(
    ranker: Ranker, holdout: Truth, *, k: int = K, in_stock: np.ndarray | None = None
) -> np.ndarray:
    """Each scored user's top-``k`` item columns from a fitted model (-1 padded); with
    ``in_stock`` (one flag per item), only items in stock, as the served lists are."""
    if len(holdout.users) == 0:
        return np.zeros((0, k), dtype=np.int64)
    exclude = None if in_stock is None else np.flatnonzero(~in_stock)
    return np.asarray(ranker.recommend(holdout.users, holdout.train.matrix, k, exclude=exclude),
                      dtype=np.int64)  # fmt: skip


def evaluate(
    ranker: Ranker, holdout: Truth, *, k: int = K, in_stock: np.ndarray | None = None
) -> dict[str, float]:
    """Score a fitted model on a holdout (``in_stock``: see :func:`lists`)."""
    recommended = lists(ranker, holdout, k=k, in_stock=in_stock)
    return score(recommended, holdout.truth, item_count=len(holdout.train.items))
