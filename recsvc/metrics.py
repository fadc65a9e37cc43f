"""The service's Prometheus metrics: one place that names them all.

Under gunicorn every worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(gunicorn.conf.py makes one per server and removes an exited worker's live gauges), and
``GET /metrics`` adds up every worker's (prometheus_client's multiprocess mode). Without
that variable (one process: tests, ``flask run``) the default registry is used.

- ``recsvc_http_requests_total`` (endpoint, placement, status): requests answered;
- ``recsvc_http_request_duration_seconds`` (endpoint, placement): time to answer;
- ``recsvc_model_info`` (version; per live worker): 1 for the version a worker serves;
- ``recsvc_model_reloads_total`` (outcome: loaded, failed): versions swapped in or refused;
- ``recsvc_store_read_timestamp_seconds`` (per live worker): when a worker last read the
  event store; now minus it is the worker's live-data lag;
- ``recsvc_impressions_total`` (outcome: recorded, written, dropped, unsampled);
- ``recsvc_impressions_buffered`` (summed over live workers): lists waiting to be written;
- ``recsvc_events_total`` (outcome: stored, duplicate, rejected): events sent to
  ``POST /v1/events``.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

#: where worker processes write their samples (set by gunicorn.conf.py); None: one process
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter("recsvc_http_requests", "Requests answered.",
                   ["endpoint", "placement", "status"])  # fmt: skip
LATENCY = Histogram(
    "recsvc_http_request_duration_seconds", "Time to answer a request.",
    ["endpoint", "placement"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)  # fmt: skip
MODEL = Gauge("recsvc_model_info", "1 for the model version a worker serves.", ["version"],
              multiprocess_mode="liveall")  # fmt: skip
RELOADS = Counter("recsvc_model_reloads", "Model versions swapped in, or refused.", ["outcome"])
STORE_READ = Gauge("recsvc_store_read_timestamp_seconds",
                   "When a worker last read the event store (epoch seconds).",
                   multiprocess_mode="liveall")  # fmt: skip
IMPRESSIONS = Counter("recsvc_impressions", "Served lists, by what became of them.",
                      ["outcome"])  # fmt: skip
BUFFERED = Gauge("recsvc_impressions_buffered", "Impressions waiting to be written.",
                 multiprocess_mode="livesum")  # fmt: skip
EVENTS = Counter("recsvc_events", "Events sent to POST /v1/events.", ["outcome"])

#: each (endpoint, placement, status)'s counter and (endpoint, placement)'s histogram, as
#: labels() found them: finding them costs more than counting (about 3 µs of a
#: request's 8 µs of metrics); the labels come from the app's routes and placements
_REQUEST_SERIES: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def count_request(endpoint: str, placement: str, status: str, seconds: float) -> None:
    """Count an answered request and its time."""
    series = _REQUEST_SERIES.get((endpoint, placement, status))
    if series is None:
        series = (REQUESTS.labels(endpoint, placement, status),
                  LATENCY.labels(endpoint, placement))  # fmt: skip
        _REQUEST_SERIES[(endpoint, placement, status)] = series
    series[0].inc()
    series[1].observe(seconds)


def exposition() -> tuple[bytes, str]:
    """Every metric of every live worker, in Prometheus' text format, and its type."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Forget an exited worker's live gauges (its counters stay in the totals)."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
