"""What recommendations earn, over HTTP: lists recorded, events credited, stats read."""

from __future__ import annotations

import time

from flask.testing import FlaskClient

from .conftest import ADMIN_KEY

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
WRITE = {"X-API-Key": "write-key"}


def recorder(client: FlaskClient):  # type: ignore[no-untyped-def]
    return client.application.extensions["recsvc"].serving.impressions


def test_served_lists_are_recorded_and_what_they_lead_to_is_counted(client: FlaskClient) -> None:
    body = client.post(
        "/v1/recommendations", json={"user_id": "new-shopper", "session_id": "s-1", "n": 5}
    ).get_json()
    client.get("/v1/popular?n=3&session_id=s-2")
    assert recorder(client).flush() == 2
    item = body["items"][0]["item_id"]
    now = int(time.time())
    events = [{"event_id": "v1", "user_id": "new-shopper", "item_id": item, "event_type": "view",
               "timestamp": now, "recommendation_id": body["recommendation_id"]},
              {"event_id": "p1", "user_id": "new-shopper", "item_id": item,
               "event_type": "purchase", "timestamp": now + 60, "quantity": 2},
              {"event_id": "v2", "user_id": "x", "item_id": item, "event_type": "view",
               "timestamp": now, "recommendation_id": "never-served"}]  # fmt: skip
    assert client.post("/v1/events", json={"events": events}, headers=WRITE).status_code == 202

    answer = client.get("/v1/stats/recommendations", headers=ADMIN)
    assert answer.status_code == 200, answer.get_json()
    stats = answer.get_json()
    groups = {g["placement"]: g for g in stats["groups"]}
    home = groups["home"]
    assert (home["impressions"], home["views"], home["purchases"]) == (1, 1, 1)
    assert home["purchases_per_impression"]["rate"] == 1.0
    assert 0 < home["purchases_per_impression"]["low"] < 1
    assert groups["popular"]["impressions"] == 1
    assert groups["popular"]["views"] == 0
    assert stats["unattributed"] == 1
    daily = client.get("/v1/stats/recommendations?by_day=true", headers=ADMIN).get_json()
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    assert {g["day"] for g in daily["groups"]} == {today}
    assert stats["end"].endswith(":00:00Z")  # whole hours


def test_stats_need_the_admin_key_and_a_sensible_range(client: FlaskClient) -> None:
    assert client.get("/v1/stats/recommendations").status_code == 401
    bad = client.get("/v1/stats/recommendations?start=2026-02-01&end=2026-01-01", headers=ADMIN)
    assert bad.status_code == 422
    assert "start" in str(bad.get_json())
    assert client.get("/v1/stats/recommendations?start=yesterday", headers=ADMIN).status_code == 422


def test_sessions_are_recorded_for_anonymous_shoppers(client: FlaskClient) -> None:
    client.get("/v1/users/u-anon/recommendations?session_id=s-9")
    assert recorder(client).buffered == 1
    assert client.get("/v1/users/u/recommendations?session_id=" + "x" * 200).status_code == 422
