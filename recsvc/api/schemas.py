"""Request and response schemas: the single source for parsing, responses and OpenAPI."""

from __future__ import annotations

import re
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
from ..store.comparison import METRICS
from .extension import resources

MAX_CONTEXT_ITEMS = 100
#: catalog entries one POST /v1/items may carry
MAX_CATALOG_BATCH = 5_000
#: the most of one item an event may count (a database integer holds 2**31 - 1)
MAX_QUANTITY = 1_000_000


#: text the store can hold and a page can show: no control characters (NUL among them)
#: and no lone surrogates (which UTF-8 cannot encode); the OpenAPI document states it
PRINTABLE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff]*$"
_PRINTABLE = re.compile(PRINTABLE_PATTERN)


def is_printable(value: str) -> bool:
    """Whether the text, whole, is printable. Matched whole: Python's ``$`` also
    matches before a final newline, so ``re.match`` alone let ``"id\\n"`` through;
    the pattern stays one the OpenAPI document can state (ECMAScript's ``$`` is the
    text's end)."""
    return _PRINTABLE.fullmatch(value) is not None


class _Printable(validate.Regexp):
    """:func:`is_printable` as a field's validator; a ``Regexp`` so that the OpenAPI
    document states its pattern."""

    def __call__(self, value: Any) -> Any:
        if not is_printable(value):
            raise ma.ValidationError(self._format_error(value))
        return value


PRINTABLE = _Printable(
    PRINTABLE_PATTERN, error="must be printable characters only (no control characters)"
)


def Text(*, max_length: int, min_length: int = 0, **kwargs: Any) -> ma.fields.String:  # noqa: N802
    """Printable text of a bounded length (a field factory, used like a class)."""
    return ma.fields.String(
        validate=[validate.Length(min=min_length, max=max_length), PRINTABLE], **kwargs
    )


def Id(**kwargs: Any) -> ma.fields.String:  # noqa: N802 (a field factory, used like a class)
    """A user or item id: 1 to 128 printable characters."""
    return Text(min_length=1, max_length=MAX_ID_LENGTH, **kwargs)


def is_id(value: str) -> bool:
    """Whether some text passes :func:`Id`'s rules (checked without marshmallow's
    field machinery: about 1.5 µs of every request naming an id in its path)."""
    return 0 < len(value) <= MAX_ID_LENGTH and is_printable(value)


def path_id(name: str) -> dict[str, Any]:
    """The OpenAPI description of an id in a URL path: the rule :func:`Id` checks."""
    return {"in": "path", "name": name, "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH,
                       "pattern": PRINTABLE_PATTERN}}  # fmt: skip


class _Placements(validate.Validator):
    """One of the app's placements (``RECSVC_PLACEMENTS`` may add some), listed as the
    field's ``enum`` in the OpenAPI document (apispec reads ``choices``)."""

    @property
    def choices(self) -> list[str]:
        """The app's placements."""
        return list(resources().placements)

    def __call__(self, value: Any) -> Any:
        if value not in resources().placements:
            known = ", ".join(self.choices)
            raise ma.ValidationError(f"unknown placement {value!r} (known: {known})")
        return value


def Placement(**kwargs: Any) -> ma.fields.String:  # noqa: N802 (a field factory)
    """A placement of the app."""
    return ma.fields.String(validate=_Placements(), **kwargs)


def _count() -> ma.fields.Integer:
    return ma.fields.Integer(
        load_default=10,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "How many items (1-100)."},
    )


class FilterQuerySchema(ma.Schema):
    """Business filters given in the query string."""

    category = Text(max_length=256, metadata={"description": "Only items of this category."})
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
    placement = Placement(load_default="home")
    session_id = Text(
        max_length=MAX_ID_LENGTH,
        metadata={
            "description": "The shopper's session (anonymous shoppers): recorded with the list."
        },
    )


class SimilarQuerySchema(FilterQuerySchema):
    """``GET /v1/items/{item_id}/similar``."""

    n = _count()
    user_id = Id(metadata={"description": "The shopper, to tilt the list to their taste."})
    session_id = Text(
        max_length=MAX_ID_LENGTH,
        metadata={
            "description": "The shopper's session (anonymous shoppers): recorded with the list."
        },
    )


class PopularQuerySchema(ma.Schema):
    """``GET /v1/popular``."""

    n = _count()
    category = Text(max_length=256)
    in_stock = ma.fields.Boolean(load_default=True)
    user_id = Id(metadata={"description": "The shopper (recorded with the list)."})
    session_id = Text(
        max_length=MAX_ID_LENGTH,
        metadata={
            "description": "The shopper's session (anonymous shoppers): recorded with the list."
        },
    )


class FiltersSchema(ma.Schema):
    """Business filters given in a request body."""

    category = Text(max_length=256)
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
    placement = Placement(load_default="home")
    session_id = Text(
        max_length=MAX_ID_LENGTH,
        metadata={
            "description": "The shopper's session (anonymous shoppers): recorded with the list."
        },
    )
    n = _count()
    filters = ma.fields.Nested(FiltersSchema, load_default=dict)


class Timestamp(ma.fields.Field):  # type: ignore[type-arg]
    """ISO 8601 text or epoch seconds, loaded as epoch seconds (the file readers' rules)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ma.ValidationError("must be ISO 8601 text or epoch seconds")
        if isinstance(value, str) and len(value) > 64:
            raise ma.ValidationError("must be ISO 8601 text or epoch seconds (too long)")
        if not isinstance(value, str):
            try:
                value = float(value)  # an integer of any size, as epoch seconds
            except OverflowError:
                raise ma.ValidationError("not a finite number of seconds") from None
        column = pa.chunked_array([[value]])
        try:
            seconds = parse_timestamps(column, source="request", field="timestamp",
                                       bounds=resources().time_bounds)  # fmt: skip
        except DataError as exc:
            raise ma.ValidationError(exc.message) from None
        return int(seconds[0])


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
    timestamp = Timestamp(
        required=True,
        metadata={"description": "ISO 8601 (no zone: UTC) or epoch seconds; not before"
                  " RECSVC_EARLIEST_EVENT nor more than RECSVC_FUTURE_EVENT_DAYS ahead."},
    )  # fmt: skip
    quantity = ma.fields.Integer(load_default=1, strict=True,
                                 validate=validate.Range(min=1, max=MAX_QUANTITY))  # fmt: skip
    session_id = Text(max_length=MAX_ID_LENGTH)
    recommendation_id = Text(max_length=MAX_ID_LENGTH)


class EventBatchSchema(ma.Schema):
    """``POST /v1/events``: at most ``RECSVC_MAX_EVENTS_PER_BATCH`` events."""

    events = ma.fields.List(ma.fields.Nested(EventSchema), required=True,
                            validate=validate.Length(min=1))  # fmt: skip

    @ma.pre_load
    def _not_too_many(self, data: Any, **kwargs: Any) -> Any:
        """The batch's size before any event is validated (a long batch is refused
        cheaply)."""
        limit = resources().settings.max_events_per_batch
        events = data.get("events") if isinstance(data, dict) else None
        if isinstance(events, list) and len(events) > limit:
            raise ma.ValidationError(
                f"at most {limit} events per batch (RECSVC_MAX_EVENTS_PER_BATCH)",
                field_name="events",
            )
        return data


class StoredEventsSchema(ma.Schema):
    """What a batch of events did."""

    stored = ma.fields.Integer(required=True)
    duplicates = ma.fields.Integer(
        required=True, metadata={"description": "Events whose event_id was already stored."}
    )


class ItemSchema(ma.Schema):
    """A catalog entry's fields."""

    title = Text(max_length=512, allow_none=True)
    category = Text(max_length=256, allow_none=True)
    price = ma.fields.Float(allow_none=True, allow_nan=False,
                            validate=validate.Range(min=0, max=1e12))  # fmt: skip
    available = ma.fields.Boolean()


class ItemChangesSchema(ItemSchema):
    """Some fields of a catalog entry (``PATCH``)."""


class CatalogItemSchema(ItemSchema):
    """A catalog entry with its id."""

    item_id = Id(required=True)


class ItemBatchSchema(ma.Schema):
    """``POST /v1/items``: bulk upsert."""

    items = ma.fields.List(ma.fields.Nested(CatalogItemSchema), required=True,
                           validate=validate.Length(min=1, max=MAX_CATALOG_BATCH))  # fmt: skip

    @ma.validates_schema
    def _each_item_once(self, data: dict[str, Any], **kwargs: Any) -> None:
        """An item twice in one body is ambiguous: which one wins?"""
        first: dict[str, int] = {}
        errors: dict[int, dict[str, list[str]]] = {}
        for index, item in enumerate(data["items"]):
            earlier = first.setdefault(item["item_id"], index)
            if earlier != index:
                errors[index] = {"item_id": [f"item {item['item_id']!r} is also at index"
                                             f" {earlier}: send each item once"]}  # fmt: skip
        if errors:
            raise ma.ValidationError({"items": errors})


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
    experiment = ma.fields.String(
        allow_none=True, metadata={"description": "The experiment this list is part of, if any."}
    )
    variant = ma.fields.String(
        allow_none=True,
        metadata={"description": "The experiment's variant that served it (null outside one)."},
    )
    ignored_items = ma.fields.List(
        ma.fields.String(),
        metadata={"description": "recent_items / cart_items the model does not know."},
    )


def recommendations_body(
    result: Recommendations, *, experiment: str | None = None, variant: str | None = None
) -> dict[str, Any]:
    """The body :class:`RecommendationsSchema` describes, built directly.

    marshmallow's dump of a 10-item response costs about 60 µs here, a third of the
    request's own work (docs/serving-speed.md); the recommender's items already are
    the response's dicts.
    tests/api/test_schemas.py holds the two equal, so the schema stays the one
    description of the response (and of the OpenAPI document).
    """
    return {
        "recommendation_id": result.recommendation_id,
        "model_version": result.model_version,
        "placement": result.placement,
        "strategy": result.strategy,
        "items": result.items,
        "experiment": experiment,
        "variant": variant,
        "ignored_items": result.ignored_items,
    }


def recommendations_response(
    result: Recommendations, *, experiment: str | None = None, variant: str | None = None
) -> Response:
    """:func:`recommendations_body` as a JSON response."""
    return jsonify(recommendations_body(result, experiment=experiment, variant=variant))


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


class StatsQuerySchema(ma.Schema):
    """``GET /v1/stats/recommendations``: a time range, by default the last 30 days."""

    start = Timestamp(metadata={"description": "From (ISO 8601 or epoch seconds); default"
                                " 30 days before `end`."})  # fmt: skip
    end = Timestamp(metadata={"description": "Until, excluded; default: now, included."})
    by_day = ma.fields.Boolean(
        load_default=False, metadata={"description": "One group per day (UTC) too."}
    )
    experiment = Text(max_length=128, metadata={"description": "Only this experiment's lists."})

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "start" in data and "end" in data and data["start"] >= data["end"]:
            raise ma.ValidationError("must be before end", field_name="start")


class RateSchema(ma.Schema):
    """A proportion of the impressions, with its 95% Wilson interval."""

    rate = ma.fields.Float(required=True)
    low = ma.fields.Float(required=True)
    high = ma.fields.Float(required=True)


class StatsGroupSchema(ma.Schema):
    """The figures of one placement, model version, experiment variant (and day)."""

    placement = ma.fields.String(required=True)
    model_version = ma.fields.String(required=True)
    experiment = ma.fields.String(allow_none=True)
    variant = ma.fields.String(allow_none=True)
    day = ma.fields.String(metadata={"description": "The day (UTC), with by_day."})
    impressions = ma.fields.Integer(required=True, metadata={"description": "Lists recorded."})
    views = ma.fields.Integer(
        required=True, metadata={"description": "Lists from which an item was opened."}
    )
    add_to_carts = ma.fields.Integer(
        required=True, metadata={"description": "Lists that led to a cart."}
    )
    purchases = ma.fields.Integer(
        required=True, metadata={"description": "Lists that led to a purchase."}
    )
    revenue = ma.fields.Float(
        required=True, metadata={"description": "Credited purchases: price x quantity."}
    )
    views_per_impression = ma.fields.Nested(RateSchema, required=True)
    add_to_carts_per_impression = ma.fields.Nested(RateSchema, required=True)
    purchases_per_impression = ma.fields.Nested(RateSchema, required=True)


class StatsSchema(ma.Schema):
    """What recommendations earned over a time range."""

    start = ma.fields.String(required=True)
    end = ma.fields.String(required=True)
    groups = ma.fields.List(ma.fields.Nested(StatsGroupSchema), required=True)
    unattributed = ma.fields.Integer(
        required=True,
        metadata={"description": "Events in the range credited to a recommendation_id no"
                  " recorded list has (unknown ids, lists not sampled)."},
    )  # fmt: skip


class VariantSchema(ma.Schema):
    """An experiment's variant: a published model version, the placement rules it
    changes, and its share of the traffic."""

    name = Id(required=True)
    version = Id(required=True)
    weight = ma.fields.Integer(load_default=1, strict=True,
                               validate=validate.Range(min=1, max=1_000_000))  # fmt: skip
    rules = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Raw(allow_none=False), load_default=dict,
        metadata={"description": "Placement rules this variant changes (a placement"
                  " configuration), e.g. {\"strategy\": \"popular\"} or {\"taste_weight\": 0};"
                  " none: the placement's own rules."},
    )  # fmt: skip


class ExperimentStartSchema(ma.Schema):
    """``POST /v1/experiments``."""

    name = Id(required=True)
    placement = Placement(load_default="home")
    variants = ma.fields.List(ma.fields.Nested(VariantSchema), required=True,
                              validate=validate.Length(min=2, max=20))  # fmt: skip


class ExperimentSchema(ma.Schema):
    """An experiment as stored."""

    name = ma.fields.String(required=True)
    placement = ma.fields.String(required=True)
    started = ma.fields.Integer(required=True, metadata={"description": "Epoch seconds."})
    stopped = ma.fields.Integer(allow_none=True)
    running = ma.fields.Boolean(required=True)
    promoted = ma.fields.String(allow_none=True)
    variants = ma.fields.List(ma.fields.Nested(VariantSchema), required=True)


class ExperimentQuerySchema(ma.Schema):
    """``GET /v1/experiments/{name}``."""

    metric = ma.fields.String(load_default="purchases", validate=validate.OneOf(METRICS))
    lift = ma.fields.Float(load_default=0.1, validate=validate.Range(min=0.001, max=10))


class PromoteSchema(ma.Schema):
    """``POST /v1/experiments/{name}/promote``."""

    variant = Id(metadata={"description": "Promote this variant (default: the winner)."})
    metric = ma.fields.String(load_default="purchases", validate=validate.OneOf(METRICS))
