from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from recsvc.data.catalog import read_catalog
from recsvc.data.events import read_events
from recsvc.data.sample import ShopShape, event_chunks, write_shop

TYPES = ("view", "add_to_cart", "purchase")


def test_sample_shop_is_readable_and_shaped_like_a_shop(small_shop: tuple[Path, Path]) -> None:
    events_path, items_path = small_shop
    events = read_events(events_path, event_types=TYPES)
    catalog = read_catalog(items_path)
    assert 19_000 < len(events) < 21_000
    shares = np.bincount(events.event_type, minlength=3) / len(events)
    assert 0.85 < shares[0] < 0.95  # mostly views
    assert shares[1] > shares[2] > 0  # fewer purchases than add-to-carts
    assert set(events.item_id.to_pylist()) <= set(catalog.item_id.tolist())
    assert np.all(np.diff(events.timestamp) >= 0)
    assert events.timestamp.max() - events.timestamp.min() <= 90 * 86_400 + 3600
    # power-law popularity: the top 10% of items get far more than 10% of the views
    views = np.unique(events.item_id.to_numpy()[events.event_type == 0], return_counts=True)[1]
    top = np.sort(views)[::-1][: len(catalog) // 10].sum()
    assert top / views.sum() > 0.3


def test_same_seed_same_shop(tmp_path: Path) -> None:
    shape = ShopShape(events=2_000, seed=11)
    first = pa.concat_tables(event_chunks(shape))
    again = pa.concat_tables(event_chunks(shape))
    other = pa.concat_tables(event_chunks(ShopShape(events=2_000, seed=12)))
    assert first.equals(again)
    assert not first.equals(other)


def test_large_shops_come_in_chunks_and_parquet(tmp_path: Path) -> None:
    shape = ShopShape(events=30_000, users=500, items=200)
    chunks = list(event_chunks(shape, chunk_sessions=2_000))
    assert len(chunks) > 1
    assert 28_000 < sum(c.num_rows for c in chunks) < 32_000
    events_path, _ = write_shop(shape, tmp_path, fmt="parquet")
    events = read_events(events_path, event_types=TYPES)
    assert events.user_id.equals(pa.concat_tables(event_chunks(shape)).column("user_id"))


def test_the_sample_script_counts_the_shoppers_who_shopped(tmp_path: Path) -> None:
    from recsvc.data.sample import shoppers

    shape = ShopShape(events=4_000, users=500, items=100, seed=1)
    events_path, _ = write_shop(shape, tmp_path)
    distinct = len(set(read_events(events_path, event_types=TYPES).user_id.to_pylist()))
    assert shoppers(events_path) == distinct < shape.user_count  # some never shop
