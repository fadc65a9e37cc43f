"""The holdout's scoring: a sample of the shoppers against every one of them, in one run.

    python scripts/benchmark_holdout.py                      # 50M events (as in docs/scaling.md)
    python scripts/benchmark_holdout.py --events 10000000

A synthetic shop (``scripts/sample_data.py``, kept in var/bench/ between runs) gets the
forward holdout ``recsvc train`` scores before it publishes, twice: scoring at most
``--holdout-max-shoppers`` shoppers (the default, a seeded sample beyond), and scoring
every shopper who could be scored. One model (``--model``, ALS by default) is fitted on
the holdout's training part once; then each holdout's shoppers are ranked through the
serving recommender as ``recsvc train`` ranks them. Reported: seconds for each (the
fit excluded) and NDCG@10 with its 95% interval, so the sample's cost in precision is
beside its saving in time.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from bench_shops import data_option, shop

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.evaluation.holdout import holdout_for
from recsvc.evaluation.served import evaluate_served
from recsvc.pipeline import read_dataset
from recsvc.training.fit import Fits


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--events", type=int, default=50_000_000, show_default=True,
              help="About how many events the synthetic shop has.")  # fmt: skip
@click.option("--model", default="als", show_default=True, help="The model fitted.")
@click.option("--holdout-max-shoppers", type=int, default=TrainingConfig.holdout_max_shoppers,
              show_default=True, help="The sample's size.")  # fmt: skip
@data_option
def main(events: int, model: str, holdout_max_shoppers: int, data: Path) -> None:
    """Seconds and NDCG@10 of a holdout scoring a sample of its shoppers, and all."""
    folder = shop(data / f"{events}", events)
    config = TrainingConfig(model=model, holdout_max_shoppers=holdout_max_shoppers)
    dataset = read_dataset(Files(folder / "events.parquet", folder / "items.parquet"), config)
    sample = holdout_for(dataset, config)
    every = holdout_for(dataset, config.replace(holdout_max_shoppers=len(dataset.events)))
    fits = Fits()
    start = time.perf_counter()
    evaluate_served(dataset, sample, config, fits=fits)  # fits the model, shared below
    click.echo(f"{len(dataset.events):,} events; the fit and a first scoring:"
               f" {time.perf_counter() - start:.1f} s")  # fmt: skip
    click.echo("| holdout | shoppers scored | seconds (fit excluded) | NDCG@10 [95%] |")
    click.echo("|---|---:|---:|---|")
    for name, holdout in (("a sample", sample), ("every shopper", every)):
        start = time.perf_counter()
        found = evaluate_served(dataset, holdout, config, fits=fits)
        seconds = time.perf_counter() - start
        click.echo(f"| {name} | {len(holdout.users):,} | {seconds:.1f} |"
                   f" {found['ndcg@10']:.4f} [{found['ndcg@10 low']:.4f},"
                   f" {found['ndcg@10 high']:.4f}] |")  # fmt: skip


if __name__ == "__main__":
    main()
