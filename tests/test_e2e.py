"""End to end: the real gunicorn, started by the Procfile's command, over real HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from recsvc.artifact import POINTER, ModelStore

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "test-admin-key"
#: the proxy_to fixture (conftest.py): a URL in, (the proxy, the URL through it) out
ProxyTo = Callable[[str], tuple[Any, str]]


def web_command() -> list[str]:
    """The Procfile's web command, as Heroku would run it."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.removeprefix("web:"))
    raise AssertionError("no web process in the Procfile")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A running gunicorn and the model store it serves."""

    def __init__(self, store: Path, **env: str) -> None:
        self.store = ModelStore(store)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = dict(
            os.environ,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            PORT=str(self.port),
            WEB_CONCURRENCY="2",
            RECSVC_MODELS=str(store),
            RECSVC_ADMIN_KEY=ADMIN_KEY,
            RECSVC_RELOAD_INTERVAL="0.3",
        )
        environ.update(env)
        if "DATABASE_URL" not in env:  # its own event store, never the project's var/
            from recsvc.store.database import connect, upgrade

            environ["DATABASE_URL"] = f"sqlite:///{store.parent / 'shop.db'}"
            engine = connect(environ["DATABASE_URL"])
            upgrade(engine)
            engine.dispose()
        self.database_url = environ["DATABASE_URL"]
        self.log = store.parent / "gunicorn.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            web_command(), cwd=ROOT, env=environ, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        # generous: a busy machine takes seconds to start gunicorn and load a model
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"gunicorn did not become ready:\n{self.log.read_text()}")

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return requests.post(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]

    def put(self, path: str, **kwargs: object) -> requests.Response:
        return requests.put(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]

    def patch(self, path: str, **kwargs: object) -> requests.Response:
        return requests.patch(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]

    def workers_serving(self, version: str, *, timeout: float = 60) -> set[int]:
        """Wait until /v1/model lists two workers, both serving ``version``; their pids."""
        deadline = time.monotonic() + timeout
        workers: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            workers = self.get("/v1/model").json()["workers"]
            if len(workers) == 2 and {w["version"] for w in workers} == {version}:
                return {int(w["worker_pid"]) for w in workers}  # type: ignore[call-overload]
            time.sleep(0.05)
        raise AssertionError(f"workers serve {workers}, expected {version}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self._log_file.close()
        # the workers' status folder goes with the server
        assert not (Path(tempfile.gettempdir()) / f"recsvc-workers-{self.process.pid}").exists()


@pytest.fixture
def store_copy(tmp_path: Path, trained_store: ModelStore) -> Path:
    target = tmp_path / "models"
    shutil.copytree(trained_store.root, target)
    return target


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, trained_store: ModelStore) -> Iterator[Server]:
    target = tmp_path_factory.mktemp("e2e") / "models"
    shutil.copytree(trained_store.root, target)
    running = Server(target)
    yield running
    running.stop()


def known_user(server: Server) -> str:
    model = server.store.load()
    counts = model.purchased.indptr[1:] - model.purchased.indptr[:-1]
    return str(model.users.ids[int(counts.argmax())])


def item_ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def test_every_placement_over_http(server: Server) -> None:
    user = known_user(server)
    version = server.store.current()
    home = server.get(f"/v1/users/{user}/recommendations", params={"n": 5})
    body = home.json()
    assert set(body) == {"recommendation_id", "model_version", "placement", "strategy", "items",
                         "experiment", "variant", "ignored_items"}  # fmt: skip
    assert (body["experiment"], body["variant"]) == (None, None)  # no experiment runs
    assert (body["placement"], body["strategy"], body["model_version"]) == (
        "home", "personalized", version)  # fmt: skip
    assert len(body["items"]) == 5
    assert set(body["items"][0]) == {"item_id", "score", "title", "category", "price", "available"}

    params = {"placement": "category", "category": "Shoes", "n": 8}
    category = server.get(f"/v1/users/{user}/recommendations", params=params)
    assert category.json()["placement"] == "category"
    assert {i["category"] for i in category.json()["items"]} == {"Shoes"}

    product = server.post("/v1/recommendations", json={
        "placement": "product", "item_id": "p1", "user_id": user, "n": 4})  # fmt: skip
    assert product.json()["strategy"] == "similar+taste"
    assert "p1" not in item_ids(product)

    cart = server.post("/v1/recommendations",
                       json={"placement": "cart", "cart_items": ["p1", "p2"], "n": 6})  # fmt: skip
    assert cart.json()["strategy"] == "cart"
    assert not {"p1", "p2"} & set(item_ids(cart))
    assert len(item_ids(cart)) == 6

    similar = server.get("/v1/items/p1/similar", params={"n": 3})
    assert similar.json()["placement"] == "product"
    assert len(item_ids(similar)) == 3

    popular = server.get("/v1/popular", params={"n": 3, "category": "Toys"})
    assert popular.json()["strategy"] == "popular"
    assert {i["category"] for i in popular.json()["items"]} == {"Toys"}


def test_filters_and_fallbacks_over_http(server: Server) -> None:
    cold = server.get("/v1/users/nobody-yet/recommendations", params={"n": 4})
    assert cold.json()["strategy"] == "popular"
    session = server.post("/v1/recommendations", json={
        "recent_items": ["p3", "p4", "ghost"], "n": 5,
        "filters": {"min_price": 5, "max_price": 80, "exclude": ["p5"]}})  # fmt: skip
    body = session.json()
    assert body["strategy"] == "session"
    assert body["ignored_items"] == ["ghost"]
    assert all(5 <= i["price"] <= 80 for i in body["items"])
    assert "p5" not in item_ids(session)
    filtered = server.get("/v1/users/nobody-yet/recommendations",
                          params={"n": 100, "category": "Garden", "max_price": 30,
                                  "exclude": "p1,p2"})  # fmt: skip
    garden = item_ids(filtered)
    assert len(garden) == len(set(garden))
    assert all(i["category"] == "Garden" and i["price"] <= 30 for i in filtered.json()["items"])
    assert all(i["available"] for i in filtered.json()["items"])


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "field"),
    [
        ("GET", "/v1/users/u1/recommendations?n=0", None, 422, "n"),
        ("GET", "/v1/users/u1/recommendations?n=101", None, 422, "n"),
        ("GET", "/v1/users/u1/recommendations?n=ten", None, 422, "n"),
        ("GET", "/v1/users/u1/recommendations?placement=checkout", None, 422, "placement"),
        ("GET", "/v1/users/u1/recommendations?placement=category", None, 422, "category"),
        ("GET", f"/v1/users/{'u' * 129}/recommendations", None, 422, "user_id"),
        ("GET", "/v1/users/u%07x/recommendations", None, 422, "user_id"),
        ("GET", "/v1/items/no-such-item/similar", None, 404, "item_id"),
        ("POST", "/v1/recommendations", {"placement": "product"}, 422, "item_id"),
        ("POST", "/v1/recommendations", {"user_id": ""}, 422, "user_id"),
        ("POST", "/v1/recommendations", {"recent_items": ["p1"] * 101}, 422, "recent_items"),
        ("POST", "/v1/recommendations", {"n": 5, "colour": "red"}, 422, "colour"),
    ],
)
def test_errors_name_the_field(
    server: Server, method: str, path: str, payload: object, status: int, field: str
) -> None:
    response = requests.request(method, f"{server.url}{path}", json=payload, timeout=10)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["status"]
    assert body["message"]
    assert field in json.dumps(body["errors"])


def test_malformed_and_oversized_bodies(server: Server) -> None:
    bad = server.post("/v1/recommendations", data="{not json",
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["message"]
    big = server.post("/v1/recommendations", data=b"[" + b"1," * 600_000 + b"1]",
                      headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413
    assert "larger than" in big.json()["message"]
    assert "Traceback" not in bad.text + big.text


def test_admin_reload_needs_the_key(server: Server) -> None:
    missing = server.post("/v1/model/reload")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert server.post("/v1/model/reload", headers={"X-API-Key": "wrong"}).status_code == 403
    ok = server.post("/v1/model/reload", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert ok.status_code == 200
    assert ok.json()["version"] == server.store.current()


def test_health_model_and_openapi(server: Server) -> None:
    assert server.get("/healthz").json()["status"] == "ok"
    ready = server.get("/readyz").json()
    assert ready["version"] == server.store.current()
    model = server.get("/v1/model").json()
    assert model["current_version"] == model["version"] == server.store.current()
    pids = server.workers_serving(server.store.current() or "")
    assert model["worker_pid"] in pids
    assert server.process.pid not in pids  # the master serves no request
    assert model["metrics"]["model"]["ndcg@10"] > 0
    spec = server.get("/openapi.json").json()
    assert "/v1/users/{user_id}/recommendations" in spec["paths"]
    assert "RecommendationRequest" in spec["components"]["schemas"]
    docs = server.get("/docs")
    assert docs.status_code == 200
    # everything /docs loads is the service's own (it renders without internet)
    loaded = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert loaded
    assert all(url.startswith("/") for url in loaded), loaded
    for url in loaded:
        asset = server.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url


def test_no_model_means_503_and_not_ready(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    port = free_port()
    environ = dict(
        os.environ,
        PORT=str(port),
        RECSVC_MODELS=str(empty),
        WEB_CONCURRENCY="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    process = subprocess.Popen(web_command(), cwd=ROOT, env=environ,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # generous: a busy machine starts slowly
        while True:
            try:
                health = requests.get(f"{url}/healthz", timeout=10)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert health.status_code == 200
        ready = requests.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.headers["Retry-After"]
        recs = requests.get(f"{url}/v1/users/u1/recommendations", timeout=5)
        assert recs.status_code == 503
        assert "no model loaded" in recs.json()["message"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_reload_under_load_drops_no_request(store_copy: Path) -> None:
    server = Server(store_copy)
    try:
        old = server.store.current()
        results: list[tuple[int, str]] = []
        stop = threading.Event()

        def hammer() -> None:
            session = requests.Session()
            while not stop.is_set():
                r = session.get(f"{server.url}/v1/users/nobody/recommendations", timeout=10)
                results.append((r.status_code, r.json().get("model_version", "")))

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        new = server.store.publish(server.store.load())
        reload = server.post("/v1/model/reload", headers={"X-API-Key": ADMIN_KEY})
        assert reload.json()["version"] == new
        server.workers_serving(new)
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join()
        assert len(results) > 50
        assert {status for status, _ in results} == {200}
        versions = [v for _, v in results]
        assert versions[0] == old
        assert versions[-1] == new
    finally:
        server.stop()


def test_a_corrupt_version_never_replaces_the_good_one(store_copy: Path) -> None:
    server = Server(store_copy)
    try:
        good = server.store.current()
        bad = server.store.publish(server.store.load(), promote=False)
        (server.store.path(bad) / "item_factors.npy").write_bytes(b"corrupt")
        # a pointer naming a corrupt version (promote itself refuses to write one)
        (store_copy / POINTER).write_text(json.dumps({"current": bad, "history": [good, bad]}))
        reload = server.post("/v1/model/reload", headers={"X-API-Key": ADMIN_KEY}).json()
        assert reload["version"] == good
        assert reload["failed_version"] == bad
        assert "item_factors.npy" in reload["failure"]
        time.sleep(1)  # both workers have checked the pointer by now
        for _ in range(10):
            response = server.get("/v1/users/nobody/recommendations")
            assert response.status_code == 200
            assert response.json()["model_version"] == good
        assert "cannot load model version" in server.log.read_text()
    finally:
        server.stop()


def test_a_killed_worker_leaves_the_list(store_copy: Path) -> None:
    """gunicorn replaces a killed worker and its entry goes at once: the pid may
    soon be another process's, so it cannot wait until someone notices it is free."""
    server = Server(store_copy)
    try:
        version = server.store.current()
        assert version is not None
        killed, survivor = sorted(server.workers_serving(version))
        folder = Path(tempfile.gettempdir()) / f"recsvc-workers-{server.process.pid}"
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60  # generous: a busy machine forks slowly
        # the new worker announces itself as it starts; watching the folder, not
        # /v1/model or the health checks, which would drop entries of free pids too
        while {path.stem for path in folder.glob("*.json")} <= {str(killed), str(survivor)}:
            assert time.monotonic() < deadline, "no new worker"
            server.get("/v1/popular")
        assert not (folder / f"{killed}.json").exists()
        new = server.workers_serving(version)
        assert survivor in new
        assert killed not in new
    finally:
        server.stop()


WRITE_KEY = "test-write-key"


@pytest.fixture
def live_server(store_copy: Path, db_url: str) -> Iterator[Server]:
    """gunicorn with an event store (SQLite file or PostgreSQL) and the write key."""
    running = Server(store_copy, DATABASE_URL=db_url, RECSVC_WRITE_KEY=WRITE_KEY)
    yield running
    running.stop()


def test_events_change_the_next_recommendations(live_server: Server) -> None:
    user = known_user(live_server)
    before = item_ids(live_server.get(f"/v1/users/{user}/recommendations", params={"n": 10}))
    bought, viewed = before[0], before[1]
    now = int(time.time())
    events = [
        {"event_id": "live-1", "user_id": user, "item_id": viewed, "event_type": "view",
         "timestamp": now},
        {"event_id": "live-2", "user_id": user, "item_id": bought, "event_type": "purchase",
         "timestamp": now},
    ]  # fmt: skip
    posted = live_server.post("/v1/events", json={"events": events},
                              headers={"X-API-Key": WRITE_KEY})  # fmt: skip
    assert posted.status_code == 202, posted.text
    # the worker that stored them knows at once, the other within a catalog interval:
    # wait (generously, on a busy machine) until 8 answers in a row show it
    deadline, in_a_row, after = time.monotonic() + 60, 0, {}
    while in_a_row < 8 and time.monotonic() < deadline:
        after = live_server.get(f"/v1/users/{user}/recommendations", params={"n": 10}).json()
        shown = [i["item_id"] for i in after["items"]]
        folded = bought not in shown and viewed not in shown and after["strategy"] == "session"
        in_a_row = in_a_row + 1 if folded else 0
    assert in_a_row == 8, after  # bought and viewed left out, the live events folded in


def test_what_recommendations_earn_is_counted_across_workers(live_server: Server) -> None:
    """Lists served by both workers are recorded in the background, events credited to
    them (by id, and a purchase without one by the window), and the stats count them."""
    user = known_user(live_server)
    served = [live_server.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
              for _ in range(6)]  # fmt: skip
    served.append(live_server.get("/v1/popular", params={"session_id": "anon-1", "n": 3}).json())
    first = served[0]
    item = first["items"][0]["item_id"]
    now = int(time.time())
    events = [{"event_id": "earn-1", "user_id": user, "item_id": item, "event_type": "view",
               "timestamp": now, "recommendation_id": first["recommendation_id"]},
              {"event_id": "earn-2", "user_id": user, "item_id": item, "event_type": "purchase",
               "timestamp": now + 1}]  # fmt: skip
    posted = live_server.post("/v1/events", json={"events": events},
                              headers={"X-API-Key": WRITE_KEY})  # fmt: skip
    assert posted.status_code == 202, posted.text
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    deadline, stats = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        stats = live_server.get("/v1/stats/recommendations", headers=admin).json()
        if sum(g["impressions"] for g in stats["groups"]) == len(served):
            break
        time.sleep(0.1)
    groups = {g["placement"]: g for g in stats["groups"]}
    assert groups["home"]["impressions"] == 6, stats
    assert (groups["home"]["views"], groups["home"]["purchases"]) == (1, 1)
    assert groups["home"]["model_version"] == first["model_version"]
    assert (groups["popular"]["impressions"], groups["popular"]["views"]) == (1, 0)


def test_impressions_still_buffered_are_written_when_the_server_stops(store_copy: Path) -> None:
    server = Server(store_copy, RECSVC_IMPRESSION_FLUSH_INTERVAL="3600")
    try:
        for _ in range(10):
            assert server.get("/v1/popular", params={"n": 3}).status_code == 200
    finally:
        server.stop()
    import sqlalchemy as sa

    from recsvc.store.database import connect

    engine = connect(server.database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM impressions")).scalar() == 10
    engine.dispose()


def test_an_item_out_of_stock_vanishes_everywhere_within_a_second(live_server: Server) -> None:
    user = known_user(live_server)
    target = item_ids(live_server.get("/v1/popular", params={"n": 1}))[0]
    put = live_server.put(f"/v1/items/{target}", json={"available": True},
                          headers={"X-API-Key": WRITE_KEY})  # fmt: skip
    assert put.status_code == 200
    patched = live_server.patch(f"/v1/items/{target}", json={"available": False},
                                headers={"X-API-Key": WRITE_KEY})  # fmt: skip
    assert patched.json()["available"] is False
    time.sleep(1.0)
    for _ in range(6):  # both workers, every placement
        lists = [
            live_server.get("/v1/popular", params={"n": 50}),
            live_server.get("/v1/users/nobody/recommendations", params={"n": 50}),
            live_server.get(f"/v1/users/{user}/recommendations", params={"n": 50}),
            live_server.post("/v1/recommendations", json={"placement": "cart",
                             "cart_items": ["p1"], "n": 50}),
            live_server.get("/v1/items/p1/similar", params={"n": 50}),
        ]  # fmt: skip
        for response in lists:
            assert target not in item_ids(response)
    live_server.patch(f"/v1/items/{target}", json={"available": True},
                      headers={"X-API-Key": WRITE_KEY})  # fmt: skip
    time.sleep(1.0)
    assert target in item_ids(live_server.get("/v1/popular", params={"n": 1}))


def test_retrain_from_the_database_reaches_every_worker(
    tmp_path: Path, db_url: str, trained_store: ModelStore, small_shop: tuple[Path, Path]
) -> None:
    """Heroku-style: the trainer and the web dynos share only the database."""
    from recsvc.store.database import connect
    from recsvc.store.models import DatabaseModelStore

    engine = connect(db_url)
    first = DatabaseModelStore(engine, cache=tmp_path / "seed-cache").publish(trained_store.load())
    engine.dispose()
    env = {"DATABASE_URL": db_url, "RECSVC_MODEL_CACHE": str(tmp_path / "web-cache")}
    holder_dir = tmp_path / "web"
    holder_dir.mkdir()
    server = Server(holder_dir / "unused", RECSVC_MODELS="database", **env)
    try:
        server.workers_serving(first)
        trainer = dict(
            os.environ,
            DATABASE_URL=db_url,
            RECSVC_MODELS="database",
            RECSVC_MODEL_CACHE=str(tmp_path / "trainer-cache"),
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        )
        recsvc = str(Path(sys.executable).with_name("recsvc"))
        for command in (["import-events", str(small_shop[0])],
                        ["import-items", str(small_shop[1])],
                        ["train", "--from-db", "--model", "als", "--factors", "8",
                         "--iterations", "5",
                         "--neighbours", "20", "--force", "--no-progress"]):  # fmt: skip
            done = subprocess.run([recsvc, *command], env=trainer, capture_output=True,
                                  text=True, check=False)  # fmt: skip
            assert done.returncode == 0, done.stderr
        new = done.stdout.split("published ")[1].split()[0]
        assert new != first
        server.workers_serving(new, timeout=20)
        response = server.get("/v1/users/nobody/recommendations")
        assert response.json()["model_version"] == new
    finally:
        server.stop()


def test_a_new_catalog_item_shows_in_its_category_list(live_server: Server) -> None:
    put = live_server.put("/v1/items/brand-new", json={"title": "Bowl", "category": "Pets",
                          "price": 3.5}, headers={"X-API-Key": WRITE_KEY})  # fmt: skip
    assert put.status_code == 200
    time.sleep(1.0)
    for _ in range(6):  # both workers
        pets = live_server.get("/v1/popular", params={"category": "Pets", "n": 5}).json()
        assert [i["item_id"] for i in pets["items"]] == ["brand-new"]
        assert pets["items"][0]["title"] == "Bowl"


# -- faults, with real processes (slow: tens of seconds) --------------------------------


def _latency(call: Callable[[], requests.Response]) -> tuple[float, int]:
    start = time.monotonic()
    status = call().status_code
    return time.monotonic() - start, status


@pytest.mark.slow
def test_slow_clients_do_not_starve_the_service(store_copy: Path) -> None:
    """50 connections send their headers a byte a second for 30 s; meanwhile every
    request of a normal client is answered, in milliseconds."""
    server = Server(store_copy)
    stop = time.monotonic() + 30

    def slow_client() -> None:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
        ):
            sock.sendall(b"GET /v1/popular HTTP/1.1\r\nHost: shop\r\n")
            while time.monotonic() < stop:
                sock.sendall(b"X")
                time.sleep(1)

    slow = [threading.Thread(target=slow_client, daemon=True) for _ in range(50)]
    try:
        for thread in slow:
            thread.start()
        latencies = []
        while time.monotonic() < stop:
            seconds, status = _latency(lambda: server.get("/v1/popular", params={"n": 5}))
            assert status == 200
            latencies.append(seconds)
            time.sleep(0.2)
        latencies.sort()
        p99 = latencies[int(0.99 * (len(latencies) - 1))]
        print(
            f"slow clients: {len(latencies)} requests answered, none failed,"
            f" p50 {1e3 * latencies[len(latencies) // 2]:.1f} ms, p99 {1e3 * p99:.1f} ms"
        )
        assert len(latencies) > 50
        assert p99 < 1.0
    finally:
        for thread in slow:
            thread.join(timeout=15)
        server.stop()


@pytest.mark.slow
def test_a_hung_database_keeps_reads_fast_and_answers_writes_503(
    store_copy: Path, postgres_url: str, proxy_to: ProxyTo
) -> None:
    """The database stops answering (a proxy holds every packet): recommendations go on
    at their usual speed, writes answer 503 with Retry-After within the timeout, and
    everything works again once the database answers."""
    from recsvc.store.database import connect, drop, upgrade

    engine = connect(postgres_url)
    drop(engine)
    upgrade(engine)
    engine.dispose()
    proxy, through = proxy_to(postgres_url)
    server = Server(store_copy, DATABASE_URL=through, RECSVC_WRITE_KEY=WRITE_KEY)
    key = {"X-API-Key": WRITE_KEY}
    user = known_user(server)

    def event(n: int) -> dict[str, object]:
        return {"events": [{"event_id": f"hung-{n}", "user_id": user, "item_id": "p1",
                            "event_type": "view", "timestamp": int(time.time())}]}  # fmt: skip

    try:
        assert server.post("/v1/events", json=event(0), headers=key).status_code == 202
        healthy = [_latency(lambda: server.get(f"/v1/users/{user}/recommendations"))[0]
                   for _ in range(20)]  # fmt: skip
        proxy.stall()
        hung = []
        for _ in range(20):
            seconds, status = _latency(lambda: server.get(f"/v1/users/{user}/recommendations"))
            assert status == 200
            hung.append(seconds)
        for n in range(1, 4):
            start = time.monotonic()
            write = server.post("/v1/events", json=event(n), headers=key)
            took = time.monotonic() - start
            assert write.status_code == 503
            assert write.headers["Retry-After"]
            assert took < 3.5  # the 2 s timeout, and the request around it
        assert server.get("/v1/model").status_code == 200
        print(
            f"hung database: reads median {1e3 * sorted(hung)[10]:.1f} ms"
            f" (healthy {1e3 * sorted(healthy)[10]:.1f} ms), max {1e3 * max(hung):.1f} ms;"
            f" writes 503 after {took:.2f} s"
        )
        assert max(hung) < 1.0
        proxy.resume()
        deadline = time.monotonic() + 30
        while server.post("/v1/events", json=event(9), headers=key).status_code != 202:
            assert time.monotonic() < deadline, "writes did not recover"
            time.sleep(0.5)
    finally:
        proxy.resume()
        server.stop()


def test_a_replaced_worker_serves_the_current_version_from_its_first_request(
    store_copy: Path,
) -> None:
    """A worker killed after a new version was published (and not yet picked up by the
    others, whose checks are an hour apart here) is replaced by one that loads the
    current version before it answers."""
    server = Server(store_copy, RECSVC_RELOAD_INTERVAL="3600")
    try:
        old = server.store.current() or ""
        pids = server.workers_serving(old)
        new = server.store.publish(server.store.load())
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:  # until a request is answered by the replacement
            status = server.get("/v1/model").json()
            if status["worker_pid"] not in pids:
                break
            assert time.monotonic() < deadline, "no replacement worker answered"
        assert status["version"] == new  # its first answer, already on the new version
        assert {w["worker_pid"]: w["version"] for w in status["workers"]} == {
            status["worker_pid"]: new, max(pids): old}  # fmt: skip
    finally:
        server.stop()


def test_an_oversized_chunked_body_is_413_and_workers_are_listed_from_the_start(
    store_copy: Path,
) -> None:
    server = Server(store_copy)
    try:
        # both workers announce themselves as they start, not on their first request:
        # watched on the status folder, without sending a request
        folder = Path(tempfile.gettempdir()) / f"recsvc-workers-{server.process.pid}"
        deadline = time.monotonic() + 60
        while len(list(folder.glob("*.json"))) < 2:
            assert time.monotonic() < deadline, "the workers did not announce themselves"
            time.sleep(0.05)
        body = b"[" + b"1," * 750_000 + b"1]"  # 1.5 MB, over the 1 MiB limit
        received: list[bytes] = []
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:

            def read() -> None:
                data = b""
                with contextlib.suppress(OSError):
                    while chunk := sock.recv(65536):
                        data += chunk
                received.append(data)

            reader = threading.Thread(target=read)
            reader.start()
            sock.sendall(b"POST /v1/recommendations HTTP/1.1\r\nHost: shop\r\n"
                         b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n")  # fmt: skip
            with contextlib.suppress(OSError):  # the server may stop reading at the limit
                for start in range(0, len(body), 65536):
                    part = body[start : start + 65536]
                    sock.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            reader.join(timeout=10)
        assert received[0].startswith(b"HTTP/1.1 413")
        assert b"RECSVC_MAX_BODY_BYTES" in received[0]
    finally:
        server.stop()


def test_one_worker_serves_both_variants_of_an_experiment(store_copy: Path, db_url: str) -> None:
    """Through gunicorn, on SQLite and PostgreSQL: an experiment started over HTTP
    reaches the worker, which serves each shopper from their variant's version, the
    same one every time."""
    store = ModelStore(store_copy)
    store.publish(store.load(), promote=False)
    old, new = store.versions()[:2]
    server = Server(store_copy, WEB_CONCURRENCY="1", DATABASE_URL=db_url)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        started = server.post("/v1/experiments", headers=admin, json={
            "name": "e2e-ab", "variants": [{"name": "a", "version": "current"},
                                           {"name": "b", "version": "latest"}]})  # fmt: skip
        assert started.status_code == 201, started.text
        # the worker follows the experiment, then loads b's version in the background;
        # until then b's shoppers are served outside it (variant None): wait for both
        expected = {("a", old), ("b", new)}
        deadline, seen = time.monotonic() + 60, {}
        while time.monotonic() < deadline and set(seen.values()) != expected:
            seen = {}
            for n in range(30):
                body = server.get(f"/v1/users/u{n}/recommendations", params={"n": 3}).json()
                seen[n] = (body["variant"], body["model_version"])
            time.sleep(0.1)
        assert set(seen.values()) == expected, seen
        pids = {w["worker_pid"] for w in server.get("/v1/model").json()["workers"]}
        assert len(pids) == 1  # one worker held both versions
        again = {n: (server.get(f"/v1/users/u{n}/recommendations").json()["variant"])
                 for n in range(30)}  # fmt: skip
        assert again == {n: v for n, (v, _) in seen.items()}  # sticky
        assert server.post("/v1/experiments/e2e-ab/stop", headers=admin).status_code == 200
    finally:
        server.stop()


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def test_metrics_add_up_both_workers_and_forget_an_exited_one(
    store_copy: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    server = Server(store_copy, PROMETHEUS_MULTIPROC_DIR=str(folder), RECSVC_ACCESS_LOG="json",
                    RECSVC_WRITE_KEY=WRITE_KEY)  # fmt: skip
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        user = known_user(server)
        answered_by: dict[str, int] = {}
        deadline, sent = time.monotonic() + 60, 0
        while time.monotonic() < deadline and (sent < 20 or len(set(answered_by.values())) < 2):
            rid = f"e2e-{sent}"
            answer = server.get(f"/v1/users/{user}/recommendations", headers={"X-Request-ID": rid})
            assert answer.headers["X-Request-ID"] == rid  # honoured
            sent += 1
            for line in server.log.read_text().splitlines():
                if line.startswith("{") and '"request_id": "e2e-' in line:
                    entry = json.loads(line)
                    answered_by[entry["request_id"]] = entry["worker_pid"]
        pids = set(answered_by.values())
        assert len(pids) == 2, answered_by  # both workers answered, and logged in JSON
        error = server.get("/v1/users/x/recommendations", params={"n": 0})
        assert error.status_code == 422
        assert len(error.headers["X-Request-ID"]) == 32
        assert server.get("/metrics").status_code == 401
        events = {"events": [{"event_id": f"m{n}", "user_id": user, "item_id": "p1",
                              "event_type": "view", "timestamp": int(time.time())}
                             for n in range(2)]}  # fmt: skip
        key = {"X-API-Key": WRITE_KEY}
        assert server.post("/v1/events", json=events, headers=key).status_code == 202
        bad = {"events": [{"user_id": "u"}] * 3}
        assert server.post("/v1/events", json=bad, headers=key).status_code == 422
        text, deadline = "", time.monotonic() + 60
        while time.monotonic() < deadline:  # impressions are written within a second or so
            text = server.get("/metrics", headers=admin).text
            if _metric(text, "recsvc_impressions_total", outcome="written") >= sent:
                break
            time.sleep(0.2)
        home = {"endpoint": "/v1/users/<user_id>/recommendations", "placement": "home"}
        assert _metric(text, "recsvc_http_requests_total", status="200", **home) == sent
        # refused before it reached a placement
        refused = {"endpoint": home["endpoint"], "placement": "", "status": "422"}
        assert _metric(text, "recsvc_http_requests_total", **refused) == 1
        assert _metric(text, "recsvc_http_request_duration_seconds_count", **home) == sent
        version = server.store.current()
        assert version is not None
        for pid in pids:
            assert _metric(text, "recsvc_model_info", version=version, pid=str(pid)) == 1
        loaded = _metric(text, "recsvc_model_reloads_total", outcome="loaded")
        assert loaded >= 1  # the master's preload (the workers kept it)
        assert _metric(text, "recsvc_impressions_total", outcome="written") == sent
        assert _metric(text, "recsvc_impressions_total", outcome="recorded") == sent
        assert _metric(text, "recsvc_impressions_buffered") == 0
        assert _metric(text, "recsvc_events_total", outcome="stored") == 2
        assert _metric(text, "recsvc_events_total", outcome="rejected") == 3
        for pid in pids:
            read = _metric(text, "recsvc_store_read_timestamp_seconds", pid=str(pid))
            assert time.time() - 60 < read <= time.time() + 1  # read the store just now
        # a worker exits: its live gauges go, the totals stay
        gone = min(pids)
        assert list(folder.glob(f"gauge_live*_{gone}.db"))  # its live gauges, until it exits
        os.kill(gone, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(folder.glob(f"gauge_live*_{gone}.db")):
            time.sleep(0.1)
        assert [p.name for p in folder.glob(f"gauge_live*_{gone}.db")] == []
        after = server.get("/metrics", headers=admin).text
        assert f'pid="{gone}"' not in after
        assert _metric(after, "recsvc_http_requests_total", status="200", **home) == sent
        # a new version: every live worker swaps it in, and says so
        new_version = server.store.publish(server.store.load())
        deadline = time.monotonic() + 120  # generous: a busy machine boots the replacement late
        while time.monotonic() < deadline:
            after = server.get("/metrics", headers=admin).text
            reloaded = _metric(after, "recsvc_model_reloads_total", outcome="loaded") >= loaded + 2
            if reloaded and _metric(after, "recsvc_model_info", version=new_version) == 2:
                break
            time.sleep(0.2)
        new = server.store.current()
        assert new is not None
        assert new != version
        assert _metric(after, "recsvc_model_info", version=new) == 2
        assert _metric(after, "recsvc_model_info", version=version) == 0
    finally:
        server.stop()


CHROMIUM = Path(os.environ.get("RECSVC_CHROMIUM", "/usr/bin/chromium"))
#: Chromium's own connections (updates, sync...) would fail on a closed network
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (its own browser download cannot run here)."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
    if reason is None and not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM} (Debian's chromium package; RECSVC_CHROMIUM)"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_the_dashboard_and_docs_in_a_real_browser(
    store_copy: Path, browser: Any, tmp_path: Path
) -> None:
    """Log in, read the charts' data against the stats API, preview a shopper, open
    /docs: all from the service itself, nothing from outside."""
    server = Server(store_copy, RECSVC_WRITE_KEY=WRITE_KEY)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    try:
        user = known_user(server)
        lists = [server.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
                 for _ in range(5)]  # fmt: skip
        lists.append(server.get("/v1/popular", params={"n": 3}).json())
        item = lists[0]["items"][0]["item_id"]
        now = int(time.time())
        events = [{"event_id": "dash-v", "user_id": user, "item_id": item, "event_type": "view",
                   "timestamp": now, "recommendation_id": lists[0]["recommendation_id"]},
                  {"event_id": "dash-p", "user_id": user, "item_id": item,
                   "event_type": "purchase", "timestamp": now + 1}]  # fmt: skip
        key = {"X-API-Key": WRITE_KEY}
        assert server.post("/v1/events", json={"events": events}, headers=key).status_code == 202
        stats: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stats = server.get("/v1/stats/recommendations", params={"by_day": "true"},
                               headers=admin).json()  # fmt: skip
            if sum(g["impressions"] for g in stats["groups"]) == len(lists):
                break
            time.sleep(0.2)

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        outside: list[str] = []
        page.on(
            "request", lambda r: None if r.url.startswith(server.url) else outside.append(r.url)
        )
        page.goto(f"{server.url}/dashboard")
        page.fill("#key", "wrong")
        page.click("#login")
        assert page.text_content("#message") == "Wrong key."
        page.fill("#key", ADMIN_KEY)
        page.click("#login")
        page.wait_for_selector("#chart-data", state="attached")
        charts = json.loads(page.text_content("#chart-data") or "{}")
        for placement in ("home", "popular"):
            expected = [g for g in stats["groups"] if g["placement"] == placement]
            for name in ("impressions", "views", "purchases"):
                assert sum(charts[placement][name]) == sum(g[name] for g in expected), name
            chart = page.locator(f'.chart-card[data-placement="{placement}"] svg polyline')
            assert chart.count() == 3  # views, add-to-carts, purchases per impression
        assert sum(charts["home"]["views"]) == 1
        assert sum(charts["home"]["purchases"]) == 1
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

        page.fill("#preview-user", user)
        page.click("#preview-go")
        page.wait_for_selector('.answer[data-placement="home"] li')
        home = page.text_content('.answer[data-placement="home"]') or ""
        assert "(personalized)" in home or "(session)" in home
        assert page.locator('.answer[data-placement="popular"] li').count() == 5
        page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

        page.goto(f"{server.url}/docs")
        page.wait_for_selector(".swagger-ui .opblock", timeout=60_000)
        assert page.locator(".swagger-ui .opblock").count() >= 10
        assert outside == [], outside
        shots = os.environ.get("RECSVC_SCREENSHOTS")
        if shots:  # docs/: RECSVC_SCREENSHOTS=docs pytest -k real_browser
            for name in ("dashboard.png", "preview.png"):
                shutil.copy(tmp_path / name, Path(shots) / name)
    finally:
        server.stop()
