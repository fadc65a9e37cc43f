"""Response bodies are written by orjson, and read as Flask's own would be."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import uuid

from flask import Flask

from recsvc.api.encoding import OrjsonProvider


def test_bodies_are_the_json_flask_writes() -> None:
    app = Flask(__name__)
    stock = Flask(__name__)
    stock.json.sort_keys = False  # type: ignore[attr-defined]
    app.json = OrjsonProvider(app)

    @dataclasses.dataclass
    class Point:
        x: int

    body = {"z": 1, "a": [1.5, None, True], "text": "é 日本 \"q\" \\ \t", "n": 2**40,
            "when": datetime.datetime(2026, 11, 29, 1, 2, 3, tzinfo=datetime.UTC),
            "day": datetime.date(2026, 11, 29), "price": decimal.Decimal("9.99"),
            "id": uuid.UUID(int=7), "point": Point(3), 4: "four"}  # fmt: skip
    with app.app_context():
        ours = app.json.response(body)
    with stock.app_context():
        theirs = stock.json.response(body)
    assert ours.mimetype == theirs.mimetype == "application/json"
    assert json.loads(ours.get_data()) == json.loads(theirs.get_data())
    assert list(json.loads(ours.get_data())) == [str(k) for k in body]  # keys in order
    assert json.loads(app.json.dumps([1, "x"])) == [1, "x"]
    for refused in ("lone \ud800", 2**70):  # orjson's refusals: the json module writes them
        assert json.loads(app.json.dumps({"v": refused})) == {"v": refused}
    assert app.json.dumps({"a": 1}, indent=2) == '{\n  "a": 1\n}'
    app.debug = True
    with app.app_context():
        assert app.json.response({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'
