from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsvc.data.events import read_events
from recsvc.errors import DataError

TYPES = ("view", "add_to_cart", "purchase")
HEADER = "user_id,item_id,event_type,timestamp\n"
WriteCsv = Callable[[str, str], Path]


def read(path: Path) -> object:
    return read_events(path, event_types=TYPES)


def error_of(path: Path, types: tuple[str, ...] = TYPES) -> DataError:
    with pytest.raises(DataError) as caught:
        read_events(path, event_types=types)
    return caught.value


def test_reads_csv_columns(write_csv: WriteCsv) -> None:
    path = write_csv(
        "e.csv",
        HEADER + "u1,00123,view,2026-01-01T00:00:00Z\nu2,p9,purchase,1767225660\n",
    )
    events = read_events(path, event_types=TYPES)
    assert events.user_id.to_pylist() == ["u1", "u2"]
    assert events.item_id.to_pylist() == ["00123", "p9"]  # ids stay text
    assert [TYPES[c] for c in events.event_type] == ["view", "purchase"]
    assert events.timestamp.tolist() == [1767225600, 1767225660]
    assert events.quantity.tolist() == [1, 1]


def test_iso_forms_and_epoch_agree(write_csv: WriteCsv) -> None:
    rows = [
        "2026-01-01T01:00:00Z",
        "2026-01-01T02:00:00+01:00",
        "2026-01-01 01:00:00",
        "2026-01-01T01:00:00.750Z",
        "1767229200",
        "1767229200.9",
    ]
    text = HEADER + "".join(f"u,i,view,{t}\n" for t in rows)
    events = read_events(write_csv("e.csv", text), event_types=TYPES)
    assert events.timestamp.tolist() == [1767229200] * len(rows)


def test_same_events_from_csv_parquet_and_jsonl(tmp_path: Path, write_csv: WriteCsv) -> None:
    records = [
        {"user_id": "u1", "item_id": "a", "event_type": "view",
         "timestamp": "2026-01-01T00:00:00Z", "quantity": 1, "session_id": "s1"},
        {"user_id": "u2", "item_id": "b", "event_type": "purchase",
         "timestamp": "2026-01-02T00:00:00Z", "quantity": 2, "session_id": "s2"},
    ]  # fmt: skip
    csv = write_csv(
        "e.csv",
        "user_id,item_id,event_type,timestamp,quantity,session_id\n"
        + "".join(",".join(str(v) for v in r.values()) + "\n" for r in records),
    )
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    parquet = tmp_path / "e.parquet"
    table = pa.Table.from_pylist(records).set_column(
        3, "timestamp", pa.array([1767225600, 1767312000], pa.timestamp("s", tz="UTC"))
    )
    pq.write_table(table, parquet)
    loaded = [read_events(p, event_types=TYPES) for p in (csv, jsonl, parquet)]
    for events in loaded:
        assert events.user_id.to_pylist() == ["u1", "u2"]
        assert events.timestamp.tolist() == [1767225600, 1767312000]
        assert events.quantity.tolist() == [1, 2]
        assert events.event_type.tolist() == [0, 2]


@pytest.mark.parametrize(
    ("text", "row", "field", "words"),
    [
        ("u1,i1,view,2026-01-01\nu2,,view,2026-01-01\n", 2, "item_id", "empty id"),
        ("u1,i1,view,2026-01-01\n,i1,view,2026-01-01\n", 2, "user_id", "empty id"),
        (f"{'u' * 129},i1,view,2026-01-01\n", 1, "user_id", "longer than 128"),
        ("u1,i\x01,view,2026-01-01\n", 1, "item_id", "non-printable"),
        ("u1,i1,view,2026-01-01\nu1,i1,click,2026-01-01\n", 2, "event_type", "'click'"),
        ("u1,i1,view,yesterday\n", 1, "timestamp", "not an ISO 8601 time or epoch"),
        ("u1,i1,view,2026-13-01T00:00:00Z\nu1,i1,view,2026-02-30\n", 1, "timestamp",
         "not a valid time"),
        ("u1,i1,view,2026-01-01\nu1,i1,view,\n", 2, "timestamp", "missing timestamp"),
    ],
)  # fmt: skip
def test_bad_rows_name_file_row_and_field(
    write_csv: WriteCsv, text: str, row: int, field: str, words: str
) -> None:
    path = write_csv("events.csv", HEADER + text)
    error = error_of(path)
    assert (error.source, error.row, error.field) == (str(path), row, field)
    assert words in str(error)
    assert f"events.csv, row {row}, field '{field}'" in str(error)


def test_error_counts_further_bad_rows(write_csv: WriteCsv) -> None:
    text = HEADER + "u,i,view,2026-01-01\n" + "u,i,click,2026-01-01\n" * 3
    error = error_of(write_csv("e.csv", text))
    assert error.row == 2
    assert "and 2 more rows like it" in str(error)


def test_unknown_type_can_be_made_known(write_csv: WriteCsv) -> None:
    path = write_csv("e.csv", HEADER + "u1,i1,wishlist,2026-01-01\n")
    assert error_of(path).field == "event_type"
    events = read_events(path, event_types=(*TYPES, "wishlist"))
    assert events.event_types[events.event_type[0]] == "wishlist"


def test_missing_columns(write_csv: WriteCsv) -> None:
    error = error_of(write_csv("e.csv", "user_id,item_id\nu1,i1\n"))
    assert error.row is None
    assert "missing columns event_type, timestamp" in str(error)


@pytest.mark.parametrize(("text", "words"), [("", "empty"), (HEADER, "no data rows")])
def test_empty_files(write_csv: WriteCsv, text: str, words: str) -> None:
    assert words in str(error_of(write_csv("e.csv", text)))


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    assert "no such file" in str(error_of(tmp_path / "absent.csv"))
    other = tmp_path / "events.xlsx"
    other.write_text("x")
    assert "unknown file format" in str(error_of(other))


def test_quantity_must_be_a_positive_whole_number(write_csv: WriteCsv) -> None:
    header = "user_id,item_id,event_type,timestamp,quantity\n"
    error = error_of(
        write_csv("e.csv", header + "u,i,purchase,2026-01-01,2\nu,i,purchase,2026-01-01,0\n")
    )
    assert (error.row, error.field) == (2, "quantity")
    error = error_of(write_csv("f.csv", header + "u,i,purchase,2026-01-01,lots\n"))
    assert (error.row, error.field) == (1, "quantity")
    events = read(write_csv("g.csv", header + "u,i,purchase,2026-01-01,\n"))
    assert events.quantity.tolist() == [1]  # type: ignore[attr-defined]


def test_take_and_of_types(write_csv: WriteCsv) -> None:
    text = HEADER + "u1,a,view,1\nu1,a,purchase,2\nu2,b,add_to_cart,3\n"
    events = read_events(write_csv("e.csv", text), event_types=TYPES, bounds=None)
    bought = events.take(events.of_types(["purchase", "add_to_cart"]))
    assert bought.item_id.to_pylist() == ["a", "b"]
    assert bought.timestamp.tolist() == [2, 3]
    assert np.array_equal(events.take(np.array([2, 0])).timestamp, [3, 1])


def test_ids_encoded_once_give_the_rows_of_a_text_lookup_and_go_with_a_take() -> None:
    from recsvc.data.events import Events
    from recsvc.data.ids import IdMap

    users = ["u2", "u1", "u9", "u2", "u1", "u3"]
    events = Events(
        user_id=pa.chunked_array([pa.array(users[:4]), pa.array(users[4:])]),  # two chunks
        item_id=pa.chunked_array([pa.array(["a", "b", "a", "c", "b", "a"])]),
        event_type=np.zeros(6, dtype=np.int64), event_types=("view",),
        timestamp=np.arange(6), quantity=np.ones(6, dtype=np.int64),
    )  # fmt: skip
    known = IdMap(np.array(["u1", "u2", "u3"]))
    assert events.codes("user_id", known).tolist() == [1, 0, -1, 1, 0, 2]
    assert events.codes("user_id", known).tolist() == known.codes(events.user_id).tolist()
    # a take after the encoding keeps it, and looks up as its own text would
    later = events.take(np.array([False, True, True, False, True, True]))
    assert "user_id" in later._encoded
    assert later.codes("user_id", known).tolist() == [0, -1, 0, 2]
    assert later.codes("item_id", IdMap(np.array(["a", "b"]))).tolist() == [1, 0, 1, 0]
    # another map over the same encoding; and no events at all
    assert events.codes("user_id", IdMap(np.array(["u9"]))).tolist() == [-1, -1, 0, -1, -1, -1]
    none = events.take(np.zeros(6, dtype=bool))
    assert none.codes("item_id", known).tolist() == []
