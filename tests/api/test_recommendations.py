"""The recommendation views, in process: every endpoint and placement, filters, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from recsvc.api.extension import holder


def known_user(client: FlaskClient) -> str:
    with client.application.app_context():
        model = holder().recommender.model
    return str(model.users.ids[int(np.argmax(np.diff(model.purchased.indptr)))])


def ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def test_every_placement(client: FlaskClient) -> None:
    user = known_user(client)
    home = client.get(f"/v1/users/{user}/recommendations?n=5")
    assert home.status_code == 200
    body = home.get_json()
    assert (body["placement"], body["strategy"], len(body["items"])) == ("home", "personalized", 5)
    assert len(body["recommendation_id"]) == 32
    category = client.get(f"/v1/users/{user}/recommendations?placement=category&category=Shoes")
    assert {i["category"] for i in category.get_json()["items"]} == {"Shoes"}
    context = {"placement": "product", "item_id": "p1", "user_id": user}
    product = client.post("/v1/recommendations", json=context)
    assert product.get_json()["strategy"] == "similar+taste"
    assert "p1" not in ids(product.get_json())
    similar = client.get("/v1/items/p1/similar?n=3").get_json()
    assert (similar["placement"], similar["strategy"], len(similar["items"])) == (
        "product", "similar", 3)  # fmt: skip
    context = {"placement": "cart", "cart_items": ["p1", "p2"], "n": 6}
    cart = client.post("/v1/recommendations", json=context)
    assert cart.get_json()["strategy"] == "cart"
    assert not {"p1", "p2"} & set(ids(cart.get_json()))
    popular = client.get("/v1/popular?n=3&category=Toys").get_json()
    assert popular["strategy"] == "popular"
    assert {i["category"] for i in popular["items"]} == {"Toys"}


def test_a_session_and_the_filters_of_a_body(client: FlaskClient) -> None:
    response = client.post("/v1/recommendations", json={
        "recent_items": ["p3", "p4", "ghost"], "n": 5,
        "filters": {"min_price": 5, "max_price": 80, "exclude": ["p5"]}})  # fmt: skip
    body = response.get_json()
    assert body["strategy"] == "session"
    assert body["ignored_items"] == ["ghost"]
    assert all(5 <= i["price"] <= 80 for i in body["items"])
    assert "p5" not in ids(body)


def test_query_filters_and_the_cold_start(client: FlaskClient) -> None:
    cold = client.get("/v1/users/nobody/recommendations?n=50&category=Garden&max_price=30"
                      "&exclude=p1,p2&in_stock=true").get_json()  # fmt: skip
    assert cold["strategy"] == "popular"
    assert all(i["category"] == "Garden" and i["price"] <= 30 and i["available"]
               for i in cold["items"])  # fmt: skip
    assert not {"p1", "p2"} & set(ids(cold))


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "field"),
    [
        ("GET", "/v1/users/u1/recommendations?n=0", None, 422, "n"),
        ("GET", "/v1/users/u1/recommendations?placement=checkout", None, 422, "placement"),
        ("GET", "/v1/users/u1/recommendations?placement=category", None, 422, "category"),
        ("GET", f"/v1/users/{'u' * 129}/recommendations", None, 422, "user_id"),
        ("GET", "/v1/items/no-such-item/similar", None, 404, "item_id"),
        ("GET", "/v1/items/p1/similar?user_id=", None, 422, "user_id"),
        ("POST", "/v1/recommendations", {"placement": "product"}, 422, "item_id"),
        ("POST", "/v1/recommendations", {"placement": "product", "item_id": "nope"}, 404,
         "item_id"),
        ("POST", "/v1/recommendations", {"cart_items": [""]}, 422, "cart_items"),
    ],
)  # fmt: skip
def test_errors_name_the_field(
    client: FlaskClient, method: str, path: str, payload: object, status: int, field: str
) -> None:
    response = client.open(path, method=method, json=payload)
    assert response.status_code == status
    body = response.get_json()
    assert body["code"] == status
    assert body["status"].upper() == response.status.split(" ", 1)[1]
    assert field in str(body["errors"])
