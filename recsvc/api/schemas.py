"""Request and response schemas: the single source for parsing, responses and OpenAPI."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pyarrow as pa
from flask import Response, jsonify
from marshmallow import validate
from webargs.fields import DelimitedList

from ..data.events import parse_timestamps
from ..data.files import MAX_ID_LENGTH
from ..errors import DataError
from ..serving.recommender import Recommendations
from .extension import resources

MAX_CONTEXT_ITEMS = 100


def _printable(value: str) -> None:
    if not value.isprintable():
        raise ma.ValidationError("must be printable characters only")


def Id(**kwargs: Any) -> ma.fields.String:  # noqa: N802 (a field factory, used like a class)
    """A user or item id: 1 to 128 printable characters."""
    return ma.fields.String(
        validate=[validate.Length(min=1, max=MAX_ID_LENGTH), _printable], **kwargs
    )


def _count() -> ma.fields.Integer:
    return ma.fields.Integer(
        load_default=10,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "How many items (1-100)."},
    )


class FilterQuerySchema(ma.Schema):
    """Business filters given in the query string."""

    category = ma.fields.String(metadata={"description": "Only items of this category."})
    min_price = ma.fields.Float(validate=validate.Range(min=0), allow_nan=False)
    max_price = ma.fields.Float(validate=validate.Range(min=0), allow_nan=False)
    # "exclude" is a Schema attribute: the field gets another name in Python
    exclude_items = DelimitedList(
        Id(), data_key="exclude", metadata={"description": "Comma-separated item ids to leave out."}
    )
    in_stock = ma.fields.Boolean(
        metadata={"description": "Only items in stock (default: the placement's rule, true)."}
    )


class UserRecommendationsQuerySchema(FilterQuerySchema):
    """``GET /v1/users/{user_id}/recommendations``."""

    n = _count()
    placement = ma.fields.String(load_default="home")


class SimilarQuerySchema(FilterQuerySchema):
    """``GET /v1/items/{item_id}/similar``."""

    n = _count()
    user_id = Id(metadata={"description": "The shopper, to tilt the list to their taste."})


class PopularQuerySchema(ma.Schema):
    """``GET /v1/popular``."""

    n = _count()
    category = ma.fields.String()
    in_stock = ma.fields.Boolean(load_default=True)


class FiltersSchema(ma.Schema):
    """Business filters given in a request body."""

    category = ma.fields.String()
    min_price = ma.fields.Float(validate=validate.Range(min=0), allow_nan=False)
    max_price = ma.fields.Float(validate=validate.Range(min=0), allow_nan=False)
    exclude_items = ma.fields.List(Id(), data_key="exclude", validate=validate.Length(max=1000))
    in_stock = ma.fields.Boolean()


class RecommendationRequestSchema(ma.Schema):
    """``POST /v1/recommendations``: the shopper's moment in the body."""

    user_id = Id()
    recent_items = ma.fields.List(
        Id(),
        load_default=list,
        validate=validate.Length(max=MAX_CONTEXT_ITEMS),
        metadata={"description": "Items viewed in this session, oldest first."},
    )
    cart_items = ma.fields.List(Id(), load_default=list,
                                validate=validate.Length(max=MAX_CONTEXT_ITEMS))  # fmt: skip
    item_id = Id(metadata={"description": "The item on the page (product placement)."})
    placement = ma.fields.String(load_default="home")
    n = _count()
    filters = ma.fields.Nested(FiltersSchema, load_default=dict)


class Timestamp(ma.fields.Field):  # type: ignore[type-arg]
    """ISO 8601 text or epoch seconds, loaded as epoch seconds (the file readers' rules)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ma.ValidationError("must be ISO 8601 text or epoch seconds")
        column = pa.chunked_array([[value]])
        try:
            return int(parse_timestamps(column, source="request", field="timestamp")[0])
        except DataError as exc:
            raise ma.ValidationError(exc.message) from None


def _known_event_type(value: str) -> None:
    known = resources().event_types
    if value not in known:
        raise ma.ValidationError(
            f"unknown event type {value!r} (known: {', '.join(known)}; RECSVC_EVENT_WEIGHTS)"
        )


class EventSchema(ma.Schema):
    """One shop event, as in an events file."""

    event_id = Id(metadata={"description": "Makes a retried batch count once."})
    user_id = Id(required=True)
    item_id = Id(required=True)
    event_type = ma.fields.String(required=True, validate=_known_event_type)
    timestamp = Timestamp(required=True)
    quantity = ma.fields.Integer(load_default=1, validate=validate.Range(min=1))
    session_id = ma.fields.String(validate=validate.Length(max=MAX_ID_LENGTH))
    recommendation_id = ma.fields.String(validate=validate.Length(max=MAX_ID_LENGTH))


class EventBatchSchema(ma.Schema):
    """``POST /v1/events``."""

    events = ma.fields.List(ma.fields.Nested(EventSchema), required=True,
                            validate=validate.Length(min=1))  # fmt: skip


class StoredEventsSchema(ma.Schema):
    """What a batch of events did."""

    stored = ma.fields.Integer(required=True)
    duplicates = ma.fields.Integer(
        required=True, metadata={"description": "Events whose event_id was already stored."}
    )


class ItemSchema(ma.Schema):
    """A catalog entry's fields."""

    title = ma.fields.String(allow_none=True, validate=validate.Length(max=512))
    category = ma.fields.String(allow_none=True, validate=validate.Length(max=256))
    price = ma.fields.Float(allow_none=True, allow_nan=False, validate=validate.Range(min=0))
    available = ma.fields.Boolean()


class ItemChangesSchema(ItemSchema):
    """Some fields of a catalog entry (``PATCH``)."""


class CatalogItemSchema(ItemSchema):
    """A catalog entry with its id."""

    item_id = Id(required=True)


class ItemBatchSchema(ma.Schema):
    """``POST /v1/items``: bulk upsert."""

    items = ma.fields.List(ma.fields.Nested(CatalogItemSchema), required=True,
                           validate=validate.Length(min=1))  # fmt: skip


class StoredItemsSchema(ma.Schema):
    """How many catalog entries a request stored."""

    stored = ma.fields.Integer(required=True)


class RecommendedItemSchema(ma.Schema):
    """One recommended item."""

    item_id = ma.fields.String(required=True)
    score = ma.fields.Float(required=True)
    title = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    price = ma.fields.Float(allow_none=True)
    available = ma.fields.Boolean()


class RecommendationsSchema(ma.Schema):
    """Every recommendation response."""

    recommendation_id = ma.fields.String(
        required=True, metadata={"description": "Send it back with the events it leads to."}
    )
    model_version = ma.fields.String(required=True)
    placement = ma.fields.String(required=True)
    strategy = ma.fields.String(
        required=True,
        metadata={"description": "What produced the list: personalized, session, similar,"
                  " similar+taste, cart, popular."},
    )  # fmt: skip
    items = ma.fields.List(ma.fields.Nested(RecommendedItemSchema), required=True)
    ignored_items = ma.fields.List(
        ma.fields.String(),
        metadata={"description": "recent_items / cart_items the model does not know."},
    )


def recommendations_response(result: Recommendations) -> Response:
    """The body :class:`RecommendationsSchema` describes, built directly.

    marshmallow's dump of a 10-item response costs about 60 µs here, a third of the
    request's own work (docs/serving-speed.md); the recommender's items already are
    the response's dicts.
    tests/api/test_schemas.py holds the two equal, so the schema stays the one
    description of the response (and of the OpenAPI document).
    """
    return jsonify(
        {
            "recommendation_id": result.recommendation_id,
            "model_version": result.model_version,
            "placement": result.placement,
            "strategy": result.strategy,
            "items": result.items,
            "ignored_items": result.ignored_items,
        }
    )


class ModelStatusSchema(ma.Schema):
    """What this worker serves."""

    version = ma.fields.String(allow_none=True)
    loaded_at = ma.fields.String(allow_none=True)
    created = ma.fields.String(allow_none=True)
    data_window = ma.fields.Dict(allow_none=True)
    counts = ma.fields.Dict(allow_none=True)
    metrics = ma.fields.Dict(allow_none=True)
    worker_pid = ma.fields.Integer()
    failed_version = ma.fields.String(allow_none=True)
    failure = ma.fields.String(allow_none=True)
    current_version = ma.fields.String(
        allow_none=True, metadata={"description": "What the model store names current now."}
    )
    workers = ma.fields.List(
        ma.fields.Dict(),
        metadata={"description": "Each live worker of this server: pid, version, loaded_at."},
    )


class HealthSchema(ma.Schema):
    """Liveness and readiness."""

    status = ma.fields.String(required=True)
    version = ma.fields.String(allow_none=True)
    worker_pid = ma.fields.Integer()
    workers = ma.fields.List(ma.fields.Dict())
