"""Fitting a model version on Apache Spark (``recsvc train --engine spark``).

The same version as :func:`recsvc.training.fit.build_model`, computed on the cluster:

- the weighted interactions (each event's type weight, halved every
  ``half_life_days``), the purchases, what was bought or carted, popularity: Spark SQL
  aggregations over the events;
- what shoppers touch next: window functions over each shopper's events in time order
  (``lead`` over ``window`` steps), normalized and cut per item as the local model is;
- bought together: each shopper's bought or carted items joined with themselves, the
  cosine of the items' buyers, each item's strongest kept;
- ALS: ``pyspark.ml.recommendation.ALS(implicitPrefs=True)``, its settings mapped from
  recsvc's (:func:`spark_als_settings`);
- each shopper's precomputed best items and each item's nearest items: on the
  executors, partition by partition, by the same rankers as the local engine
  (recsvc.training.models) over the broadcast item factors.

The driver collects what a version holds (the id maps, the factors, the sparse
matrices, the candidates), never the events: a version is what one web process loads,
so it fits on one machine by construction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..artifact import Model
from ..config import TrainingConfig
from ..data.catalog import Catalog
from ..data.events import DAY, PURCHASES
from ..data.ids import IdMap
from .fit import Timer, blended, data_window_of
from .models import AlsModel, NextItemsModel, PopularityModel
from .nearest import Neighbours

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from ..data.spark import SparkData

#: the models Spark fits (MLlib's ALS); the others, and the choice among them, run on
#: one machine (recsvc train's default engine)
SPARK_MODELS = ("als",)
#: implicit's confidence is alpha x weight, Spark's 1 + alpha x rating: ratings are
#: alpha x weight - 1, and at least this (Spark drops a rating of 0 or less)
MIN_RATING = 1e-6


def spark_als_settings(config: TrainingConfig, interactions: int, users: int) -> dict[str, Any]:
    """MLlib ALS's settings for recsvc's ALS settings.

    Spark weighs its regularization by each shopper's (and item's) number of rated
    items (ALS-WR); implicit's is the same for all. ``regParam`` is recsvc's
    regularization over the mean items per shopper, so that a shopper of average
    history is regularized as implicit regularizes every one (docs/spark.md measures
    the mappings tried). The confidence is matched exactly through the ratings
    (:data:`MIN_RATING`)."""
    per_user = interactions / max(users, 1)
    return {"rank": config.als_factors, "maxIter": config.als_iterations,
            "regParam": config.als_regularization / max(per_user, 1.0), "alpha": 1.0,
            "implicitPrefs": True, "seed": config.seed}  # fmt: skip


def event_weight(weights: dict[str, float], half_life_days: float | None, now: int) -> Column:
    """Each event's weight (recsvc.training.matrix.event_weights in Spark SQL): its type's
    weight (0 for a type the weights do not name), halved every ``half_life_days``
    before ``now``."""
    from pyspark.sql import functions as F

    weight: Column = F.lit(0.0)
    for name, value in weights.items():
        weight = F.when(F.col("event_type") == name, F.lit(float(value))).otherwise(weight)
    if half_life_days is not None:
        age_days = F.greatest(F.lit(now) - F.col("timestamp"), F.lit(0)) / DAY
        weight = weight * F.pow(F.lit(2.0), -age_days / half_life_days)
    return weight.cast("float")


def index_frame(spark: SparkSession, ids: IdMap, name: str, code: str) -> DataFrame:
    """A frame of ``name`` (the id) and ``code`` (its row or column)."""
    table = pa.table({name: pa.array(ids.ids, pa.string()),
                      code: pa.array(np.arange(len(ids), dtype=np.int32))})  # fmt: skip
    return spark.createDataFrame(table)


def coded(events: DataFrame, users: DataFrame, items: DataFrame) -> DataFrame:
    """The events of the mapped users and items, with their row ``u`` and column ``i``."""
    from pyspark.sql import functions as F

    return events.join(users, "user_id").join(F.broadcast(items), "item_id")


def pairs(events: DataFrame, weight: Column, *, min_item_users: int = 1) -> DataFrame:
    """Weights summed per (``u``, ``i``), zeros left out; items of fewer than
    ``min_item_users`` users emptied (recsvc.training.matrix.build_interactions)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    summed = (events.groupBy("u", "i").agg(F.sum(weight.cast("double")).alias("w"))
              .where(F.col("w") != 0))  # fmt: skip
    if min_item_users > 1:
        per_item = F.count("*").over(Window.partitionBy("i"))
        summed = summed.withColumn("n", per_item).where(F.col("n") >= min_item_users).drop("n")
    return summed


def to_csr(frame: DataFrame, shape: tuple[int, int], rows: str = "u", cols: str = "i",
           values: str = "w") -> sp.csr_matrix:  # fmt: skip
    """A frame of unique (row, column, value) as a float32 CSR matrix, on the driver."""
    table = frame.select(rows, cols, values).toArrow()
    matrix = sp.csr_matrix(
        (np.asarray(table.column(values).to_numpy(), dtype=np.float32),
         (table.column(rows).to_numpy(), table.column(cols).to_numpy())),
        shape=shape, dtype=np.float32,
    )  # fmt: skip
    matrix.sum_duplicates()
    return matrix


def next_items(events: DataFrame, config: TrainingConfig) -> tuple[DataFrame, DataFrame]:
    """What shoppers touch next (NextItemsModel.fit in Spark): ``following`` (``i``,
    ``j``, ``w``: rows summing to 1, each item's ``next_items_neighbours`` strongest
    followers, ties by column) and each shopper's latest items (``u``, ``i``, ``w``:
    ``next_items_decay`` per step back from the latest)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("u").orderBy("timestamp", "position")
    distances = range(1, config.next_items_window + 1)
    steps = events.select(
        "u", "i", *[F.lead("i", d).over(order).alias(f"next{d}") for d in distances]
    )
    following_each = F.array(
        *[F.struct(F.col(f"next{d}").alias("j"), F.lit(1.0 / d).alias("w")) for d in distances]
    )
    later = (
        steps.select("i", F.explode(following_each).alias("next"))
        .select("i", "next.j", "next.w")
        .where(F.col("j").isNotNull() & (F.col("j") != F.col("i")))
    )
    counted = later.groupBy("i", "j").agg(F.sum("w").alias("w"))
    total = F.sum("w").over(Window.partitionBy("i"))
    rank = F.row_number().over(Window.partitionBy("i").orderBy(F.desc("w"), "j"))
    following = (counted.withColumn("w", F.col("w") / F.greatest(total, F.lit(1e-9)))
                 .withColumn("rank", rank).where(F.col("rank") <= config.next_items_neighbours)
                 .drop("rank"))  # fmt: skip
    back = F.count("*").over(Window.partitionBy("u")) - F.row_number().over(order)
    decayed = F.pow(F.lit(config.next_items_decay), F.col("back"))
    recent = (
        events.withColumn("back", back)
        .where(F.col("back") < config.next_items_recent)
        .groupBy("u", "i")
        .agg(F.sum(decayed).alias("w"))
    )
    return following, recent


def bought_together(bought: DataFrame, neighbours: int) -> DataFrame:
    """Cosine of items over who bought (or carted) them (BoughtTogetherModel.fit in Spark):
    ``i``, ``j``, ``w``; each item keeps its ``neighbours`` strongest, itself counted
    among them and then left out, as implicit's kNN keeps them."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    buyers = bought.select("u", "i").distinct()
    norms = buyers.groupBy("i").agg(F.sqrt(F.count("*").cast("double")).alias("norm"))
    both = (buyers.alias("a").join(buyers.alias("b"), "u")
            .groupBy(F.col("a.i").alias("i"), F.col("b.i").alias("j")).count())  # fmt: skip
    norms_j = norms.withColumnRenamed("i", "j").withColumnRenamed("norm", "norm_j")
    value = F.col("count") / (F.greatest("norm", F.lit(1.0)) * F.greatest("norm_j", F.lit(1.0)))
    cosine = both.join(norms, "i").join(norms_j, "j").select("i", "j", value.alias("w"))
    rank = F.row_number().over(Window.partitionBy("i").orderBy(F.desc("w"), "j"))
    return (cosine.withColumn("rank", rank).where(F.col("rank") <= neighbours)
            .where(F.col("i") != F.col("j")).drop("rank"))  # fmt: skip


def fit_als(ratings: DataFrame, config: TrainingConfig, shape: tuple[int, int],
            interactions: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:  # fmt: skip
    """MLlib's implicit ALS on the weighted pairs: user and item factors (rows without
    ratings are zeros, as implicit leaves them) and the settings it ran with."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    settings = spark_als_settings(config, interactions, shape[0])
    rated = ratings.select(
        "u", "i",
        F.greatest(F.col("w") * config.als_alpha - 1.0, F.lit(MIN_RATING)).alias("r"),
    )  # fmt: skip
    model = ALS(userCol="u", itemCol="i", ratingCol="r", checkpointInterval=5,
                intermediateStorageLevel="MEMORY_AND_DISK", **settings).fit(rated)  # fmt: skip
    return (_factors(model.userFactors, shape[0], config.als_factors),
            _factors(model.itemFactors, shape[1], config.als_factors), settings)  # fmt: skip


def _factors(frame: DataFrame, rows: int, rank: int) -> np.ndarray:
    table = frame.toArrow()
    factors = np.zeros((rows, rank), dtype=np.float32)
    if table.num_rows:
        values = table.column("features").combine_chunks().flatten().to_numpy()
        factors[table.column("id").to_numpy()] = values.reshape(-1, rank)
    return factors


def _lists(table: pa.RecordBatch, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A list column's values and offsets (nulls as empty lists)."""
    column = table.column(name)
    column = column.fill_null([]) if column.null_count else column
    return column.flatten().to_numpy(zero_copy_only=False), column.offsets.to_numpy()


def _rows(batch: pa.RecordBatch, items: str, weights: str, columns: int) -> sp.csr_matrix:
    cols, offsets = _lists(batch, items)
    values, _ = _lists(batch, weights)
    return sp.csr_matrix((values.astype(np.float32), cols.astype(np.int32), offsets),
                         shape=(batch.num_rows, columns))  # fmt: skip


def candidates(
    spark: SparkSession,
    users: DataFrame,
    own: DataFrame,
    recent: DataFrame | None,
    item_factors: np.ndarray,
    following: sp.csr_matrix | None,
    popularity: np.ndarray,
    config: TrainingConfig,
) -> pa.Table:
    """Each of ``users``' (``u``, ``factors``) best items, ranked on the executors as the
    local engine ranks them (the configuration's blend of ALS, next items and
    popularity), their own items left out; collected: ``u``, ``items``, ``scores``."""
    from pyspark.sql import functions as F

    count, k = item_factors.shape[0], config.candidates_per_user
    shared = spark.sparkContext.broadcast(
        (item_factors, following, popularity,
         dataclasses.replace(config, event_weights=dict(config.event_weights)))
    )  # fmt: skip
    owned = own.groupBy("u").agg(
        F.collect_list("i").alias("own"), F.collect_list("w").alias("own_w")
    )
    frame = users.join(owned, "u", "left")
    if recent is not None:
        frame = frame.join(recent.groupBy("u").agg(F.collect_list("i").alias("recent"),
                                                   F.collect_list("w").alias("recent_w")),
                           "u", "left")  # fmt: skip
    else:
        frame = frame.withColumn("recent", F.array().cast("array<int>")).withColumn(
            "recent_w", F.array().cast("array<double>")
        )

    def rank(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        factors, after, counts, settings = shared.value
        for batch in batches:
            values, _ = _lists(batch, "factors")
            als = AlsModel.of_factors(values.reshape(batch.num_rows, -1), factors)
            history = _rows(batch, "recent", "recent_w", count)
            model = blended(als, settings,
                            NextItemsModel(after, history) if after is not None else None,
                            PopularityModel(counts))  # fmt: skip
            top, scores = model.top_items(_rows(batch, "own", "own_w", count), k)
            yield pa.RecordBatch.from_arrays(
                [batch.column("u"), _as_lists(top), _as_lists(scores)],
                names=["u", "items", "scores"],
            )

    try:
        return frame.mapInArrow(rank, "u int, items array<int>, scores array<float>").toArrow()
    finally:
        shared.destroy()


def similar_items(
    spark: SparkSession, item_factors: np.ndarray, k: int, *, partitions: int
) -> Neighbours:
    """Every item's ``k`` nearest items by cosine, exact, block by block on the executors
    (AlsModel.similar_items over the broadcast factors)."""
    count = item_factors.shape[0]
    k = min(k, count - 1)
    shared = spark.sparkContext.broadcast(item_factors)

    def nearest(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = AlsModel.of_factors(np.zeros((0, shared.value.shape[1])), shared.value)
        for batch in batches:
            rows = batch.column("id").to_numpy()
            found = model.similar_items(k, rows=rows)
            yield pa.RecordBatch.from_arrays(
                [batch.column("id"), _as_lists(found.items), _as_lists(found.scores)],
                names=["id", "items", "scores"],
            )

    ids = spark.range(count, numPartitions=partitions)
    try:
        table = ids.mapInArrow(nearest, "id long, items array<int>, scores array<float>").toArrow()
    finally:
        shared.destroy()
    items = np.full((count, k), -1, dtype=np.int32)
    scores = np.zeros((count, k), dtype=np.float32)
    rows = table.column("id").to_numpy()
    items[rows] = _stacked(table, "items", k)
    scores[rows] = _stacked(table, "scores", k)
    return Neighbours(items, scores, "exact")


def _as_lists(matrix: np.ndarray) -> pa.Array:
    """A matrix's rows as an Arrow list column."""
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])
    return fixed.cast(pa.list_(fixed.type.value_type))


def _stacked(table: pa.Table, name: str, width: int) -> np.ndarray:
    values = table.column(name).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return np.asarray(values).reshape(-1, width)


@dataclass(frozen=True, eq=False)
class Matrices:
    """What the weighted events are summed into (build_model's first step)."""

    #: the events of the mapped users and items, with their row ``u`` and column ``i``
    #: (cached)
    events: DataFrame
    users: IdMap
    #: ``u``, ``i``, ``w``: the weighted interactions (cached), and as a matrix
    interactions: DataFrame
    user_items: sp.csr_matrix
    #: 1 where bought
    purchased: sp.csr_matrix
    #: ``u``, ``i``, ``w``: what was bought or carted (bought together's input)
    bought: DataFrame
    #: the oldest and the newest event (time decay counts back from the newest)
    first: int
    now: int
    shape: tuple[int, int]

    def unpersist(self) -> None:
        """Free the cached frames."""
        self.events.unpersist()
        self.interactions.unpersist()


def matrices(
    spark: SparkSession, data: SparkData, config: TrainingConfig, *, events: DataFrame | None = None
) -> Matrices:
    """The weighted interactions (recsvc.training.fit's matrices, in Spark SQL) of
    ``events`` (default: all of ``data``'s) over the data's items."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    source = data.events if events is None else events
    weights = dict(config.event_weights)
    window = source.agg(F.min("timestamp"), F.max("timestamp")).first()
    assert window is not None
    first, now = int(window[0]), int(window[1])
    counts = source.groupBy("user_id").count().where(F.col("count") >= config.min_user_events)
    users = IdMap.of(counts.select("user_id").toArrow().column("user_id"))
    user_codes = index_frame(spark, users, "user_id", "u")
    item_codes = index_frame(spark, data.items, "item_id", "i")
    both = coded(source, user_codes, item_codes).persist(StorageLevel.MEMORY_AND_DISK)
    shape = (len(users), len(data.items))
    interactions = pairs(both, event_weight(weights, config.half_life_days, now),
                         min_item_users=config.min_item_users)  # fmt: skip
    interactions = interactions.persist(StorageLevel.MEMORY_AND_DISK)
    of = F.col("event_type").isin
    plain = event_weight(weights, None, now)
    bought = pairs(both.where(of(list(PURCHASES))), plain).withColumn("w", F.lit(1.0))
    return Matrices(
        events=both, users=users, interactions=interactions,
        user_items=to_csr(interactions, shape), purchased=to_csr(bought, shape),
        bought=pairs(both.where(of(list(config.bought_together_event_types))), plain),
        first=first, now=now, shape=shape,
    )  # fmt: skip


def build_model(
    spark: SparkSession,
    data: SparkData,
    config: TrainingConfig,
    *,
    events: DataFrame | None = None,
    similar: bool = True,
    candidates_for: Sequence[str] | np.ndarray | None = None,
    timer: Timer = lambda _: nullcontext(),
) -> Model:
    """Everything a model version holds, fitted on Spark on ``events`` (default: all of
    ``data``'s) over the data's items and catalog; ``similar`` and ``candidates_for``
    as in recsvc.training.fit.build_model."""
    from pyspark.sql import functions as F

    if config.model not in SPARK_MODELS:
        raise ValueError(f"the spark engine fits {', '.join(SPARK_MODELS)}, not {config.model!r}")
    items = data.items
    with timer("build matrix"):
        built = matrices(spark, data, config, events=events)
    users, both, interactions, now = built.users, built.events, built.interactions, built.now
    user_items, purchased, shape = built.user_items, built.purchased, built.shape
    weights = dict(config.event_weights)
    with timer("fit ALS"):
        user_factors, item_factors, settings = fit_als(interactions, config, shape, user_items.nnz)
    with timer("precompute candidates"):
        if config.popularity_half_life_days is None:
            popular = interactions
        else:
            popular = pairs(both, event_weight(weights, config.popularity_half_life_days, now))
        popularity = np.zeros(len(items), dtype=np.float32)
        summed = popular.groupBy("i").agg(F.sum("w").alias("w")).toArrow()
        popularity[summed.column("i").to_numpy()] = summed.column("w").to_numpy()
        following, recent = None, None
        if config.next_items_weight > 0:
            follow, recent = next_items(both, config)
            following = to_csr(follow, (len(items), len(items)), "i", "j")
        wanted = np.arange(len(users))
        if candidates_for is not None:
            wanted = users.index(np.asarray(candidates_for, dtype=str))
            wanted = wanted[wanted >= 0]
        asked = spark.createDataFrame(
            pa.table(
                {"u": pa.array(wanted.astype(np.int32)), "factors": _as_lists(user_factors[wanted])}
            )
        )
        found = candidates(spark, asked, interactions, recent, item_factors, following,
                           popularity, config)  # fmt: skip
        width = min(config.candidates_per_user, len(items))
        top_items = np.full((len(users), width), -1, dtype=np.int32)
        top_scores = np.zeros((len(users), width), dtype=np.float32)
        rows = found.column("u").to_numpy()
        if len(rows):
            top_items[rows] = _stacked(found, "items", width)
            top_scores[rows] = _stacked(found, "scores", width)
        if similar and len(items) > 1:
            partitions = max(1, spark.sparkContext.defaultParallelism)
            neighbours = similar_items(spark, item_factors, config.similar_items_per_item,
                                       partitions=partitions)  # fmt: skip
        else:
            none = np.zeros((len(items), 0), dtype=np.int32)
            neighbours = Neighbours(none, none.astype(np.float32), "none")
    with timer("fit bought-together"):
        together = to_csr(bought_together(built.bought, config.bought_together_neighbours),
                          (len(items), len(items)), "i", "j")  # fmt: skip
    built.unpersist()
    catalog = Catalog.empty() if data.catalog is None else data.catalog
    return Model(
        users=users,
        items=items,
        user_factors=user_factors,
        item_factors=item_factors,
        user_items=user_items,
        purchased=purchased,
        bought_together=together,
        next_items=following if following is not None else sp.csr_matrix((len(items),) * 2),
        popularity=popularity,
        user_top_items=top_items,
        user_top_scores=top_scores,
        similar_items=neighbours.items,
        similar_scores=neighbours.scores,
        catalog=catalog.aligned_to(items.ids),
        manifest={
            "version": "unpublished",
            "data_window": data_window_of(built.first, built.now),
            "parameters": config.as_dict(),
            "similar_items": neighbours.summary(),
            "engine": {"name": "spark", "spark": spark.version,
                       "master": spark.sparkContext.master, "als": settings,
                       "ratings": f"alpha x weight - 1, at least {MIN_RATING:g}"},
        },
    )  # fmt: skip
