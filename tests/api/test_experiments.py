"""Experiments over HTTP: started, served, shown and promoted with the admin key."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from recsvc.artifact import ModelStore

from .conftest import ADMIN_KEY, make_app

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture
def two(tmp_path: Path, trained_store: ModelStore) -> tuple[ModelStore, str, str]:
    store = ModelStore(shutil.copytree(trained_store.root, tmp_path / "models"))
    store.publish(store.load(), promote=False)
    old, new = store.versions()[:2]
    return store, old, new


@pytest.fixture
def client2(tmp_path: Path, two: tuple[ModelStore, str, str]) -> Iterator[FlaskClient]:
    app = make_app(tmp_path, two[0])
    yield app.test_client()
    app.extensions["recsvc"].shop.engine.dispose()


def test_an_experiment_from_start_to_promotion(
    client2: FlaskClient, two: tuple[ModelStore, str, str]
) -> None:
    store, old, new = two
    body = {"name": "ab-1", "placement": "home",
            "variants": [{"name": "a", "version": old, "weight": 1},
                         {"name": "b", "version": new, "weight": 1}]}  # fmt: skip
    assert client2.post("/v1/experiments", json=body).status_code == 401
    started = client2.post("/v1/experiments", json=body, headers=ADMIN)
    assert started.status_code == 201, started.get_json()
    assert started.get_json()["running"] is True
    again = client2.post("/v1/experiments", json={**body, "name": "ab-2"}, headers=ADMIN)
    assert again.status_code == 422
    assert "runs experiment 'ab-1'" in again.get_json()["message"]
    client2.application.extensions["recsvc"].serving.follower.step()

    answers = [client2.get(f"/v1/users/u{n}/recommendations").get_json() for n in range(40)]
    assert {(a["variant"], a["model_version"]) for a in answers} == {("a", old), ("b", new)}
    assert all(a["experiment"] == "ab-1" for a in answers)
    assert client2.get("/v1/popular").get_json()["variant"] is None  # another placement

    shown = client2.get("/v1/experiments/ab-1?metric=views", headers=ADMIN)
    assert shown.status_code == 200, shown.get_json()
    report = shown.get_json()
    assert [v["name"] for v in report["variants"]] == ["a", "b"]
    assert report["verdict"] == "no difference yet"
    refused = client2.post("/v1/experiments/ab-1/promote", json={}, headers=ADMIN)
    assert refused.status_code == 422
    assert "no winner yet" in refused.get_json()["message"]
    promoted = client2.post("/v1/experiments/ab-1/promote", json={"variant": "b"}, headers=ADMIN)
    assert promoted.status_code == 200, promoted.get_json()
    assert promoted.get_json()["promoted"] == "b"
    assert promoted.get_json()["running"] is False
    assert store.current() == new
    assert client2.get("/v1/model").get_json()["version"] == new
    listed = client2.get("/v1/experiments", headers=ADMIN).get_json()
    assert [e["name"] for e in listed] == ["ab-1"]
    assert client2.get("/v1/experiments/nope", headers=ADMIN).status_code == 404
    variants = [{"name": "a", "version": old}, {"name": "b", "version": "v9"}]
    unknown = client2.post("/v1/experiments", headers=ADMIN,
                           json={"name": "x", "variants": variants})  # fmt: skip
    assert unknown.status_code == 422
    assert "no published version 'v9'" in unknown.get_json()["message"]


def test_an_experiment_between_placement_rules(client2: FlaskClient) -> None:
    variants = [
        {"name": "a", "version": "current"},
        {"name": "b", "version": "current", "rules": {"strategy": "popular"}},
    ]
    started = client2.post("/v1/experiments", headers=ADMIN,
                           json={"name": "best-sellers", "variants": variants})  # fmt: skip
    assert started.status_code == 201, started.get_json()
    assert started.get_json()["variants"][1]["rules"] == {"strategy": "popular"}
    client2.application.extensions["recsvc"].serving.follower.step()
    answers = [client2.get(f"/v1/users/u{n}/recommendations").get_json() for n in range(40)]
    strategies = {(a["variant"], a["strategy"].split(" ")[0]) for a in answers}
    assert strategies == {("a", "personalized"), ("b", "popular")}
    for rules, words in [({"strategy": "magic"}, "variant 'b': unknown strategy 'magic'"),
                         ({"needs_category": "yes"}, "needs_category must be a bool"),
                         ({"strategy": "similar"}, "need the item on the page"),
                         ({"needs_category": True}, "need a category")]:  # fmt: skip
        body = {"name": "x", "placement": "cart",
                "variants": [variants[0], {**variants[1], "rules": rules}]}  # fmt: skip
        refused = client2.post("/v1/experiments", headers=ADMIN, json=body)
        assert refused.status_code == 422
        assert words in refused.get_json()["message"]
        assert "variants" in refused.get_json()["errors"]
    nulls = [variants[0], {**variants[1], "rules": {"strategy": None}}]
    refused = client2.post("/v1/experiments", headers=ADMIN,
                           json={"name": "x", "placement": "cart", "variants": nulls})  # fmt: skip
    assert refused.status_code == 422
