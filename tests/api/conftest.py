"""The app with a trained model, through Flask's test client (in process)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from recsvc.app import create_app
from recsvc.artifact import ModelStore
from recsvc.store.database import connect, upgrade

ADMIN_KEY = "admin-key"


def make_app(folder: Path, models: ModelStore) -> Flask:
    """The app serving ``models``, with an event store (SQLite in ``folder``) and both keys."""
    url = f"sqlite:///{folder / 'shop.db'}"
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    return create_app({"models": str(models.root), "database_url": url,
                       "admin_key": ADMIN_KEY, "write_key": "write-key", "reload_interval": 0,
                       "catalog_interval": 0})  # fmt: skip


@pytest.fixture
def client(tmp_path: Path, trained_store: ModelStore) -> Iterator[FlaskClient]:
    """The app serving the trained model, with an event store (SQLite) and both keys."""
    app = make_app(tmp_path, trained_store)
    yield app.test_client()
    app.extensions["recsvc"].shop.engine.dispose()
