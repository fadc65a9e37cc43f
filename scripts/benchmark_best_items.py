"""Each shopper's best items: dense scores against split scores, side by side in one run.

    python scripts/benchmark_best_items.py                                # 100,000 items
    python scripts/benchmark_best_items.py --events 10000000              # 12,649 items
    python scripts/benchmark_best_items.py --events 20000000 --items 1000000 --users 5000

A synthetic shop (``scripts/sample_data.py``, kept in var/bench/ between runs) is read
and its matrix fitted as ``recsvc train`` does (ALS with recsvc's defaults, next items,
recent popularity). For each ranker recsvc's selection tries, the best 100 untouched
items of ``--users`` shoppers are ranked both ways (``recsvc.training.models.base``):

- **dense**: every item's score of a batch of users, standardized and summed for a
  blend, then the top 100 (what recsvc does below ``SPLIT_MIN_ITEMS`` items, or
  ``SPARSE_SPLIT_MIN_ITEMS`` for a ranker without ALS);
- **split**: the low-rank part's top 100 (``base.low_rank_top``: bands of falling
  norm until no item left can beat the 100th best), merged with the sparse part's
  items scored whole (what it does from those sizes).

Both use both cores. Reported: seconds each, and how far the lists agree (the share
of the dense top 10 in the split top 10, the largest relative score difference).

A second table times the low-rank part alone (ALS's factors, the shoppers' own items
left out), one thread, in batches as ``recsvc train`` ranks: implicit's top-k over
every item (what split scores used before) against ``low_rank_top``, and the share of
the 100 places where both put the same item.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import numpy as np
import scipy.sparse as sp
from bench_shops import data_option, shop
from implicit.cpu.topk import topk
from threadpoolctl import threadpool_limits

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.training.fit import fit_ranker
from recsvc.training.matrix import build_interactions
from recsvc.training.models import AlsModel, base, fit_als

#: the rankers compared: a name and the settings that make them
RANKERS = {
    "ALS": {"next_items_weight": 0.0},
    "ALS + next items": {"next_items_weight": 0.5},
    "ALS + next items + popularity (7-day)": {
        "next_items_weight": 0.5, "popularity_weight": 1.0, "popularity_half_life_days": 7.0,
    },
    "item-kNN + next items": {"model": "itemknn", "next_items_weight": 0.5},
    "item-kNN + next items + popularity (7-day)": {
        "model": "itemknn", "next_items_weight": 0.5, "popularity_weight": 1.0,
        "popularity_half_life_days": 7.0,
    },
}  # fmt: skip


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--events", default=2_000_000, show_default=True, help="Events of the shop.")
@click.option(
    "--items", type=int, default=100_000, show_default=True,
    help="Products of the shop (0: sample_data.py's default for the events).",
)  # fmt: skip
@click.option("--users", default=20_000, show_default=True, help="Shoppers ranked.")
@data_option
def main(events: int, items: int, users: int, data: Path) -> None:
    """Time each shopper's best items from dense and from split scores."""
    folder = shop(data / (f"{events}-{items}-items" if items else f"{events}"), events,
                  *(["--items", str(items)] if items else []))  # fmt: skip
    config = TrainingConfig(model="als")
    dataset = Files(folder / "events.parquet", folder / "items.parquet").read(config)
    interactions = build_interactions(dataset.events, config.event_weights, items=dataset.items)
    matrix = interactions.matrix
    ranked = np.arange(min(users, matrix.shape[0]))
    als = fit_als(matrix, config)
    click.echo(f"{len(ranked):,} of {matrix.shape[0]:,} shoppers x {matrix.shape[1]:,} items,"
               f" top 100 each, both cores", err=True)  # fmt: skip
    click.echo("| ranker | dense | split | top 10 agreement | largest relative score difference |")
    click.echo("|---|---:|---:|---:|---:|")
    for name, settings in RANKERS.items():
        ranker = fit_ranker(interactions, dataset.events, config.replace(**settings),
                            als if settings.get("model", "als") == "als" else None)  # fmt: skip
        timings, lists = [], []
        for split_from in (sys.maxsize, 0):
            base.SPLIT_MIN_ITEMS = base.SPARSE_SPLIT_MIN_ITEMS = split_from
            start = time.perf_counter()
            lists.append(ranker.top_items(matrix, 100, users=ranked))
            timings.append(time.perf_counter() - start)
        (dense, dense_scores), (split, split_scores) = lists
        agreement = np.mean([len(np.intersect1d(d[:10], s[:10])) / max((d[:10] >= 0).sum(), 1)
                             for d, s in zip(dense, split, strict=True)])  # fmt: skip
        # relative: a blend's z-scores reach the hundreds (float32 error grows with them)
        difference = float((np.abs(dense_scores[:, :10] - split_scores[:, :10])
                            / np.maximum(np.abs(dense_scores[:, :10]), 1)).max())  # fmt: skip
        click.echo(f"| {name} | {timings[0]:.1f} s | {timings[1]:.1f} s | {agreement:.4f} |"
                   f" {difference:.1e} |")  # fmt: skip
    _low_rank_alone(als, matrix, ranked)


def _low_rank_alone(als: AlsModel, matrix: sp.csr_matrix, ranked: np.ndarray) -> None:
    """ALS's best 100 of the ranked shoppers both ways, one thread, batch by batch."""
    keys = base.Keys(als.item_factors)
    factors = np.ascontiguousarray(als.user_factors, dtype=np.float32)
    seconds = {"every item": 0.0, "bands": 0.0}
    same = []
    none = np.zeros(0, dtype=np.int64)
    with threadpool_limits(1, "blas"):
        for start in range(0, len(ranked), base.SPLIT_BATCH_USERS):
            users = ranked[start : start + base.SPLIT_BATCH_USERS]
            own = matrix[users]
            begin = time.perf_counter()
            every, _ = topk(keys.values, factors[users], 100, filter_query_items=own,
                            num_threads=1)  # fmt: skip
            seconds["every item"] += time.perf_counter() - begin
            begin = time.perf_counter()
            bands, _, _ = base.low_rank_top(keys, factors[users], 100, own, none)
            seconds["bands"] += time.perf_counter() - begin
            same.append(np.mean(every == bands))
    click.echo()
    click.echo("| ALS's top 100, one thread | every item (implicit's top-k) | bands of falling norm"
               " | same item at the same place |")  # fmt: skip
    click.echo("|---|---:|---:|---:|")
    click.echo(f"| {len(ranked):,} shoppers x {matrix.shape[1]:,} items |"
               f" {seconds['every item']:.1f} s | {seconds['bands']:.1f} s |"
               f" {np.mean(same):.5f} |")  # fmt: skip


if __name__ == "__main__":
    main()
