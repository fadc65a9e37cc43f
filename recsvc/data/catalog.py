"""The shop's catalog: ``item_id``, optional ``title``, ``category``, ``price``, ``available``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .files import check_ids, column_or_none, mask_to_numpy, raise_for_rows, read_table

OPTIONAL_COLUMNS = ("title", "category", "price", "available")
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")


@dataclass(frozen=True, eq=False)
class Catalog:
    """Items and what the shop knows of them, one entry per item.

    Missing text is ``""``, a missing price is NaN, a missing ``available`` is true.
    """

    item_id: np.ndarray
    title: np.ndarray
    category: np.ndarray
    price: np.ndarray
    available: np.ndarray

    def __len__(self) -> int:
        return len(self.item_id)

    @classmethod
    def empty(cls) -> Catalog:
        """A catalog that knows no item (training without a catalog file)."""
        return cls(
            item_id=np.array([], dtype=str),
            title=np.array([], dtype=str),
            category=np.array([], dtype=str),
            price=np.array([], dtype=np.float64),
            available=np.array([], dtype=bool),
        )

    def aligned_to(self, item_ids: np.ndarray) -> Catalog:
        """The catalog entries of ``item_ids``, in that order; unknown items get blanks."""
        order = np.argsort(self.item_id)
        # a sentinel entry past the end keeps every lookup in bounds, the empty catalog too
        sorted_ids = np.append(self.item_id[order], "")
        pos = np.minimum(np.searchsorted(sorted_ids[:-1], item_ids), len(order))
        known = (pos < len(order)) & (sorted_ids[pos] == item_ids)
        rows = np.append(order, 0)[pos]

        def pick(values: np.ndarray, blank: object) -> np.ndarray:
            out = np.full(len(item_ids), blank, dtype=values.dtype)
            out[known] = values[rows[known]]
            return out

        return Catalog(
            item_id=np.asarray(item_ids),
            title=pick(self.title, ""),
            category=pick(self.category, ""),
            price=pick(self.price, np.nan),
            available=pick(self.available, True),
        )


def read_catalog(path: Path | str) -> Catalog:
    """Read and validate a catalog file; :class:`DataError` names the row and field at fault."""
    source = str(path)
    table = read_table(
        Path(path),
        required=("item_id",),
        optional=OPTIONAL_COLUMNS,
        text_columns=("item_id", "title", "category"),
    )
    return catalog_from_table(table, source=source)


def catalog_from_table(table: pa.Table, *, source: str) -> Catalog:
    """Validate a table of catalog entries into a :class:`Catalog`."""
    check_ids(table, "item_id", source=source)
    ids = np.asarray(table.column("item_id").to_numpy(zero_copy_only=False)).astype(str)
    _check_unique(ids, source)
    return Catalog(
        item_id=ids,
        title=_text(column_or_none(table, "title"), len(ids)),
        category=_text(column_or_none(table, "category"), len(ids)),
        price=_prices(column_or_none(table, "price"), len(ids), source),
        available=_available(column_or_none(table, "available"), len(ids), source),
    )


def _check_unique(ids: np.ndarray, source: str) -> None:
    _, first = np.unique(ids, return_index=True)
    if len(first) < len(ids):
        repeated = np.ones(len(ids), dtype=bool)
        repeated[first] = False
        raise_for_rows(
            repeated,
            "item listed twice",
            source=source,
            field="item_id",
            values=pa.chunked_array([pa.array(ids)]),
        )


def _text(column: pa.ChunkedArray | None, rows: int) -> np.ndarray:
    if column is None:
        return np.full(rows, "", dtype=str)
    return np.asarray(pc.fill_null(column, "").to_numpy(zero_copy_only=False)).astype(str)


def _prices(column: pa.ChunkedArray | None, rows: int, source: str) -> np.ndarray:
    if column is None:
        return np.full(rows, np.nan)
    if not (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or pa.types.is_null(column.type)
    ):
        raise_for_rows(
            pc.is_valid(column),
            "price is not a number",
            source=source,
            field="price",
            values=column,
        )
    prices = np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    raise_for_rows(
        ~np.isnan(prices) & ~(prices >= 0),
        "price must not be negative",
        source=source,
        field="price",
        values=column,
    )
    raise_for_rows(
        np.isinf(prices), "price must be finite", source=source, field="price", values=column
    )
    return prices


def _available(column: pa.ChunkedArray | None, rows: int, source: str) -> np.ndarray:
    if column is None:
        return np.ones(rows, dtype=bool)
    kind = column.type
    if pa.types.is_boolean(kind):
        return mask_to_numpy(pc.fill_null(column, True))
    if pa.types.is_integer(kind):
        bad = pc.and_(pc.is_valid(column), pc.invert(pc.is_in(column, pa.array([0, 1]))))
        raise_for_rows(
            bad, "available must be 0 or 1", source=source, field="available", values=column
        )
        return mask_to_numpy(pc.fill_null(pc.equal(column, 1), True))
    if pa.types.is_null(kind):
        return np.ones(rows, dtype=bool)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(column.cast(pa.string())))
    yes = pc.is_in(text, pa.array(_TRUE))
    no = pc.is_in(text, pa.array(_FALSE))
    blank = pc.or_(pc.is_null(text), pc.equal(text, ""))
    raise_for_rows(
        pc.invert(pc.or_(pc.or_(yes, no), blank)),
        "available must be true or false",
        source=source,
        field="available",
        values=column,
    )
    return ~mask_to_numpy(no)
