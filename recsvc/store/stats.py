"""What recommendations earn, as the database counted it: impressions, and the views,
add-to-carts, purchases and revenue credited to them, per placement, model version and
experiment variant (and day).

Each count is of lists that led to at least one such event, so each is a proportion
of the impressions with a Wilson interval (recsvc.proportions): the share of lists from
which a shopper opened an item (views), carted one, bought one. Revenue is the credited
purchases' quantity times the item's catalog price when they were counted. The figures
come from ``recommendation_counts``, kept as impressions and events are written
(recsvc.store.credit), so a month is a GROUP BY over a few thousand rows whatever the
traffic (docs/experiments.md: timing); ranges are whole hours (UTC: the start rounded
down, the end up). Events credited to an id no recorded impression has (unknown ids,
lists not sampled, or lists still in a worker's buffer) are counted as unattributed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..proportions import wilson
from .credit import HOUR
from .credit import OUTCOMES as COUNTED
from .database import events, recommendation_counts

#: what impressions are grouped by, always
GROUPS = ("placement", "model_version", "experiment", "variant")
#: the outcomes counted per impression
OUTCOMES = tuple(COUNTED.values())
DAY = 86_400


@dataclass(frozen=True)
class RecommendationStats:
    """The groups' figures over ``[start, end)`` (whole hours), and the events credited
    to no recorded impression in that time."""

    start: int
    end: int
    groups: list[dict[str, Any]] = field(default_factory=list)
    unattributed: int = 0


def hours(start: int, end: int) -> tuple[int, int]:
    """The range in whole hours: the start rounded down, the end up."""
    return start - start % HOUR, end + (-end) % HOUR


def recommendation_stats(
    engine: Engine, *, start: int, end: int, by_day: bool = False,
    experiment: str | None = None,
) -> RecommendationStats:  # fmt: skip
    """The figures of impressions recorded in ``[start, end)`` (epoch seconds, whole
    hours), grouped by placement, model version, experiment and variant, and by day
    (UTC) when asked; ``experiment`` keeps only that experiment's impressions."""
    start, end = hours(start, end)
    c = recommendation_counts.c
    keys: list[Any] = [c[name] for name in GROUPS]
    if by_day:
        keys.append((c.hour - c.hour % DAY).label("day"))
    where = [c.hour >= start, c.hour < end]
    if experiment is not None:
        where.append(c.experiment == experiment)
    sums = [sa.func.sum(c[name]) for name in ("impressions", *OUTCOMES, "revenue")]
    query = sa.select(*keys, *sums).where(*where).group_by(*keys)
    unknown = sa.select(sa.func.count()).where(
        events.c.attributed_id.is_not(None), sa.not_(events.c.counted),
        events.c.timestamp >= start, events.c.timestamp < end,
    )  # fmt: skip
    names = [*GROUPS, "day"] if by_day else list(GROUPS)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        unattributed = int(conn.execute(unknown).scalar() or 0)
    groups = [_group(names, tuple(row[: len(names)]), row[len(names) :]) for row in rows]
    groups = [g for g in groups if g["impressions"]]
    groups.sort(key=lambda g: tuple("" if g[k] is None else str(g[k]) for k in names))
    return RecommendationStats(start=start, end=end, groups=groups, unattributed=unattributed)


def _group(names: Sequence[str], key: tuple[Any, ...], sums: Sequence[Any]) -> dict[str, Any]:
    group: dict[str, Any] = dict(zip(names, key, strict=True))
    for name in ("experiment", "variant"):  # counted as "" for none
        group[name] = group[name] or None
    if "day" in group:
        group["day"] = int(group["day"])
    shown = group["impressions"] = int(sums[0] or 0)
    for name, count in zip(OUTCOMES, sums[1:], strict=False):
        group[name] = int(count or 0)
    group["revenue"] = round(float(sums[-1] or 0.0), 2)
    for name in OUTCOMES:
        low, high = wilson(group[name], shown)
        group[f"{name}_per_impression"] = {"rate": group[name] / shown if shown else 0.0,
                                           "low": low, "high": high}  # fmt: skip
    return group
