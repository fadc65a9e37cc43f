"""Ranking metrics: P@k, R@k, NDCG@k, MAP@k and catalog coverage of top-k lists."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..training.models import Ranker
from .holdout import Holdout

K = 10
METRICS = ("ndcg@10", "precision@10", "recall@10", "map@10", "coverage")


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
    return np.asarray(ranker.recommend(holdout.users, holdout.train.matrix, k))


def evaluate(ranker: Ranker, holdout: Holdout, *, k: int = K) -> dict[str, float]:
    """Score a fitted model on a holdout."""
    return score(lists(ranker, holdout, k=k), holdout.truth, item_count=len(holdout.train.items))
