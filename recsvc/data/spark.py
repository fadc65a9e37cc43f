"""Reading a shop's events and catalog with Apache Spark (``recsvc train --engine spark``).

The same file format and the same rules as the local readers (:mod:`.events`,
:mod:`.catalog`): CSV, Parquet or JSON lines, chosen by the name's suffix, from a local
path or any URL Spark's Hadoop connectors read (``s3a://``, ``gs://``, ``abfss://``,
``hdfs://``); a folder named like a file (``events.parquet/``) is read whole, as Spark
writes it. Every check of the local readers runs as one Spark job over the events,
and a bad row stops the run with the same message, naming the file, the row (counted
from 1 within that file, as the local readers count) and the field. Nothing is
collected to the driver but the catalog (one row per product, which a web process holds
anyway) and, on a bad row, that row.

A session is :func:`session`: under ``spark-submit`` (or a Databricks job) the one it
was given; otherwise a local one (``RECSVC_SPARK_MASTER``, default ``local[*]``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import TimeBounds, TrainingConfig
from ..errors import DataError, RecsvcError
from .catalog import OPTIONAL_COLUMNS as CATALOG_COLUMNS
from .catalog import Catalog, catalog_from_table
from .dataset import in_stock
from .events import (
    _EPOCH,
    _ISO,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    bounds_messages,
    unknown_type_message,
)
from .files import MAX_ID_LENGTH, check_columns, file_format
from .ids import IdMap

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

#: what the local default session gets, unless Spark's own settings say otherwise
LOCAL_DRIVER_MEMORY = "4g"
#: characters that make an id unprintable (as pyarrow's utf8_is_printable sees them)
_UNPRINTABLE = r"[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}]"


class SparkUnavailable(RecsvcError):
    """pyspark or a Java runtime is missing: ``--engine spark`` cannot run here."""


def spark_available() -> str | None:
    """Why the Spark engine cannot run here (None: it can)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'recsvc[spark]')"
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "no Java runtime (Spark needs Java 17 or newer: set JAVA_HOME or put java on PATH)"
    return None


def session(*, show_progress: bool = False) -> SparkSession:
    """The Spark session training runs on: the active one (a notebook's, a Databricks
    job's), the one ``spark-submit`` started, or a local one (``RECSVC_SPARK_MASTER``,
    default ``local[*]``; driver memory ``RECSVC_SPARK_DRIVER_MEMORY``, default 4g).
    Times are read as UTC, as recsvc's are."""
    reason = spark_available()
    if reason is not None:
        raise SparkUnavailable(f"--engine spark: {reason}")
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        builder = SparkSession.builder.appName("recsvc train")
        if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
            # the executors' Python is this one (recsvc and its libraries installed)
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = (
                builder.master(os.environ.get("RECSVC_SPARK_MASTER", "local[*]"))
                .config("spark.driver.memory",
                        os.environ.get("RECSVC_SPARK_DRIVER_MEMORY", LOCAL_DRIVER_MEMORY))
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", str(max(4, 2 * (os.cpu_count() or 1))))
            )  # fmt: skip
        spark = builder.config(
            "spark.ui.showConsoleProgress", str(show_progress).lower()
        ).getOrCreate()
        spark.sparkContext.setLogLevel(os.environ.get("RECSVC_SPARK_LOG_LEVEL", "ERROR"))
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    if spark.sparkContext.getCheckpointDir() is None:
        # long ALS lineages are cut by checkpoints (ALS's checkpointInterval); on a
        # cluster, a folder every executor reaches (hdfs://, s3a://)
        spark.sparkContext.setCheckpointDir(
            os.environ.get("RECSVC_SPARK_CHECKPOINTS") or tempfile.mkdtemp(prefix="recsvc-spark-")
        )
    return spark


@dataclass(frozen=True)
class _Check:
    """One rule of the local readers: the rows where ``bad`` holds break it."""

    field: str
    message: str
    bad: Column
    #: the column whose value the message shows (None: no value)
    shows: str | None = None
    #: the rule is broken by every row where ``bad`` holds as soon as one row breaks
    #: this (a CSV column's type, inferred from all its cells)
    column_wide: Column | None = None
    #: the value shown is a number written as text
    number: bool = False


def read_frame(spark: SparkSession, path: str, *, required: Iterable[str],
               optional: Iterable[str] = (), text: Iterable[str] = ()) -> DataFrame:  # fmt: skip
    """The ``required`` and present ``optional`` columns of a file or folder; from CSV,
    every cell is text, and the ``text`` columns' empty cells are empty text (as the
    local reader has them)."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    fmt = file_format(_name(path))
    required, text = list(required), set(text)
    try:
        if fmt == "csv":
            frame = spark.read.options(header=True, nullValue="\u0000", emptyValue="",
                                       mode="FAILFAST").csv(path)  # fmt: skip
        elif fmt == "parquet":
            frame = spark.read.parquet(path)
        else:
            frame = spark.read.json(path)
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc):
            raise DataError("no such file", source=path) from None
        raise DataError(f"cannot read the file as {fmt}: {exc}", source=path) from None
    present = frame.columns
    check_columns(present, required, path)
    wanted = required + [c for c in optional if c not in required and c in present]
    columns = [F.col(c) for c in wanted]
    if fmt == "csv":  # as pyarrow reads text: an empty cell is empty text, never missing
        columns = [F.coalesce(F.col(c), F.lit("")).alias(c) if c in text else F.col(c)
                   for c in wanted]  # fmt: skip
    frame = frame.select(*columns, F.input_file_name().alias("_file"))
    with unreadable_as_data_error(path, fmt):
        empty = frame.isEmpty()
    if empty:
        raise DataError("the file has no data rows", source=path)
    return frame


@contextmanager
def unreadable_as_data_error(path: str, fmt: str) -> Iterator[None]:
    """A file Spark cannot parse (a CSV row of the wrong width, broken JSON), found by
    the first job that reads it, as a :class:`DataError`."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    try:
        yield
    except (Py4JJavaError, PySparkException) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        said = next((line for line in lines if "alformed" in line), lines[0] if lines else "")
        said = re.sub(r"^[:\s]*(Caused by:\s*)?([\w.]+(Exception|Error):\s*)?", "", said)
        raise DataError(f"cannot read the file as {fmt}: {said[:300]}", source=path) from None


def _name(path: str) -> Path:
    """A path or URL's name, whose suffix says the format."""
    return Path(path.rstrip("/").rsplit("/", 1)[-1])


def read_events(
    spark: SparkSession, path: str, *, event_types: Iterable[str], bounds: TimeBounds | None
) -> DataFrame:
    """Read and validate events: a frame of ``user_id``, ``item_id``, ``event_type``,
    ``timestamp`` (epoch seconds), ``quantity`` and ``position`` (the order of the
    files' rows: ties in time keep it, as the local readers' stable sorts do), cached.

    Raises :class:`DataError` as the local reader does for the same file."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    event_types = tuple(event_types)
    raw = read_frame(spark, path, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS,
                     text=(*REQUIRED_COLUMNS, "session_id", "recommendation_id"))  # fmt: skip
    raw = raw.withColumn("_position", F.monotonically_increasing_id())
    kinds = dict(raw.dtypes)
    seconds, checks = _timestamp_checks(raw, kinds["timestamp"], bounds)
    checks = [*_id_checks("user_id", kinds), *_id_checks("item_id", kinds),
              *[_Check(name, "longer than 128 characters", F.length(name) > 128)
                for name in ("session_id", "recommendation_id") if name in kinds],
              _Check("event_type", unknown_type_message(event_types),
                     ~F.col("event_type").isin(list(event_types))
                     | F.col("event_type").isNull(), "event_type"),
              *checks, *_quantity_checks(kinds)]  # fmt: skip
    with unreadable_as_data_error(path, file_format(_name(path))):
        _raise_first(spark, raw, checks, path)
    quantity = F.col("quantity").cast("int") if "quantity" in kinds else F.lit(None)
    events = raw.select(
        F.col("user_id").cast("string").alias("user_id"),
        F.col("item_id").cast("string").alias("item_id"),
        F.col("event_type"),
        F.floor(F.least(F.greatest(seconds, F.lit(-(2.0**62))), F.lit(2.0**62)))
        .cast("long")
        .alias("timestamp"),
        F.coalesce(quantity, F.lit(1)).alias("quantity"),
        F.col("_position").alias("position"),
    )
    return events.persist(StorageLevel.MEMORY_AND_DISK)


def _id_checks(name: str, kinds: dict[str, str]) -> list[_Check]:
    from pyspark.sql import functions as F

    if kinds[name] not in ("string", "int", "bigint", "smallint", "tinyint"):
        return [_Check(name, f"expected text, found values of type {kinds[name]}",
                       F.col(name).isNotNull())]  # fmt: skip
    text = F.col(name).cast("string")
    return [
        _Check(name, "missing id", text.isNull()),
        _Check(name, "empty id", F.length(text) == 0),
        _Check(name, f"id longer than {MAX_ID_LENGTH} characters",
               F.length(text) > MAX_ID_LENGTH, name),
        _Check(name, "id with non-printable characters", text.rlike(_UNPRINTABLE), name),
    ]  # fmt: skip


def _timestamp_checks(
    raw: DataFrame, kind: str, bounds: TimeBounds | None
) -> tuple[Column, list[_Check]]:
    """Epoch seconds (double) of each row, and the rules they must meet."""
    from pyspark.sql import functions as F

    column = F.col("timestamp")
    checks = [_Check("timestamp", "missing timestamp", column.isNull())]
    if kind == "date" or kind.startswith("timestamp"):
        seconds = F.unix_seconds(column.cast("timestamp")).cast("double")
    elif kind in ("int", "bigint", "smallint", "tinyint", "float", "double") or kind.startswith(
        "decimal"
    ):
        seconds = column.cast("double")
    elif kind == "string":
        text = F.trim(column)
        epoch, iso = text.rlike(_EPOCH), text.rlike(_ISO)
        # as the local reader: fractions of a second dropped; a zone-less time is UTC
        # (the session's zone); as Spark reads them, hh:mm gets :00 and a zone +hhmm is
        # +hh:mm; a space before the zone is refused, as pyarrow refuses it
        whole = F.regexp_replace(text, r"\.\d+", "")
        whole = F.regexp_replace(whole, r"([T ]\d{2}:\d{2})([Zz+-]|$)", "$1:00$2")
        whole = F.regexp_replace(whole, r"(:\d{2})([+-]\d{2})(\d{2})$", "$1$2:$3")
        parsed = F.when(~text.rlike(r"\d\s+(Z|z|[+-]\d)"), F.try_to_timestamp(whole))
        seconds = F.when(epoch, text.cast("double")).otherwise(
            F.unix_seconds(parsed).cast("double")
        )
        checks += [
            _Check("timestamp", "missing timestamp", text == ""),
            _Check("timestamp", "not an ISO 8601 time or epoch seconds",
                   (text != "") & ~epoch & ~iso, "timestamp"),
            _Check("timestamp", "not a valid time", iso & ~epoch & parsed.isNull(), "timestamp"),
        ]  # fmt: skip
    else:
        checks.append(_Check("timestamp", f"expected timestamps, found values of type {kind}",
                             F.lit(True)))  # fmt: skip
        seconds = F.lit(0.0)
    finite = ~F.isnan(seconds) & (F.abs(seconds) < float("inf"))
    infinite = column.isNotNull() & seconds.isNotNull() & ~finite
    checks.append(_Check("timestamp", "not a finite number of seconds", infinite, "timestamp"))
    if bounds is not None:
        too_early, too_late = bounds_messages(bounds)
        checks += [
            _Check("timestamp", too_early, seconds < bounds.earliest, "timestamp"),
            _Check("timestamp", too_late, seconds > bounds.latest(), "timestamp"),
        ]
    return seconds, checks


def _quantity_checks(kinds: dict[str, str]) -> list[_Check]:
    from pyspark.sql import functions as F

    if "quantity" not in kinds:
        return []
    column = F.col("quantity")
    kind = kinds["quantity"]
    if kind == "string":  # CSV: typed as pyarrow's CSV reader would type the column
        text = F.trim(column)
        filled = column.isNotNull() & (text != "")
        whole = text.rlike(r"^[+-]?\d+$")
        number = text.cast("double").isNotNull()
        return [
            # a column that is not all whole numbers is typed double (or text) as a
            # whole: every filled cell is at fault, from the first
            _Check("quantity", "quantity must be a whole number, found double",
                   filled & F.lit(True), column_wide=filled & ~whole & number),
            _Check("quantity", "quantity must be a whole number, found string",
                   filled & F.lit(True), column_wide=filled & ~number),
            _Check("quantity", "quantity must be at least 1", whole & (text.cast("long") < 1),
                   "quantity", number=True),
        ]  # fmt: skip
    if kind not in ("int", "bigint", "smallint", "tinyint", "void"):
        return [_Check("quantity", f"quantity must be a whole number, found {kind}",
                       column.isNotNull())]  # fmt: skip
    return [_Check("quantity", "quantity must be at least 1", column < 1, "quantity")]


def _raise_first(spark: SparkSession, frame: DataFrame, checks: list[_Check], path: str) -> None:
    """Count every rule's bad rows in one job; raise for the first rule broken, naming its
    first row (the file's own row number) and how many more rows break it."""
    from pyspark.sql import functions as F

    def count(condition: Column) -> Column:
        return F.sum(F.when(condition, 1).otherwise(0))

    counts = frame.select(
        *[count(check.bad).alias(f"c{i}") for i, check in enumerate(checks)],
        *[count(check.column_wide).alias(f"w{i}") for i, check in enumerate(checks)
          if check.column_wide is not None],
    ).first()  # fmt: skip
    assert counts is not None

    def is_broken(i: int, check: _Check) -> bool:
        wide = check.column_wide is None or (counts[f"w{i}"] or 0) > 0
        return bool((counts[f"c{i}"] or 0) > 0 and wide)

    broken = next((i for i, check in enumerate(checks) if is_broken(i, check)), None)
    if broken is None:
        return
    check = checks[broken]
    first = frame.where(check.bad).orderBy("_position").select("_file").first()
    assert first is not None
    file = first["_file"]
    # the row number within its file: the file alone, its rows numbered in order
    alone = frame.where(F.col("_file") == file).drop("_position")
    numbered = spark.createDataFrame(
        alone.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + 1)),
        [*alone.columns, "_row"],
    )
    hit = numbered.where(check.bad).orderBy("_row").first()
    assert hit is not None
    message = check.message
    if check.shows is not None:
        value = hit[check.shows]
        message = f"{message}: {int(value) if check.number else value!r}"
    # a file read alone is named as given; a part of a folder by its own name
    single = file.endswith(path.rstrip("/").rsplit("/", 1)[-1])
    raise DataError(message, source=path if single else file, row=int(hit["_row"]),
                    field=check.field, more=int(counts[f"c{broken}"]) - 1)  # fmt: skip


def read_catalog(spark: SparkSession, path: str) -> Catalog:
    """Read a catalog with Spark and validate it with the local rules (a catalog is one
    row per product: it comes to the driver, as a web process holds it anyway)."""
    frame = read_frame(spark, path, required=("item_id",), optional=CATALOG_COLUMNS,
                       text=("item_id", "title", "category"))  # fmt: skip
    with unreadable_as_data_error(path, file_format(_name(path))):
        table = frame.drop("_file").toArrow()
    if file_format(_name(path)) == "csv":
        table = _typed_csv(table, path)
    for name in ("item_id", "title", "category"):
        if name in table.column_names and not pa.types.is_string(table.column(name).type):
            index = table.column_names.index(name)
            table = table.set_column(index, name, table.column(name).cast(pa.string()))
    return catalog_from_table(table, source=path)


def _typed_csv(table: pa.Table, path: str) -> pa.Table:
    """CSV cells are text; a price column reads as numbers where every cell is one
    (or empty), as pyarrow's CSV reader infers it."""
    if "price" not in table.column_names:
        return table
    text = pc.utf8_trim_whitespace(table.column("price"))
    blank = pc.equal(text, "")
    try:
        prices = pc.if_else(blank, pa.scalar(None, pa.float64()), pc.cast(text, pa.float64()))
    except pa.ArrowInvalid:
        return table  # the local rule reports the first cell that is not a number
    return table.set_column(table.column_names.index("price"), "price", prices)


@dataclass(frozen=True, eq=False)
class SparkData:
    """Validated events as a Spark frame, with the catalog and the items they name (the
    catalog's and the events' items: the columns of every matrix, on the driver)."""

    events: DataFrame
    catalog: Catalog | None
    items: IdMap

    def in_stock(self) -> np.ndarray | None:
        """Which of the items are in stock (None without a catalog)."""
        return in_stock(self.catalog, self.items)

    def with_events(self, events: DataFrame) -> SparkData:
        """The same catalog and items with some of the events (a split's part)."""
        return SparkData(events=events, catalog=self.catalog, items=self.items)


@dataclass(frozen=True)
class SparkFiles:
    """Events (and catalog) files or folders, read with Spark: local paths or URLs."""

    events: str
    items: str | None = None

    def read(self, spark: SparkSession, config: TrainingConfig) -> SparkData:
        """Read and validate both (the events stay on the cluster, cached)."""
        events = read_events(spark, self.events, event_types=config.event_weights,
                             bounds=config.time_bounds())  # fmt: skip
        catalog = read_catalog(spark, self.items) if self.items is not None else None
        item_ids = events.select("item_id").distinct().toArrow().column("item_id")
        columns = [item_ids] if catalog is None else [item_ids, catalog.item_id]
        return SparkData(events=events, catalog=catalog, items=IdMap.of(*columns))
