"""The model being served: what it is, and reloading a newly published one."""

from __future__ import annotations

from typing import Any

from ..errors import StoreUnavailable
from .auth import require_key
from .blueprint import Blueprint
from .deadline import within_timeout
from .extension import holder, serving
from .schemas import HealthSchema, ModelStatusSchema

blp = Blueprint("model", __name__, description="The model version each worker serves.")


@blp.route("/v1/model")
@blp.response(200, ModelStatusSchema())
def model_status() -> dict[str, Any]:
    """The model version this worker serves, its metrics, and the store's current version."""
    return _status()


@blp.route("/v1/model/reload", methods=["POST"])
@require_key("admin")
@blp.response(200, ModelStatusSchema())
@blp.doc(security=[{"bearer": []}])
def reload_model() -> dict[str, Any]:
    """Load the store's current version into this worker now (admin key).

    Every other worker picks it up at its next check (RECSVC_RELOAD_INTERVAL seconds).
    A version that fails to load is reported in `failure` (its whole message here, a
    summary in `GET /v1/model`); the old one keeps serving.
    """
    holder().refresh(force=True)
    return _status(detailed=True)


def _status(*, detailed: bool = False) -> dict[str, Any]:
    """This worker's status; the store's current version only if the store answers in
    time (a database model store that hangs does not hold the request)."""
    process = serving()
    try:
        return within_timeout(lambda: process.status(detailed=detailed))
    except StoreUnavailable:
        return {**process.holder.status(detailed=detailed), "current_version": None,
                "workers": process.workers()}  # fmt: skip


@blp.route("/healthz")
@blp.response(200, HealthSchema())
def healthz() -> dict[str, Any]:
    """The process is alive (it may not have a model yet)."""
    return {"status": "ok", **_worker()}


@blp.route("/readyz")
@blp.response(200, HealthSchema())
@blp.alt_response(503, description="No model loaded yet.")
def readyz() -> dict[str, Any]:
    """The process can answer recommendation requests (it has a model)."""
    holder().recommender  # noqa: B018 (raises NoModelLoaded: 503)
    return {"status": "ready", **_worker()}


def _worker() -> dict[str, Any]:
    status = holder().status()
    return {"version": status["version"], "worker_pid": status["worker_pid"],
            "workers": serving().workers()}  # fmt: skip
