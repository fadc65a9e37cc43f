"""How fast the database answers what recommendations earn, at a mid-size shop's month.

    python scripts/benchmark_stats.py                                   # 10M impressions
    python scripts/benchmark_stats.py --impressions 1000000 --server postgresql://127.0.0.1:5432/test

Creates a database of its own on the PostgreSQL server (dropped at the end), with the
schema `recsvc db upgrade` makes; loads a month of impressions (COPY) over 4
placements, 2 model versions and an experiment's 2 variants, and the events credited to
them (7% of lists opened, 2% carted, 1% bought); builds the counters the service keeps
as it writes (`recsvc db recount`, timed); runs ANALYZE; then times, 3 times each, the
queries of `GET /v1/stats/recommendations` for the whole month, by day, for one
experiment, and for one day, and the per-shopper sums of `recsvc experiments show`.
Prints the median and the slowest of each.
"""

from __future__ import annotations

import io
import os
import statistics
import time

import click
import numpy as np
import sqlalchemy as sa

from recsvc.store.comparison import shopper_sums
from recsvc.store.credit import recount
from recsvc.store.database import connect, upgrade
from recsvc.store.stats import recommendation_stats

DAY = 86_400
PLACEMENTS = ("home", "product", "cart", "category")


def _copy(engine: sa.Engine, table: str, columns: list[str], rows: io.StringIO) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            while chunk := rows.read(1 << 20):
                copy.write(chunk)
        raw.commit()
    finally:
        raw.close()


def load(engine: sa.Engine, impressions: int, start: int, seed: int) -> int:
    """A month of impressions and the events credited to them; how many events."""
    rng = np.random.default_rng(seed)
    chunk, events = 1_000_000, 0
    for first in range(0, impressions, chunk):
        n = min(chunk, impressions - first)
        ids = np.arange(first, first + n)
        created = start + rng.integers(0, 30 * DAY, size=n)
        placement = np.asarray(PLACEMENTS)[rng.integers(0, len(PLACEMENTS), size=n)]
        version = np.where(rng.random(n) < 0.5, "20261101T000000Z", "20261115T000000Z")
        in_experiment = placement == "home"
        variant = np.where(in_experiment, np.where(rng.random(n) < 0.5, "a", "b"), "")
        text = io.StringIO()
        for i, c, p, v, var in zip(ids, created, placement, version, variant, strict=True):
            experiment = "home-test" if var else "\\N"
            text.write(f"r{i}\t{c}\tu{i % 200_000}\t\\N\t{p}\tpersonalized\t{v}\t{experiment}"
                       f"\t{var or chr(92) + 'N'}\t[]\n")  # fmt: skip
        text.seek(0)
        _copy(engine, "impressions", ["recommendation_id", "created", "user_id", "session_id",
                                      "placement", "strategy", "model_version", "experiment",
                                      "variant", "items"], text)  # fmt: skip
        opened = rng.random(n) < 0.07
        carted = opened & (rng.random(n) < 0.3)
        bought = carted & (rng.random(n) < 0.5)
        text = io.StringIO()
        for kind, chosen in (("view", opened), ("add_to_cart", carted), ("purchase", bought)):
            for i, c in zip(ids[chosen], created[chosen], strict=True):
                text.write(f"u{i % 200_000}\tp{i % 50_000}\t{kind}\t{c + 60}\t1\tr{i}\tr{i}\n")
                events += 1
        text.seek(0)
        _copy(engine, "events", ["user_id", "item_id", "event_type", "timestamp", "quantity",
                                 "recommendation_id", "attributed_id"], text)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO items (item_id, price, available) SELECT 'p' || g,"
                             " 10 + g % 90, true FROM generate_series(0, 49999) g"))  # fmt: skip
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    return events


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--impressions", type=click.IntRange(min=1000), default=10_000_000,
              show_default=True)  # fmt: skip
@click.option(
    "--server",
    default="postgresql://127.0.0.1:5432/test",
    show_default=True,
    help="A PostgreSQL database to create the benchmark's own database from.",
)
@click.option("--seed", type=int, default=1, show_default=True)
def main(impressions: int, server: str, seed: int) -> None:
    """Time the stats queries on a month of impressions in PostgreSQL."""
    name = f"recsvc_bench_stats_{os.getpid()}"
    admin = connect(server)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(connect(server).url).set(database=name)
    engine = connect(url.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        start = 1_793_577_600  # 2026-11-01 UTC
        began = time.perf_counter()
        events = load(engine, impressions, start, seed)
        click.echo(f"loaded {impressions:,} impressions and {events:,} events in"
                   f" {time.perf_counter() - began:.0f} s")  # fmt: skip
        began = time.perf_counter()
        with engine.begin() as conn:
            rows = recount(conn)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
        click.echo(f"counted them ({rows:,} hour-and-group rows) in"
                   f" {time.perf_counter() - began:.0f} s")  # fmt: skip
        month = {"start": start, "end": start + 30 * DAY}
        cases = {
            "a month, by placement, version, variant": dict(month),
            "a month, by day too": {**month, "by_day": True},
            "a month, one experiment": {**month, "experiment": "home-test"},
            "one day": {"start": start + 10 * DAY, "end": start + 11 * DAY},
        }
        click.echo("| query | median | slowest of 3 | groups |\n|---|---:|---:|---:|")
        for label, args in cases.items():
            times, groups = [], 0
            for _ in range(3):
                began = time.perf_counter()
                found = recommendation_stats(engine, **args)  # type: ignore[arg-type]
                times.append(time.perf_counter() - began)
                groups = len(found.groups)
            click.echo(f"| {label} | {statistics.median(times) * 1e3:.1f} ms |"
                       f" {max(times) * 1e3:.1f} ms | {groups} |")  # fmt: skip
        times = []
        for _ in range(3):
            began = time.perf_counter()
            sums = shopper_sums(engine, "home-test")
            times.append(time.perf_counter() - began)
        click.echo(f"| experiments show: per-shopper sums of one experiment (delta method) |"
                   f" {statistics.median(times) * 1e3:.1f} ms | {max(times) * 1e3:.1f} ms |"
                   f" {len(sums)} |")  # fmt: skip
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
