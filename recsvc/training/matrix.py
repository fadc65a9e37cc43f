"""From events to the weighted user x item interaction matrix, with stable id maps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ..data.events import DAY, Events
from ..data.ids import IdMap


@dataclass(frozen=True, eq=False)
class Interactions:
    """Weighted user x item matrix (CSR, float32) with its id maps."""

    users: IdMap
    items: IdMap
    matrix: sp.csr_matrix

    @property
    def nnz(self) -> int:
        """Distinct (user, item) pairs."""
        return int(self.matrix.nnz)


def event_weights(
    events: Events,
    weights: Mapping[str, float],
    *,
    half_life_days: float | None = None,
    now: int | None = None,
) -> np.ndarray:
    """Weight of each event: its type's weight, halved every ``half_life_days`` of age.

    Age is measured from ``now`` (epoch seconds), by default the newest event.
    """
    # a type the weights do not name counts for nothing (an older version's settings
    # re-fitted on newer events, in the quality gate)
    per_type = np.array([weights.get(name, 0.0) for name in events.event_types])
    weight = per_type[events.event_type]
    if half_life_days is not None and len(events):
        reference = int(events.timestamp.max()) if now is None else now
        age_days = np.maximum(reference - events.timestamp, 0) / DAY
        weight = weight * np.exp2(-age_days / half_life_days)
    return np.asarray(weight, dtype=np.float32)


def build_interactions(
    events: Events,
    weights: Mapping[str, float],
    *,
    half_life_days: float | None = None,
    min_user_events: int = 1,
    min_item_users: int = 1,
    users: IdMap | None = None,
    items: IdMap | None = None,
) -> Interactions:
    """Sum the events' weights per (user, item) into a CSR matrix.

    Users with fewer than ``min_user_events`` events are left out of the user map;
    items touched by fewer than ``min_item_users`` users keep their column (the
    catalog still knows them) but it is emptied, so no model learns from so little.
    Given ``users``/``items`` maps are used as they are (events of ids not in them
    are dropped), so a holdout matrix lines up with the training one.
    """
    weight = event_weights(events, weights, half_life_days=half_life_days)
    if users is None:
        values, positions = events.distinct("user_id")
        enough = np.bincount(positions, minlength=len(values)) >= min_user_events
        users = IdMap.of(values.filter(pa.array(enough)))
    if items is None:
        items = IdMap.of(events.distinct("item_id")[0])
    rows = events.codes("user_id", users)
    cols = events.codes("item_id", items)
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        (weight[keep], (rows[keep], cols[keep])),
        shape=(len(users), len(items)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    if min_item_users > 1:
        too_few = np.flatnonzero(np.bincount(matrix.indices, minlength=len(items)) < min_item_users)
        matrix.data[np.isin(matrix.indices, too_few)] = 0
        matrix.eliminate_zeros()
    return Interactions(users=users, items=items, matrix=matrix)


def sequences(events: Events, users: IdMap, items: IdMap) -> tuple[np.ndarray, np.ndarray]:
    """Each event's (user row, item column), grouped by user, in time order within a
    user (stable: ties keep the file's order); events of ids not in the maps left out."""
    rows = events.codes("user_id", users)
    cols = events.codes("item_id", items)
    order = np.lexsort((np.arange(len(rows)), events.timestamp, rows))
    order = order[(rows[order] >= 0) & (cols[order] >= 0)]
    return rows[order], cols[order]
