"""The Spark engine against the implicit engine, served over HTTP, in one run.

    python scripts/compare_engines.py --events ../shared/data/ml-100k/events.csv \\
        --items ../shared/data/ml-100k/items.csv

For each split (--splits): the evaluation's training part is written to a Parquet file;
``recsvc train`` publishes a version trained on it by each engine with the same
settings (--model als and every default); each version is served by its own gunicorn
(the Procfile's web command); every scored shopper's home list is asked for over HTTP
and scored against the split's truth (NDCG@10 with its 95% bootstrap interval). Then
the Spark version's store is verified (``recsvc models verify``) and every placement is
asked of it once (home, category, product, cart, session, popular).

``--spark-regularization`` gives the Spark engine another regularization than the
implicit engine's (how docs/spark.md compares the mappings of Spark's regularization).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import click
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from benchmark_serving import Server, event_store

from recsvc.artifact import ModelStore
from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.data.events import Events
from recsvc.data.spark import SparkFiles
from recsvc.evaluation.holdout import SPLITS, Holdout, holdout_for
from recsvc.evaluation.metrics import score
from recsvc.pipeline import read_dataset, train


def write_events(events: Events, path: Path) -> None:
    """Events as an events file (Parquet)."""
    types = np.asarray(events.event_types)[events.event_type]
    pq.write_table(pa.table({"user_id": events.user_id, "item_id": events.item_id,
                             "event_type": pa.array(types), "timestamp": events.timestamp,
                             "quantity": events.quantity}), path)  # fmt: skip


def _get(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, object] = json.loads(response.read())
    return answer


def served_ndcg(base: str, holdout: Holdout) -> dict[str, float]:
    """Every scored shopper's home list over HTTP, scored against the truth."""
    items = holdout.train.items
    recommended = np.full((len(holdout.users), 10), -1, dtype=np.int64)
    for row, user in enumerate(holdout.train.users.ids[holdout.users].tolist()):
        listed = _get(f"{base}/v1/users/{user}/recommendations?n=10")["items"]
        found = items.index([item["item_id"] for item in listed])  # type: ignore[attr-defined]
        recommended[row, : len(found)] = found
    return score(recommended, holdout.truth, item_count=len(items))


def placements(base: str, user: str, item: str, category: str) -> dict[str, int]:
    """How many items each placement answers with."""
    asked = {
        "home": (f"/v1/users/{user}/recommendations?n=10", None),
        "category": (f"/v1/users/{user}/recommendations?placement=category&category={category}"
                     "&n=10", None),
        "product": (f"/v1/items/{item}/similar?user_id={user}&n=10", None),
        "cart": ("/v1/recommendations", {"placement": "cart", "cart_items": [item], "n": 10}),
        "session": ("/v1/recommendations", {"recent_items": [item], "n": 10}),
        "popular": ("/v1/popular?n=10", None),
    }  # fmt: skip
    return {name: len(_get(base + path, body)["items"])  # type: ignore[arg-type]
            for name, (path, body) in asked.items()}  # fmt: skip


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--events", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--items", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--splits",
    default="forward,user-time",
    show_default=True,
    help=f"Comma-separated, of {', '.join(SPLITS)}.",
)
@click.option(
    "--spark-regularization",
    type=float,
    default=None,
    help="The Spark engine's --regularization. [default: the implicit engine's]",
)
def main(events: Path, items: Path | None, splits: str, spark_regularization: float | None) -> None:
    """NDCG@10 over HTTP of a version from each engine, same settings, per split."""
    config = TrainingConfig(model="als")
    spark_config = config.replace(als_regularization=spark_regularization or
                                  config.als_regularization)  # fmt: skip
    data = read_dataset(Files(events, items), config)
    rows = []
    with tempfile.TemporaryDirectory(prefix="recsvc-engines-") as tmp:
        folder = Path(tmp)
        database = event_store(folder / "shop" / "x", f"sqlite:///{folder / 'events.db'}")
        for split in splits.split(","):
            holdout = holdout_for(data, config, split=split)
            part = folder / f"{split}.parquet"
            write_events(holdout.train_events, part)
            for engine, settings in (("implicit", config), ("spark", spark_config)):
                store = ModelStore(folder / f"{split}-{engine}")
                source = (SparkFiles(str(part), str(items) if items else None)
                          if engine == "spark" else Files(part, items))  # fmt: skip
                start = time.perf_counter()
                train(source, config=settings, store=store, force=True)
                seconds = time.perf_counter() - start
                server = Server(f"{split} {engine}", "recsvc.app:create_app()", {})
                server.start(store.root, database)
                try:
                    metrics = served_ndcg(server.base, holdout)
                    answered = None
                    if engine == "spark":
                        verified = subprocess.run(
                            [str(Path(sys.executable).with_name("recsvc")), "models", "verify",
                             "--models", str(store.root)], capture_output=True, text=True,
                        )  # fmt: skip
                        user = str(holdout.train.users.ids[holdout.users[0]])
                        item = str(holdout.train.items.ids[0])
                        category = (data.catalog.category[0] if data.catalog is not None
                                    and len(data.catalog) else "")  # fmt: skip
                        answered = placements(server.base, user, item, category)
                        click.echo(f"{split}: spark version verify: exit {verified.returncode},"
                                   f" {verified.stdout.strip()}")  # fmt: skip
                        click.echo(f"{split}: spark version placements (items answered):"
                                   f" {answered}")  # fmt: skip
                finally:
                    server.stop()
                rows.append((split, engine, metrics, seconds))
    click.echo("\n| split | engine | shoppers | NDCG@10 | 95% interval | train s |")
    click.echo("|---|---|---:|---:|---|---:|")
    for split, engine, metrics, seconds in rows:
        click.echo(f"| {split} | {engine} | {metrics['users']} | {metrics['ndcg@10']:.4f} |"
                   f" [{metrics['ndcg@10 low']:.4f}, {metrics['ndcg@10 high']:.4f}] |"
                   f" {seconds:.1f} |")  # fmt: skip
    for split in splits.split(","):
        found = {engine: m["ndcg@10"] for s, engine, m, _ in rows if s == split}
        click.echo(f"{split}: spark - implicit = {found['spark'] - found['implicit']:+.4f}")


if __name__ == "__main__":
    main()
