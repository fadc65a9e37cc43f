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


def _views(shape: ShopShape) -> pa.Table:
    table = pa.concat_tables(event_chunks(shape))
    return table.filter(pa.compute.equal(table.column("event_type"), "view"))


def test_series_a_share_of_views_follow_up_the_previous_one() -> None:
    def followed(share: float) -> float:
        views = _views(ShopShape(events=20_000, items=400, follow_share=share, seed=5))
        user = views.column("user_id").to_numpy(zero_copy_only=False)
        item = np.char.lstrip(views.column("item_id").to_numpy(zero_copy_only=False).astype(str),
                              "p").astype(int)  # fmt: skip
        when = views.column("timestamp").cast(pa.int64()).to_numpy()
        order = np.lexsort((when, user))
        same = user[order][1:] == user[order][:-1]
        return float(np.mean((item[order][1:] == item[order][:-1] + 1)[same]))

    # series follow up about the share asked (plus the chance of a neighbour)
    assert followed(0.0) < 0.05
    assert 0.4 < followed(0.5) < 0.6


def test_seasons_what_sells_moves_with_time() -> None:
    def overlap(share: float) -> float:
        views = _views(ShopShape(events=30_000, items=400, trend_share=share, seed=5))
        when = views.column("timestamp").cast(pa.int64()).to_numpy()
        item = views.column("item_id").to_numpy(zero_copy_only=False)
        early, late = when < np.quantile(when, 0.25), when > np.quantile(when, 0.75)
        tops = [set(_top(item[part], 20)) for part in (early, late)]
        return len(tops[0] & tops[1]) / 20

    # the best sellers of the first weeks and the last: the same without seasons
    assert overlap(0.0) > 0.8
    assert overlap(0.8) < 0.5


def _top(values: np.ndarray, n: int) -> np.ndarray:
    names, counts = np.unique(values, return_counts=True)
    return names[np.argsort(-counts, kind="stable")[:n]]
