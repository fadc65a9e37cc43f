"""Business filters as one predicate over item rows."""

from __future__ import annotations

import numpy as np
import pytest

from recsvc.artifact import ModelStore
from recsvc.serving.catalog import LiveCatalog
from recsvc.serving.filters import Allowed, Filters, union


@pytest.fixture
def catalog(trained_store: ModelStore) -> LiveCatalog:
    return LiveCatalog(trained_store.load())


def test_union_is_sorted_and_empty_parts_are_skipped() -> None:
    assert union([np.array([5, 1]), np.array([], np.int64), np.array([3, 1])]).tolist() == [
        1, 1, 3, 5]  # fmt: skip
    assert union([]).tolist() == []


def test_each_rule_removes_what_it_names(catalog: LiveCatalog) -> None:
    rows = np.arange(len(catalog.item_ids))
    everything = Allowed(catalog, union([]), in_stock=False, filters=Filters())
    assert everything(rows).all()
    assert not everything(np.array([-1]))[0]  # a pad never passes
    in_stock = Allowed(catalog, union([]), in_stock=True, filters=Filters())
    assert np.array_equal(in_stock(rows), catalog.available)
    excluded = Allowed(catalog, np.array([0, 2]), in_stock=False, filters=Filters())
    assert excluded(rows[:4]).tolist() == [False, True, False, True]
    shoes = Allowed(catalog, union([]), in_stock=False, filters=Filters(category="Shoes"))
    assert np.array_equal(shoes(rows), catalog.categories == "Shoes")
    nowhere = Allowed(catalog, union([]), in_stock=False, filters=Filters(category="Nowhere"))
    assert not nowhere(rows).any()
    priced = Allowed(catalog, union([]), in_stock=False,
                     filters=Filters(min_price=10, max_price=20))  # fmt: skip
    assert np.array_equal(priced(rows), (catalog.price >= 10) & (catalog.price <= 20))


def test_stock_is_read_live(catalog: LiveCatalog) -> None:
    passing = Allowed(catalog, union([]), in_stock=True, filters=Filters())
    item = int(np.flatnonzero(catalog.available)[0])
    catalog.apply([{"item_id": str(catalog.item_ids[item]), "available": False}])
    assert not passing(np.array([item]))[0]


@pytest.mark.parametrize(
    ("in_stock", "excluded", "filters"),
    [(False, [], Filters()), (True, [0, 2, 7], Filters()),
     (True, [1, 3], Filters(category="Shoes")), (False, [], Filters(category="Nowhere")),
     (True, [4], Filters(min_price=10, max_price=40)),
     (False, [5], Filters(category="Shoes", max_price=30))],
)  # fmt: skip
def test_a_scans_scope_passes_what_the_predicate_passes(
    catalog: LiveCatalog, in_stock: bool, excluded: list[int], filters: Filters
) -> None:
    """A catalog scan looks at the category's rows only (or every row) and passes there
    exactly what the row-by-row predicate passes, over the first ``count`` rows."""
    passing = Allowed(catalog, union([np.array(excluded, np.int64)]), in_stock=in_stock,
                      filters=filters)  # fmt: skip
    count = len(catalog.item_ids) - 3
    rows, ok = passing.scope(count)
    everywhere = np.arange(count)
    if filters.category is None:
        assert rows is None
        assert np.array_equal(ok, passing(everywhere))
    else:
        assert np.array_equal(rows, np.flatnonzero(catalog.categories[:count] == filters.category))
        assert np.array_equal(rows[ok], everywhere[passing(everywhere)])
