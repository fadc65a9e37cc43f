"""The Spark engine (recsvc train --engine spark) in local mode, against the local one.

Without pyspark or Java these tests skip, except under CI (CI=true), where they fail.
One local Spark session serves the module (starting one takes seconds).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

from recsvc.artifact import ModelStore, verify_version
from recsvc.cli import main as cli
from recsvc.config import TimeBounds, TrainingConfig
from recsvc.data.dataset import Dataset, Files
from recsvc.data.events import read_events
from recsvc.data.spark import SparkFiles, spark_available
from recsvc.errors import DataError, QualityGateFailed
from recsvc.evaluation.holdout import holdout_for
from recsvc.pipeline import read_dataset, train
from recsvc.serving.filters import Filters
from recsvc.serving.recommender import Recommender
from recsvc.training.fit import blended
from recsvc.training.matrix import build_interactions, sequences
from recsvc.training.models import AlsModel, BoughtTogetherModel, NextItemsModel, PopularityModel

TYPES = ("view", "add_to_cart", "purchase")
HEADER = "user_id,item_id,event_type,timestamp,quantity\n"
#: a hand-made log: repeats, every type, ties in time, a user of one event
LOG = HEADER + "".join(
    f"{user},{item},{kind},2024-03-{day:02d}T10:00:00Z,1\n"
    for user, item, kind, day in [
        ("a", "x", "view", 1), ("a", "y", "view", 2), ("a", "x", "purchase", 3),
        ("a", "z", "add_to_cart", 3), ("a", "y", "view", 9), ("b", "x", "view", 1),
        ("b", "y", "purchase", 4), ("b", "z", "view", 4), ("b", "w", "purchase", 20),
        ("c", "y", "view", 2), ("c", "x", "add_to_cart", 5), ("c", "z", "purchase", 6),
        ("c", "w", "view", 6), ("c", "x", "purchase", 7), ("d", "w", "view", 8),
        ("e", "z", "purchase", 2), ("e", "x", "purchase", 2), ("e", "y", "add_to_cart", 30),
    ]
)  # fmt: skip


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    reason = spark_available()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Spark engine cannot run: {reason}")
        pytest.skip(f"the Spark engine cannot run: {reason}")
    from recsvc.data.spark import session

    os.environ.setdefault("RECSVC_SPARK_MASTER", "local[2]")
    spark = session()
    yield spark
    spark.stop()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(LOG)
    return path


def _read_both(spark: Any, path: Path, config: TrainingConfig) -> tuple[Any, Dataset]:
    return SparkFiles(str(path)).read(spark, config), read_dataset(Files(path), config)


def test_weights_and_decay_in_spark_sql_equal_the_local_matrix(spark: Any, log: Path) -> None:
    from recsvc.training import spark as engine

    config = TrainingConfig(model="als", half_life_days=7.0, min_user_events=2, min_item_users=2)
    data, local = _read_both(spark, log, config)
    expected = build_interactions(
        local.events, config.event_weights, half_life_days=7.0, min_user_events=2,
        min_item_users=2, items=local.items,
    )  # fmt: skip
    built = engine.matrices(spark, data, config)
    assert built.users.ids.tolist() == expected.users.ids.tolist() == ["a", "b", "c", "e"]
    assert data.items.ids.tolist() == expected.items.ids.tolist()
    assert built.user_items.nnz == expected.matrix.nnz
    np.testing.assert_allclose(built.user_items.toarray(), expected.matrix.toarray(), rtol=1e-6)
    bought = build_interactions(local.events.take(local.events.of_types(["purchase"])),
                                config.event_weights, users=expected.users,
                                items=local.items).matrix  # fmt: skip
    assert (built.purchased != (bought > 0)).nnz == 0
    built.unpersist()


def test_next_items_and_co_occurrence_equal_the_local_ones(spark: Any, log: Path) -> None:
    from pyspark.sql import functions as F

    from recsvc.training import spark as engine

    # every follower and neighbour kept: the local cut's ties are broken another way
    config = TrainingConfig(model="als", next_items_window=3, next_items_recent=2,
                            next_items_neighbours=100, bought_together_neighbours=100)  # fmt: skip
    data, local = _read_both(spark, log, config)
    built = engine.matrices(spark, data, config)
    users, items = built.users, data.items
    rows, cols = sequences(local.events, users, items)
    expected = NextItemsModel.fit(rows, cols, shape=(len(users), len(items)), window=3, recent=2,
                                  decay=0.9, neighbours=100)  # fmt: skip
    following, recent = engine.next_items(built.events, config)
    np.testing.assert_allclose(engine.to_csr(following, (len(items),) * 2, "i", "j").toarray(),
                               expected.following.toarray(), rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(engine.to_csr(recent, (len(users), len(items))).toarray(),
                               expected.recent.toarray(), rtol=1e-6)  # fmt: skip
    carted = local.events.take(local.events.of_types(config.bought_together_event_types))
    bought = build_interactions(carted, config.event_weights, users=users, items=items).matrix
    together = BoughtTogetherModel.fit(bought, neighbours=100).similarity
    found = engine.to_csr(engine.bought_together(built.bought, 100), (len(items),) * 2, "i", "j")
    np.testing.assert_allclose(found.toarray(), together.toarray(), rtol=1e-6)
    assert found.nnz == together.nnz > 0
    # each item's strongest followers are kept: with 2, each row has at most 2
    few = config.replace(next_items_neighbours=2)
    following, _ = engine.next_items(built.events, few)
    per_item = following.groupBy("i").count().agg(F.max("count")).first()
    assert per_item is not None
    assert per_item[0] == 2


BAD = {
    "an unknown type": HEADER + "a,x,view,2024-01-01,1\nb,y,like,2024-01-01,1\n",
    "an empty id": HEADER + 'a,x,view,2024-01-01,1\n"",y,view,2024-01-01,1\n',
    "an unquoted empty id": HEADER + "a,x,view,2024-01-01,1\nb,,view,2024-01-01,1\n",
    "a long id": HEADER + f"a,x,view,2024-01-01,1\n{'u' * 129},y,view,2024-01-01,1\n",
    "a control character": HEADER + "a,x,view,2024-01-01,1\nb,y\x01,view,2024-01-01,1\n",
    "not a time": HEADER + "a,x,view,2024-01-01,1\nb,y,view,yesterday,1\n",
    "month 13": HEADER + "a,x,view,2024-01-01T10:00:00.5+02:00,1\nb,y,view,2024-13-01,1\n",
    "a space before the zone": HEADER + "a,x,view,2024-01-01T10:00:00 Z,1\n",
    "too early": HEADER + "a,x,view,1980-01-01,1\n",
    "in the future": HEADER + "a,x,view,2999-01-01,1\n",
    "a quantity of 0": HEADER + "a,x,view,2024-01-01,1\nb,y,view,2024-01-01,0\n",
    "a fraction": HEADER + "a,x,view,2024-01-01,1\nb,y,view,2024-01-01,2.5\n",
    "a missing column": "user_id,item_id,timestamp\na,x,2024-01-01\n",
    "no rows": HEADER,
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_with_the_local_messages(
    spark: Any, tmp_path: Path, case: str
) -> None:
    from recsvc.data.spark import read_events as read_with_spark

    path = tmp_path / "events.csv"
    path.write_text(BAD[case])
    with pytest.raises(DataError) as local:
        read_events(path, event_types=TYPES, bounds=TimeBounds())
    with pytest.raises(DataError) as remote:
        read_with_spark(spark, str(path), event_types=TYPES, bounds=TimeBounds())
    assert str(remote.value) == str(local.value)


@pytest.mark.parametrize("rows", ["b,y,view,2024-01-01,1,9,9\n", "b,y\n"])
def test_a_file_spark_cannot_parse_is_refused_as_bad_input(
    spark: Any, tmp_path: Path, rows: str
) -> None:
    from recsvc.data.spark import read_events as read_with_spark

    path = tmp_path / "events.csv"
    path.write_text(HEADER + "a,x,view,2024-01-01,1\n" + rows)
    with pytest.raises(DataError, match=f"^{path}: cannot read the file as csv: "):
        read_with_spark(spark, str(path), event_types=TYPES, bounds=TimeBounds())


def test_bad_parquet_rows_are_named_as_the_local_reader_names_them(
    spark: Any, tmp_path: Path
) -> None:
    from recsvc.data.spark import read_events as read_with_spark

    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"user_id": ["a", "b", "c"], "item_id": ["x", "y", "z"],
                             "event_type": ["view", "view", "view"],
                             "timestamp": pa.array([1.7e9, 1.7e9, float("nan")]),
                             "quantity": [1, 1, 1]}), path)  # fmt: skip
    with pytest.raises(DataError) as local:
        read_events(path, event_types=TYPES, bounds=TimeBounds())
    with pytest.raises(DataError) as remote:
        read_with_spark(spark, str(path), event_types=TYPES, bounds=TimeBounds())
    assert str(remote.value) == str(local.value)
    assert "row 3, field 'timestamp'" in str(remote.value)


def test_a_missing_file_and_good_times_read_as_the_local_reader_reads_them(
    spark: Any, tmp_path: Path
) -> None:
    from recsvc.data.spark import read_events as read_with_spark

    with pytest.raises(DataError, match="no such file"):
        read_with_spark(spark, str(tmp_path / "none.csv"), event_types=TYPES, bounds=None)
    path = tmp_path / "events.csv"
    times = ["2024-01-01T10:00:00Z", "2024-01-01 10:00", "2024-01-01T10:00+0530",
             "2024-01-01T10:00:00.25-03", "1704103200", "2024-01-02"]  # fmt: skip
    path.write_text(HEADER + "".join(f"a,x,view,{t},\n" for t in times))
    local = read_events(path, event_types=TYPES, bounds=None)
    events = read_with_spark(spark, str(path), event_types=TYPES, bounds=None)
    rows = events.orderBy("position").collect()
    assert [r.timestamp for r in rows] == local.timestamp.tolist()
    assert [r.quantity for r in rows] == [1] * len(times)


def test_a_spark_version_loads_serves_and_ranks_as_the_local_rankers(
    spark: Any, small_shop: tuple[Path, Path], tmp_path: Path, fast_config: TrainingConfig
) -> None:
    events, items = small_shop
    store = ModelStore(tmp_path / "models")
    config = fast_config.replace(similar_items_per_item=10)
    report = train(SparkFiles(str(events), str(items)), config=config, store=store)
    assert report.metrics["holdout"]["engine"] == "spark"
    assert report.version == store.current()
    assert verify_version(store.root / report.version)["engine"]["name"] == "spark"
    result = CliRunner().invoke(cli, ["models", "verify", "--models", str(store.root)])
    assert result.exit_code == 0, result.output
    model = store.load()
    np.testing.assert_allclose(model.popularity, model.user_items.sum(axis=0).A1, rtol=1e-5)
    # the executors' candidates and neighbours are the local rankers' on the same parts
    als = AlsModel.of_factors(model.user_factors, model.item_factors)
    local = read_dataset(Files(events, items), config)
    rows, cols = sequences(local.events, model.users, model.items)
    recent = NextItemsModel.fit(rows, cols, shape=model.user_items.shape, window=20, recent=10,
                                decay=0.9, neighbours=100).recent  # fmt: skip
    ranker = blended(als, config, NextItemsModel(model.next_items, recent),
                     PopularityModel(model.popularity))  # fmt: skip
    top, _ = ranker.top_items(model.user_items, config.candidates_per_user)
    assert (model.user_top_items == top).mean() > 0.999
    near = als.similar_items(10)
    assert (model.similar_items == near.items).mean() > 0.999
    recommender = Recommender(model)
    user, item = str(model.users.ids[0]), str(model.items.ids[0])
    category = next(c for c in model.catalog.category if c)
    answers = {
        "home": recommender.recommend(user_id=user),
        "category": recommender.recommend(placement="category", user_id=user,
                                          filters=Filters(category=category)),
        "product": recommender.recommend(placement="product", item_id=item, user_id=user),
        "cart": recommender.recommend(placement="cart", cart_items=[item]),
        "session": recommender.recommend(recent_items=[item]),
        "popular": recommender.recommend(placement="popular"),
    }  # fmt: skip
    assert {name: len(answer.items) for name, answer in answers.items()} == dict.fromkeys(
        answers, 10
    )
    bought = set(model.items.ids[model.purchased[model.users.index([user])[0]].indices])
    assert not bought & {entry["item_id"] for entry in answers["home"].items}
    # the quality gate refits the current version's settings on Spark, on the same
    # holdout; refused, nothing is published
    other = config.replace(als_factors=4, max_ndcg_drop=-1.0)
    with pytest.raises(QualityGateFailed, match="for the current version"):
        train(SparkFiles(str(events), str(items)), config=other, store=store)
    assert store.current() == report.version
    assert store.history() == [report.version]


def test_the_forward_holdout_on_spark_is_the_local_split(
    spark: Any, small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    from recsvc.evaluation.spark import evaluate_forward

    events, items = small_shop
    data = SparkFiles(str(events), str(items)).read(spark, fast_config)
    metrics = evaluate_forward(spark, data, fast_config)
    local = holdout_for(read_dataset(Files(events, items), fast_config), fast_config)
    assert metrics["holdout"]["users_scored"] == len(local.users) > 0
    assert metrics["holdout"]["new_shoppers"] == local.new_shoppers
    assert 0 < metrics["model"]["ndcg@10"] <= 1
    assert metrics["model"]["users"] == len(local.users)


def test_the_spark_engine_refuses_what_it_cannot_do(small_shop: tuple[Path, Path]) -> None:
    events, _ = small_shop
    runner = CliRunner()
    auto = runner.invoke(cli, ["train", "--engine", "spark", "--events", str(events)])
    assert auto.exit_code != 0
    assert "--engine spark fits --model als" in auto.output
    database = runner.invoke(cli, ["train", "--engine", "spark", "--from-db", "--model", "als"])
    assert database.exit_code == 2
    assert "--engine spark reads --events" in database.output


def test_the_candidates_keep_a_user_s_own_items_out(spark: Any, log: Path) -> None:
    from recsvc.training import spark as engine

    config = TrainingConfig(model="als", als_factors=4, als_iterations=2, candidates_per_user=4,
                            next_items_weight=0.0)  # fmt: skip
    data = SparkFiles(str(log)).read(spark, config)
    model = engine.build_model(spark, data, config, similar=False)
    for row in range(len(model.users)):
        own = set(model.user_items[row].indices.tolist())
        listed = [i for i in model.user_top_items[row].tolist() if i >= 0]
        assert not own & set(listed)
        assert len(listed) == min(4, len(model.items) - len(own))
    assert isinstance(model.user_items, sp.csr_matrix)


def test_the_gate_on_spark_says_when_it_cannot_refit_the_current_settings(
    spark: Any, small_shop: tuple[Path, Path], tmp_path: Path, fast_config: TrainingConfig
) -> None:
    events, items = small_shop
    store = ModelStore(tmp_path / "models")
    first = train(Files(events, items), config=fast_config.replace(model="itemknn"), store=store)
    with pytest.raises(QualityGateFailed, match="spark engine cannot refit"):
        train(SparkFiles(str(events), str(items)), config=fast_config, store=store)
    assert store.history() == [first.version]


def test_a_folder_of_parts_is_read_whole_and_a_bad_row_named_in_its_part(
    spark: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "events.parquet"
    folder.mkdir()
    for part, users in enumerate((["a", "b"], ["c", "", "d"])):
        pq.write_table(pa.table({"user_id": users, "item_id": ["x"] * len(users),
                                 "event_type": ["view"] * len(users),
                                 "timestamp": ["2024-01-01"] * len(users)}),
                       folder / f"part-{part}.parquet")  # fmt: skip
    store = ModelStore(tmp_path / "models")
    config = TrainingConfig(model="als")
    with pytest.raises(DataError) as refused:
        train(SparkFiles(str(folder)), config=config, store=store)
    assert str(refused.value).endswith("part-1.parquet, row 2, field 'user_id': empty id")
    assert store.current() is None
    (folder / "part-1.parquet").unlink()
    data = SparkFiles(str(folder) + "/").read(spark, config)
    assert data.events.count() == 2
    assert data.items.ids.tolist() == ["x"]
