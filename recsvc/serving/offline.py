"""Scoring the recommender itself on a holdout: the quality figure of what shoppers get.

The same :class:`Recommender` the HTTP API uses, with its default filters (in stock,
already seen or bought left out), asked for each scored user's home placement.
"""

from __future__ import annotations

import numpy as np

from ..training.evaluation import METRICS, Holdout, score
from .recommender import Recommender


def evaluate_recommender(
    recommender: Recommender, holdout: Holdout, *, k: int = 10, placement: str = "home"
) -> dict[str, float]:
    """P@k, R@k, NDCG@k, MAP@k and coverage of the recommender's lists for the holdout."""
    if len(holdout.users) == 0:
        return dict.fromkeys(METRICS, 0.0)
    items = recommender.model.items
    recommended = np.full((len(holdout.users), k), -1, dtype=np.int64)
    for row, user in enumerate(holdout.train.users.ids[holdout.users].tolist()):
        result = recommender.recommend(placement=placement, user_id=user, n=k)
        found = items.index([item.item_id for item in result.items])
        recommended[row, : len(found)] = found
    return score(recommended, holdout.truth, item_count=len(holdout.train.items))
