"""What sparse EASE costs: the exact closed form beside each item keeping its k
strongest weights, on a catalog where both fit, on each split.

    python scripts/ease_sparsity.py --events ../shared/data/ml-100k/events.csv \
        --items ../shared/data/ml-100k/items.csv
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.evaluation.holdout import Holdout, holdout_for
from recsvc.evaluation.metrics import evaluate
from recsvc.pipeline import read_dataset
from recsvc.training.models import EaseModel, Ranker, SparseEaseModel


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--events", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--items", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--neighbours", default="200,100,50", show_default=True, help="Values of k.")
def main(events: Path, items: Path | None, neighbours: str) -> None:
    """NDCG@10 [95% interval], coverage and fitting seconds of exact and sparse EASE."""
    config = TrainingConfig()
    data = read_dataset(Files(events, items), config)
    sizes = [int(k) for k in neighbours.split(",")]
    click.echo("| split | exact | " + " | ".join(f"{k} per item" for k in sizes) + " |")
    click.echo("|---|" + "---:|" * (len(sizes) + 1))
    for split in ("forward", "user-time"):
        holdout = holdout_for(data, config, split=split)
        cells = [fitted(holdout, config, k) for k in (None, *sizes)]
        click.echo(f"| {split} | " + " | ".join(cells) + " |")


def fitted(holdout: Holdout, config: TrainingConfig, neighbours: int | None) -> str:
    """One model's cell: exact EASE (``neighbours`` None) or sparse, fitted and scored."""
    matrix, regularization = holdout.train.matrix, config.ease_regularization
    start = time.perf_counter()
    model: Ranker = (
        EaseModel.fit(matrix, regularization=regularization)
        if neighbours is None
        else SparseEaseModel.fit(matrix, regularization=regularization, neighbours=neighbours)
    )
    seconds = time.perf_counter() - start
    m = evaluate(model, holdout)
    return (f"{m['ndcg@10']:.4f} [{m['ndcg@10 low']:.4f}, {m['ndcg@10 high']:.4f}],"
            f" {m['coverage']:.4f}, {seconds:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
