"""The blueprint's query parser: each distinct query string parsed once, errors every time."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from flask_smorest import Api

from recsvc.api.blueprint import Blueprint


class CountSchema(ma.Schema):
    n = ma.fields.Integer(load_default=10, validate=ma.validate.Range(1, 100))


class LabelSchema(ma.Schema):
    n = ma.fields.String(load_default="ten")


@pytest.fixture
def app() -> tuple[Flask, list[Any]]:
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.2")
    blp = Blueprint("t", __name__)
    seen: list[Any] = []

    @blp.route("/count")
    @blp.arguments(CountSchema(), location="query")
    def count(args: Any) -> dict[str, Any]:
        seen.append(args)
        return dict(args)

    @blp.route("/label")
    @blp.arguments(LabelSchema(), location="query")
    def label(args: Any) -> dict[str, Any]:
        seen.append(args)
        return dict(args)

    Api(app).register_blueprint(blp)
    return app, seen


def test_a_query_string_is_parsed_once_and_handed_out_read_only(
    app: tuple[Flask, list[Any]],
) -> None:
    flask_app, seen = app
    client = flask_app.test_client()
    assert client.get("/count?n=5").json == {"n": 5}
    assert client.get("/count?n=5").json == {"n": 5}
    assert seen[0] is seen[1]  # the same parse
    with pytest.raises(TypeError):
        seen[0]["n"] = 6  # a view cannot change what the next request gets
    assert client.get("/count?n=7").json == {"n": 7}
    assert client.get("/count").json == {"n": 10}
    # the same query string under another schema is that schema's answer
    assert client.get("/label?n=5").json == {"n": "5"}


def test_an_invalid_query_string_fails_every_time(app: tuple[Flask, list[Any]]) -> None:
    client = app[0].test_client()
    for _ in range(2):
        response = client.get("/count?n=0")
        assert response.status_code == 422
        assert "n" in response.json["errors"]["query"]
