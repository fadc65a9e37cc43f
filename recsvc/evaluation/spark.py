"""The forward holdout on Spark: the split, the truth and the served score of a version
fitted on Spark (``recsvc train --engine spark``).

The same protocol as :func:`recsvc.evaluation.holdout.make_holdout` with the forward
split: the cut-off leaves the latest ``holdout_fraction`` of the events after it (or
``test_days``); a known shopper's truth is what they bought after it and never before.
The split runs on the cluster; the driver receives the truth (the test window's
purchases of known shoppers) and the holdout's version, and scores that version
through the serving recommender as the local engine does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..config import TrainingConfig
from ..data.events import PURCHASES
from ..serving.recommender import Recommender
from ..training.matrix import Interactions
from ..training.spark import build_model
from .holdout import Truth, cutoff_position, days_cutoff, sampled
from .served import evaluate_recommender, holdout_metrics

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..data.spark import SparkData


def forward_cutoff(events: DataFrame, *, fraction: float = 0.2,
                   test_days: float | None = None) -> int:  # fmt: skip
    """The forward split's cut-off (epoch seconds), as recsvc.evaluation.holdout's."""
    from pyspark.sql import functions as F

    if test_days is not None:
        newest = events.agg(F.max("timestamp")).first()
        assert newest is not None
        return days_cutoff(int(newest[0]), test_days)
    count = events.count()
    if count == 0:
        return 0
    position = cutoff_position(count, fraction)
    row = events.select("timestamp").orderBy("timestamp").offset(position).limit(1).first()
    assert row is not None
    return int(row[0])


def evaluate_forward(
    spark: SparkSession,
    data: SparkData,
    config: TrainingConfig,
    *,
    test_days: float | None = None,
) -> dict[str, Any]:
    """Fit on the events before the cut-off (on Spark) and score the served home lists
    and the popularity baseline against what known shoppers bought after it: the
    metrics of ``recsvc train``'s holdout (``holdout``, ``model``, ``popularity``)."""
    from pyspark.sql import functions as F

    cutoff = forward_cutoff(data.events, fraction=config.holdout_fraction, test_days=test_days)
    before = data.events.where(F.col("timestamp") < cutoff)
    after = data.events.where(F.col("timestamp") >= cutoff)
    bought = F.col("event_type").isin(list(PURCHASES))
    targets = after.where(bought).select("user_id", "item_id").distinct()
    known = before.where(bought).select("user_id", "item_id").distinct()
    # one job: every new purchase after the cut-off, and whether it was bought before
    flagged = targets.join(known.withColumn("before", F.lit(True)), ["user_id", "item_id"],
                           "left").toArrow()  # fmt: skip
    buyers = np.asarray(flagged.column("user_id").to_numpy(zero_copy_only=False), dtype=str)
    repeated = np.asarray(flagged.column("before").is_valid().to_numpy(zero_copy_only=False))
    truth_pairs = flagged.filter(pa.array(~repeated))
    candidates_for = np.unique(buyers[~repeated])
    model = build_model(spark, data, config, events=before, similar=False,
                        candidates_for=candidates_for)  # fmt: skip
    train = Interactions(users=model.users, items=model.items, matrix=model.user_items)
    truth = _truth(train, truth_pairs)
    has_history = np.diff(train.matrix.indptr) > 0
    users, sampled_from = sampled(np.flatnonzero((np.diff(truth.indptr) > 0) & has_history),
                                  config.holdout_max_shoppers, seed=config.seed)  # fmt: skip
    new = len(set(buyers.tolist()) - set(train.users.ids[has_history].tolist()))
    split = Truth(train=train, users=users, truth=sp.csr_matrix(truth[users] > 0),
                  new_shoppers=new, sampled_from=sampled_from)  # fmt: skip
    return holdout_metrics(split, evaluate_recommender(Recommender(model), split), config,
                           in_stock=data.in_stock(), engine="spark")  # fmt: skip


def _truth(train: Interactions, pairs: Any) -> sp.csr_matrix:
    """The truth pairs (user id, item id) as a user x item matrix of the training maps."""
    rows = train.users.index(np.asarray(pairs.column("user_id").to_numpy(zero_copy_only=False),
                                        dtype=str))  # fmt: skip
    cols = train.items.index(np.asarray(pairs.column("item_id").to_numpy(zero_copy_only=False),
                                        dtype=str))  # fmt: skip
    keep = (rows >= 0) & (cols >= 0)
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=np.float32), (rows[keep], cols[keep])),
                         shape=train.matrix.shape)  # fmt: skip
