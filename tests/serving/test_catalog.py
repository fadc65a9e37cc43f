"""The live catalog: ids to rows, items added since training, stock and price changes."""

from __future__ import annotations

import numpy as np
import pytest

from recsvc.artifact import ModelStore
from recsvc.errors import UnknownItem
from recsvc.serving.catalog import CatalogIndex, LiveCatalog


@pytest.fixture
def catalog(trained_store: ModelStore) -> LiveCatalog:
    return LiveCatalog(trained_store.load())


def test_popular_orders_overall_and_per_category() -> None:
    index = CatalogIndex.of(np.array(["b", "a", "b", "a"]), np.array([1, 4, 3, 2], np.float32))
    items, scores = index.popular(None)
    assert items.tolist() == [1, 2, 3, 0]
    assert scores.tolist() == [4, 3, 2, 1]
    assert index.popular("a")[0].tolist() == [1, 3]
    assert index.popular("b")[0].tolist() == [2, 0]
    assert index.popular("c")[0].tolist() == []
    assert index.code_of("b") == 1
    assert index.code_of("zz") == -1


def test_rows_of_known_unknown_and_new_items(catalog: LiveCatalog) -> None:
    first, second = catalog.item_ids[:2].tolist()
    rows, unknown = catalog.rows([second, "nope", first])
    assert rows.tolist() == [1, 0]
    assert unknown == ["nope"]
    catalog.apply([{"item_id": "fresh", "title": "New", "category": "Garden", "price": 2.0,
                    "available": True}])  # fmt: skip
    fresh = len(catalog.model_items)
    # new items count as known only where the model's knowledge is not needed
    assert catalog.rows(["fresh"])[1] == ["fresh"]
    assert catalog.rows(["fresh", "nope"], keep_unknown=True)[0].tolist() == [fresh, -1]
    assert catalog.known_rows(["nope", "fresh", first]).tolist() == [fresh, 0]
    assert catalog.model_row(first) == 0
    with pytest.raises(UnknownItem, match="unknown item 'fresh'"):
        catalog.model_row("fresh")


def test_stock_and_price_changes_and_new_items_in_their_category(catalog: LiveCatalog) -> None:
    item = str(catalog.item_ids[0])
    catalog.apply([{"item_id": item, "available": False, "price": None}])
    assert not catalog.available[0]
    assert not catalog.in_stock[-1]  # the pad entry stays out of stock
    assert np.isnan(catalog.price[0])
    catalog.apply([{"item_id": "lamp", "title": "Lamp", "category": "Lighting", "price": 19.9,
                    "available": True}])  # fmt: skip
    lighting = catalog.index.popular("Lighting")[0]
    assert catalog.item_ids[lighting[-1]] == "lamp"  # after every item sold before
    assert len(catalog.in_stock) == len(catalog.item_ids) + 1
    row = catalog.known_rows(["lamp"])
    (listed,) = catalog.items(row, np.array([0.5], np.float32))
    assert listed == {"item_id": "lamp", "score": 0.5, "title": "Lamp", "category": "Lighting",
                      "price": 19.9, "available": True}  # fmt: skip
    catalog.apply([{"item_id": "lamp", "available": False, "price": 21.0}])
    assert catalog.items(row, np.array([0.5], np.float32))[0]["available"] is False
