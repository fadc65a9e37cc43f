"""The model views: what a worker serves, reloading it, health and readiness."""

from __future__ import annotations

import os
from pathlib import Path

from flask.testing import FlaskClient

from recsvc.app import create_app
from recsvc.artifact import ModelStore

from .conftest import ADMIN_KEY


def test_status_health_and_readiness(client: FlaskClient) -> None:
    model = client.get("/v1/model").get_json()
    assert model["version"] == model["current_version"]
    assert model["worker_pid"] == os.getpid()
    assert model["metrics"]["model"]["ndcg@10"] > 0
    assert model["failure"] is None
    assert client.get("/healthz").get_json()["status"] == "ok"
    ready = client.get("/readyz").get_json()
    assert (ready["status"], ready["version"]) == ("ready", model["version"])
    # the test client's process started its background work on its first request
    assert [w["worker_pid"] for w in ready["workers"]] == [os.getpid()]


def test_reload_needs_the_admin_key(client: FlaskClient) -> None:
    missing = client.post("/v1/model/reload")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post("/v1/model/reload", headers={"X-API-Key": "wrong"}).status_code == 403
    ok = client.post("/v1/model/reload", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert ok.status_code == 200
    assert ok.get_json()["version"] == ok.get_json()["current_version"]


def test_no_model_is_503_and_not_ready(tmp_path: Path) -> None:
    app = create_app({"models": str(tmp_path / "empty"),
                      "database_url": f"sqlite:///{tmp_path / 'shop.db'}",
                      "reload_interval": 0, "catalog_interval": 0})  # fmt: skip
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["Retry-After"]
    recommendations = client.get("/v1/users/u1/recommendations")
    assert recommendations.status_code == 503
    assert "no model loaded" in recommendations.get_json()["message"]
    app.extensions["recsvc"].shop.engine.dispose()


def test_an_unreadable_pointer_is_reported_not_a_500(
    tmp_path: Path, trained_store: ModelStore
) -> None:
    import shutil

    from recsvc.artifact import POINTER

    shutil.copytree(trained_store.root, tmp_path / "models")
    app = create_app({"models": str(tmp_path / "models"), "admin_key": ADMIN_KEY,
                      "database_url": f"sqlite:///{tmp_path / 'shop.db'}",
                      "reload_interval": 0, "catalog_interval": 0})  # fmt: skip
    client = app.test_client()
    (tmp_path / "models" / POINTER).write_text("{not json")
    model = client.get("/v1/model")
    assert model.status_code == 200
    body = model.get_json()
    assert body["version"] is not None  # still serving what it had
    assert body["current_version"] is None
    reload = client.post("/v1/model/reload", headers={"X-API-Key": ADMIN_KEY})
    assert reload.status_code == 200
    public = client.get("/v1/model").get_json()["failure"]
    assert public == "the model store's pointer to the current version cannot be read"
    assert str(tmp_path) not in public
    assert str(tmp_path) in reload.get_json()["failure"]  # the details, for the admin key
    app.extensions["recsvc"].shop.engine.dispose()
