from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recsvc.data.catalog import Catalog, read_catalog
from recsvc.errors import DataError

WriteCsv = Callable[[str, str], Path]
HEADER = "item_id,title,category,price,available\n"


def test_reads_fields_with_blanks(write_csv: WriteCsv) -> None:
    path = write_csv("items.csv", HEADER + "a,Red shoe,Shoes,19.90,true\nb,,,,\nc,Lamp,Home,5,no\n")
    catalog = read_catalog(path)
    assert catalog.item_id.tolist() == ["a", "b", "c"]
    assert catalog.title.tolist() == ["Red shoe", "", "Lamp"]
    assert catalog.category.tolist() == ["Shoes", "", "Home"]
    assert catalog.price[0] == pytest.approx(19.9)
    assert np.isnan(catalog.price[1])
    assert catalog.available.tolist() == [True, True, False]


def test_only_item_id_is_required(write_csv: WriteCsv) -> None:
    catalog = read_catalog(write_csv("items.csv", "item_id\nx\ny\n"))
    assert len(catalog) == 2
    assert catalog.available.all()
    assert np.isnan(catalog.price).all()


def test_available_as_numbers(write_csv: WriteCsv) -> None:
    catalog = read_catalog(write_csv("items.csv", "item_id,available\na,1\nb,0\nc,\n"))
    assert catalog.available.tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("text", "row", "field", "words"),
    [
        ("a,A,X,1,true\na,B,X,2,true\n", 2, "item_id", "item listed twice"),
        ("a,A,X,-1,true\n", 1, "price", "must not be negative"),
        ("a,A,X,cheap,true\n", 1, "price", "not a number"),
        ("a,A,X,1,true\nb,B,X,1,maybe\n", 2, "available", "true or false"),
        (",A,X,1,true\n", 1, "item_id", "empty id"),
    ],
)
def test_bad_rows(write_csv: WriteCsv, text: str, row: int, field: str, words: str) -> None:
    with pytest.raises(DataError) as caught:
        read_catalog(write_csv("items.csv", HEADER + text))
    assert (caught.value.row, caught.value.field) == (row, field)
    assert words in str(caught.value)


def test_aligned_to_fills_unknown_items(write_csv: WriteCsv) -> None:
    catalog = read_catalog(write_csv("items.csv", HEADER + "b,Bee,X,2,false\na,Ay,Y,1,true\n"))
    aligned = catalog.aligned_to(np.array(["a", "b", "zz"]))
    assert aligned.title.tolist() == ["Ay", "Bee", ""]
    assert aligned.available.tolist() == [True, False, True]
    assert np.isnan(aligned.price[2])
    empty = Catalog.empty().aligned_to(np.array(["a"]))
    assert empty.title.tolist() == [""]
    assert empty.available.tolist() == [True]
