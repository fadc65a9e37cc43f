"""The app with a trained model, through Flask's test client (in process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from recsvc.app import create_app
from recsvc.artifact import ModelStore
from recsvc.store.database import connect, upgrade

ADMIN_KEY = "admin-key"


def stored(client: FlaskClient, table: sa.Table) -> int:
    """Rows of ``table`` in the app's event store, read through an engine of its own:
    the app's bounds every call by the serving timeout (2 s), which merely connecting
    on a busy machine has exceeded."""
    url = client.application.extensions["recsvc"].shop.engine.url
    engine = connect(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
    finally:
        engine.dispose()


def make_app(folder: Path, models: ModelStore, **config: Any) -> Flask:
    """The app serving ``models``, with an event store (SQLite in ``folder``) and both
    keys; ``config``: more of create_app's settings."""
    url = f"sqlite:///{folder / 'shop.db'}"
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    return create_app({"models": str(models.root), "database_url": url,
                       "admin_key": ADMIN_KEY, "write_key": "write-key", "reload_interval": 0,
                       "catalog_interval": 0, **config})  # fmt: skip


@pytest.fixture
def client(tmp_path: Path, trained_store: ModelStore) -> Iterator[FlaskClient]:
    """The app serving the trained model, with an event store (SQLite) and both keys."""
    app = make_app(tmp_path, trained_store)
    yield app.test_client()
    app.extensions["recsvc"].shop.engine.dispose()
