"""What operations see of each request: its id, its metrics, and its access log line.

- ``X-Request-ID``: honoured when the client (or Heroku's router) sends a sane one,
  made otherwise, and returned on every response, errors included.
- Metrics (recsvc.metrics): each request counted by endpoint, placement and status,
  and timed; ``GET /metrics`` (admin key) serves every worker's in Prometheus' format.
- ``RECSVC_ACCESS_LOG=json``: one JSON line per request on the ``recsvc.access`` logger
  (off by default: Heroku's router logs every request already).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from .. import metrics
from .auth import require_key
from .blueprint import Blueprint
from .extension import settings

blp = Blueprint("observability", __name__, description="For operations: Prometheus metrics.")
access_log = logging.getLogger("recsvc.access")
#: a request id sent by a client is kept when it looks like one
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: POST /v1/events' view, whose refused batches count as rejected events
_EVENTS_ENDPOINT = "shop.post_events"


@blp.route("/metrics")
@require_key("admin")
@blp.doc(security=[{"bearer": []}], responses={"200": {
    "description": "Prometheus' text exposition format.",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}})  # fmt: skip
def metrics_view() -> Response:
    """Every worker's metrics in Prometheus' text format (admin key): requests by
    endpoint, placement and status, latency, the version each worker serves, when each
    last read the event store, impressions and events by outcome, model reloads."""
    body, content_type = metrics.exposition()
    return Response(body, content_type=content_type)


def init_app(app: Flask) -> None:
    """Give every request an id, and count, time and log it."""
    app.before_request(_start)
    with app.app_context():
        log_json = settings().access_log == "json"
    # the access log's hook only where it is on: a hook that has nothing to do costs
    # a request its call all the same
    app.after_request(_finish_and_log if log_json else _finish)
    if log_json and not access_log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


def new_request_id() -> str:
    """128 random bits in hex (uuid4().hex took 4.6 µs here; this, 1 µs)."""
    return os.urandom(16).hex()


def request_id_of(environ: Mapping[str, Any]) -> str:
    """The id a client sent (``X-Request-ID``) when it looks like one, else a new one."""
    sent = environ.get("HTTP_X_REQUEST_ID", "")  # as request.headers reads it
    return sent if _SANE_ID.fullmatch(sent) else new_request_id()


def _start() -> None:
    g.started = time.perf_counter()
    g.request_id = request_id_of(request.environ)


def _finish(response: Response) -> Response:
    """The request's id on its response; the request counted and timed."""
    _observed(response)
    return response


def _finish_and_log(response: Response) -> Response:
    """:func:`_finish`, and the request's access log line."""
    request_id, endpoint, placement, seconds = _observed(response)
    log_access(request_id, request.method, request.path, endpoint, placement,
               response.status_code, seconds)  # fmt: skip
    return response


def log_access(request_id: str, method: str, path: str, endpoint: str, placement: str,
               status: int, seconds: float) -> None:  # fmt: skip
    """A request's access log line (``RECSVC_ACCESS_LOG=json``)."""
    access_log.info(json.dumps({
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request_id": request_id, "method": method, "path": path,
        "endpoint": endpoint, "placement": placement or None,
        "status": status, "ms": round(seconds * 1e3, 2), "worker_pid": os.getpid(),
    }))  # fmt: skip


def _observed(response: Response) -> tuple[str, str, str, float]:
    """Set the response's request id and count the request: (request id, endpoint,
    placement, seconds)."""
    now = time.perf_counter()
    found = vars(g._get_current_object())  # one lookup of the app context's g, not one per name
    request_id = found.get("request_id") or new_request_id()
    response.headers["X-Request-ID"] = request_id
    seconds = now - found.get("started", now)
    rule = request.url_rule
    endpoint = rule.rule if rule is not None else "unmatched"
    placement = found.get("placement", "")
    status = response.status_code
    metrics.count_request(endpoint, placement, str(status), seconds)
    if status >= 400 and rule is not None and rule.endpoint == _EVENTS_ENDPOINT:
        body = request.get_json(silent=True)
        batch = body.get("events") if isinstance(body, dict) else None
        metrics.EVENTS.labels("rejected").inc(len(batch) if isinstance(batch, list) else 1)
    return request_id, endpoint, placement, seconds
