"""Training on Spark (local mode) beside the implicit engine, on the same data, in one run.

For each size of synthetic shop (generated once into var/bench/, Parquet), runs
``recsvc train --model als`` with each engine (--engines) into a throwaway model store,
one after the other, each in its own process tree, and reports the wall time, each
step's time and the peak resident memory of the whole tree (sampled every 0.2 s: the
Python driver, Spark's JVM and its Python workers together).

    python scripts/benchmark_engines.py                      # 1M and 10M events
    python scripts/benchmark_engines.py --sizes 1000000 --engines spark
    RECSVC_SPARK_DRIVER_MEMORY=8g python scripts/benchmark_engines.py --sizes 10000000
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
from bench_shops import data_option, shop


def _tree_rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def run_tree(args: list[str]) -> tuple[float, float, str, str]:
    """Wall seconds, peak RSS of the process tree (MiB), stdout and stderr of a command."""
    peak = 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss_mib(child.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        child.wait()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if child.returncode != 0:
        raise click.ClickException(f"{' '.join(args)} failed:\n{stderr[-3000:]}")
    return seconds, peak, stdout, stderr


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--sizes", default="1000000,10000000", show_default=True, help="Comma-separated event counts."
)
@click.option("--engines", default="implicit,spark", show_default=True,
              help="Comma-separated, of implicit and spark.")  # fmt: skip
@data_option
def main(sizes: str, engines: str, data: Path) -> None:
    """Time `recsvc train --model als` with each engine on the same synthetic shops."""
    rows = []
    recsvc = str(Path(sys.executable).with_name("recsvc"))
    for size in (int(s) for s in sizes.split(",")):
        folder = shop(data / f"{size}", size)
        for engine in engines.split(","):
            with tempfile.TemporaryDirectory() as store:
                seconds, peak, out, _ = run_tree([
                    recsvc, "train", "--engine", engine, "--model", "als",
                    "--events", str(folder / "events.parquet"),
                    "--items", str(folder / "items.parquet"),
                    "--models", store, "--no-progress",
                ])  # fmt: skip
            steps = next(line for line in out.splitlines() if line.startswith("time: "))[6:]
            ndcg = next(line for line in out.splitlines() if line.startswith("recsvc "))
            rows.append((size, engine, seconds, peak, steps, ndcg.split()[1]))
            click.echo(
                f"{size:,} events, {engine}: {seconds:.1f} s, peak {peak:,.0f} MiB", err=True
            )
    click.echo("| events | engine | `recsvc train --model als` | peak RSS (process tree) |"
               " holdout NDCG@10 |")  # fmt: skip
    click.echo("|---:|---|---:|---:|---:|")
    for size, engine, seconds, peak, _, ndcg in rows:
        click.echo(f"| {size:,} | {engine} | {seconds:.1f} s | {peak:,.0f} MiB | {ndcg} |")
    click.echo()
    for size, engine, *_, steps, _ in rows:
        click.echo(f"- {size:,} events, {engine}: {steps}")


if __name__ == "__main__":
    main()
