"""Events and catalog writes through the app (Flask test client), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from recsvc.app import create_app
from recsvc.artifact import ModelStore
from recsvc.store.database import events

from .conftest import stored

KEY = {"Authorization": "Bearer write-key"}
#: the proxy_to fixture (conftest.py): a URL in, (the proxy, the URL through it) out
ProxyTo = Callable[[str], tuple[Any, str]]


@pytest.fixture
def client(db_url: str, trained_store: ModelStore) -> Iterator[FlaskClient]:
    app = create_app({"models": str(trained_store.root), "database_url": db_url,
                      "write_key": "write-key", "reload_interval": 0, "catalog_interval": 0,
                      "max_events_per_batch": 5})  # fmt: skip
    yield app.test_client()
    app.extensions["recsvc"].shop.engine.dispose()


def ev(**fields: object) -> dict[str, object]:
    return {"user_id": "u1", "item_id": "p1", "event_type": "view",
            "timestamp": "2026-11-01T10:00:00Z", **fields}  # fmt: skip


def test_a_valid_batch_is_stored_and_counted_once(client: FlaskClient) -> None:
    batch = {"events": [ev(event_id="a"), ev(event_id="b", event_type="purchase",
                                             timestamp=1_793_000_000, quantity=2)]}  # fmt: skip
    first = client.post("/v1/events", json=batch, headers=KEY)
    assert first.status_code == 202
    assert first.get_json() == {"stored": 2, "duplicates": 0}
    again = client.post("/v1/events", json=batch, headers=KEY)
    assert again.get_json() == {"stored": 0, "duplicates": 2}
    assert stored(client, events) == 2


def test_one_bad_event_rejects_the_batch_naming_each_bad_index(client: FlaskClient) -> None:
    batch = {"events": [ev(), ev(event_type="teleport"), ev(), ev(user_id="", timestamp="soon")]}
    response = client.post("/v1/events", json=batch, headers=KEY)
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]["events"]
    assert set(errors) == {"1", "3"}
    assert "unknown event type 'teleport'" in errors["1"]["event_type"][0]
    assert set(errors["3"]) == {"user_id", "timestamp"}
    assert stored(client, events) == 0


def test_batch_limits_and_keys(client: FlaskClient) -> None:
    too_many = client.post("/v1/events", json={"events": [ev()] * 6}, headers=KEY)
    assert too_many.status_code == 422
    assert "at most 5 events" in too_many.get_json()["message"]
    assert client.post("/v1/events", json={"events": []}, headers=KEY).status_code == 422
    assert client.post("/v1/events", json={"events": [ev()]}).status_code == 401
    wrong = client.post("/v1/events", json={"events": [ev()]}, headers={"X-API-Key": "admin"})
    assert wrong.status_code == 403
    assert stored(client, events) == 0


def test_catalog_put_patch_and_bulk(client: FlaskClient) -> None:
    put = client.put("/v1/items/new-1", json={"title": "New", "category": "Toys", "price": 9.5},
                     headers=KEY)  # fmt: skip
    assert put.status_code == 200
    assert put.get_json() == {"item_id": "new-1", "title": "New", "category": "Toys",
                              "price": 9.5, "available": True}  # fmt: skip
    patch = client.patch("/v1/items/new-1", json={"available": False}, headers=KEY)
    assert patch.get_json()["available"] is False
    assert patch.get_json()["title"] == "New"
    missing = client.patch("/v1/items/none-such", json={"available": False}, headers=KEY)
    assert missing.status_code == 404
    bulk = client.post("/v1/items", json={"items": [{"item_id": "a"}, {"item_id": "b",
                       "price": 1}]}, headers=KEY)  # fmt: skip
    assert bulk.get_json() == {"stored": 2}
    bad = client.post("/v1/items", json={"items": [{"item_id": "c"}, {"item_id": "d",
                      "price": -1}]}, headers=KEY)  # fmt: skip
    assert bad.status_code == 422
    assert "1" in bad.get_json()["errors"]["json"]["items"]


def test_database_down_answers_503_and_recommendations_go_on(
    trained_store: ModelStore,
) -> None:
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    app = create_app({"models": str(trained_store.root), "database_url": unreachable,
                      "write_key": "write-key", "reload_interval": 0,
                      "catalog_interval": 0})  # fmt: skip
    client = app.test_client()
    down = client.post("/v1/events", json={"events": [ev()]}, headers=KEY)
    assert down.status_code == 503
    assert down.headers["Retry-After"]
    assert "unavailable" in down.get_json()["message"]
    assert client.get("/v1/users/u1/recommendations").status_code == 200


def test_database_going_away_and_coming_back(
    db_url: str, trained_store: ModelStore, proxy_to: ProxyTo
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the proxy stands in front of PostgreSQL")
    proxy, through = proxy_to(db_url)
    app = create_app({"models": str(trained_store.root), "database_url": through,
                      "write_key": "write-key", "reload_interval": 0,
                      "catalog_interval": 0})  # fmt: skip
    client = app.test_client()
    user = str(app.extensions["recsvc"].serving.holder.recommender.model.users.ids[0])
    recent = {"events": [ev(user_id=user, timestamp=int(time.time()))]}
    assert client.post("/v1/events", json=recent, headers=KEY).status_code == 202
    live = client.get(f"/v1/users/{user}/recommendations").get_json()
    assert live["strategy"] == "session"  # the live event is folded in

    proxy.cut()
    down = client.post("/v1/events", json={"events": [ev()]}, headers=KEY)
    assert down.status_code == 503
    assert down.headers["Retry-After"]
    served = client.get(f"/v1/users/{user}/recommendations")
    assert served.status_code == 200  # no request waits on the database
    assert served.get_json()["strategy"] == "session"  # live events are kept in memory

    proxy.restore()
    assert client.post("/v1/events", json={"events": [ev()]}, headers=KEY).status_code == 202
    app.extensions["recsvc"].shop.engine.dispose()


def test_an_unreachable_model_database_means_not_ready_not_a_crash(tmp_path: object) -> None:
    app = create_app({"models": "postgresql+psycopg://postgres@127.0.0.1:1/none",
                      "database_url": f"sqlite:///{tmp_path}/shop.db", "reload_interval": 0,
                      "catalog_interval": 0})  # fmt: skip
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "no model loaded" in ready.get_json()["message"]
    app.extensions["recsvc"].serving.holder.store.engine.dispose()
    app.extensions["recsvc"].shop.engine.dispose()


def test_the_storing_worker_takes_events_in_once(client: FlaskClient) -> None:
    serving = client.application.extensions["recsvc"].serving
    user = str(serving.holder.recommender.model.users.ids[0])
    now = int(time.time())
    batch = {"events": [ev(user_id=user, item_id="p1", timestamp=now, event_id="once")]}
    assert client.post("/v1/events", json=batch, headers=KEY).status_code == 202
    serving.follower.step()  # the background follower's next read finds nothing new
    live = serving.live.of(user, after=serving.holder.recommender.trained_until)
    assert list(live.touched) == ["p1"]
