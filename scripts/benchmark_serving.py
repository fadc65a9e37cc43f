"""Serving speed: in-process latency per strategy, and HTTP throughput against the floor.

    python scripts/benchmark_serving.py                       # 10k and 100k item catalogs
    python scripts/benchmark_serving.py --items 10000 --seconds 5

For each catalog size a synthetic shop is generated and trained once (kept in
var/bench/serving-<items>/). Then, in one run:

1. In process: median and p99 of each Recommender call over thousands of calls, beside
   implicit's own single-user ``recommend`` on the same factors (the reference).
2. Over HTTP (the first size only): gunicorn started as the Procfile starts it
   (WEB_CONCURRENCY=2), serving scripts/bench_app.py, which is the same app plus a
   trivial endpoint returning a same-size JSON body. After a 2 s warm-up of both, wrk
   measures the maximum rate of each (random known users) in alternating rounds
   (--rounds); hey then measures p50/p99 latency at 50% of each median rate. The
   figure is the median personalized req/s divided by the median trivial req/s.
3. Memory: RSS and PSS of the gunicorn master and each worker.

Needs the Debian packages wrk and hey.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHOPS = {10_000: {"events": 1_000_000, "users": 25_000}, 100_000: {"events": 2_000_000,
                                                                  "users": 50_000}}  # fmt: skip


def prepare(items: int, data: Path) -> Path:
    """A trained model store for a shop with ``items`` products (made once)."""
    folder = data / f"serving-{items}"
    store = folder / "models"
    if (store / "CURRENT").is_file():
        return store
    shape = SHOPS.get(items, {"events": items * 20, "users": items * 2})
    subprocess.run([sys.executable, ROOT / "scripts" / "sample_data.py", "--out", folder,
                    "--events", str(shape["events"]), "--users", str(shape["users"]),
                    "--items", str(items), "--format", "parquet"], check=True)  # fmt: skip
    recsvc = str(Path(sys.executable).with_name("recsvc"))
    subprocess.run([recsvc, "train", "--events", folder / "events.parquet", "--items",
                    folder / "items.parquet", "--models", store, "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return store


def timed(call: Callable[[int], object], count: int) -> tuple[float, float]:
    """Median and p99 in milliseconds of ``call(i)`` for i in range(count)."""
    times = np.empty(count)
    for i in range(count):
        start = time.perf_counter()
        call(i)
        times[i] = time.perf_counter() - start
    return float(np.median(times) * 1e3), float(np.percentile(times, 99) * 1e3)


def in_process(store: Path, calls: int) -> list[tuple[str, float, float]]:
    """Latency of each strategy, and of implicit's recommend as the reference."""
    import implicit.cpu.als
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from recsvc.artifact import ModelStore
    from recsvc.serving.filters import Filters
    from recsvc.serving.recommender import Recommender

    model = ModelStore(store).load()
    recommender = Recommender(model)
    rng = np.random.default_rng(0)
    users = model.users.ids[rng.integers(0, len(model.users), calls)]
    popular = recommender.catalog.index.popular_order[:2000]
    items = model.items.ids[popular[rng.integers(0, len(popular), (calls, 5))]]
    categories = recommender.catalog.index.categories
    reference = implicit.cpu.als.AlternatingLeastSquares(
        factors=model.item_factors.shape[1], num_threads=1)  # fmt: skip
    reference.user_factors = np.array(model.user_factors)
    reference.item_factors = np.array(model.item_factors)
    user_items = sp.csr_matrix(model.user_items)
    rows = model.users.index(users)
    cases: list[tuple[str, Callable[[int], object]]] = [
        ("implicit recommend (reference)",
         lambda i: reference.recommend(rows[i], user_items[rows[i]], N=10)),
        ("personalized (home)", lambda i: recommender.recommend(user_id=users[i])),
        ("personalized + category filter", lambda i: recommender.recommend(
            placement="category", user_id=users[i],
            filters=Filters(category=categories[i % len(categories)]))),
        ("session fold-in (5 recent items)",
         lambda i: recommender.recommend(recent_items=list(items[i]))),
        ("similar items (product)",
         lambda i: recommender.recommend(placement="product", item_id=items[i][0])),
        ("similar + taste (product, known user)", lambda i: recommender.recommend(
            placement="product", item_id=items[i][0], user_id=users[i])),
        ("cart (2 items)",
         lambda i: recommender.recommend(placement="cart", cart_items=list(items[i][:2]))),
        ("popular (unknown user)", lambda i: recommender.recommend(user_id=f"new-{i}")),
    ]  # fmt: skip
    results = []
    with threadpool_limits(1):
        for name, call in cases:
            timed(call, min(200, calls))  # warm up
            results.append((name, *timed(call, calls)))
    return results


def live_part(store: Path, calls: int, databases: list[str]) -> list[tuple[str, float, float]]:
    """What live personalization adds: the in-memory lookup and fold-in per request, and
    each worker's background read of new events from the store."""
    from recsvc.artifact import ModelStore
    from recsvc.serving.live import LiveEvents
    from recsvc.serving.recommender import Recommender
    from recsvc.store.database import connect, drop, upgrade
    from recsvc.store.shop import ShopStore

    recommender = Recommender(ModelStore(store).load())
    rng = np.random.default_rng(1)
    users = recommender.model.users.ids[
        rng.integers(0, len(recommender.model.users), calls)
    ].tolist()
    items = recommender.catalog.item_ids[recommender.catalog.index.popular_order[:500]].tolist()
    since = recommender.trained_until
    live = LiveEvents(per_user=50)
    # every sampled shopper has 5 events after the model's data
    live.record((u, items[(i * 7 + k) % len(items)], "view", since + 60 + k)
                for i, u in enumerate(users) for k in range(5))  # fmt: skip
    rows = [
        ("personalized, no live events", *timed(lambda i: recommender.recommend(
            user_id=users[i]), calls)),
        ("live events lookup (memory)", *timed(lambda i: live.of(users[i], after=since), calls)),
        ("personalized with 5 live events: lookup + fold-in + catalog scan",
         *timed(lambda i: recommender.recommend(user_id=users[i],
                live=live.of(users[i], after=since)), calls)),
    ]  # fmt: skip
    batch = [{"user_id": f"u{n}", "item_id": items[n % len(items)], "event_type": "view",
              "timestamp": since + 1} for n in range(1_000)]  # fmt: skip
    for url in databases:
        engine = connect(url)
        drop(engine)
        upgrade(engine)
        shop = ShopStore(engine)
        for _ in range(100):  # 100,000 events stored
            shop.add_events(batch)
        kind = url.split(":")[0].split("+")[0]
        follow = timed(lambda i, shop=shop: shop.events_after(i * 1_000, limit=1_000), 100)
        rows.append((f"worker's follow step: read 1,000 new events ({kind})", *follow))
        drop(engine)
        engine.dispose()
    return rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory(pid: int) -> tuple[float, float]:
    """RSS and PSS of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value)
    return fields["Rss"] / 1024, fields["Pss"] / 1024


def _wrk(base: str, path: str, suffix: str, users: list[str], seconds: int) -> dict[str, float]:
    """wrk's maximum rate for ``base + path + <random user> + suffix``."""
    names = ",".join(f'"{u}"' for u in users)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(f"local users = {{{names}}}\nrequest = function()\n"
                     f'  return wrk.format("GET", "{path}" .. users[math.random(#users)]'
                     f' .. "{suffix}")\nend\n')  # fmt: skip
        script.flush()
        out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "-s", script.name, base],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
    per_request = float(transfer.group(1)) * scale[transfer.group(2)] / rate if transfer else 0
    return {"rate": rate, "requests": total, "errors": errors, "bytes": per_request}


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median rate, its errors summed over all runs."""
    middle = dict(sorted(runs, key=lambda run: run["rate"])[len(runs) // 2])
    middle["errors"] = sum(run["errors"] for run in runs)
    return middle


def _hey(url: str, rate: float, seconds: int) -> tuple[float, float, int]:
    """p50 and p99 latency (ms) at a fixed total rate, and the error count."""
    workers = 8
    out = subprocess.run(["hey", "-z", f"{seconds}s", "-c", str(workers), "-q",
                          f"{max(rate / workers, 1):.0f}", url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    p50 = float(re.search(r"50%+ in ([\d.]+) secs", out).group(1)) * 1e3  # type: ignore[union-attr]
    p99 = float(re.search(r"99%+ in ([\d.]+) secs", out).group(1)) * 1e3  # type: ignore[union-attr]
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    errors = sum(int(n) for code, n in codes.items() if code != "200")
    errors += len(re.findall(r"^\s+\[\d+\]\s+Get ", out, re.MULTILINE))
    return p50, p99, errors


def over_http(
    store: Path,
    seconds: int,
    rounds: int,
    environ: dict[str, str] | None = None,
    database: str | None = None,
) -> tuple[list[str], list[str], float]:
    """wrk and hey against gunicorn from the Procfile's command, serving bench_app (with
    ``environ`` added to its environment): the table, the memory, the median ratio."""
    from recsvc.artifact import ModelStore

    model = ModelStore(store).load()
    users = [str(u) for u in model.users.ids[:: max(1, len(model.users) // 1000)][:1000]]
    procfile = (ROOT / "Procfile").read_text()
    command = shlex.split(re.search(r"^web:(.*)$", procfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
    command[-1] = "bench_app:app"
    port = _free_port()
    # an event store with its schema, as in production: each request of a known shopper
    # reads their live events (none here) before ranking
    database = database or f"sqlite:///{store.parent / 'events.db'}"
    recsvc = str(Path(sys.executable).with_name("recsvc"))
    subprocess.run([recsvc, "db", "upgrade", "--database", database], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    env = dict(os.environ, PORT=str(port), WEB_CONCURRENCY="2", RECSVC_MODELS=str(store),
               DATABASE_URL=database, PYTHONPATH=str(ROOT / "scripts"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               **(environ or {}))  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        subprocess.run(["curl", "-sf", f"{base}/bench/users/{users[0]}/trivial"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        real_runs: list[dict[str, float]] = []
        floor_runs: list[dict[str, float]] = []
        for round_ in range(rounds + 1):  # a short first round warms both up, not counted
            length = seconds if round_ else 2
            real = _wrk(base, "/v1/users/", "/recommendations?n=10", users, length)
            floor = _wrk(base, "/bench/users/", "/trivial?n=10", users, length)
            if round_:
                real_runs.append(real)
                floor_runs.append(floor)
        real, floor = _median_run(real_runs), _median_run(floor_runs)
        ratios = sorted(r["rate"] / f["rate"] for r, f in zip(real_runs, floor_runs, strict=True))
        real_lat = _hey(f"{base}/v1/users/{users[1]}/recommendations?n=10", real["rate"] / 2,
                        seconds)  # fmt: skip
        floor_lat = _hey(f"{base}/bench/users/{users[1]}/trivial?n=10", floor["rate"] / 2,
                         seconds)  # fmt: skip
        children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                  text=True).stdout.split()  # fmt: skip
        memory = [("master", *_memory(server.pid))]
        memory += [(f"worker {pid}", *_memory(int(pid))) for pid in children]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = [
        "| endpoint | max req/s (wrk) | errors | body bytes | p50 at 50% rate | p99 at 50% rate"
        " | errors (hey) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run, lat in (("GET /v1/users/{id}/recommendations?n=10", real, real_lat),
                           ("trivial, same-size JSON", floor, floor_lat)):  # fmt: skip
        lines.append(f"| {name} | {run['rate']:,.0f} | {run['errors']:.0f} | {run['bytes']:,.0f}"
                     f" | {lat[0]:.2f} ms | {lat[1]:.2f} ms | {lat[2]} |")  # fmt: skip
    lines.append("")
    lines.append(f"Ratio recommendations/s ÷ trivial/s (medians of {rounds} alternating rounds):"
                 f" **{real['rate'] / floor['rate']:.2f}** (rounds: "
                 + ", ".join(f"{r:.2f}" for r in ratios) + ")")  # fmt: skip
    mem = ["| process | RSS | PSS |", "|---|---:|---:|"]
    mem += [f"| {name} | {rss:,.0f} MiB | {pss:,.0f} MiB |" for name, rss, pss in memory]
    return lines, mem, real["rate"] / floor["rate"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--items",
    default="10000,100000",
    show_default=True,
    help="Catalog sizes (comma-separated); HTTP is measured on the first.",
)
@click.option("--calls", default=3000, show_default=True, help="In-process calls per strategy.")
@click.option("--seconds", default=10, show_default=True, help="Length of each HTTP run.")
@click.option(
    "--rounds",
    default=3,
    show_default=True,
    help="HTTP runs of each endpoint, alternating (after a 2 s warm-up of both); medians.",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "var" / "bench",
    show_default=True,
)
@click.option("--no-http", is_flag=True, help="In-process figures only.")
@click.option(
    "--database",
    default=None,
    help="The event store of the HTTP runs (its schema is made; PostgreSQL for production's"
    " figures). [default: a SQLite file beside the shop]",
)
@click.option(
    "--impressions",
    default="on",
    show_default=True,
    help="Impression recording in the HTTP runs: on, off, or off,on (both, one after the"
    " other, each with its own trivial floor: what recording costs).",
)
@click.option(
    "--live-db",
    "live_dbs",
    multiple=True,
    help="Measure a worker's read of new events from this database URL (repeatable;"
    " its tables are dropped and made anew).",
)
def main(
    items: str,
    calls: int,
    seconds: int,
    rounds: int,
    data: Path,
    no_http: bool,
    impressions: str,
    database: str | None,
    live_dbs: tuple[str, ...],
) -> None:
    """Measure serving latency in process and throughput over HTTP, side by side."""
    if not no_http and not (shutil.which("wrk") and shutil.which("hey")):
        raise click.ClickException("needs wrk and hey: apt-get install wrk hey")
    sizes = [int(s) for s in items.split(",")]
    stores = {size: prepare(size, data) for size in sizes}
    results = {size: in_process(store, calls) for size, store in stores.items()}
    head = " | ".join(f"{s:,} items: median / p99" for s in sizes)
    click.echo(f"| call | {head} |")
    click.echo("|---|" + "---:|" * len(sizes))
    for row, name in enumerate(r[0] for r in results[sizes[0]]):
        cells = " | ".join(f"{results[s][row][1]:.3f} / {results[s][row][2]:.3f} ms" for s in sizes)
        click.echo(f"| {name} | {cells} |")
    click.echo(f"\nLive events, {sizes[0]:,} items:\n")
    click.echo("| call | median / p99 |\n|---|---:|")
    for name, median, p99 in live_part(stores[sizes[0]], calls, list(live_dbs)):
        click.echo(f"| {name} | {median:.3f} / {p99:.3f} ms |")
    if no_http:
        return
    ratios = {}
    for setting in impressions.split(","):
        rate = {"on": "1", "off": "0"}[setting.strip()]
        lines, memory, ratios[setting] = over_http(
            stores[sizes[0]],
            seconds,
            rounds,
            {"RECSVC_IMPRESSION_SAMPLE_RATE": rate},
            database,
        )
        workers = os.environ.get("RECSVC_WORKER_CLASS", "gevent")
        click.echo(f"\nHTTP, {sizes[0]:,} items, gunicorn with 2 {workers} workers,"
                   f" impressions {setting}:\n")  # fmt: skip
        click.echo("\n".join(lines))
        click.echo("\nMemory after the runs:\n")
        click.echo("\n".join(memory))
    if {"on", "off"} <= ratios.keys():
        change = ratios["on"] / ratios["off"] - 1
        click.echo(f"\nRecording impressions changes the ratio by {100 * change:+.1f}%"
                   f" ({ratios['off']:.2f} off, {ratios['on']:.2f} on)")  # fmt: skip


if __name__ == "__main__":
    main()
