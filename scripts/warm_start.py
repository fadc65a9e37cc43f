"""Does the version's ALS, started from the holdout's factors, score as a cold fit?

`recsvc train` fits ALS twice on nearly the same events: on the holdout's training part
(to score it), then on every event (the version). The version's fit starts from the
holdout's factors and runs ``--warm-iterations``. This checks that choice on a future
neither fit reads: the events are split forward (the outer holdout); the outer
training part plays the version's events, and its own forward holdout's training part
the holdout's. Fits of the outer training part, each scored on the outer future:

- cold, ``--iterations`` from random factors (what the version did before), and the same
  with another seed (how much two equally good fits differ);
- cold with fewer iterations (is it the start, or only fewer iterations?);
- warm: each of ``--warm`` iterations from the inner holdout's factors.

It prints NDCG@10 with its 95% bootstrap interval, the fit's seconds, and the share of
each shopper's top 10 it has in common with the cold fit's.

    python scripts/warm_start.py --events ../shared/data/ml-100k/events.csv
    python scripts/warm_start.py --events var/bench/10000000/events.parquet --warm 1,2,3,5,8
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.evaluation.holdout import holdout_for
from recsvc.evaluation.metrics import lists, score
from recsvc.pipeline import read_dataset
from recsvc.training.fit import Start
from recsvc.training.models import fit_als


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--events",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Events file (.csv, .parquet or .jsonl), as recsvc train reads it.",
)
@click.option(
    "--items",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog file (only items in stock are recommended, as served).",
)
@click.option(
    "--warm", default="1,3", show_default=True, help="Warm iterations to try, comma-separated."
)
@click.option(
    "--short", default="3", show_default=True, help="Cold iterations to try beside the full fit."
)
def main(events: Path, items: Path | None, warm: str, short: str) -> None:
    """NDCG@10 on the future of ALS fitted cold, and warm from the holdout's factors."""
    config = TrainingConfig(model="als")
    data = read_dataset(Files(events, items), config)
    outer = holdout_for(data, config)
    inner = holdout_for(data.with_events(outer.train_events), config)
    matrix = outer.train.matrix
    holdout_fit = fit_als(inner.train.matrix, config)
    start = Start(inner.train.users, inner.train.items, holdout_fit.user_factors,
                  holdout_fit.item_factors).aligned(outer.train.users, outer.train.items,
                                                    config.seed)  # fmt: skip
    click.echo(f"{matrix.shape[0]:,} shoppers x {matrix.shape[1]:,} items"
               f" ({matrix.nnz:,} interactions), {outer.scored} on the future;"
               f" {config.als_iterations} iterations cold")  # fmt: skip
    runs = [("cold", config, None), ("cold, another seed", config.replace(seed=config.seed + 1),
                                     None)]  # fmt: skip
    runs += [(f"cold, {_iterations(n)}", config.replace(als_iterations=int(n)), None)
             for n in short.split(",") if n]  # fmt: skip
    runs += [(f"warm, {_iterations(n)}", config.replace(als_warm_iterations=int(n)), start)
             for n in warm.split(",") if n]  # fmt: skip
    click.echo("| fit | seconds | NDCG@10 | 95% interval | top 10 in common with cold |")
    click.echo("|---|---:|---:|---|---:|")
    reference = None
    for name, settings, begin in runs:
        started = time.perf_counter()
        model = fit_als(matrix, settings, start=begin)
        seconds = time.perf_counter() - started
        found = lists(model, outer, in_stock=data.in_stock())
        scores = score(found, outer.truth, item_count=len(outer.train.items))
        reference = found if reference is None else reference
        common = np.mean([_in_common(a, b) for a, b in
                          zip(found.tolist(), reference.tolist(), strict=True)])  # fmt: skip
        click.echo(f"| {name} | {seconds:.1f} | {scores['ndcg@10']:.4f} |"
                   f" [{scores['ndcg@10 low']:.4f}, {scores['ndcg@10 high']:.4f}] |"
                   f" {common:.3f} |")  # fmt: skip


def _in_common(found: list[int], reference: list[int]) -> float:
    """The share of a reference list's items (-1: none) that another list has."""
    wanted = set(reference) - {-1}
    return len(set(found) & wanted) / max(len(wanted), 1)


def _iterations(count: str) -> str:
    return f"{count} iteration{'' if int(count) == 1 else 's'}"


if __name__ == "__main__":
    main()
