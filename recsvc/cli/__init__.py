"""The ``recsvc`` command: train, evaluate and manage model versions, and load the store.

Options override the ``RECSVC_*`` environment variables, which override the defaults
(see recsvc/config.py).
"""

from __future__ import annotations

import click

from . import experiments, models, shop, stats, training
from .options import EXIT_GATE_FAILED

__all__ = ["EXIT_GATE_FAILED", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recsvc")
def main() -> None:
    """recsvc: train, evaluate and publish recommendation models for a shop."""


for command in (
    training.train_command,
    training.evaluate_command,
    training.tune_command,
    models.models_group,
    shop.db_group,
    shop.import_events,
    shop.import_items,
    stats.stats_command,
    experiments.experiments_group,
):
    main.add_command(command)
