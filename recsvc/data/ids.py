"""Id maps: the shop's string ids to rows and columns, and back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True, eq=False)
class IdMap:
    """The shop's string ids in sorted order: row or column ``i`` is ``ids[i]``.

    Sorted, so the same set of ids always gives the same numbering, and a lookup
    is a binary search over an array that can stay memory-mapped.
    """

    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, ids: Iterable[str] | np.ndarray) -> np.ndarray:
        """Row/column of each id, -1 for ids not in the map."""
        wanted = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=str)
        if len(self.ids) == 0 or len(wanted) == 0:
            return np.full(len(wanted), -1, dtype=np.int64)
        # searched as the map's own dtype: an id longer than the map's longest would make
        # numpy widen the whole map first (3 ms a lookup at 473,000 ids); such an id is
        # truncated here, and never found
        query = wanted.astype(self.ids.dtype)
        pos = np.minimum(np.searchsorted(self.ids, query), len(self.ids) - 1)
        found = self.ids[pos] == query
        if wanted.dtype.itemsize > self.ids.dtype.itemsize:  # some may have been cut
            found &= np.char.str_len(wanted) <= self.width
        return np.where(found, pos, -1).astype(np.int64)

    @property
    def width(self) -> int:
        """The longest id the map can hold, in characters."""
        return self.ids.dtype.itemsize // np.dtype("U1").itemsize

    def codes(self, column: pa.ChunkedArray) -> np.ndarray:
        """Row/column of each value of a text column, -1 for ids not in the map."""
        found = pc.index_in(column, value_set=pa.array(self.ids, pa.string()))
        return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)

    @classmethod
    def of(cls, *columns: pa.ChunkedArray | np.ndarray) -> IdMap:
        """The sorted distinct ids found in any of the columns."""
        parts = []
        for column in columns:
            if isinstance(column, np.ndarray):
                parts.append(np.unique(column.astype(str)))
            else:
                unique = pc.unique(column)
                parts.append(np.asarray(unique.to_numpy(zero_copy_only=False)).astype(str))
        ids = np.unique(np.concatenate(parts)) if parts else np.array([], dtype=str)
        return cls(ids)
