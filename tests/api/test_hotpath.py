"""The hot path: a shopper's recommendations answered beside Flask, exactly as Flask's
view answers them, and everything else left to Flask."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from recsvc.api.hotpath import HotPath
from recsvc.artifact import ModelStore

from .conftest import make_app
from .test_recommendations import known_user


def hot(client: FlaskClient) -> HotPath:
    found = client.application.wsgi_app
    assert isinstance(found, HotPath)
    return found


def fresh(url: str) -> str:
    """``url`` with a query string no request has sent before (the parser, and so what
    the hot path knows, is one per process): a new session id (a parameter the schema
    reads; one it does not read is ignored by the parser's memory too)."""
    return f"{url}{'&' if '?' in url else '?'}session_id={uuid.uuid4().hex}"


def answered_both_ways(client: FlaskClient, url: str, **kwargs: Any) -> tuple[Any, Any]:
    """The first request of a query string (Flask's view), then the same again (the hot
    path), checked to have been answered so."""
    url, before = fresh(url), hot(client).answered
    first = client.get(url, **kwargs)
    assert hot(client).answered == before  # a new query string: Flask's
    second = client.get(url, **kwargs)
    assert hot(client).answered == before + 1
    return first, second


def without_id(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body["recommendation_id"]) == 32
    return {k: v for k, v in body.items() if k != "recommendation_id"}


def requests_counted(placement: str, status: str = "200") -> float:
    labels = {"endpoint": "/v1/users/<user_id>/recommendations", "placement": placement,
              "status": status}  # fmt: skip
    return REGISTRY.get_sample_value("recsvc_http_requests_total", labels) or 0.0


@pytest.mark.parametrize("query", ["", "?n=3", "?placement=category&category=Shoes&n=4",
                                   "?in_stock=false&min_price=1&session_id=s1"])  # fmt: skip
def test_the_hot_path_answers_as_the_view_does(client: FlaskClient, query: str) -> None:
    user, placement = known_user(client), "category" if "category" in query else "home"
    recorder = client.application.extensions["recsvc"].serving.impressions
    recorded, counted = recorder.recorded, requests_counted(placement)
    url = f"/v1/users/{user}/recommendations{query}"
    flask_answer, hot_answer = answered_both_ways(client, url)
    assert hot_answer.status_code == flask_answer.status_code == 200
    hot_body, flask_body = hot_answer.get_json(), flask_answer.get_json()
    assert without_id(hot_body) == without_id(flask_body)
    assert hot_body["recommendation_id"] != flask_body["recommendation_id"]
    assert hot_body["items"]
    assert hot_body["placement"] == placement
    # the same headers, byte for byte but for the request id
    assert sorted(k for k, _ in hot_answer.headers) == sorted(k for k, _ in flask_answer.headers)
    assert hot_answer.headers["Content-Type"] == flask_answer.headers["Content-Type"]
    assert int(hot_answer.headers["Content-Length"]) == len(hot_answer.get_data())
    assert hot_answer.get_data().endswith(b"\n")
    assert flask_answer.get_data().endswith(b"\n")
    assert len(hot_answer.headers["X-Request-ID"]) == 32
    # both recorded as impressions, both counted in the metrics
    assert recorder.recorded == recorded + 2
    assert requests_counted(placement) == counted + 2


def test_a_storefront_that_busts_caches_takes_the_hot_path(client: FlaskClient) -> None:
    """A parameter the schema does not read (jQuery's ``_=<time>``, a tracking tag)
    changes nothing in the answer, nor in which path gives it."""
    user = known_user(client)
    url = fresh(f"/v1/users/{user}/recommendations?n=4")
    before = hot(client).answered
    first = client.get(f"{url}&_=1")
    assert hot(client).answered == before  # Flask's: the query's first request
    later = [client.get(f"{url}&_={n}&utm_source=mail") for n in (2, 3)]
    assert hot(client).answered == before + 2
    for answer in later:
        assert without_id(answer.get_json()) == without_id(first.get_json())


def test_a_request_id_sent_is_honoured_and_a_bad_one_replaced(client: FlaskClient) -> None:
    user = known_user(client)
    url = f"/v1/users/{user}/recommendations?n=2"
    for sent, kept in (("abc-123", True), ("no spaces allowed", False)):
        for answer in answered_both_ways(client, url, headers={"X-Request-ID": sent}):
            assert (answer.headers["X-Request-ID"] == sent) is kept


def test_unknown_shoppers_and_odd_ids_are_answered_as_before(client: FlaskClient) -> None:
    flask_answer, hot_answer = answered_both_ways(client, "/v1/users/nobody-knows/recommendations")
    assert without_id(hot_answer.get_json()) == without_id(flask_answer.get_json())
    assert hot_answer.get_json()["strategy"] == "popular"
    # ids beyond ASCII, with a slash, or too long: Flask's own answer, every time
    for path in ("/v1/users/%C3%A9l%C3%A8ve/recommendations", "/v1/users/a/b/recommendations",
                 "/v1/users/" + "x" * 300 + "/recommendations"):  # fmt: skip
        before = hot(client).answered
        statuses = {client.get(path).status_code for _ in range(2)}
        assert hot(client).answered == before, path
        assert len(statuses) == 1
    assert client.get("/v1/users/%C3%A9l%C3%A8ve/recommendations").status_code == 200


def test_invalid_and_refused_requests_get_flasks_errors_every_time(client: FlaskClient) -> None:
    user = known_user(client)
    before = hot(client).answered
    for url, field in (
        (f"/v1/users/{user}/recommendations?n=0", "n"),  # refused by the query's schema
        # refused by the recommender, after the query string parsed (and was kept)
        (f"/v1/users/{user}/recommendations?placement=category", "category"),
        (f"/v1/users/{user}/recommendations?placement=nowhere", "placement"),
    ):
        url = fresh(url)
        for _ in range(2):
            answer = client.get(url)
            assert answer.status_code == 422, (url, answer.get_json())
            assert list(answer.get_json()["errors"]) in ([field], ["query"])
            assert field in json.dumps(answer.get_json()["errors"])
            assert len(answer.headers["X-Request-ID"]) == 32
    assert hot(client).answered == before
    # other methods are Flask's
    assert client.head(f"/v1/users/{user}/recommendations").status_code == 200
    assert client.post(f"/v1/users/{user}/recommendations").status_code == 405
    assert hot(client).answered == before


def test_in_debug_mode_flask_answers(client: FlaskClient) -> None:
    user = known_user(client)
    client.application.debug = True
    before = hot(client).answered
    url = fresh(f"/v1/users/{user}/recommendations?n=1")
    for _ in range(2):
        body = client.get(url).get_data()
        assert body.startswith(b"{\n")  # indented, as Flask writes JSON in debug mode
    assert hot(client).answered == before


def test_no_model_loaded_is_flasks_503(tmp_path: Path) -> None:
    app = make_app(tmp_path, ModelStore(tmp_path / "empty"))
    client = app.test_client()
    for _ in range(2):
        assert client.get("/v1/users/u1/recommendations").status_code == 503
    assert hot(client).answered == 0
    app.extensions["recsvc"].shop.engine.dispose()


def test_the_access_log_has_the_same_line_either_way(
    tmp_path: Path, trained_store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path, trained_store, access_log="json")
    logger = logging.getLogger("recsvc.access")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="recsvc.access"):
            answered_both_ways(app.test_client(), "/v1/users/u1/recommendations?n=2")
    finally:
        logger.removeHandler(caplog.handler)
        app.extensions["recsvc"].shop.engine.dispose()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "recsvc.access"]
    assert len(lines) == 2
    for line in lines:
        del line["time"], line["request_id"], line["ms"]
    assert lines[0] == lines[1]
    assert lines[0]["endpoint"] == "/v1/users/<user_id>/recommendations"
    assert (lines[0]["placement"], lines[0]["status"], lines[0]["path"]) == (
        "home", 200, "/v1/users/u1/recommendations")  # fmt: skip
