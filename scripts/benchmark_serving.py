"""Serving speed: in-process latency per strategy, and HTTP throughput against the floor.

    python scripts/benchmark_serving.py                       # 10k and 100k item catalogs
    python scripts/benchmark_serving.py --items 10000 --seconds 5

For each catalog size a synthetic shop is generated and trained once (kept in
var/bench/serving-<items>/). Then, in one run:

1. In process: median and p99 of each Recommender call over thousands of calls, beside
   implicit's own single-user ``recommend`` on the same factors (the reference); and
   the share of the items of the same call to a recommender that scores every item
   (above 100,000 items scans go by the items' norms, recsvc.serving.taste), over the
   first 300 calls.
   Then a shopper's recommendations request through the app's WSGI callable (no
   server): answered by the hot path, by Flask's view, and by the bare Flask app.
2. Over HTTP (the first size only), servers side by side, each a gunicorn started as
   the Procfile starts it (WEB_CONCURRENCY=2): the service (scripts/bench_app.py: the
   app plus a trivial endpoint returning a same-size JSON body through the same app)
   once per --impressions setting, and a bare Flask app (scripts/bare_app.py: one
   route returning the same body, no hooks: the framework's floor). After a 2 s
   warm-up of every endpoint, wrk measures the maximum rate of each (random known
   users) in interleaved rounds (--rounds), so the machine's drift falls on all alike;
   hey then measures p50/p99 latency at 50% of each median rate. The figures are the
   ratios of the rates measured one after the other, round by round, and their medians:
   recommendations over the trivial endpoint, over bare Flask, and (with off,on) with
   impressions recorded over without.
3. Memory: RSS and PSS of each gunicorn's master and workers; with ``--memory``, of a
   gunicorn serving each size (the Procfile's, 2 workers), after requests of every
   placement.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHOPS: dict[int, dict[str, int | str]] = {
    10_000: {"events": 1_000_000, "users": 25_000},
    # fixed models: the choice among candidates is not bounded at these sizes (at 100,000
    # items it spent over an hour in sparse EASE beside other work, 2026-11-29)
    100_000: {"events": 2_000_000, "users": 50_000, "model": "als"},
    1_000_000: {"events": 20_000_000, "users": 500_000, "model": "als"},
}


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
    model = ["--model", str(shape["model"])] if "model" in shape else []
    subprocess.run([recsvc, "train", "--events", folder / "events.parquet", "--items",
                    folder / "items.parquet", "--models", store, "--no-progress", *model],
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


def in_process(store: Path, calls: int) -> list[tuple[str, float, float, float | None]]:
    """Latency of each strategy, and of implicit's recommend as the reference; and for
    each strategy the share of the items of a scan of every item (the same call to a
    recommender without the norm order) that it gives, over the first 300 calls."""
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

    def cases(r: Recommender) -> list[tuple[str, Callable[[int], object]]]:
        return [
            ("personalized (home)", lambda i: r.recommend(user_id=users[i])),
            ("personalized + category filter", lambda i: r.recommend(
                placement="category", user_id=users[i],
                filters=Filters(category=categories[i % len(categories)]))),
            ("session fold-in (5 recent items)",
             lambda i: r.recommend(recent_items=list(items[i]))),
            ("similar items (product)",
             lambda i: r.recommend(placement="product", item_id=items[i][0])),
            ("similar + taste (product, known user)", lambda i: r.recommend(
                placement="product", item_id=items[i][0], user_id=users[i])),
            ("cart (2 items)",
             lambda i: r.recommend(placement="cart", cart_items=list(items[i][:2]))),
            ("popular (unknown user)", lambda i: r.recommend(user_id=f"new-{i}")),
        ]  # fmt: skip

    every_item = Recommender(model)
    every_item.taste.norm_order = None
    exact = dict(cases(every_item))
    results: list[tuple[str, float, float, float | None]] = []
    with threadpool_limits(1):
        implicit_call = lambda i: reference.recommend(rows[i], user_items[rows[i]], N=10)  # noqa: E731
        timed(implicit_call, min(200, calls))
        results.append(("implicit recommend (reference)", *timed(implicit_call, calls), None))
        for name, call in cases(recommender):
            timed(call, min(200, calls))  # warm up
            median, p99 = timed(call, calls)
            same = [_share(call(i), exact[name](i)) for i in range(min(300, calls))]
            results.append((name, median, p99, float(np.mean(same))))
    return results


def through_the_app(store: Path, calls: int) -> list[tuple[str, float, float]]:
    """A shopper's recommendations request through the app's WSGI callable, in this
    process (no server, no sockets; impressions recorded): answered by the hot path
    (recsvc/api/hotpath.py), by Flask's view (the hot path stepped over), and by the
    bare Flask app returning the same body (scripts/bare_app.py). Median and p99 in
    milliseconds of each over ``calls`` random known shoppers."""
    import io
    import json

    from recsvc.app import create_app
    from recsvc.artifact import ModelStore

    app = create_app({"models": str(store), "database_url": event_store(store)})
    model = ModelStore(store).load()
    rng = np.random.default_rng(1)
    users = model.users.ids[rng.integers(0, len(model.users), calls)].tolist()

    def request(wsgi: Callable[..., Any], user: str) -> bytes:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": f"/v1/users/{user}/recommendations",
                   "QUERY_STRING": "", "SERVER_NAME": "bench", "SERVER_PORT": "80",
                   "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
                   "wsgi.multithread": False, "wsgi.multiprocess": True,
                   "wsgi.run_once": False}  # fmt: skip
        return b"".join(wsgi(environ, lambda status, headers, exc_info=None: None))

    hot = app.wsgi_app
    body = request(app, users[0])  # Flask's: the query string's first request
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as file:
        file.write(body)
    os.environ["BENCH_BODY"] = file.name
    import bare_app  # reads BENCH_BODY

    os.unlink(file.name)
    assert json.loads(body)["items"], "the benchmark's shopper got no items"
    apps = [("through the app: the hot path", app),
            ("through the app: Flask's view (the hot path stepped over)", hot.flask),  # type: ignore[attr-defined]
            ("bare Flask, the same body", bare_app.app)]  # fmt: skip
    results = []
    for name, wsgi in apps:
        timed(lambda i: request(wsgi, users[i]), min(200, calls))  # noqa: B023 (warm up)
        results.append((name, *timed(lambda i: request(wsgi, users[i]), calls)))  # noqa: B023
    app.extensions["recsvc"].serving.impressions.close()
    return results


def _share(got: object, truth: object) -> float:
    """The share of ``truth``'s items (Recommendations) that ``got`` holds."""
    wanted = {item["item_id"] for item in truth.items}  # type: ignore[attr-defined]
    found = {item["item_id"] for item in got.items}  # type: ignore[attr-defined]
    return len(wanted & found) / len(wanted) if wanted else 1.0


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


@dataclass
class Server:
    """A gunicorn started by the Procfile's ``web:`` command, serving ``app``."""

    name: str
    app: str
    environ: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    base: str = ""

    def start(self, store: Path, database: str) -> None:
        """Start it on a free port and wait until it answers."""
        procfile = (ROOT / "Procfile").read_text()
        command = shlex.split(re.search(r"^web:(.*)$", procfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
        command[-1] = self.app
        port = _free_port()
        env = dict(os.environ, PORT=str(port), WEB_CONCURRENCY="2", RECSVC_MODELS=str(store),
                   DATABASE_URL=database, PYTHONPATH=str(ROOT / "scripts"),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   **self.environ)  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise click.ClickException(f"{self.name}: gunicorn exited") from None
                time.sleep(0.1)
        raise click.ClickException(f"{self.name}: no answer within 120 s")

    def memory(self) -> list[tuple[str, float, float]]:
        """RSS and PSS (MiB) of the master and each worker."""
        assert self.process is not None
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                                  text=True).stdout.split()  # fmt: skip
        found = [(f"{self.name}: master", *_memory(self.process.pid))]
        return found + [(f"{self.name}: worker {pid}", *_memory(int(pid))) for pid in children]

    def stop(self) -> None:
        """Stop it (gunicorn's graceful stop)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


@dataclass
class Target:
    """An endpoint measured: its runs' rates in the order measured."""

    name: str
    server: Server
    path: str
    suffix: str
    runs: list[dict[str, float]] = field(default_factory=list)

    def url(self, user: str) -> str:
        """The URL for one user."""
        return f"{self.server.base}{self.path}{user}{self.suffix}"


def over_http(
    store: Path, seconds: int, rounds: int, settings: list[str], database: str | None = None
) -> list[str]:
    """Every target measured in interleaved rounds, with every server running side by
    side (drift of the machine falls on all alike): the service with each impression
    setting (its recommendations endpoint and bench_app's trivial one), and the bare
    Flask app (scripts/bare_app.py). The report's lines."""
    import sqlalchemy as sa

    from recsvc.artifact import ModelStore
    from recsvc.store.database import connect, impressions

    model = ModelStore(store).load()
    users = [str(u) for u in model.users.ids[:: max(1, len(model.users) // 1000)][:1000]]
    database = event_store(store, database)
    engine = connect(database)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(impressions)).scalar()
    engine.dispose()
    body = store.parent / "bench-body.json"
    servers = [Server(f"impressions {s}", "bench_app:app",
                      {"RECSVC_IMPRESSION_SAMPLE_RATE": {"on": "1", "off": "0"}[s]})
               for s in settings]  # fmt: skip
    bare = Server("bare Flask", "bare_app:app", {"BENCH_BODY": str(body)})
    # measured in this order each round: the recommendations of each setting one after
    # the other (what recording costs is their ratio, round by round), then the floors
    targets = [Target(f"recommendations, {server.name}", server, "/v1/users/",
                      "/recommendations?n=10") for server in servers]  # fmt: skip
    targets += [Target(f"trivial, {server.name}", server, "/bench/users/", "/trivial")
                for server in servers]  # fmt: skip
    targets.append(Target("bare Flask, same body", bare, "/v1/users/", "/recommendations?n=10"))
    memory: list[tuple[str, float, float]] = []
    latency = {}
    try:
        for server in servers:
            server.start(store, database)
        answer = subprocess.run(["curl", "-sf", targets[0].url(users[0])], check=True,
                                capture_output=True).stdout  # fmt: skip
        body.write_bytes(answer)
        bare.start(store, database)
        for target in targets[len(servers) : -1]:  # the trivial endpoint keeps its first body
            subprocess.run(["curl", "-sf", target.url(users[0])], check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
        for round_ in range(rounds + 1):  # a short first round warms all up, not counted
            for target in targets:
                run = _wrk(target.server.base, target.path, target.suffix, users,
                           seconds if round_ else 2)  # fmt: skip
                if round_:
                    target.runs.append(run)
        for target in targets:
            rate = _median_run(target.runs)["rate"]
            latency[target.name] = _hey(target.url(users[1]), rate / 2, seconds)
        for server in (*servers, bare):
            memory += server.memory()
    finally:
        for server in (*servers, bare):
            server.stop()
    return [f"Impressions in the event store before the runs: {stored:,}.", "",
            *_report(targets, latency, memory, rounds)]  # fmt: skip


def event_store(store: Path, database: str | None = None) -> str:
    """An event store with its schema, as in production (each request of a known
    shopper reads their live events, none here, before ranking): ``database``, or a
    SQLite file beside the shop. Its URL."""
    database = database or f"sqlite:///{store.parent / 'events.db'}"
    recsvc = str(Path(sys.executable).with_name("recsvc"))
    subprocess.run([recsvc, "db", "upgrade", "--database", database], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return database


def memory_at(store: Path, requests: int) -> list[tuple[str, float, float]]:
    """RSS and PSS (MiB) of the service's master and workers, a gunicorn started as the
    Procfile starts it (2 workers, an event store in a SQLite file beside the shop),
    after ``requests`` requests of each placement spread over shoppers and products."""
    import json
    import urllib.request

    from recsvc.artifact import ModelStore
    from recsvc.serving.recommender import Recommender

    recommender = Recommender(ModelStore(store).load())
    model = recommender.model
    rng = np.random.default_rng(1)
    users = model.users.ids[rng.integers(0, len(model.users), requests)].tolist()
    items = model.items.ids[recommender.catalog.index.popular_order[:2000]]
    items = items[rng.integers(0, len(items), (requests, 3))].tolist()
    categories = recommender.catalog.index.categories
    del recommender, model
    database = event_store(store)
    server = Server("service", "recsvc.app:create_app()", {})
    try:
        server.start(store, database)
        for i in range(requests):
            user, (item, other, third) = users[i], items[i]
            category = categories[i % len(categories)]
            gets = [
                f"/v1/users/{user}/recommendations?n=10",
                f"/v1/users/{user}/recommendations?placement=category&category={category}",
                f"/v1/items/{item}/similar?user_id={user}&n=10",
                "/v1/popular?n=10",
            ]
            posts = [{"placement": "cart", "cart_items": [item, other], "n": 10},
                     {"recent_items": [item, other, third], "n": 10}]  # fmt: skip
            for path in gets:
                urllib.request.urlopen(server.base + path, timeout=60).read()
            for body in posts:
                request = urllib.request.Request(
                    server.base + "/v1/recommendations", data=json.dumps(body).encode(),
                    headers={"Content-Type": "application/json"})  # fmt: skip
                urllib.request.urlopen(request, timeout=60).read()
        return server.memory()
    finally:
        server.stop()


def _report(targets: list[Target], latency: dict[str, tuple[float, float, int]],
            memory: list[tuple[str, float, float]], rounds: int) -> list[str]:  # fmt: skip
    lines = ["| endpoint | max req/s (wrk), median | rounds | errors | body bytes"
             " | p50 at 50% rate | p99 at 50% rate | errors (hey) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for target in targets:
        run, lat = _median_run(target.runs), latency[target.name]
        each = ", ".join(f"{r['rate']:,.0f}" for r in target.runs)
        lines.append(
            f"| {target.name} | {run['rate']:,.0f} | {each} | {run['errors']:.0f}"
            f" | {run['bytes']:,.0f} | {lat[0]:.2f} ms | {lat[1]:.2f} ms | {lat[2]} |"
        )
    lines.append("")
    bare = targets[-1]

    def paired(a: Target, b: Target) -> str:
        """a's rate over b's, round by round (measured one after the other): the median
        and every round's."""
        each = sorted(x["rate"] / y["rate"] for x, y in zip(a.runs, b.runs, strict=True))
        return f"**{each[len(each) // 2]:.2f}** (rounds: {', '.join(f'{r:.2f}' for r in each)})"

    settings = (len(targets) - 1) // 2
    for real, trivial in zip(targets[:settings], targets[settings:-1], strict=True):
        lines.append(f"- {real.name} / its trivial endpoint: {paired(real, trivial)}")
        lines.append(f"- {real.name} / bare Flask: {paired(real, bare)}")
    if settings == 2:  # two impression settings: what recording costs, round by round
        lines.append(f"- {targets[1].name} / {targets[0].name}: {paired(targets[1], targets[0])}")
    lines += ["", f"Medians of {rounds} interleaved rounds.", "", "Memory after the runs:", "",
              "| process | RSS | PSS |", "|---|---:|---:|"]  # fmt: skip
    lines += [f"| {name} | {rss:,.0f} MiB | {pss:,.0f} MiB |" for name, rss, pss in memory]
    return lines


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
    "--memory",
    is_flag=True,
    help="Also the RSS and PSS of a served gunicorn (master and 2 workers) at every size.",
)
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
    help="Impression recording in the HTTP runs: on, off, or off,on (a server for each,"
    " side by side, rounds interleaved: what recording costs).",
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
    memory: bool,
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
    head = " | ".join(f"{s:,} items: median / p99 (same as exact)" for s in sizes)
    click.echo(f"| call | {head} |")
    click.echo("|---|" + "---:|" * len(sizes))
    for row, name in enumerate(r[0] for r in results[sizes[0]]):
        cells = " | ".join(f"{results[s][row][1]:.3f} / {results[s][row][2]:.3f} ms"
                           + ("" if results[s][row][3] is None else f" ({results[s][row][3]:.3f})")
                           for s in sizes)  # fmt: skip
        click.echo(f"| {name} | {cells} |")
    from recsvc.serving.taste import EXACT_SCAN_MAX_ITEMS

    click.echo(
        f"\n(same as exact: the share of the items a scan of every item gives; scans"
        f" go by the norm order above {EXACT_SCAN_MAX_ITEMS:,} items)"
    )
    if memory:
        click.echo("\nMemory of a served gunicorn (after 100 requests of each placement):\n")
        click.echo("| items | process | RSS | PSS |\n|---:|---|---:|---:|")
        for size, store in stores.items():
            for name, rss, pss in memory_at(store, 100):
                click.echo(f"| {size:,} | {name} | {rss:,.0f} MiB | {pss:,.0f} MiB |")
    click.echo(f"\nA shopper's recommendations request in process, {sizes[0]:,} items:\n")
    click.echo("| request | median / p99 |\n|---|---:|")
    for name, median, p99 in through_the_app(stores[sizes[0]], calls):
        click.echo(f"| {name} | {median:.3f} / {p99:.3f} ms |")
    click.echo(f"\nLive events, {sizes[0]:,} items:\n")
    click.echo("| call | median / p99 |\n|---|---:|")
    for name, median, p99 in live_part(stores[sizes[0]], calls, list(live_dbs)):
        click.echo(f"| {name} | {median:.3f} / {p99:.3f} ms |")
    if no_http:
        return
    settings = [s.strip() for s in impressions.split(",")]
    if not settings or set(settings) - {"on", "off"} or len(set(settings)) != len(settings):
        raise click.BadParameter("on, off, or both once", param_hint="--impressions")
    workers = os.environ.get("RECSVC_WORKER_CLASS", "gevent")
    click.echo(f"\nHTTP, {sizes[0]:,} items, each gunicorn with 2 {workers} workers:\n")
    click.echo("\n".join(over_http(stores[sizes[0]], seconds, rounds, settings, database)))


if __name__ == "__main__":
    main()
