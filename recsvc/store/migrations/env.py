"""Alembic's environment: migrations run on the connection recsvc hands over
(:func:`recsvc.store.database.upgrade`), inside its transaction."""

from alembic import context

from recsvc.store.database import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
