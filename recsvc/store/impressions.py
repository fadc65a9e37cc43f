"""Impressions in the database: the served lists that were recorded, written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .credit import count_impressions
from .database import chunks, impressions


class Impression(NamedTuple):
    """A recorded list: an impression row, its fields in the order of the INSERT."""

    recommendation_id: str
    #: epoch seconds
    created: int
    placement: str
    strategy: str
    model_version: str
    #: the item ids by position, a JSON array
    items: str
    user_id: str | None = None
    session_id: str | None = None
    experiment: str | None = None
    variant: str | None = None


#: the columns of an impression row
IMPRESSION_FIELDS = Impression._fields


class ImpressionStore:
    """Writes impressions (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rows: Sequence[Impression], *, retry: bool = False) -> int:
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
        try:
            return self._add(rows, check=retry)
        except _SomeStored:
            return self._add(rows, check=True)

    def _add(self, rows: Sequence[Impression], *, check: bool) -> int:
        with self.engine.begin() as conn:
            new = rows
            if check:
                ids = [row.recommendation_id for row in rows]
                stored: set[str] = set()
                for part in chunks(ids, 500):
                    query = sa.select(impressions.c.recommendation_id).where(
                        impressions.c.recommendation_id.in_(part))  # fmt: skip
                    stored.update(conn.execute(query).scalars())
                new = [row for row in rows if row.recommendation_id not in stored]
            if new:
                done = conn.exec_driver_sql(_insert_sql(conn), list(new)).rowcount
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
