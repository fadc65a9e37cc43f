"""Training speed: end-to-end `recsvc train` against a plain implicit fit, in one run.

For each size of synthetic shop (generated once into var/bench/, Parquet), runs:

- ``recsvc train``: read events and catalog (with ``--model auto``, choose the model),
  evaluate on the holdout (the model fitted on the training part), build the matrix,
  fit ALS (``--warm-iterations`` from the holdout's factors), next items and the
  bought-together model, precompute the candidates, write and publish the artifact,
  into a throwaway model store;
- a plain fit: the same matrix (built outside the timing) fitted by
  ``implicit.cpu.als.AlternatingLeastSquares`` with the same parameters.

Each runs in its own process, so its peak resident memory is its own.

    python scripts/benchmark_training.py                      # 1M and 10M events
    python scripts/benchmark_training.py --sizes 1000000,10000000,50000000
    python scripts/benchmark_training.py --sizes 1000000 --train-option=--model=auto
    python scripts/benchmark_training.py --sizes 10000000 --retrain   # and a retrain
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from bench_shops import data_option, shop

from recsvc.artifact import ModelStore


def _run(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB, and stdout of one child process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise click.ClickException(f"{' '.join(args)} failed:\n{err.read()}")
        return seconds, usage.ru_maxrss / 1024, out.read()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--sizes", default="1000000,10000000", show_default=True, help="Comma-separated event counts."
)
@data_option
@click.option(
    "--train-option",
    "train_options",
    multiple=True,
    help="An option passed on to recsvc train, e.g. --train-option=--model=auto (repeatable).",
)
@click.option(
    "--retrain",
    is_flag=True,
    help="Also time the same recsvc train again on the store it published to: a retrain,"
    " which reuses the version's choice of the model (--reuse-choice-days).",
)
@click.option("--plain-fit", type=click.Path(dir_okay=False, path_type=Path), hidden=True)
def main(
    sizes: str, data: Path, train_options: tuple[str, ...], retrain: bool, plain_fit: Path | None
) -> None:
    """Time end-to-end training against a plain implicit fit of the same matrix."""
    if plain_fit is not None:
        _plain_fit(plain_fit)
        return
    rows, retrains = [], []
    for size in (int(s) for s in sizes.split(",")):
        folder = shop(data / f"{size}", size)
        events, items = folder / "events.parquet", folder / "items.parquet"
        with tempfile.TemporaryDirectory() as store:
            recsvc = str(Path(sys.executable).with_name("recsvc"))
            command = [recsvc, "train", "--events", str(events), "--items", str(items),
                       "--models", store, "--no-progress", *train_options]  # fmt: skip
            train_s, train_mib, out = _run(command)
            selection = ModelStore(store).manifest().get("selection") or {}
            # the same command again, on a store whose current version it just published
            again = _run(command) if retrain else None
        plain_s, plain_mib, plain_out = _run([sys.executable, __file__, "--plain-fit", str(events)])
        plain = json.loads(plain_out)
        if again is not None:
            retrains.append((size, *again[:2], plain["fit_seconds"], _line(again[2], "time: ")))
        steps, counts = _line(out, "time: "), _line(out, "counts: ")
        # what was trained, and how well: the choice (with --model auto, from the
        # manifest) and the holdout
        quality = []
        if selection:
            tried = selection["candidates"]  # best first
            seconds = sum(row["seconds"] for row in tried)
            chosen = next(row for row in tried if row["name"] == selection["chosen"])
            best = selection.get("best") or {"name": chosen["name"]}
            quality.append(f"chose {selection['chosen']}: validation NDCG@10"
                           f" {chosen['ndcg@10']:.4f} of {len(tried)} candidates, validated"
                           f" on: {selection['validation']}; the candidates' own seconds"
                           f" {seconds:.1f}")  # fmt: skip
            if best["name"] != chosen["name"]:
                quality.append(f"  the best, {best['name']} ({best['ndcg@10']:.4f}), as good"
                               f" within the noise, costs {best['cost_ratio']:.1f}x as"
                               " much")  # fmt: skip
        quality += out[out.index("holdout (") :].splitlines()
        rows.append((size, train_s, train_mib, plain["fit_seconds"], plain_mib, steps, counts,
                     quality))  # fmt: skip
        click.echo(f"{size:,} events: recsvc train {train_s:.1f} s, plain fit {plain_s:.1f} s"
                   f" (fit alone {plain['fit_seconds']:.1f} s)", err=True)  # fmt: skip

    click.echo("| events | `recsvc train` | peak RSS | plain implicit fit | peak RSS | ratio |")
    click.echo("|---:|---:|---:|---:|---:|---:|")
    for size, train_s, train_mib, plain_s, plain_mib, *_ in rows:
        click.echo(f"| {size:,} | {train_s:.1f} s | {train_mib:,.0f} MiB | {plain_s:.1f} s |"
                   f" {plain_mib:,.0f} MiB | {train_s / plain_s:.1f}x |")  # fmt: skip
    click.echo()
    for size, *_, steps, counts, quality in rows:
        click.echo(f"- {size:,} events ({counts}): {steps}")
        click.echo("\n".join("  " + line for line in quality))
    if retrains:
        click.echo("\nThe same command again, on the store the first run published to:\n")
        click.echo("| events | retrain | peak RSS | plain implicit fit | ratio | steps |")
        click.echo("|---:|---:|---:|---:|---:|---|")
        for size, train_s, train_mib, plain_s, steps in retrains:
            click.echo(f"| {size:,} | {train_s:.1f} s | {train_mib:,.0f} MiB | {plain_s:.1f} s |"
                       f" {train_s / plain_s:.1f}x | {steps} |")  # fmt: skip


def _line(out: str, start: str) -> str:
    """The rest of ``recsvc train``'s output line that starts with ``start``."""
    return next(line for line in out.splitlines() if line.startswith(start))[len(start) :]


def _plain_fit(events: Path) -> None:
    """Build the matrix as recsvc does (not timed), then time implicit's fit alone."""
    import implicit.cpu.als
    from threadpoolctl import threadpool_limits

    from recsvc.config import TrainingConfig
    from recsvc.data.events import read_events
    from recsvc.training.matrix import build_interactions

    config = TrainingConfig.from_env()
    matrix = build_interactions(
        read_events(events, event_types=config.event_weights), config.event_weights
    ).matrix
    with threadpool_limits(1, "blas"):
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=config.als_factors, regularization=config.als_regularization,
            alpha=config.als_alpha, iterations=config.als_iterations, random_state=config.seed,
        )  # fmt: skip
        start = time.perf_counter()
        model.fit(matrix, show_progress=False)
        seconds = time.perf_counter() - start
    print(json.dumps({"fit_seconds": seconds, "shape": list(matrix.shape), "nnz": matrix.nnz}))


if __name__ == "__main__":
    main()
