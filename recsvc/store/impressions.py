"""Impressions in the database: the served lists that were recorded, written in batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from .credit import count_impressions
from .database import impressions

#: the columns of an impression row
IMPRESSION_FIELDS = ("recommendation_id", "created", "user_id", "session_id", "placement",
                     "strategy", "model_version", "experiment", "variant", "items")  # fmt: skip


class ImpressionStore:
    """Writes impressions (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store a batch in one transaction, counted (recsvc.store.credit); a
        recommendation_id already stored (a batch retried after a lost answer) is
        skipped. How many were added."""
        if not rows:
            return 0
        values = [{f: row.get(f) for f in IMPRESSION_FIELDS} for row in rows]
        with self.engine.begin() as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(impressions).on_conflict_do_nothing(
                index_elements=["recommendation_id"]
            )
            added = set(conn.execute(insert.returning(impressions.c.recommendation_id),
                                     values).scalars())  # fmt: skip
            count_impressions(conn, [v for v in values if v["recommendation_id"] in added])
            return len(added)
