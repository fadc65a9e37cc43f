"""The storefront's writes: events and catalog changes (write key)."""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy.exc

from .. import metrics
from ..store.shop import Stored
from .auth import require_key
from .blueprint import Blueprint, json_body
from .deadline import within_timeout
from .extension import serving, shop
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
from .schemas import (
    path_id as path_id_doc,
)

blp = Blueprint("shop", __name__, url_prefix="/v1",
                description="Events and catalog from the storefront (write key).")  # fmt: skip


@blp.route("/events", methods=["POST"])
@require_key("write")
@json_body
@blp.arguments(EventBatchSchema())
@blp.response(202, StoredEventsSchema())
@blp.doc(security=[{"bearer": []}])
def post_events(body: dict[str, Any]) -> dict[str, int]:
    """Store a batch of events, all or none.

    The whole batch is validated first: one invalid event rejects the batch (422, with
    the errors of every bad index) and nothing is stored. Events with an `event_id`
    already stored are skipped, so a retried batch counts once.
    """
    store, follower = shop(), serving().follower

    def store_them() -> Stored:
        stored = store.add_events(body["events"])
        # this worker takes them in at once; the others at their next read of the store
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
            follower.step()
        return stored

    stored = within_timeout(store_them)
    metrics.EVENTS.labels("stored").inc(stored.stored)
    metrics.EVENTS.labels("duplicate").inc(stored.duplicates)
    return {"stored": stored.stored, "duplicates": stored.duplicates}


@blp.route("/items/<item_id>", methods=["PUT"], parameters=[path_id_doc("item_id")])
@require_key("write")
@json_body
@blp.arguments(ItemSchema())
@blp.response(200, CatalogItemSchema())
@blp.doc(security=[{"bearer": []}])
def put_item(body: dict[str, Any], item_id: str) -> dict[str, Any]:
    """Create or replace a catalog entry."""
    item_id = path_id(item_id, "item_id")
    store = shop()

    def upsert() -> dict[str, Any]:
        store.upsert_items([{"item_id": item_id, **body}])
        return store.patch_item(item_id, {})

    return within_timeout(upsert)


@blp.route("/items/<item_id>", methods=["PATCH"], parameters=[path_id_doc("item_id")])
@require_key("write")
@json_body
@blp.arguments(ItemChangesSchema(partial=True))
@blp.response(200, CatalogItemSchema())
@blp.alt_response(404, description="No such catalog entry.")
@blp.doc(security=[{"bearer": []}])
def patch_item(body: dict[str, Any], item_id: str) -> dict[str, Any]:
    """Change some fields of a catalog entry, e.g. `{"available": false}`."""
    item_id, store = path_id(item_id, "item_id"), shop()
    return within_timeout(lambda: store.patch_item(item_id, body))


@blp.route("/items", methods=["POST"])
@require_key("write")
@json_body
@blp.arguments(ItemBatchSchema())
@blp.response(200, StoredItemsSchema())
@blp.doc(security=[{"bearer": []}])
def post_items(body: dict[str, Any]) -> dict[str, int]:
    """Create or replace many catalog entries at once (all or none)."""
    store = shop()
    return {"stored": within_timeout(lambda: store.upsert_items(body["items"]))}
