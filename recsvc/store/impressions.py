"""Impressions in the database: the served lists that were recorded, written in batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .credit import count_impressions
from .database import impressions

#: the columns of an impression row
IMPRESSION_FIELDS = ("recommendation_id", "created", "user_id", "session_id", "placement",
                     "strategy", "model_version", "experiment", "variant", "items")  # fmt: skip


class ImpressionStore:
    """Writes impressions (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rows: Sequence[Mapping[str, Any]], *, retry: bool = False) -> int:
        """Store a batch in one transaction, counted (recsvc.store.credit); ids already
        stored (a batch retried after a lost answer) are skipped and not counted again.
        How many were added.

        The rows go through the driver's executemany (a tenth of the cost of an
        ORM-style insert per row, which a worker pays in the background for every list
        it serves); when the database says it stored fewer rows than sent, or cannot
        say, the batch is done again, first reading which ids are stored (``retry``
        does that at once)."""
        if not rows:
            return 0
        values = [{f: row.get(f) for f in IMPRESSION_FIELDS} for row in rows]
        try:
            return self._add(values, check=retry)
        except _SomeStored:
            return self._add(values, check=True)

    def _add(self, values: list[dict[str, Any]], *, check: bool) -> int:
        with self.engine.begin() as conn:
            new = values
            if check:
                ids = [v["recommendation_id"] for v in values]
                stored: set[str] = set()
                for start in range(0, len(ids), 500):
                    query = sa.select(impressions.c.recommendation_id).where(
                        impressions.c.recommendation_id.in_(ids[start : start + 500]))  # fmt: skip
                    stored.update(conn.execute(query).scalars())
                new = [v for v in values if v["recommendation_id"] not in stored]
            if new:
                params = [tuple(v[f] for f in IMPRESSION_FIELDS) for v in new]
                done = conn.exec_driver_sql(_insert_sql(conn), params).rowcount
                if done != len(new) and not check:
                    raise _SomeStored  # rolls this transaction back
            count_impressions(conn, new)
            return len(new)


class _SomeStored(Exception):
    """A batch some of whose ids were stored already."""


def _insert_sql(conn: Connection) -> str:
    """INSERT of one impression in the driver's own parameter style."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return (f"INSERT INTO impressions ({', '.join(IMPRESSION_FIELDS)}) VALUES"
            f" ({', '.join([mark] * len(IMPRESSION_FIELDS))})"
            " ON CONFLICT (recommendation_id) DO NOTHING")  # fmt: skip
