"""What storing impressions costs a worker, in process, side by side in one run.

    python scripts/benchmark_impressions.py                       # 400,000 stored first
    python scripts/benchmark_impressions.py --stored 1000000 --batches 50

For each kind of recommendation id (random 128 bits, as before 2026-11-29, and the
time-ordered UUIDv7 that recsvc makes), a fresh SQLite event store (the schema of
``recsvc db upgrade``) is filled with ``--stored`` impressions, then ``--batches``
batches of 1,000 more are timed through ``ImpressionStore.add``: the median and p90
milliseconds per 1,000. Then the worker's whole path, ``ImpressionRecorder.record``
per list and ``flush`` per 1,000 (JSON of the items, the INSERT, the counters), on the
UUIDv7 store: microseconds per list, and the flush's wall and CPU time.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

from recsvc.serving.impressions import ImpressionRecorder, json_array
from recsvc.serving.recommender import Recommendations, recommendation_id
from recsvc.store.database import connect, upgrade
from recsvc.store.impressions import Impression, ImpressionStore

_ITEMS = [{"item_id": f"p{i}", "score": 0.5} for i in range(1000, 1010)]


def _batch(make_id: Callable[[], str]) -> list[Impression]:
    items = json_array(tuple(item["item_id"] for item in _ITEMS))
    return [Impression(make_id(), int(time.time()), "home", "personalized", "v1", items,
                       user_id=f"u{n}") for n in range(1000)]  # fmt: skip


def _store(folder: Path, name: str) -> ImpressionStore:
    engine = connect(f"sqlite:///{folder / name}.db")
    upgrade(engine)
    return ImpressionStore(engine)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--stored", default=400_000, show_default=True,
              help="Impressions stored before the timed batches.")  # fmt: skip
@click.option("--batches", default=30, show_default=True, help="Timed batches of 1,000.")
def main(stored: int, batches: int) -> None:
    """Time storing impressions with random and with time-ordered ids, and a worker's
    record and flush."""
    ids = {"random 128 bits": lambda: os.urandom(16).hex(), "UUIDv7": recommendation_id}
    with tempfile.TemporaryDirectory() as tmp:
        click.echo(f"| ids | ms per 1,000 after {stored:,} stored: median | p90 |")
        click.echo("|---|---:|---:|")
        for n, (name, make) in enumerate(ids.items()):
            store = _store(Path(tmp), f"s{n}")
            for _ in range(stored // 1000):
                store.add(_batch(make))
            times = []
            for _ in range(batches):
                batch = _batch(make)
                start = time.perf_counter()
                store.add(batch)
                times.append(time.perf_counter() - start)
            click.echo(f"| {name} | {np.median(times) * 1e3:.1f} |"
                       f" {np.percentile(times, 90) * 1e3:.1f} |")  # fmt: skip
            store.engine.dispose()
        recorder = ImpressionRecorder(_store(Path(tmp), "s1"), capacity=100_000)
        record, wall, cpu = [], [], []
        for _ in range(batches):
            lists = [Recommendations(items=_ITEMS, strategy="personalized", placement="home",
                                     model_version="v1") for _ in range(1000)]  # fmt: skip
            start = time.perf_counter()
            for result in lists:
                recorder.record(result, user_id="u1", session_id=None)
            record.append(time.perf_counter() - start)
            start, start_cpu = time.perf_counter(), time.thread_time()
            recorder.flush()
            wall.append(time.perf_counter() - start)
            cpu.append(time.thread_time() - start_cpu)
        click.echo(f"\nrecord(): {np.median(record) * 1e3:.2f} µs per list (median of {batches}"
                   f" x 1,000); flush of 1,000: {np.median(wall) * 1e3:.1f} ms wall,"
                   f" {np.median(cpu) * 1e3:.1f} ms CPU (medians), the longest"
                   f" {max(wall) * 1e3:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
