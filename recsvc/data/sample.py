"""A synthetic shop: catalog and event history with the shape of real shop data.

Power-law item popularity within categories, lognormal user activity, users with
tastes for a few categories, sessions that browse one category, and a funnel of
views, add-to-carts and purchases (about 90% views). Two behaviours of real shops that
a model of taste alone misses, each with a knob:

- **seasons** (``trend_share``): half of each category's products (its classics) sell
  all year by a power law; the other half are this season's, each launched on some day
  of the history, its appeal halving every ``trend_half_life_days`` after launch. A
  share of the views goes to them: what sells now.
- **series** (``follow_share``): a share of a shopper's views are the follow-up of their
  previous view (the next product of the category: the next volume, the matching
  accessory), across sessions: the order of a history matters.

The same seed gives the same shop; sizes run from a laptop demo to benchmark-sized logs
of tens of millions of events, written in chunks so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tqdm import tqdm

from .events import DAY

CATEGORIES = (
    "Shoes", "Dresses", "Shirts", "Jeans", "Jackets", "Bags", "Watches", "Jewellery",
    "Kitchen", "Bedding", "Lighting", "Garden", "Toys", "Books", "Games", "Audio",
    "Phones", "Laptops", "Beauty", "Sports",
)  # fmt: skip
VIEWS_PER_SESSION = 3.5
CART_RATE = 0.09  # of views
PURCHASE_RATE = 0.45  # of add-to-carts


@dataclass(frozen=True, kw_only=True)
class ShopShape:
    """How big the synthetic shop is and how it behaves."""

    events: int = 150_000
    users: int | None = None
    items: int | None = None
    days: int = 90
    end: str = "2026-11-01T00:00:00"
    seed: int = 7
    #: share of views that go to this season's products (0: none)
    trend_share: float = 0.3
    #: days after which a season's product has half the appeal it had at launch
    trend_half_life_days: float = 14.0
    #: share of a shopper's views that follow up their previous one (0: order is noise)
    follow_share: float = 0.2

    @property
    def user_count(self) -> int:
        """Shoppers drawn from: one per 40 events unless set (the least active of them
        may never shop in a small sample)."""
        return self.users or max(50, self.events // 40)

    @property
    def item_count(self) -> int:
        """Products: grows slower than the event log unless set."""
        return self.items or int(min(200_000, max(100, 4 * self.events**0.5)))


def catalog_table(shape: ShopShape) -> pa.Table:
    """The products: id, title, category, price and stock."""
    rng = np.random.default_rng([shape.seed, 1])
    n = shape.item_count
    category = _item_categories(n)
    price_level = rng.lognormal(3.2, 0.6, size=len(CATEGORIES))
    price = np.round(price_level[category] * rng.lognormal(0.0, 0.5, size=n), 2)
    rank = np.arange(n) - np.searchsorted(category, category)
    names = np.asarray(CATEGORIES)[category]
    return pa.table({
        "item_id": _ids("p", np.arange(n)),
        "title": pc.binary_join_element_wise(
            pa.array(names), pa.array((rank + 1).astype(str)), " no. "
        ),
        "category": pa.array(names),
        "price": pa.array(price),
        "available": pa.array(rng.random(n) > 0.05),
    })  # fmt: skip


def event_chunks(shape: ShopShape, *, chunk_sessions: int = 500_000) -> Iterator[pa.Table]:
    """The event log, a chunk of sessions at a time (each chunk sorted by time)."""
    rng = np.random.default_rng([shape.seed, 2])
    users, items = shape.user_count, shape.item_count
    category = _item_categories(items)
    starts = np.searchsorted(category, np.arange(len(CATEGORIES)))
    sizes = np.diff(np.append(starts, items))
    season = _Season(shape, category, starts, sizes)
    activity, taste = _shoppers(shape, rng)
    taste = np.cumsum(taste, axis=1)
    end = np.datetime64(shape.end, "s").astype(np.int64)
    events_per_session = VIEWS_PER_SESSION * (1 + CART_RATE * (1 + PURCHASE_RATE))
    sessions = max(1, round(shape.events / events_per_session))
    first_session = 0
    while first_session < sessions:
        count = min(chunk_sessions, sessions - first_session)
        user = rng.choice(users, size=count, p=activity)
        cat = (rng.random((count, 1)) > taste[user]).sum(axis=1)
        cat = np.minimum(cat, len(CATEGORIES) - 1)
        start = end - rng.integers(0, int(shape.days * DAY), size=count)
        views = 1 + rng.poisson(VIEWS_PER_SESSION - 1, size=count)
        session = np.repeat(np.arange(first_session, first_session + count), views)
        s = session - first_session
        when = start[s] + _offsets_within_session(views, rng)
        # the classics: popularity falls off as a power law of the item's rank
        item = starts[cat[s]] + (season.classics[cat[s]] * rng.random(len(s)) ** 3).astype(np.int64)
        trending = rng.random(len(s)) < shape.trend_share
        item[trending] = season.draw(cat[s][trending], when[trending], item[trending], rng)
        item = _follow_ups(item, user[s], when, category, starts, sizes,
                           share=shape.follow_share, rng=rng)  # fmt: skip
        carted = rng.random(len(s)) < CART_RATE
        bought = carted & (rng.random(len(s)) < PURCHASE_RATE)
        parts = [
            (s, item, when, "view", np.ones(len(s), np.int64)),
            (s[carted], item[carted], when[carted] + 30, "add_to_cart",
             np.ones(carted.sum(), np.int64)),
            (s[bought], item[bought], when[bought] + 300, "purchase",
             1 + rng.geometric(0.8, size=bought.sum()) - 1),
        ]  # fmt: skip
        yield _events_table(parts, user, first_session)
        first_session += count


def _shoppers(shape: ShopShape, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each shopper's share of the sessions, and their taste: the probability that a
    session of theirs browses each category (a few categories each)."""
    activity = rng.lognormal(0.0, 1.0, size=shape.user_count)
    activity /= activity.sum()
    taste = rng.dirichlet(np.full(len(CATEGORIES), 0.25), size=shape.user_count)
    return activity, taste


def shoppers_of(shape: ShopShape) -> tuple[np.ndarray, np.ndarray]:
    """The shop's shoppers as :func:`event_chunks` draws them (shopper ``u{n}`` is row
    n): their activity shares and their category tastes (rows sum to 1), the truth a
    simulation of their behaviour can use (scripts/simulate_experiment.py)."""
    return _shoppers(shape, np.random.default_rng([shape.seed, 2]))


class _Season:
    """This season's products: the second half of each category, each launched on a day
    of the history (or up to a month before it), its appeal halving every
    ``trend_half_life_days`` after launch."""

    def __init__(
        self, shape: ShopShape, category: np.ndarray, starts: np.ndarray, sizes: np.ndarray
    ) -> None:
        rng = np.random.default_rng([shape.seed, 3])
        self.classics = np.maximum(1, sizes // 2)
        self.half_life = shape.trend_half_life_days * DAY
        end = np.datetime64(shape.end, "s").astype(np.int64)
        seasonal = np.arange(len(category)) - starts[category] >= self.classics[category]
        launch = end - rng.integers(0, int((shape.days + 30) * DAY), size=len(category))
        # this season's products, by category and then launch
        self.items = np.flatnonzero(seasonal)
        order = np.lexsort((launch[self.items], category[self.items]))
        self.items = self.items[order]
        self.launch = launch[self.items]
        self.bounds = np.searchsorted(category[self.items], np.arange(len(starts) + 1))

    def draw(self, cat: np.ndarray, when: np.ndarray, fallback: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:  # fmt: skip
        """A season's product of each view's category: the latest launched before a
        moment drawn back from the view's time with the appeal's half-life (so each
        product's share halves every half-life after launch); ``fallback`` where the
        category has none launched by then."""
        moment = when - rng.exponential(self.half_life / np.log(2), size=len(when))
        low, high = self.bounds[cat], self.bounds[cat + 1]
        # per category, the launches are sorted: offset the moment into its segment
        key = cat.astype(np.float64) * 1e12 + moment
        keys = np.repeat(np.arange(len(self.bounds) - 1), np.diff(self.bounds)) * 1e12 + self.launch
        at = np.searchsorted(keys, key, side="right") - 1
        found = (at >= low) & (at < high)
        out = fallback.copy()
        out[found] = self.items[at[found]]
        return out


def _follow_ups(item: np.ndarray, user: np.ndarray, when: np.ndarray, category: np.ndarray,
                starts: np.ndarray, sizes: np.ndarray, *, share: float,
                rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """``item`` with a ``share`` of each shopper's views replaced by the follow-up of
    their previous view: the next product of its category (a run of follow-ups walks
    the category from where it started)."""
    if share <= 0 or not len(item):
        return item
    order = np.lexsort((when, user))
    follows = rng.random(len(item)) < share
    follows[0] = False
    follows[1:] &= user[order][1:] == user[order][:-1]
    position = np.arange(len(item))
    run_start = np.maximum.accumulate(np.where(follows, 0, position))
    first = item[order][run_start]
    cat = category[first]
    walked = starts[cat] + (first - starts[cat] + position - run_start) % sizes[cat]
    out = item.copy()
    out[order] = walked
    return out


def _offsets_within_session(views: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Seconds from the session's start to each view: 10 s to 3 min between views."""
    gaps = rng.integers(10, 180, size=int(views.sum()))
    total = np.cumsum(gaps)
    session_start = np.repeat(np.cumsum(views) - views, views)
    before = np.concatenate(([0], total))[session_start]
    return np.asarray(total - before, dtype=np.int64)


def _events_table(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, str, np.ndarray]],
    user: np.ndarray,
    first_session: int,
) -> pa.Table:
    session = np.concatenate([p[0] for p in parts])
    item = np.concatenate([p[1] for p in parts])
    when = np.concatenate([p[2] for p in parts])
    kind = np.concatenate([np.full(len(p[0]), p[3]) for p in parts])
    quantity = np.concatenate([p[4] for p in parts])
    order = np.argsort(when, kind="stable")
    return pa.table({
        "user_id": _ids("u", user[session[order]]),
        "item_id": _ids("p", item[order]),
        "event_type": pa.array(kind[order]),
        "timestamp": pa.array(when[order], pa.timestamp("s", tz="UTC")),
        "quantity": pa.array(quantity[order]),
        "session_id": _ids("s", session[order] + first_session),
    })  # fmt: skip


def _item_categories(items: int) -> np.ndarray:
    """Category of each item, items grouped by category, category sizes uneven."""
    share = 1.0 / np.arange(1, len(CATEGORIES) + 1) ** 0.7
    counts = np.maximum(1, np.floor(items * share / share.sum())).astype(np.int64)
    counts[0] += items - counts.sum()
    return np.repeat(np.arange(len(CATEGORIES)), counts)


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pa.array(numbers).cast(pa.string()), "")


def write_shop(shape: ShopShape, folder: Path, *, fmt: str = "csv") -> tuple[Path, Path]:
    """Write ``events.<fmt>`` and ``items.<fmt>`` (csv or parquet) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    items_path = folder / f"items.{fmt}"
    events_path = folder / f"events.{fmt}"
    _write_table(catalog_table(shape), items_path, fmt)
    chunks = event_chunks(shape)
    progress = tqdm(total=shape.events, unit=" events", desc=f"writing {events_path.name}")
    with progress, _TableWriter(events_path, fmt) as writer:
        for chunk in chunks:
            writer.write(chunk)
            progress.update(chunk.num_rows)
    return events_path, items_path


def shoppers(events_path: Path) -> int:
    """Distinct shoppers in a written events file."""
    if events_path.suffix == ".parquet":
        column = pq.read_table(events_path, columns=["user_id"]).column("user_id")
    else:
        options = pa_csv.ConvertOptions(include_columns=["user_id"])
        column = pa_csv.read_csv(events_path, convert_options=options).column("user_id")
    return len(pc.unique(column))


def _write_table(table: pa.Table, path: Path, fmt: str) -> None:
    with _TableWriter(path, fmt) as writer:
        writer.write(table)


class _TableWriter:
    """Appends tables to one CSV (timestamps in ISO 8601) or Parquet file."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._writer: pa_csv.CSVWriter | pq.ParquetWriter | None = None

    def __enter__(self) -> _TableWriter:
        return self

    def write(self, table: pa.Table) -> None:
        if self.fmt == "csv" and "timestamp" in table.column_names:
            iso = pc.strftime(table.column("timestamp"), format="%Y-%m-%dT%H:%M:%SZ")
            table = table.set_column(table.column_names.index("timestamp"), "timestamp", iso)
        if self._writer is None:
            if self.fmt == "csv":
                self._writer = pa_csv.CSVWriter(self.path, table.schema)
            else:
                self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
