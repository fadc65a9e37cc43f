"""What recommendations earn, counted by the database: impressions, and the views,
add-to-carts, purchases and revenue credited to them, per placement, model version and
experiment variant (and day).

Each count is of impressions that led to at least one such event, so each is a
proportion of the impressions with a Wilson interval (recsvc.proportions): the share
of lists from which a shopper opened an item (views), carted one, bought one. Revenue
is the credited purchases' quantity times the item's catalog price. An event is credited
to a list by its ``attributed_id`` (recsvc.store.shop); events credited to an id no
recorded impression has (unknown ids, lists not sampled) are counted as unattributed.
Two GROUP BY queries over indexed columns do the work (docs/experiments.md: timing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..data.events import ADD_TO_CART, PURCHASE, VIEW
from ..proportions import wilson
from .database import events, impressions, items

#: what impressions are grouped by, always
GROUPS = ("placement", "model_version", "experiment", "variant")
#: the outcomes counted per impression, by the event type that shows them
OUTCOMES = {"views": VIEW, "add_to_carts": ADD_TO_CART, "purchases": PURCHASE}
DAY = 86_400


@dataclass(frozen=True)
class RecommendationStats:
    """The groups' figures over ``[start, end)``, and the events credited to no known
    impression in that time."""

    start: int
    end: int
    groups: list[dict[str, Any]] = field(default_factory=list)
    unattributed: int = 0


def recommendation_stats(
    engine: Engine, *, start: int, end: int, by_day: bool = False,
    experiment: str | None = None,
) -> RecommendationStats:  # fmt: skip
    """The figures of impressions made in ``[start, end)`` (epoch seconds), grouped by
    placement, model version, experiment and variant, and by day (UTC) when asked;
    ``experiment`` keeps only that experiment's impressions."""
    i, e = impressions, events
    keys: list[Any] = [i.c[name] for name in GROUPS]
    if by_day:
        keys.append((i.c.created - i.c.created % DAY).label("day"))
    where = [i.c.created >= start, i.c.created < end]
    if experiment is not None:
        where.append(i.c.experiment == experiment)
    shown = sa.select(*keys, sa.func.count().label("impressions")).where(*where).group_by(*keys)
    kind, price = e.c.event_type, sa.func.coalesce(items.c.price, 0.0)
    earned = (
        sa.select(
            *keys,
            *(sa.func.count(sa.distinct(sa.case((kind == event_type, i.c.id)))).label(name)
              for name, event_type in OUTCOMES.items()),
            sa.func.sum(sa.case((kind == PURCHASE, e.c.quantity * price), else_=0.0)
                        ).label("revenue"),
        )
        .select_from(i.join(e, e.c.attributed_id == i.c.recommendation_id)
                     .outerjoin(items, items.c.item_id == e.c.item_id))
        .where(*where).group_by(*keys)
    )  # fmt: skip
    unknown = (
        sa.select(sa.func.count())
        .select_from(e.outerjoin(i, i.c.recommendation_id == e.c.attributed_id))
        .where(e.c.attributed_id.is_not(None), i.c.id.is_(None),
               e.c.timestamp >= start, e.c.timestamp < end)
    )  # fmt: skip
    names = [*GROUPS, "day"] if by_day else list(GROUPS)
    with engine.connect() as conn:
        counted = {tuple(row[: len(names)]): row[len(names)] for row in conn.execute(shown)}
        outcomes = {tuple(row[: len(names)]): row[len(names) :] for row in conn.execute(earned)}
        unattributed = int(conn.execute(unknown).scalar() or 0)
    groups = [_group(names, key, int(n), outcomes.get(key)) for key, n in counted.items()]
    groups.sort(key=lambda g: tuple("" if g[k] is None else str(g[k]) for k in names))
    return RecommendationStats(start=start, end=end, groups=groups, unattributed=unattributed)


def _group(names: Sequence[str], key: tuple[Any, ...], shown: int,
           outcome: Sequence[Any] | None) -> dict[str, Any]:  # fmt: skip
    group: dict[str, Any] = dict(zip(names, key, strict=True))
    if "day" in group:
        group["day"] = int(group["day"])
    group["impressions"] = shown
    counts = list(outcome or (0,) * (len(OUTCOMES) + 1))
    for name, count in zip(OUTCOMES, counts, strict=False):
        group[name] = int(count or 0)
    group["revenue"] = round(float(counts[-1] or 0.0), 2)
    for name in OUTCOMES:
        low, high = wilson(group[name], shown)
        group[f"{name}_per_impression"] = {"rate": group[name] / shown if shown else 0.0,
                                           "low": low, "high": high}  # fmt: skip
    return group
