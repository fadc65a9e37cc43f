"""The event-and-catalog store (SQLAlchemy: SQLite by default, PostgreSQL in production)."""
