"""The shop's events and catalog in the database: writes from the storefront and imports,
reads for real-time serving and for training."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..data.catalog import Catalog
from ..data.events import ADD_TO_CART, PURCHASE, VIEW, Events, events_from_table
from ..errors import DataError, UnknownItem
from .credit import count_events
from .database import chunks, events, insert, item_changes, items

EVENT_FIELDS = ("event_id", "user_id", "item_id", "event_type", "timestamp", "quantity",
                "session_id", "recommendation_id")  # fmt: skip
#: event types credited to a recommended view of the same item when they come without a
#: recommendation_id (checkouts often lose it)
CREDITED_BY_WINDOW = (ADD_TO_CART, PURCHASE)
ITEM_FIELDS = ("title", "category", "price", "available")
_CHUNK = 5_000
#: an event as serving follows it: (user_id, item_id, event_type, timestamp)
LiveRow = tuple[str, str, str, int]


@dataclass(frozen=True)
class Stored:
    """How many events a batch added, and how many it repeated (same event_id)."""

    stored: int
    duplicates: int


class ShopStore:
    """Events and catalog, on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, attribution_hours: float = 24.0) -> None:
        self.engine = engine
        #: an add-to-cart or purchase without a recommendation_id is credited to the
        #: shopper's latest recommended view of the same item within this window
        self.attribution_seconds = int(attribution_hours * 3600)

    # -- writes ------------------------------------------------------------------------

    def add_events(self, batch: Sequence[Mapping[str, Any]]) -> Stored:
        """Store validated events in one transaction; events whose event_id is stored are
        skipped, so a retried batch counts once. The counts are what the database did:
        identical batches arriving together add up to what was sent."""
        rows = [{f: e.get(f) for f in EVENT_FIELDS} for e in batch]
        for row in rows:
            row["quantity"] = row["quantity"] or 1
        stored = 0
        with self.engine.begin() as conn:
            self._attribute(conn, rows)
            insert = _insert_ignoring_duplicates(conn).returning(
                events.c.id, events.c.attributed_id, events.c.event_type, events.c.item_id,
                events.c.quantity,
            )  # fmt: skip
            for part in chunks(rows, _CHUNK):
                added = [dict(row._mapping) for row in conn.execute(insert, part)]
                stored += len(added)
                count_events(conn, added)
        return Stored(stored=stored, duplicates=len(rows) - stored)

    def _attribute(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Set each row's ``attributed_id``: its recommendation_id (known or not: the stats
        count unknown ones as unattributed), or for an add-to-cart or purchase without
        one, that of the same shopper's latest recommended view of the same item within
        the attribution window before it (in this batch or stored)."""
        pending = []
        for row in rows:
            row["attributed_id"] = row["recommendation_id"]
            if row["attributed_id"] is None and row["event_type"] in CREDITED_BY_WINDOW:
                pending.append(row)
        if not pending or self.attribution_seconds <= 0:
            return
        window = self.attribution_seconds
        views: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for row in rows:
            if row["event_type"] == VIEW and row["recommendation_id"] is not None:
                views.setdefault((row["user_id"], row["item_id"]), []).append(
                    (row["timestamp"], row["recommendation_id"]))  # fmt: skip
        # at most 2 x 500 bound values per query (SQLite allows 32,766)
        for part in chunks(pending, 500):
            times = [row["timestamp"] for row in part]
            query = sa.select(events.c.user_id, events.c.item_id, events.c.timestamp,
                              events.c.attributed_id).where(
                events.c.user_id.in_({row["user_id"] for row in part}),
                events.c.item_id.in_({row["item_id"] for row in part}),
                events.c.event_type == VIEW, events.c.attributed_id.is_not(None),
                events.c.timestamp.between(min(times) - window, max(times)),
            )  # fmt: skip
            for user, item, when, credited in conn.execute(query):
                views.setdefault((user, item), []).append((int(when), credited))
        for row in pending:
            before = [(when, credited) for when, credited in
                      views.get((row["user_id"], row["item_id"]), ())
                      if row["timestamp"] - window <= when <= row["timestamp"]]  # fmt: skip
            if before:
                row["attributed_id"] = max(before)[1]

    def upsert_items(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Create or replace catalog entries (fields left out become blank; stock defaults
        to available), race-free (INSERT ... ON CONFLICT DO UPDATE); each is recorded as a
        change for the serving processes."""
        values = [{"item_id": r["item_id"], **{f: r.get(f) for f in ITEM_FIELDS}}
                  for r in rows]  # fmt: skip
        for value in values:
            if value["available"] is None:
                value["available"] = True
        with self.engine.begin() as conn:
            into = insert(conn, items)
            upsert = into.on_conflict_do_update(
                index_elements=["item_id"], set_={f: into.excluded[f] for f in ITEM_FIELDS}
            )
            for part in chunks(values, _CHUNK):
                conn.execute(upsert, part)
                conn.execute(item_changes.insert(), [{"item_id": v["item_id"]} for v in part])
        return len(values)

    def patch_item(self, item_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change some fields of a catalog entry; :class:`UnknownItem` if there is none."""
        with self.engine.begin() as conn:
            if changes:
                done = conn.execute(items.update().where(items.c.item_id == item_id)
                                    .values(**changes))  # fmt: skip
                if done.rowcount == 0:
                    raise UnknownItem(f"unknown item {item_id!r}", field="item_id")
                conn.execute(item_changes.insert().values(item_id=item_id))
            row = conn.execute(sa.select(items).where(items.c.item_id == item_id)).mappings()
            found = row.first()
            if found is None:
                raise UnknownItem(f"unknown item {item_id!r}", field="item_id")
            return dict(found)

    # -- reads for serving -------------------------------------------------------------

    def events_after(self, after: int, *, limit: int) -> tuple[int, list[LiveRow]]:
        """Events stored after event number ``after``, in order, at most ``limit``:
        (the last number read, [(user_id, item_id, event_type, timestamp)])."""
        query = (
            sa.select(events.c.id, events.c.user_id, events.c.item_id, events.c.event_type,
                      events.c.timestamp)
            .where(events.c.id > after).order_by(events.c.id).limit(limit)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        last = int(rows[-1][0]) if rows else after
        return last, [(r[1], r[2], r[3], int(r[4])) for r in rows]

    def latest_events(self, *, since: int, limit: int) -> tuple[int, list[LiveRow]]:
        """The newest ``limit`` events with a timestamp after ``since``, oldest first, and
        the number of the last event stored (where following starts)."""
        with self.engine.connect() as conn:
            last = conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
            query = (
                sa.select(events.c.user_id, events.c.item_id, events.c.event_type,
                          events.c.timestamp)
                .where(events.c.timestamp > since, events.c.id <= last)
                .order_by(events.c.id.desc()).limit(limit)
            )  # fmt: skip
            rows = conn.execute(query).all()
        return int(last), [(r[0], r[1], r[2], int(r[3])) for r in reversed(rows)]

    def catalog_changes(self, after: int) -> tuple[int, list[dict[str, Any]]]:
        """Catalog entries changed since change number ``after``: (last change, entries)."""
        with self.engine.connect() as conn:
            last = conn.execute(sa.select(sa.func.max(item_changes.c.id))).scalar() or 0
            if last <= after:
                return after, []
            changed = (sa.select(item_changes.c.item_id).where(item_changes.c.id > after,
                       item_changes.c.id <= last).distinct())  # fmt: skip
            rows = conn.execute(sa.select(items).where(items.c.item_id.in_(changed))).mappings()
            return int(last), [dict(r) for r in rows]

    # -- reads for training ------------------------------------------------------------

    def read_events(
        self, *, event_types: Iterable[str], since: int | None = None, batch: int = 500_000
    ) -> Events:
        """Every event (after ``since``), streamed from the database in batches."""
        query = sa.select(*(events.c[f] for f in EVENT_FIELDS[1:6])).order_by(events.c.id)
        if since is not None:
            query = query.where(events.c.timestamp > since)
        tables = list(self._stream(query, batch))
        if not tables:
            raise DataError("no events in the database", source="database")
        return events_from_table(pa.concat_tables(tables), event_types=event_types,
                                 source="database")  # fmt: skip

    def read_catalog(self) -> Catalog | None:
        """The catalog as it is now, or None when the database has no items."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(items).order_by(items.c.item_id)).all()
        if not rows:
            return None
        return Catalog(
            item_id=np.array([r.item_id for r in rows], dtype=str),
            title=np.array([r.title or "" for r in rows], dtype=str),
            category=np.array([r.category or "" for r in rows], dtype=str),
            price=np.array([np.nan if r.price is None else r.price for r in rows]),
            available=np.array([bool(r.available) for r in rows]),
        )

    def _stream(self, query: sa.Select[Any], batch: int) -> Iterator[pa.Table]:
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
            for part in result.partitions(batch):
                columns = list(zip(*part, strict=True))
                yield pa.table({
                    "user_id": pa.array(columns[0], pa.string()),
                    "item_id": pa.array(columns[1], pa.string()),
                    "event_type": pa.array(columns[2], pa.string()),
                    "timestamp": pa.array(columns[3], pa.int64()),
                    "quantity": pa.array(columns[4], pa.int64()),
                })  # fmt: skip


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    """INSERT that skips rows whose event_id a concurrent writer stored meanwhile."""
    return insert(conn, events).on_conflict_do_nothing(index_elements=["event_id"])
