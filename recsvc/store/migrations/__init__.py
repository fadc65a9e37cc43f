"""Alembic migrations of the database (recsvc.store.database.upgrade runs them)."""
