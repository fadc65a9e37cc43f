"""API keys: where a request carries one, and what a missing, wrong or unset key gets."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from recsvc.app import create_app
from recsvc.artifact import ModelStore

EVENT = {"events": [{"user_id": "u1", "item_id": "p1", "event_type": "view",
                     "timestamp": "2026-11-01T10:00:00Z"}]}  # fmt: skip


def test_the_key_in_either_header(client: FlaskClient) -> None:
    for headers in ({"Authorization": "Bearer write-key"}, {"X-API-Key": "write-key"},
                    {"Authorization": "bearer   write-key  "}):  # fmt: skip
        assert client.post("/v1/events", json=EVENT, headers=headers).status_code == 202


def test_missing_wrong_and_other_keys(client: FlaskClient) -> None:
    assert client.post("/v1/events", json=EVENT).status_code == 401
    assert client.post("/v1/events", json=EVENT,
                       headers={"Authorization": "Basic write-key"}).status_code == 401  # fmt: skip
    wrong = client.post("/v1/events", json=EVENT, headers={"X-API-Key": "write-kez"})
    assert wrong.status_code == 403
    assert wrong.get_json()["message"] == "wrong write API key"
    # the admin key does not open the write endpoints, nor the other way round
    assert (
        client.post("/v1/events", json=EVENT, headers={"X-API-Key": "admin-key"}).status_code == 403
    )
    assert client.post("/v1/model/reload", headers={"X-API-Key": "write-key"}).status_code == 403


def test_endpoints_without_a_configured_key_are_off(
    tmp_path: Path, trained_store: ModelStore
) -> None:
    app = create_app({"models": str(trained_store.root),
                      "database_url": f"sqlite:///{tmp_path / 'shop.db'}",
                      "reload_interval": 0, "catalog_interval": 0})  # fmt: skip
    client = app.test_client()
    off = client.post("/v1/model/reload", headers={"X-API-Key": "anything"})
    assert off.status_code == 403
    assert "RECSVC_ADMIN_KEY" in off.get_json()["message"]
    assert "RECSVC_WRITE_KEY" in client.post("/v1/events", json=EVENT).get_json()["message"]
    app.extensions["recsvc"].shop.engine.dispose()
