"""Shared fixtures: small shops written to temporary files, and the MovieLens 100K log."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from recsvc.artifact import ModelStore
from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.data.events import Events, read_events
from recsvc.data.sample import ShopShape, write_shop
from recsvc.pipeline import train

ML100K = Path(
    os.environ.get("RECSVC_ML100K", Path(__file__).resolve().parents[2] / "shared/data/ml-100k")
)


@pytest.fixture(scope="session")
def ml100k() -> Path:
    """The MovieLens 100K event log (shared/data/ml-100k beside the repository)."""
    if not (ML100K / "events.csv").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"MovieLens 100K not found at {ML100K} (set RECSVC_ML100K)")
        pytest.skip(f"MovieLens 100K not found at {ML100K} (set RECSVC_ML100K)")
    return ML100K


@pytest.fixture(scope="session")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A synthetic shop of about 20,000 events (events.csv, items.csv)."""
    folder = tmp_path_factory.mktemp("shop")
    return write_shop(ShopShape(events=20_000, users=600, items=300, seed=3), folder)


#: fast, and one model (the default, auto, would choose among many at every training)
FAST_CONFIG = TrainingConfig(model="als", als_factors=8, als_iterations=5,
                             bought_together_neighbours=20)  # fmt: skip


@pytest.fixture
def fast_config() -> TrainingConfig:
    """Settings that train in a fraction of a second."""
    return FAST_CONFIG


@pytest.fixture(scope="session")
def trained_store(
    tmp_path_factory: pytest.TempPathFactory, small_shop: tuple[Path, Path]
) -> ModelStore:
    """A model store with one version trained on the small shop (do not modify)."""
    store = ModelStore(tmp_path_factory.mktemp("store") / "models")
    train(
        Files(*small_shop),
        config=FAST_CONFIG.replace(als_factors=16, als_iterations=10),
        store=store,
    )
    return store


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write text to a CSV file in the test's folder."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def events_of(write_csv: Callable[[str, str], Path]) -> Callable[[list[str]], Events]:
    """Events from CSV rows ``user_id,item_id,event_type,timestamp`` (any time: hand-made
    logs count seconds from 0)."""

    def make(rows: list[str]) -> Events:
        text = "user_id,item_id,event_type,timestamp\n" + "".join(r + "\n" for r in rows)
        return read_events(
            write_csv("e.csv", text), event_types=("view", "add_to_cart", "purchase"), bounds=None
        )

    return make


POSTGRES = os.environ.get("RECSVC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, created on the local server and
    dropped at the end: two runs at once never share tables.

    Without a reachable PostgreSQL its tests skip, except under CI (CI=true), where
    they fail.
    """
    import sqlalchemy as sa

    from recsvc.store.database import database_url

    server = sa.engine.make_url(database_url({"DATABASE_URL": POSTGRES}))
    name = f"recsvc_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {POSTGRES} (RECSVC_TEST_POSTGRES): {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the schema: a SQLite file, and this run's PostgreSQL
    database (see ``postgres_url``)."""
    from recsvc.store.database import connect, drop, upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = connect(url)
    drop(engine)
    upgrade(engine)
    engine.dispose()
    return url


class CuttableProxy:
    """A TCP proxy to PostgreSQL that the test can cut and restore (the database going
    away and coming back), or stall (it stops answering: packets held, connections
    open), as the app sees it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.flowing = threading.Event()
        self.flowing.set()
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.target)
            self.connections += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self.flowing.wait()  # stalled: held, neither passed on nor refused
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self.connections.clear()

    def restore(self) -> None:
        self.up = True

    def stall(self) -> None:
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.resume()
        self.cut()
        self.listener.close()


ProxyTo = Callable[[str], tuple[CuttableProxy, str]]


@pytest.fixture
def proxy_to() -> Iterator[ProxyTo]:
    """A proxy in front of a PostgreSQL URL: (the proxy, the URL through it)."""
    import sqlalchemy as sa

    proxies: list[CuttableProxy] = []

    def make(url: str) -> tuple[CuttableProxy, str]:
        parsed = sa.engine.make_url(url)
        proxy = CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        proxies.append(proxy)
        through = parsed.set(host="127.0.0.1", port=proxy.port)
        return proxy, through.render_as_string(hide_password=False)

    yield make
    for proxy in proxies:
        proxy.close()
