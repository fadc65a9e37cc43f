"""Recommendation endpoints: per shopper, per item, per moment, and popular items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Response, g

from ..errors import InvalidRequest
from ..serving.filters import Filters
from ..serving.recommender import Recommendations
from ..serving.service import Serving
from .blueprint import Blueprint, json_body
from .extension import serving
from .schemas import (
    Id,
    PopularQuerySchema,
    RecommendationRequestSchema,
    RecommendationsSchema,
    SimilarQuerySchema,
    UserRecommendationsQuerySchema,
    is_id,
    recommendations_response,
)
from .schemas import (
    path_id as path_id_doc,
)

blp = Blueprint(
    "recommendations", __name__, url_prefix="/v1",
    description="Recommendations for the shop's micro-moment pages.",
)  # fmt: skip


_ID = Id()
#: the query of GET /v1/users/<user_id>/recommendations (recsvc.api.hotpath finds its
#: parsed query strings by this instance)
USER_QUERY = UserRecommendationsQuerySchema()


def path_id(value: str, field: str) -> str:
    """Check an id taken from the URL path by the same rules as the schemas."""
    if is_id(value):
        return value
    try:  # the field's own message
        checked: str = _ID.deserialize(value)
    except ma.ValidationError as exc:
        raise InvalidRequest(f"{field}: {exc.messages[0]}", field=field) from None
    return checked


def recommend(
    *, placement: str, user_id: str | None = None, session_id: str | None = None, **context: Any
) -> Response:
    """:func:`answer` from this process, as the view's response."""
    g.placement = placement  # for the request's metrics and access log
    result, experiment, variant = answer(serving(), placement=placement, user_id=user_id,
                                         session_id=session_id, **context)  # fmt: skip
    return recommendations_response(result, experiment=experiment, variant=variant)


def answer(
    process: Serving, *, placement: str, user_id: str | None = None,
    session_id: str | None = None, **context: Any,
) -> tuple[Recommendations, str | None, str | None]:  # fmt: skip
    """The answer of this process's current version, or of the shopper's variant when
    the placement runs an experiment, with what the shopper did after the model's data
    (live events, from this process's memory), recorded as an impression (in memory;
    written in the background): (the list, its experiment, its variant). Needs no
    request context (recsvc.api.hotpath calls it too)."""
    routed = process.route(placement, user_id, session_id)
    recommender = routed.recommender
    live = process.live.of(user_id, after=recommender.trained_until)
    result = recommender.recommend(placement=placement, user_id=user_id, live=live,
                                   rules=routed.rules, **context)  # fmt: skip
    experiment, variant = routed.experiment, routed.variant
    if process.impressions is not None:
        process.impressions.record(result, user_id=user_id, session_id=session_id,
                                   experiment=experiment, variant=variant)  # fmt: skip
    return result, experiment, variant


def filters_of(args: Mapping[str, Any]) -> Filters:
    """The business filters of a request's arguments."""
    return Filters(
        category=args.get("category"),
        min_price=args.get("min_price"),
        max_price=args.get("max_price"),
        exclude=tuple(args.get("exclude_items") or ()),
        in_stock=args.get("in_stock"),
    )


@blp.route("/users/<user_id>/recommendations", parameters=[path_id_doc("user_id")])
@blp.direct
@blp.arguments(USER_QUERY, location="query")
@blp.response(200, RecommendationsSchema())
def user_recommendations(args: dict[str, Any], user_id: str) -> Response:
    """Recommendations for a shopper on a home or category page.

    Unknown shoppers get popular items (within the category when one is given).
    Placements that need page context (product, cart) take it through
    `POST /v1/recommendations`.
    """
    return recommend(**user_request(args, path_id(user_id, "user_id")))


def user_request(args: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    """What ``GET /v1/users/<user_id>/recommendations`` asks of :func:`answer`, from its
    parsed query and its checked id."""
    return {"placement": args["placement"], "user_id": user_id,
            "session_id": args.get("session_id"), "n": args["n"],
            "filters": filters_of(args)}  # fmt: skip


@blp.route("/recommendations", methods=["POST"])
@json_body
@blp.arguments(RecommendationRequestSchema())
@blp.response(200, RecommendationsSchema())
def moment_recommendations(body: dict[str, Any]) -> Response:
    """Recommendations for a moment: the shopper, the item on the page, the cart, the session.

    Anonymous shoppers with `recent_items` get a taste folded in from those items;
    ids the model does not know are ignored and listed in `ignored_items`.
    """
    return recommend(
        placement=body["placement"],
        user_id=body.get("user_id"),
        session_id=body.get("session_id"),
        recent_items=body["recent_items"],
        cart_items=body["cart_items"],
        item_id=body.get("item_id"),
        n=body["n"],
        filters=filters_of(body["filters"]),
    )


@blp.route("/items/<item_id>/similar", parameters=[path_id_doc("item_id")])
@blp.direct
@blp.arguments(SimilarQuerySchema(), location="query")
@blp.response(200, RecommendationsSchema())
@blp.alt_response(404, description="The model does not know the item.")
def similar_items(args: dict[str, Any], item_id: str) -> Response:
    """Items like this one (the product placement), tilted to the shopper's taste if known."""
    return recommend(
        placement="product", item_id=path_id(item_id, "item_id"), user_id=args.get("user_id"),
        session_id=args.get("session_id"), n=args["n"], filters=filters_of(args),
    )  # fmt: skip


@blp.route("/popular")
@blp.direct
@blp.arguments(PopularQuerySchema(), location="query")
@blp.response(200, RecommendationsSchema())
def popular(args: dict[str, Any]) -> Response:
    """The most popular items, overall or within a category."""
    return recommend(
        placement="popular",
        user_id=args.get("user_id"),
        session_id=args.get("session_id"),
        n=args["n"],
        filters=filters_of(args),
    )
