"""Reading tables from CSV, Parquet and JSON-lines files, columnar (pyarrow), never row by row.

The format is chosen by the file's name: ``.csv`` (optionally ``.gz``/``.bz2``),
``.parquet``/``.pq``, ``.jsonl``/``.ndjson``/``.json`` (one JSON object a line).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from ..errors import DataError

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
#: the longest an id may be, in characters
MAX_ID_LENGTH = 128


def file_format(path: Path) -> str:
    """``csv``, ``parquet`` or ``jsonl``, from the file's name."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2") and len(suffixes) > 1:
        suffixes.pop()
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(
            f"unknown file format; expected one of {', '.join(sorted(FORMATS))}",
            source=str(path),
        )
    return fmt


def read_table(
    path: Path,
    *,
    required: Iterable[str],
    optional: Iterable[str] = (),
    text_columns: Iterable[str] = (),
    csv_text_columns: Iterable[str] = (),
) -> pa.Table:
    """Read the ``required`` and present ``optional`` columns of a file.

    ``text_columns`` are read as strings whatever they look like (ids such as
    ``00123`` keep their zeros); ``csv_text_columns`` too, but only from CSV, where
    nothing else says their type (Parquet and JSON keep theirs). Raises
    :class:`DataError` for a missing file or column, an unreadable file, or a file
    without data rows.
    """
    path = Path(path)
    required = list(required)
    wanted = required + [c for c in optional if c not in required]
    text_columns = set(text_columns)
    if not path.is_file():
        raise DataError("no such file", source=str(path))
    fmt = file_format(path)
    try:
        if fmt == "csv":
            header = _csv_header(path)
            check_columns(header, required, str(path))
            table = pa_csv.read_csv(
                path,
                convert_options=pa_csv.ConvertOptions(
                    include_columns=[c for c in wanted if c in header],
                    column_types={
                        c: pa.string() for c in text_columns | set(csv_text_columns) if c in header
                    },
                    strings_can_be_null=False,
                ),
            )
        elif fmt == "parquet":
            schema = pq.read_schema(path)
            check_columns(schema.names, required, str(path))
            table = pq.read_table(path, columns=[c for c in wanted if c in schema.names])
        else:
            table = pa_json.read_json(path)
            check_columns(table.column_names, required, str(path))
            table = table.select([c for c in wanted if c in table.column_names])
    except pa.ArrowInvalid as exc:
        raise DataError(f"cannot read the file as {fmt}: {exc}", source=str(path)) from exc
    if table.num_rows == 0:
        raise DataError("the file has no data rows", source=str(path))
    for name in text_columns & set(table.column_names):
        table = _as_text(table, name, path)
    return table


def _csv_header(path: Path) -> list[str]:
    try:
        reader = pa_csv.open_csv(path)
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DataError("the file is empty", source=str(path)) from exc
        raise DataError(f"cannot read the file as csv: {exc}", source=str(path)) from exc
    names: list[str] = reader.schema.names
    return names


def check_columns(present: Iterable[str], required: Iterable[str], source: str) -> None:
    """Refuse a file without every required column (the local and the Spark readers)."""
    present = set(present)
    missing = [c for c in required if c not in present]
    if missing:
        raise DataError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
            f" (the file has {', '.join(sorted(present)) or 'none'})",
            source=source,
        )


def _as_text(table: pa.Table, name: str, path: Path) -> pa.Table:
    column = table.column(name)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return table
    if pa.types.is_integer(column.type) or pa.types.is_dictionary(column.type):
        return table.set_column(table.column_names.index(name), name, column.cast(pa.string()))
    first = _first_row(pc.is_valid(column))
    raise DataError(
        f"expected text, found values of type {column.type}",
        source=str(path),
        row=first,
        field=name,
    )


def _first_row(mask: pa.ChunkedArray | pa.Array) -> int:
    """1-based number of the first row where ``mask`` is true."""
    return int(np.flatnonzero(mask_to_numpy(mask))[0]) + 1


def mask_to_numpy(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean pyarrow column as a numpy bool array, nulls counted as false."""
    filled = pc.fill_null(mask, False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def raise_for_rows(
    bad: pa.ChunkedArray | pa.Array | np.ndarray,
    message: str,
    *,
    source: str,
    field: str,
    values: pa.ChunkedArray | None = None,
) -> None:
    """Raise a :class:`DataError` naming the first row where ``bad`` is true, if any.

    With ``values`` given, the message shows the offending value.
    """
    flags = bad if isinstance(bad, np.ndarray) else mask_to_numpy(bad)
    rows = np.flatnonzero(flags)
    if rows.size == 0:
        return
    first = int(rows[0])
    if values is not None:
        message = f"{message}: {values[first].as_py()!r}"
    raise DataError(message, source=source, row=first + 1, field=field, more=rows.size - 1)


def check_ids(table: pa.Table, name: str, *, source: str) -> None:
    """Ids are text of 1 to MAX_ID_LENGTH printable characters."""
    column = table.column(name)
    raise_for_rows(pc.is_null(column), "missing id", source=source, field=name)
    lengths = pc.utf8_length(column)
    raise_for_rows(pc.equal(lengths, 0), "empty id", source=source, field=name)
    raise_for_rows(
        pc.greater(lengths, MAX_ID_LENGTH),
        f"id longer than {MAX_ID_LENGTH} characters",
        source=source,
        field=name,
        values=column,
    )
    raise_for_rows(
        pc.invert(pc.utf8_is_printable(column)),
        "id with non-printable characters",
        source=source,
        field=name,
        values=column,
    )


def column_or_none(table: pa.Table, name: str) -> pa.ChunkedArray | None:
    """The column if the table has it."""
    return table.column(name) if name in table.column_names else None
