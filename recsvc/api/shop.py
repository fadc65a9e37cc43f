"""The storefront's writes: events and catalog changes (write key)."""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy.exc
from flask_smorest import abort

from .auth import require_key
from .blueprint import Blueprint
from .extension import serving, settings, shop
from .recommendations import path_id
from .schemas import (
    CatalogItemSchema,
    EventBatchSchema,
    ItemBatchSchema,
    ItemChangesSchema,
    ItemSchema,
    StoredEventsSchema,
    StoredItemsSchema,
)

blp = Blueprint("shop", __name__, url_prefix="/v1",
                description="Events and catalog from the storefront (write key).")  # fmt: skip


@blp.route("/events", methods=["POST"])
@require_key("write")
@blp.arguments(EventBatchSchema())
@blp.response(202, StoredEventsSchema())
@blp.doc(security=[{"bearer": []}])
def post_events(body: dict[str, Any]) -> dict[str, int]:
    """Store a batch of events, all or none.

    The whole batch is validated first: one invalid event rejects the batch (422, with
    the errors of every bad index) and nothing is stored. Events with an `event_id`
    already stored are skipped, so a retried batch counts once.
    """
    limit = settings().max_events_per_batch
    if len(body["events"]) > limit:
        abort(422, message=f"at most {limit} events per batch (RECSVC_MAX_EVENTS_PER_BATCH)",
              errors={"json": {"events": [f"longer than {limit}"]}})  # fmt: skip
    stored = shop().add_events(body["events"])
    # this worker takes them in at once; the others at their next read of the store
    with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
        serving().follower.step()
    return {"stored": stored.stored, "duplicates": stored.duplicates}


@blp.route("/items/<item_id>", methods=["PUT"])
@require_key("write")
@blp.arguments(ItemSchema())
@blp.response(200, CatalogItemSchema())
@blp.doc(security=[{"bearer": []}])
def put_item(body: dict[str, Any], item_id: str) -> dict[str, Any]:
    """Create or replace a catalog entry."""
    item_id = path_id(item_id, "item_id")
    shop().upsert_items([{"item_id": item_id, **body}])
    return shop().patch_item(item_id, {})


@blp.route("/items/<item_id>", methods=["PATCH"])
@require_key("write")
@blp.arguments(ItemChangesSchema(partial=True))
@blp.response(200, CatalogItemSchema())
@blp.alt_response(404, description="No such catalog entry.")
@blp.doc(security=[{"bearer": []}])
def patch_item(body: dict[str, Any], item_id: str) -> dict[str, Any]:
    """Change some fields of a catalog entry, e.g. `{"available": false}`."""
    return shop().patch_item(path_id(item_id, "item_id"), body)


@blp.route("/items", methods=["POST"])
@require_key("write")
@blp.arguments(ItemBatchSchema())
@blp.response(200, StoredItemsSchema())
@blp.doc(security=[{"bearer": []}])
def post_items(body: dict[str, Any]) -> dict[str, int]:
    """Create or replace many catalog entries at once (all or none)."""
    return {"stored": shop().upsert_items(body["items"])}
