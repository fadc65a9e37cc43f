"""Counting what recommendations earn as it happens, so the stats read a small table.

``recommendation_counts`` holds, per hour and group (placement, model version,
experiment, variant), the lists recorded and those that led to a view, an add-to-cart
and a purchase, and the credited purchases' revenue (quantity x the catalog price when
it is counted). Two writes feed it, each in its own transaction:

- impressions written (:func:`count_impressions`): their lists, and the events stored
  before them that are credited to them (a click that arrived while the list was still
  in a worker's buffer);
- events stored (:func:`count_events`): those credited to a list already recorded.

``impression_outcomes`` remembers which outcomes a list has had, so each list counts
once per outcome. The two writes take a lock (PostgreSQL: a transaction-level advisory
lock; SQLite serializes writers already, and both count after their first write), so
each event is counted by exactly one of them. ``events.counted`` marks the events
counted: those credited and not counted are the stats' "unattributed".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..data.events import ADD_TO_CART, PURCHASE, VIEW
from .database import (
    chunks,
    events,
    experiment_shoppers,
    impression_outcomes,
    impressions,
    insert,
    items,
    recommendation_counts,
)

HOUR = 3_600
#: the counted outcomes, by the event type that shows them
OUTCOMES = {VIEW: "views", ADD_TO_CART: "add_to_carts", PURCHASE: "purchases"}
_LOCK = 0x7265_6373_7663  # "recsvc": the advisory lock's key
_IN = 500  # ids per IN (...) list
Group = tuple[int, str, str, str, str]
#: an experiment's arm and shopper: (experiment, variant, shopper)
Arm = tuple[str, str, str]


def group_of(row: Any) -> Group:
    """The counters' key of an impression (an :class:`~.impressions.Impression`, or a
    row read with its columns): its hour and group ("" for none)."""
    created = int(row.created)
    return (created - created % HOUR, row.placement, row.model_version, row.experiment or "",
            row.variant or "")  # fmt: skip


def arm_of(row: Any) -> Arm | None:
    """An impression's experiment, variant and shopper (user id, else session id, else
    the list itself); None outside experiments."""
    if not row.experiment:
        return None
    return row.experiment, row.variant or "", row.user_id or row.session_id or row.recommendation_id


def count_impressions(conn: Connection, written: Sequence[Any]) -> None:
    """Count newly written impressions, and the events stored before them that are
    credited to them."""
    if not written:
        return
    _serialize(conn)
    groups = {row.recommendation_id: group_of(row) for row in written}
    shown = Counter(groups.values())
    _add(conn, {key: {"impressions": n} for key, n in shown.items()})
    arms = Counter(arm for arm in map(arm_of, written) if arm is not None)
    _add_shoppers(conn, {arm: {"impressions": n} for arm, n in arms.items()})
    # events credited to these lists but not counted (they came while the lists were
    # buffered): few, found through the partial index of uncounted events, from an hour
    # before the oldest list (a shopper's clock may be somewhat behind)
    ids = groups.keys()
    since = min(int(row.created) for row in written) - HOUR
    query = sa.select(events.c.id, events.c.attributed_id, events.c.event_type,
                      events.c.item_id, events.c.quantity).where(
        events.c.attributed_id.is_not(None), sa.not_(events.c.counted),
        events.c.timestamp >= since)  # fmt: skip
    waiting = [dict(row._mapping) for row in conn.execute(query) if row.attributed_id in ids]
    _credit(conn, waiting, groups, {row.recommendation_id: arm_of(row) for row in written})


def count_events(conn: Connection, stored: Sequence[Mapping[str, Any]]) -> None:
    """Count newly stored events credited to a list already recorded (rows with ``id``,
    ``attributed_id``, ``event_type``, ``item_id``, ``quantity``)."""
    credited = [row for row in stored if row["attributed_id"] is not None]
    if not credited:
        return
    _serialize(conn)
    groups: dict[str, Group] = {}
    arms: dict[str, Arm | None] = {}
    i = impressions.c
    for part in chunks(sorted({row["attributed_id"] for row in credited}), _IN):
        query = sa.select(i.recommendation_id, i.created, i.placement, i.model_version,
                          i.experiment, i.variant, i.user_id, i.session_id).where(
            i.recommendation_id.in_(part))  # fmt: skip
        found = conn.execute(query).all()
        groups.update({row.recommendation_id: group_of(row) for row in found})
        arms.update({row.recommendation_id: arm_of(row) for row in found})
    _credit(conn, credited, groups, arms)


def _credit(conn: Connection, rows: Iterable[Mapping[str, Any]], groups: Mapping[str, Group],
            arms: Mapping[str, Arm | None]) -> None:  # fmt: skip
    """Count ``rows`` (events) whose list is in ``groups``: each list once per outcome,
    revenue per purchase; mark them counted."""
    rows = [row for row in rows if row["attributed_id"] in groups]
    if not rows:
        return
    firsts = {(row["attributed_id"], row["event_type"]) for row in rows
              if row["event_type"] in OUTCOMES}  # fmt: skip
    new: list[tuple[str, str]] = []
    first = insert(conn, impression_outcomes).on_conflict_do_nothing().returning(
        impression_outcomes.c.recommendation_id, impression_outcomes.c.event_type)  # fmt: skip
    for part in chunks(sorted(firsts), _IN):
        values = [{"recommendation_id": rid, "event_type": kind} for rid, kind in part]
        new += [(r[0], r[1]) for r in conn.execute(first, values)]
    changes: dict[Group, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    shoppers: dict[Arm, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for rid, kind in new:
        changes[groups[rid]][OUTCOMES[kind]] += 1
        arm = arms.get(rid)
        if arm is not None:
            shoppers[arm][OUTCOMES[kind]] += 1
    bought = [row for row in rows if row["event_type"] == PURCHASE]
    if bought:
        prices = _prices(conn, {row["item_id"] for row in bought})
        for row in bought:
            changes[groups[row["attributed_id"]]]["revenue"] += (
                int(row["quantity"] or 1) * prices.get(row["item_id"], 0.0))  # fmt: skip
    _add(conn, changes)
    _add_shoppers(conn, shoppers)
    for part in chunks([row["id"] for row in rows], _IN):
        conn.execute(events.update().where(events.c.id.in_(part)).values(counted=True))


def _add(conn: Connection, changes: Mapping[Group, Mapping[str, float]]) -> None:
    """Add to the counters per hour and group (rows made as needed)."""
    _increment(conn, recommendation_counts, changes)


def _add_shoppers(conn: Connection, changes: Mapping[Arm, Mapping[str, float]]) -> None:
    """Add to the experiments' per-shopper counters (rows made as needed)."""
    _increment(conn, experiment_shoppers, changes)


def _increment(conn: Connection, table: sa.Table,
               changes: Mapping[tuple[Any, ...], Mapping[str, float]]) -> None:  # fmt: skip
    """Add ``changes`` (by primary key, by column) to ``table``'s other columns, in key
    order (one writer at a time holds the lock; the order keeps it so without one)."""
    if not changes:
        return
    keys = [c.name for c in table.primary_key.columns]
    fields = [c.name for c in table.columns if c.name not in keys]
    values = [{**dict(zip(keys, key, strict=True)), **{f: change.get(f, 0) for f in fields}}
              for key, change in sorted(changes.items())]  # fmt: skip
    into = insert(conn, table)
    upsert = into.on_conflict_do_update(
        index_elements=keys, set_={f: table.c[f] + into.excluded[f] for f in fields}
    )
    for part in chunks(values, _IN):
        conn.execute(upsert, part)


def _prices(conn: Connection, ids: set[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for part in chunks(sorted(ids), _IN):
        query = sa.select(items.c.item_id, items.c.price).where(items.c.item_id.in_(part))
        found.update({r.item_id: float(r.price) for r in conn.execute(query) if r.price})
    return found


def _serialize(conn: Connection) -> None:
    """Count one writer at a time (held until the transaction ends)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})


def recount(conn: Connection) -> int:
    """Rebuild the counters from the impressions and events stored (after a bulk load
    that bypassed them, or to check them); how many counter rows were made."""
    _serialize(conn)
    i, e, o, c = impressions, events, impression_outcomes, recommendation_counts
    conn.execute(c.delete())
    conn.execute(o.delete())
    conn.execute(experiment_shoppers.delete())
    conn.execute(e.update().where(e.c.counted.is_(True)).values(counted=False))
    recorded = sa.select(i.c.recommendation_id)
    credited = e.c.attributed_id.in_(recorded)
    conn.execute(o.insert().from_select(
        ["recommendation_id", "event_type"],
        sa.select(e.c.attributed_id, e.c.event_type).distinct()
        .where(credited, e.c.event_type.in_(list(OUTCOMES))),
    ))  # fmt: skip
    price = sa.func.coalesce(items.c.price, 0.0)
    per_list = (
        sa.select(
            e.c.attributed_id.label("rid"),
            *(sa.func.max(sa.case((e.c.event_type == kind, 1), else_=0)).label(name)
              for kind, name in OUTCOMES.items()),
            sa.func.sum(sa.case((e.c.event_type == PURCHASE, e.c.quantity * price), else_=0.0)
                        ).label("revenue"),
        )
        .select_from(e.outerjoin(items, items.c.item_id == e.c.item_id))
        .where(credited).group_by(e.c.attributed_id).subquery()
    )  # fmt: skip
    hour = i.c.created - i.c.created % HOUR
    keys = [hour, i.c.placement, i.c.model_version, sa.func.coalesce(i.c.experiment, ""),
            sa.func.coalesce(i.c.variant, "")]  # fmt: skip
    totals = (
        sa.select(
            *keys,
            sa.func.count(),
            *(sa.func.coalesce(sa.func.sum(per_list.c[name]), 0) for name in OUTCOMES.values()),
            sa.func.coalesce(sa.func.sum(per_list.c.revenue), 0.0),
        )
        .select_from(i.outerjoin(per_list, per_list.c.rid == i.c.recommendation_id))
        .group_by(*keys)
    )
    conn.execute(c.insert().from_select(
        ["hour", "placement", "model_version", "experiment", "variant", "impressions",
         *OUTCOMES.values(), "revenue"], totals))  # fmt: skip
    shopper = sa.func.coalesce(i.c.user_id, i.c.session_id, i.c.recommendation_id)
    arms = [i.c.experiment, sa.func.coalesce(i.c.variant, ""), shopper]
    per_shopper = sa.select(
        *arms, sa.func.count(),
        *(sa.func.coalesce(sa.func.sum(per_list.c[name]), 0) for name in OUTCOMES.values()),
    ).select_from(i.outerjoin(per_list, per_list.c.rid == i.c.recommendation_id)).where(
        i.c.experiment.is_not(None)).group_by(*arms)  # fmt: skip
    columns = ["experiment", "variant", "shopper", "impressions", *OUTCOMES.values()]
    conn.execute(experiment_shoppers.insert().from_select(columns, per_shopper))
    conn.execute(e.update().where(credited).values(counted=True))
    return int(conn.execute(sa.select(sa.func.count()).select_from(c)).scalar() or 0)
