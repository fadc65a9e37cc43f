"""The floor of the framework for scripts/benchmark_serving.py: a bare Flask app, one
route, no hooks, no extensions, returning a stored recommendations body.

``GET /v1/users/<user_id>/recommendations`` answers with the JSON body in the file
``BENCH_BODY`` names (a real answer of the service, saved by the benchmark), through
Flask's own JSON response, under the same gunicorn settings as the service: what any
Flask app pays per request before it does anything of its own.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flask import Flask

app = Flask(__name__)
with open(os.environ["BENCH_BODY"], encoding="utf-8") as _file:
    _BODY = json.load(_file)


@app.get("/v1/users/<user_id>/recommendations")
def recommendations(user_id: str) -> Any:
    """The stored body, whoever asks."""
    return _BODY
