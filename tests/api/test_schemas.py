from __future__ import annotations

import json

import pytest

from recsvc.api.schemas import RecommendationsSchema, recommendations_response
from recsvc.app import create_app
from recsvc.artifact import ModelStore
from recsvc.serving.filters import Filters
from recsvc.serving.recommender import Recommender


@pytest.mark.parametrize(
    "request_args",
    [
        {"user_id": "u1"},
        {"user_id": "nobody", "n": 3},
        {"recent_items": ["p1", "ghost"], "filters": Filters(max_price=20)},
        {"placement": "product", "item_id": "p2"},
        {"placement": "cart", "cart_items": ["p1"], "filters": Filters(in_stock=False)},
        {"placement": "popular", "filters": Filters(category="no such category")},
    ],
)
def test_fast_body_equals_the_schemas_dump(
    trained_store: ModelStore, request_args: dict[str, object]
) -> None:
    """The response body is exactly what RecommendationsSchema describes."""
    recommender = Recommender(trained_store.load())
    result = recommender.recommend(**request_args)  # type: ignore[arg-type]
    app = create_app(
        {"models": str(trained_store.root), "reload_interval": 0, "catalog_interval": 0}
    )
    with app.app_context():
        body = json.loads(recommendations_response(result, variant="b").get_data())
    dumped = RecommendationsSchema().dump({**vars(result), "experiment": None, "variant": "b"})
    assert body == json.loads(json.dumps(dumped))
    assert list(body) == list(RecommendationsSchema().fields)
