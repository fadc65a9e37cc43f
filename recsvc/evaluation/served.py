"""Scoring the recommender itself on a holdout: the quality figure of what shoppers get.

The same :class:`Recommender` the HTTP API uses, with its default filters (in stock,
already seen or bought left out), asked for each scored user's home placement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..artifact import Model
from ..config import TrainingConfig
from ..data.dataset import Dataset
from ..serving.filters import Filters
from ..serving.recommender import Recommender
from ..serving.sources import bought_with
from ..training.fit import Fits, Followers, build_model
from ..training.models import PopularityModel
from .holdout import DEFAULT_SPLIT, Holdout, Truth
from .metrics import evaluate, score


def evaluate_served(
    data: Dataset, holdout: Holdout, config: TrainingConfig, *, fits: Fits | None = None
) -> dict[str, float]:
    """Fit what `recsvc train` would publish on the holdout's training part and score the
    serving recommender's home lists, with its default filters (``fits``: parts shared
    with other models fitted on the same part)."""
    return evaluate_model(fit_for(data, holdout, config, fits=fits), holdout)


def evaluate_model(model: Model, holdout: Truth) -> dict[str, float]:
    """The home lists of a model fitted on the holdout's training part (:func:`fit_for`),
    served with the default filters, scored."""
    return evaluate_recommender(Recommender(model), holdout)


def fit_for(
    data: Dataset,
    holdout: Holdout,
    config: TrainingConfig,
    *,
    similar: bool = False,
    fits: Fits | None = None,
    followers: Callable[[Followers], None] | None = None,
) -> Model:
    """The model `recsvc train` would publish, fitted on the holdout's training part with
    candidates for the scored users only (``similar``: with item neighbours too;
    ``followers``: given its next items' follower counts, as :func:`build_model`)."""
    scored = holdout.train.users.ids[holdout.users]
    return build_model(holdout.train_events, data, config, similar=similar,
                       candidates_for=scored, fits=fits, followers=followers,
                       interactions=holdout.train_matrix(config, data.items))  # fmt: skip


def holdout_metrics(
    split: Truth,
    model: dict[str, float],
    config: TrainingConfig,
    *,
    in_stock: np.ndarray | None,
    **about: str,
) -> dict[str, Any]:
    """What `recsvc train` reports of its holdout (``holdout``, ``model``,
    ``popularity``): the served ``model``'s scores beside all-time popularity's on the
    same ``split`` (``about``: more to say of the holdout, e.g. the engine)."""
    popular = PopularityModel.fit(split.train.matrix)
    return {
        "holdout": {"split": DEFAULT_SPLIT, "fraction": config.holdout_fraction,
                    "users_scored": len(split.users), "new_shoppers": split.new_shoppers,
                    **({"sampled_from": split.sampled_from} if split.sampled_from else {}),
                    "through": "serving (home)", **about},
        "model": model,
        "popularity": evaluate(popular, split, in_stock=in_stock),
    }  # fmt: skip


def evaluate_recommender(
    recommender: Recommender, holdout: Truth, *, k: int = 10, placement: str = "home"
) -> dict[str, float]:
    """P@k, R@k, NDCG@k, MAP@k and coverage of the recommender's lists for the holdout."""
    recommended = served_lists(recommender, holdout, k=k, placement=placement)
    return score(recommended, holdout.truth, item_count=len(holdout.train.items))


def served_lists(
    recommender: Recommender, holdout: Truth, *, k: int = 10, placement: str = "home"
) -> np.ndarray:
    """Each scored user's list from the recommender, as item columns (-1 padded)."""
    items = recommender.model.items
    recommended = np.full((len(holdout.users), k), -1, dtype=np.int64)
    for row, user in enumerate(holdout.train.users.ids[holdout.users].tolist()):
        result = recommender.recommend(placement=placement, user_id=user, n=k)
        found = items.index([item["item_id"] for item in result.items])
        recommended[row, : len(found)] = found
    return recommended


def last_items(holdout: Holdout, *, count: int = 5) -> dict[int, list[str]]:
    """Each scored user's last ``count`` distinct training items, oldest first."""
    events = holdout.train_events
    users = events.codes("user_id", holdout.train.users)
    items = np.asarray(events.item_id.to_numpy(zero_copy_only=False)).astype(str).tolist()
    order = np.lexsort((np.arange(len(events)), events.timestamp, users))
    scored = set(holdout.users.tolist())
    latest: dict[int, list[str]] = {}
    for index in order[::-1].tolist():  # newest first
        user = int(users[index])
        if user not in scored:
            continue
        seen = latest.setdefault(user, [])
        if len(seen) < count and items[index] not in seen:
            seen.append(items[index])
    return {user: seen[::-1] for user, seen in latest.items()}


def evaluate_moments(
    recommender: Recommender, holdout: Holdout, *, k: int = 10, recent: int = 5
) -> dict[str, dict[str, float]]:
    """The micro-moment strategies on the holdout, beside simple baselines.

    ``session``: each scored user's last ``recent`` training items sent as an anonymous
    shopper's ``recent_items`` (the user's id withheld). ``similar``: the product page
    of each user's last training item. Both are scored against the same ground truth
    as the home lists (items bought later). Baselines: popular items, and item
    co-occurrence (the bought-together model's neighbours of the same items).
    """
    items = recommender.model.items
    together = recommender.parts.bought_together
    users = holdout.users.tolist()
    latest = last_items(holdout, count=recent)
    rows = {name: np.full((len(users), k), -1, dtype=np.int64) for name in (
        "session", "similar", "popular (excluding the session)", "co-occurrence (session)",
        "co-occurrence (last item)")}  # fmt: skip
    for row, user in enumerate(users):
        session = latest.get(user, [])
        if not session:
            continue
        columns = items.index(session)
        picks = {
            "session": recommender.recommend(recent_items=session, n=k).items,
            "popular (excluding the session)": recommender.recommend(
                placement="popular", n=k, filters=Filters(exclude=session)).items,
        }  # fmt: skip
        if columns[-1] >= 0:
            picks["similar"] = recommender.recommend(
                placement="product", item_id=session[-1], n=k
            ).items
        for name, listed in picks.items():
            found = items.index([item["item_id"] for item in listed])
            rows[name][row, : len(found)] = found
        for name, sources in (
            ("co-occurrence (session)", columns[columns >= 0]),
            ("co-occurrence (last item)", columns[-1:][columns[-1:] >= 0]),
        ):
            best = bought_with(together, sources)[0]
            best = best[~np.isin(best, columns[columns >= 0])][:k]
            rows[name][row, : len(best)] = best
    count = len(holdout.train.items)
    return {name: score(recommended, holdout.truth, item_count=count)
            for name, recommended in rows.items()}  # fmt: skip
