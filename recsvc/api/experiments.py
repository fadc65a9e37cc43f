"""Experiments between model versions on live traffic (admin key)."""

from __future__ import annotations

from typing import Any

from ..serving.experiments import start
from ..store.comparison import experiment_report, promote_winner
from ..store.experiments import Experiment, ExperimentStore, Variant
from .auth import require_key
from .blueprint import Blueprint, json_body
from .deadline import within_timeout
from .extension import holder, resources, shop
from .recommendations import path_id
from .schemas import (
    ExperimentQuerySchema,
    ExperimentSchema,
    ExperimentStartSchema,
    PromoteSchema,
)
from .schemas import path_id as path_id_doc

blp = Blueprint("experiments", __name__, url_prefix="/v1/experiments",
                description="Model versions compared on live traffic (admin key).")  # fmt: skip


def _store() -> ExperimentStore:
    return ExperimentStore(shop().engine)


@blp.route("", methods=["GET"])
@require_key("admin")
@blp.response(200, ExperimentSchema(many=True))
@blp.doc(security=[{"bearer": []}])
def list_experiments() -> list[dict[str, Any]]:
    """Every experiment, the newest first."""
    return [e.as_dict() for e in within_timeout(_store().all)]


@blp.route("", methods=["POST"])
@require_key("admin")
@json_body
@blp.arguments(ExperimentStartSchema())
@blp.response(201, ExperimentSchema())
@blp.doc(security=[{"bearer": []}])
def start_experiment(body: dict[str, Any]) -> dict[str, Any]:
    """Start an experiment: the placement's shoppers are split between the variants by
    weight, each shopper always in the same variant (a hash of their user id, or
    session id). A variant is a model version (a version's name, `current`, or
    `latest`: the newest published) and, optionally, changes to the placement's rules
    (a placement configuration, e.g. `{"taste_weight": 0}`). At most one experiment
    per placement runs at a time; every worker follows within RECSVC_CATALOG_INTERVAL
    seconds."""
    variants = [Variant(**v) for v in body["variants"]]
    models, placements, store = holder().store, resources().placements, _store()

    def begin() -> Experiment:
        return start(store, models, placements, body["name"], body["placement"], variants)

    return within_timeout(begin).as_dict()


@blp.route("/<name>", methods=["GET"], parameters=[path_id_doc("name")])
@require_key("admin")
@blp.arguments(ExperimentQuerySchema(), location="query")
@blp.response(200)
@blp.alt_response(404, description="No such experiment.")
@blp.doc(security=[{"bearer": []}])
def show_experiment(args: dict[str, Any], name: str) -> dict[str, Any]:
    """How the experiment stands: each variant's figures with 95% intervals, each
    variant against the first on views and the metric per impression (difference,
    interval, p-value of the two-proportion test), the impressions needed to detect
    `lift`, and a verdict ("b better", "no difference yet")."""
    store = _store()
    name = path_id(name, "name")
    return within_timeout(lambda: experiment_report(
        store.engine, store.get(name), metric=args["metric"], lift=args["lift"]))  # fmt: skip


@blp.route("/<name>/stop", methods=["POST"], parameters=[path_id_doc("name")])
@require_key("admin")
@blp.response(200, ExperimentSchema())
@blp.alt_response(404, description="No such experiment.")
@blp.doc(security=[{"bearer": []}])
def stop_experiment(name: str) -> dict[str, Any]:
    """Stop the experiment: its placement goes back to the current version."""
    store, name = _store(), path_id(name, "name")
    return within_timeout(lambda: store.stop(name)).as_dict()


@blp.route("/<name>/promote", methods=["POST"], parameters=[path_id_doc("name")])
@require_key("admin")
@json_body
@blp.arguments(PromoteSchema())
@blp.response(200, ExperimentSchema())
@blp.alt_response(404, description="No such experiment.")
@blp.doc(security=[{"bearer": []}])
def promote_experiment(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Make the winner (or `variant`) the current version and stop the experiment;
    422 while there is no winner and no variant is named."""
    store, models, name = _store(), holder().store, path_id(name, "name")
    # not bounded by within_timeout: promoting verifies the version's files, which may
    # take longer than a request's wait on the event store (whose own calls time out)
    experiment, _ = promote_winner(store, models, name, variant=body.get("variant"),
                                   metric=body["metric"])  # fmt: skip
    holder().refresh()  # this worker at once; the others at their next check
    return experiment.as_dict()
