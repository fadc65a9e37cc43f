"""Does choosing the model on a shop's validation split transfer to its future?

For a data set and a split: the evaluation's training part is split again (the same
protocol) into fitting and validation parts; every candidate of ``recsvc train --model
auto`` (both rounds) is scored on that validation part, and also (for this check only) on the test
part that the choice never reads. It prints both scores per candidate and its cost (the
seconds fitting and scoring it would take alone), and whether the chosen candidate's
test score, and the best on validation's (where the choice took a cheaper one as good
within the noise), lie within the best test score's 95% bootstrap interval.

    python scripts/selection_transfer.py --events ../shared/data/ml-100k/events.csv --split forward
"""

from __future__ import annotations

from pathlib import Path

import click

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.evaluation.holdout import SPLITS, holdout_for
from recsvc.evaluation.selection import select
from recsvc.evaluation.served import evaluate_served
from recsvc.pipeline import read_dataset
from recsvc.training.fit import Fits


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--events", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--items", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--split", type=click.Choice(SPLITS), default="forward", show_default=True)
def main(events: Path, items: Path | None, split: str) -> None:
    """Validation and test scores of every candidate; the chosen one against the best."""
    config = TrainingConfig()
    data = read_dataset(Files(events, items), config)
    test = holdout_for(data, config, split=split)
    past = data.with_events(test.train_events)
    chosen, tried = select(past, config, split=split, budget=3600)
    fits = Fits()
    on_test = {}
    for candidate in tried:
        on_test[candidate.name] = evaluate_served(data, test, candidate.config, fits=fits)
    best = max(on_test, key=lambda name: on_test[name]["ndcg@10"])
    click.echo(f"{split}: {len(test.users):,} shoppers scored on the test part")
    click.echo("| candidate | validation NDCG@10 | seconds alone | test NDCG@10 |"
               " test 95% interval |")  # fmt: skip
    click.echo("|---|---:|---:|---:|---|")
    for candidate in tried:
        t = on_test[candidate.name]
        mark = " (chosen)" if candidate.name == chosen.name else ""
        mark += " (best on validation)" if candidate is tried[0] else ""
        mark += " (best on test)" if candidate.name == best else ""
        interval = f"[{t['ndcg@10 low']:.4f}, {t['ndcg@10 high']:.4f}]"
        click.echo(f"| {candidate.name}{mark} | {candidate.metrics['ndcg@10']:.4f} |"
                   f" {candidate.cost_seconds:.2f} | {t['ndcg@10']:.4f} |"
                   f" {interval} |")  # fmt: skip
    low = on_test[best]["ndcg@10 low"]
    for what, name in (("chosen", chosen.name), ("best on validation", tried[0].name)):
        verdict = "within" if on_test[name]["ndcg@10"] >= low else "below"
        click.echo(f"\n{what}, {name}: test NDCG@10 {on_test[name]['ndcg@10']:.4f},"
                   f" {verdict} the best candidate's interval (best {best}:"
                   f" {on_test[best]['ndcg@10']:.4f}, from {low:.4f})")  # fmt: skip


if __name__ == "__main__":
    main()
