"""Which validation windows choose a model that transfers? Designs side by side, one run.

    python scripts/validation_windows.py --events ../shared/data/ml-100k/events.csv \\
        --items ../shared/data/ml-100k/items.csv
    python scripts/validation_windows.py --events var/sample/events.csv --items var/sample/items.csv

The forward holdout of ``recsvc train`` is the test part, which no design reads. On the
part before it, each design validates every first-round candidate of the model's choice
(``recsvc.evaluation.selection.candidates``) on adjacent forward windows at its end
(``--designs``: ``COUNTxSHARE``, e.g. ``2x0.2`` is the two latest windows of 0.2 of
those events each, the candidates fitted on what precedes each window; the windows of
``recsvc.evaluation.selection.forward_windows``, so fewer where a fit would keep less
than half of the events), its metrics over all its windows' shoppers. Reported per
design: the candidate it chooses, that candidate's test NDCG@10, the best test NDCG@10
among the candidates, and whether the choice lies within the best's 95% interval.
docs/quality.md ("How the design was chosen") summarizes seven data sets.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import click
import numpy as np

from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.evaluation.holdout import holdout_for
from recsvc.evaluation.selection import candidates, forward_windows
from recsvc.evaluation.served import evaluate_served
from recsvc.pipeline import read_dataset
from recsvc.training.fit import Fits


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--events", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--items", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--designs", default="1x0.2,1x0.1,1x0.05,2x0.2,2x0.05,3x0.1,5x0.1",
              show_default=True, help="COUNTxSHARE, comma-separated.")  # fmt: skip
def main(events: Path, items: Path | None, designs: str) -> None:
    """The chosen candidate's test NDCG@10 per validation design."""
    config = TrainingConfig()
    data = read_dataset(Files(events, items), config)
    test = holdout_for(data, config)
    past = data.with_events(test.train_events)
    listed = candidates(config, items=len(data.items))
    fits = Fits()
    on_test = {name: evaluate_served(data, test, c, fits=fits) for name, c in listed}
    best = max(on_test, key=lambda name: on_test[name]["ndcg@10"])
    top = on_test[best]
    low = top["ndcg@10 low"]
    click.echo(f"test part: {test.scored}; best candidate {best}:"
               f" {top['ndcg@10']:.4f} [{low:.4f}, {top['ndcg@10 high']:.4f}]")  # fmt: skip
    click.echo("| design | validation shoppers | chosen | its test NDCG@10 | within |")
    click.echo("|---|---:|---|---:|---|")
    for design in designs.split(","):
        count, share = design.split("x")
        share_config = config.replace(holdout_fraction=float(share))
        parts = list(islice(forward_windows(past, share_config), int(count)))
        shoppers = np.array([len(w.users) for w in parts], dtype=float)
        caches = [Fits() for _ in parts]  # the candidates fitted on one window share parts
        validation = {}
        for name, candidate in listed:
            scores = [evaluate_served(past, w, candidate, fits=f)["ndcg@10"]
                      for w, f in zip(parts, caches, strict=True)]  # fmt: skip
            validation[name] = float(np.dot(scores, shoppers) / max(shoppers.sum(), 1))
        chosen = max(validation, key=lambda name: validation[name])
        score = on_test[chosen]["ndcg@10"]
        click.echo(f"| {design} | {int(shoppers.sum()):,} | {chosen} | {score:.4f} |"
                   f" {'yes' if score >= low else 'no'} |")  # fmt: skip


if __name__ == "__main__":
    main()
