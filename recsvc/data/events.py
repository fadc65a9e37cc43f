"""Shop events (views, add-to-carts, purchases...): the format, and reading it from files.

An event has ``user_id``, ``item_id`` (text, 1-128 printable characters),
``event_type`` (one of the configured types), ``timestamp`` (ISO 8601, or epoch
seconds) and optionally ``quantity``, ``session_id`` and ``recommendation_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import TimeBounds
from ..errors import DataError
from .files import check_ids, column_or_none, raise_for_rows, read_table
from .ids import IdMap

REQUIRED_COLUMNS = ("user_id", "item_id", "event_type", "timestamp")
#: seconds in a day (half-lives and windows are given in days)
DAY = 86_400.0
#: the default time bounds (config.TimeBounds)
DEFAULT_BOUNDS = TimeBounds()
#: the event types that are a purchase: what a model must find, and what a shopper is
#: not shown again
PURCHASES = ("purchase",)
#: the funnel of a recommended item: opened (a view), carted, bought; what the stats of
#: recommendations count (recsvc.store.stats)
VIEW, ADD_TO_CART, PURCHASE = "view", "add_to_cart", "purchase"
OPTIONAL_COLUMNS = ("quantity", "session_id", "recommendation_id")
_EPOCH = r"^\s*-?\d+(\.\d+)?\s*$"
_ISO_WITH_ZONE = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$"
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?)?$"


@dataclass(frozen=True, eq=False)
class Events:
    """A validated batch of events, column by column.

    ``event_type`` holds codes into ``event_types``; ``timestamp`` is epoch
    seconds (UTC); ``quantity`` is 1 where the source had none.
    """

    user_id: pa.ChunkedArray
    item_id: pa.ChunkedArray
    event_type: np.ndarray
    event_types: tuple[str, ...]
    timestamp: np.ndarray
    quantity: np.ndarray

    def __len__(self) -> int:
        return len(self.timestamp)

    def take(self, rows: np.ndarray) -> Events:
        """The events at the given row positions (or where a boolean mask is true); the
        ids' encodings (:meth:`codes`) already made go with them."""
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        indices = pa.array(rows)
        taken = Events(
            user_id=self.user_id.take(indices),
            item_id=self.item_id.take(indices),
            event_type=self.event_type[rows],
            event_types=self.event_types,
            timestamp=self.timestamp[rows],
            quantity=self.quantity[rows],
        )
        for name, (values, positions) in self._encoded.items():
            taken._encoded[name] = (values, positions[rows])
        return taken

    def codes(self, column: str, ids: IdMap) -> np.ndarray:
        """Each event's row or column in ``ids`` of its ``column`` (user_id, item_id), -1
        where not in the map. The column's distinct values are found once per events
        (and kept by :meth:`take`): a lookup then costs a search of those and a gather,
        where looking up every event's text took 21 s of a 50M-event holdout."""
        values, positions = self.distinct(column)
        found: np.ndarray = ids.codes(values)[positions]
        return found

    def distinct(self, column: str) -> tuple[pa.ChunkedArray, np.ndarray]:
        """A column's (user_id, item_id) distinct values, and each event's position among
        them; found once per events, and kept by :meth:`take`."""
        if column not in self._encoded:
            encoded = pc.dictionary_encode(getattr(self, column)).combine_chunks()
            # arrow's own indices (int32 below 2^31 distinct ids): 4 bytes an event
            positions = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
            self._encoded[column] = (pa.chunked_array([encoded.dictionary]), positions)
        return self._encoded[column]

    @cached_property
    def _encoded(self) -> dict[str, tuple[pa.ChunkedArray, np.ndarray]]:
        """By column: its distinct values, and each event's position among them."""
        return {}

    def of_types(self, names: Iterable[str]) -> np.ndarray:
        """Boolean mask of the events whose type is one of ``names``."""
        codes = [self.event_types.index(n) for n in names if n in self.event_types]
        return np.isin(self.event_type, codes)


def read_events(
    path: Path | str, *, event_types: Iterable[str], bounds: TimeBounds | None = DEFAULT_BOUNDS
) -> Events:
    """Read and validate an events file; :class:`DataError` names the row and field at fault.

    Times outside ``bounds`` are refused (None: any time, for hand-made logs)."""
    source = str(path)
    table = read_table(
        Path(path),
        required=REQUIRED_COLUMNS,
        optional=OPTIONAL_COLUMNS,
        text_columns=("user_id", "item_id", "event_type", "session_id", "recommendation_id"),
        csv_text_columns=("timestamp",),
    )
    return events_from_table(table, event_types=event_types, source=source, bounds=bounds)


def events_from_table(
    table: pa.Table,
    *,
    event_types: Iterable[str],
    source: str,
    bounds: TimeBounds | None = None,
) -> Events:
    """Validate a table of events (columns as in the file format) into :class:`Events`;
    with ``bounds``, times outside them are refused."""
    event_types = tuple(event_types)
    check_ids(table, "user_id", source=source)
    check_ids(table, "item_id", source=source)
    for name in ("session_id", "recommendation_id"):
        column = column_or_none(table, name)
        if column is not None:
            text = pc.fill_null(column, "x")
            raise_for_rows(
                pc.greater(pc.utf8_length(text), 128),
                "longer than 128 characters",
                source=source,
                field=name,
            )
    return Events(
        user_id=table.column("user_id"),
        item_id=table.column("item_id"),
        event_type=_event_type_codes(table.column("event_type"), event_types, source),
        event_types=event_types,
        timestamp=parse_timestamps(
            table.column("timestamp"), source=source, field="timestamp", bounds=bounds
        ),
        quantity=_quantities(column_or_none(table, "quantity"), table.num_rows, source),
    )


def unknown_type_message(known: Iterable[str]) -> str:
    """What an event of a type the weights do not name is told (every reader)."""
    return (f"unknown event type (known: {', '.join(known)}; add types with"
            " RECSVC_EVENT_WEIGHTS)")  # fmt: skip


def bounds_messages(bounds: TimeBounds) -> tuple[str, str]:
    """What a time before ``bounds.earliest`` and one after ``bounds.latest()`` are told
    (every reader)."""
    earliest = np.datetime_as_string(np.datetime64(bounds.earliest, "s"), unit="D")
    days = bounds.future_seconds / DAY
    return (f"before {earliest} (RECSVC_EARLIEST_EVENT)",
            f"more than {days:g} day{'s' * (days != 1)} in the future"
            " (RECSVC_FUTURE_EVENT_DAYS)")  # fmt: skip


def _event_type_codes(column: pa.ChunkedArray, known: tuple[str, ...], source: str) -> np.ndarray:
    codes = pc.index_in(column, value_set=pa.array(known, pa.string()))
    unknown = pc.is_null(codes)
    raise_for_rows(
        unknown,
        unknown_type_message(known),
        source=source,
        field="event_type",
        values=column,
    )
    return np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int8)


def _quantities(column: pa.ChunkedArray | None, rows: int, source: str) -> np.ndarray:
    if column is None:
        return np.ones(rows, dtype=np.int32)
    if not (pa.types.is_integer(column.type) or pa.types.is_null(column.type)):
        raise_for_rows(
            pc.is_valid(column),
            f"quantity must be a whole number, found {column.type}",
            source=source,
            field="quantity",
        )
    filled = pc.fill_null(column.cast(pa.int64()), 1)
    raise_for_rows(
        pc.less(filled, 1),
        "quantity must be at least 1",
        source=source,
        field="quantity",
        values=column,
    )
    return np.asarray(filled.to_numpy(), dtype=np.int32)


def parse_timestamps(
    column: pa.ChunkedArray, *, source: str, field: str, bounds: TimeBounds | None = None
) -> np.ndarray:
    """Epoch seconds (int64, UTC) from ISO 8601 text, epoch numbers or a timestamp column.

    ISO 8601 without a zone is taken as UTC. With ``bounds``, a time before
    ``bounds.earliest`` or after ``bounds.latest()`` is refused (naming its row).
    """
    raise_for_rows(pc.is_null(column), "missing timestamp", source=source, field=field)
    kind = column.type
    if pa.types.is_date(kind):
        column, kind = column.cast(pa.timestamp("s")), pa.timestamp("s")
    if pa.types.is_timestamp(kind):
        seconds = column.cast(pa.timestamp("s", tz="UTC") if kind.tz else pa.timestamp("s"))
        times = np.asarray(seconds.cast(pa.int64()).to_numpy(), dtype=np.float64)
        return _checked(times, column, bounds, source, field)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        numbers = np.asarray(column.to_numpy(), dtype=np.float64)
        return _checked(numbers, column, bounds, source, field)
    if not pa.types.is_string(kind):
        raise DataError(
            f"expected timestamps, found values of type {kind}", source=source, field=field
        )
    text = pc.utf8_trim_whitespace(column)
    raise_for_rows(pc.equal(text, ""), "missing timestamp", source=source, field=field)
    epoch = pc.match_substring_regex(text, _EPOCH)
    iso = pc.match_substring_regex(text, _ISO)
    raise_for_rows(
        pc.invert(pc.or_(epoch, iso)),
        "not an ISO 8601 time or epoch seconds",
        source=source,
        field=field,
        values=column,
    )
    seconds = np.zeros(len(column), dtype=np.float64)
    epoch_rows = _mask(epoch)
    if epoch_rows.any():
        seconds[epoch_rows] = text.filter(epoch).cast(pa.float64()).to_numpy()
    zoned = pc.and_(iso, pc.match_substring_regex(text, _ISO_WITH_ZONE))
    naive = pc.and_(iso, pc.invert(zoned))
    for mask, kind in ((zoned, pa.timestamp("s", tz="UTC")), (naive, pa.timestamp("s"))):
        rows = _mask(mask)
        if rows.any():
            seconds[rows] = _cast_times(text, rows, kind, source, field)
    return _checked(seconds, column, bounds, source, field)


def _checked(
    seconds: np.ndarray,
    column: pa.ChunkedArray,
    bounds: TimeBounds | None,
    source: str,
    field: str,
) -> np.ndarray:
    """Whole epoch seconds, once every time is finite (and within ``bounds``)."""
    raise_for_rows(~np.isfinite(seconds), "not a finite number of seconds", source=source,
                   field=field, values=column)  # fmt: skip
    if bounds is not None:
        too_early, too_late = bounds_messages(bounds)
        raise_for_rows(seconds < bounds.earliest, too_early, source=source, field=field,
                       values=column)  # fmt: skip
        raise_for_rows(seconds > bounds.latest(), too_late, source=source, field=field,
                       values=column)  # fmt: skip
    # far beyond int64's range only without bounds: clip rather than wrap around
    whole: np.ndarray = np.floor(np.clip(seconds, -(2.0**62), 2.0**62)).astype(np.int64)
    return whole


def _mask(mask: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def _cast_times(
    text: pa.ChunkedArray, rows: np.ndarray, kind: pa.DataType, source: str, field: str
) -> np.ndarray:
    values = text.filter(pa.array(rows))
    whole = pc.replace_substring_regex(values, r"\.\d+", "")
    try:
        times = pc.cast(whole, kind)
    except pa.ArrowInvalid:
        # Well-formed but impossible, like month 13: find the first such row (as cast,
        # fractions of a second dropped; shown as written).
        positions = np.flatnonzero(rows)
        for i, (value, seconds) in enumerate(
            zip(values.to_pylist(), whole.to_pylist(), strict=True)
        ):
            try:
                pc.cast(pa.array([seconds]), kind)
            except pa.ArrowInvalid:
                raise DataError(
                    f"not a valid time: {value!r}",
                    source=source,
                    row=int(positions[i]) + 1,
                    field=field,
                ) from None
        raise
    return np.asarray(times.cast(pa.int64()).to_numpy(), dtype=np.int64)
