"""Bad input gets a clear 4xx naming what is at fault, and nothing is stored (issue #9).

Each case here answered 500, stored garbage, or answered without saying why, before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from recsvc.app import create_app
from recsvc.artifact import ModelStore
from recsvc.store.database import events, items

from .conftest import stored

WRITE = {"Authorization": "Bearer write-key"}


@pytest.fixture
def shop_client(db_url: str, trained_store: ModelStore) -> Iterator[FlaskClient]:
    """The app on both databases, with a write key."""
    app = create_app({"models": str(trained_store.root), "database_url": db_url,
                      "write_key": "write-key", "admin_key": "admin-key",
                      "reload_interval": 0, "catalog_interval": 0,
                      "max_events_per_batch": 50})  # fmt: skip
    yield app.test_client()
    app.extensions["recsvc"].shop.engine.dispose()


def event(**fields: Any) -> dict[str, Any]:
    return {"user_id": "u1", "item_id": "p1", "event_type": "view",
            "timestamp": "2026-11-01T10:00:00Z", **fields}  # fmt: skip


def errors_of(response: Any) -> str:
    body = response.get_json()
    assert set(body) >= {"code", "status", "message", "errors"}, body
    return json.dumps(body["errors"])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"session_id": "\ud800"}, "session_id"),
        ({"recommendation_id": "a\x00b"}, "recommendation_id"),
        ({"user_id": "u\ud800"}, "user_id"),
        ({"user_id": "u1\n"}, "user_id"),  # Python's "$" matched before a final newline
        ({"item_id": "\n"}, "item_id"),
        ({"quantity": 1e20}, "quantity"),
        ({"quantity": 2147483648}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"timestamp": 1e30}, "timestamp"),
        ({"timestamp": float("nan")}, "timestamp"),
        ({"timestamp": float("inf")}, "timestamp"),
        ({"timestamp": "99999999999999999999"}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59Z"}, "timestamp"),
        ({"timestamp": "1980-01-01"}, "timestamp"),
        ({"timestamp": "2" * 100}, "timestamp"),
    ],
)
def test_events_the_store_cannot_hold_are_refused(
    shop_client: FlaskClient, fields: dict[str, Any], field: str
) -> None:
    body = json.dumps({"events": [event(), event(**fields)]}, allow_nan=True)
    response = shop_client.post("/v1/events", data=body, headers=WRITE,
                                content_type="application/json")  # fmt: skip
    assert response.status_code == 422, response.get_json()
    assert field in errors_of(response)
    assert stored(shop_client, events) == 0  # nothing of the batch


def test_text_the_store_cannot_hold_is_refused_in_the_catalog(shop_client: FlaskClient) -> None:
    for bad in (
        {"title": "\ud800"},
        {"category": "a\x00"},
        {"category": "shoes\n"},
        {"price": 1e300},
    ):
        response = shop_client.put("/v1/items/p3", json=bad, headers=WRITE)
        assert response.status_code == 422
        assert next(iter(bad)) in errors_of(response)
    assert stored(shop_client, items) == 0


def test_an_id_in_the_path_ending_in_a_newline_is_refused(shop_client: FlaskClient) -> None:
    for path in ("/v1/users/u1%0A/recommendations", "/v1/items/p1%0A/similar"):
        response = shop_client.get(path)
        assert response.status_code == 422, path
        assert "printable" in response.get_json()["message"]
    assert shop_client.get("/v1/users/u1/recommendations").status_code == 200


def test_the_same_item_twice_in_one_body_names_both_places(shop_client: FlaskClient) -> None:
    body = {"items": [{"item_id": "a"}, {"item_id": "b"}, {"item_id": "a", "price": 2.0}]}
    response = shop_client.post("/v1/items", json=body, headers=WRITE)
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"]["items"] == {
        "2": {"item_id": ["item 'a' is also at index 0: send each item once"]}}  # fmt: skip
    assert stored(shop_client, items) == 0


def test_a_body_that_is_not_json_is_415(shop_client: FlaskClient) -> None:
    no_body = shop_client.put("/v1/items/p3", headers=WRITE)
    assert no_body.status_code == 415
    assert "Content-Type" in no_body.get_json()["errors"]
    form = shop_client.put("/v1/items/p3", data={"title": "x"}, headers=WRITE)
    assert form.status_code == 415
    text = shop_client.post("/v1/recommendations", data='{"n": 3}', content_type="text/plain")
    assert text.status_code == 415
    assert stored(shop_client, items) == 0


def test_json_nested_too_deeply_is_400(shop_client: FlaskClient) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    response = shop_client.post("/v1/recommendations", data=deep, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["message"]


def test_the_batch_limit_is_checked_before_any_event(shop_client: FlaskClient) -> None:
    batch = {"events": [{"garbage": i} for i in range(51)]}
    response = shop_client.post("/v1/events", json=batch, headers=WRITE)
    assert response.status_code == 422
    assert "at most 50 events per batch" in errors_of(response)
    assert "garbage" not in errors_of(response)  # no event was validated


def test_every_error_names_what_is_at_fault_and_a_405_says_what_is_allowed(
    shop_client: FlaskClient,
) -> None:
    unauthenticated = shop_client.post("/v1/events", json={"events": [event()]})
    assert unauthenticated.status_code == 401
    assert "Authorization" in errors_of(unauthenticated)
    wrong = shop_client.post("/v1/events", json={"events": [event()]},
                             headers={"X-API-Key": "nope"})  # fmt: skip
    assert wrong.status_code == 403
    assert "Authorization" in errors_of(wrong)
    not_allowed = shop_client.delete("/v1/events")
    assert not_allowed.status_code == 405
    assert set(not_allowed.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}
    errors_of(not_allowed)
    errors_of(shop_client.get("/v1/nowhere"))


def test_the_openapi_document_states_the_rules(shop_client: FlaskClient) -> None:
    spec = shop_client.get("/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    request = schemas["RecommendationRequest"]["properties"]
    assert request["placement"]["enum"] == ["home", "product", "cart", "category", "popular"]
    assert "\\u0000" in request["user_id"]["pattern"]
    event = schemas["Event"]["properties"]
    assert event["quantity"]["maximum"] == 1_000_000
    assert "pattern" in event["session_id"]


def test_times_are_bounded_in_files_and_imports(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from recsvc.cli import main
    from recsvc.data.events import read_events
    from recsvc.errors import DataError

    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,event_type,timestamp\nu1,p1,view,2026-01-01\n"
                    "u1,p2,view,9999-12-31T23:59:59Z\n")  # fmt: skip
    with pytest.raises(DataError, match="row 2, field 'timestamp': more than 1 day in the future"):
        read_events(path, event_types=("view",))
    database = f"sqlite:///{tmp_path / 'shop.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--database", database]).exit_code == 0
    done = runner.invoke(main, ["import-events", str(path), "--database", database])
    assert done.exit_code == 1
    assert "more than 1 day in the future" in done.output
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 0
    engine.dispose()


def test_an_integer_timestamp_beyond_a_doubles_precision_is_refused(
    shop_client: FlaskClient,
) -> None:
    """Found by the fuzzing test: pyarrow refused 9007199254740993 with an error (500)."""
    for value in (9007199254740993, 10**400):
        body = {"events": [event(timestamp=value)]}
        response = shop_client.post("/v1/events", json=body, headers=WRITE)
        assert response.status_code == 422
        assert "timestamp" in errors_of(response)
