"""The model a serving process answers with, swapped for a newly published one while serving.

Each process (gunicorn worker) holds one :class:`Recommender`. A background thread
reads the store's pointer every few seconds (a small file read); when it names a
version this process does not serve, the process loads and verifies it beside the
old one and swaps a single reference, so requests in flight finish on the version
they started with and no request fails. A version that fails to load is logged and
remembered; the old one keeps serving until the pointer changes again.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy.exc

from ..artifact import VersionStore
from ..errors import ModelStoreError, NoModelLoaded
from ..processes import alive
from ..store.shop import ShopStore
from .live import LiveEvents
from .placements import Placement
from .recommender import Recommender

log = logging.getLogger(__name__)
#: events read per query while following the store
FOLLOW_BATCH = 10_000
#: at most this many of the latest events are taken in when a process starts
CATCH_UP_EVENTS = 200_000


def workers_folder(master_pid: int) -> Path:
    """Where the processes forked from ``master_pid`` say what they serve."""
    return Path(tempfile.gettempdir()) / f"recsvc-workers-{master_pid}"


def _remove_folder(folder: Path, owner: int) -> None:
    """At exit, the process that made the folder removes it (gunicorn's workers
    inherit this exit handler, and must leave it to the master)."""
    if os.getpid() == owner:
        shutil.rmtree(folder, ignore_errors=True)


def forget_worker(master_pid: int, worker_pid: int) -> None:
    """Drop an exited worker's entry (its pid may soon belong to another process)."""
    (workers_folder(master_pid) / f"{worker_pid}.json").unlink(missing_ok=True)


@dataclass(frozen=True)
class Served:
    """What this process serves, and since when."""

    recommender: Recommender
    loaded_at: str


class ModelHolder:
    """The current recommender of this process, kept in step with the model store."""

    def __init__(
        self,
        store: VersionStore,
        placements: Mapping[str, Placement],
        *,
        check_interval: float,
        shop: ShopStore | None = None,
        catalog_interval: float = 0.5,
        live_events: int = 50,
    ) -> None:
        self.store = store
        self.placements = placements
        self.check_interval = check_interval
        self.shop = shop
        self.catalog_interval = catalog_interval
        # the live catalog (stock, price) as followed from the store, by item id, and
        # the last change applied: every loaded model gets it applied too
        self._catalog: dict[str, dict[str, Any]] = {}
        self._catalog_seen = 0
        #: shoppers' events after the model's data window, followed from the store
        self.live = LiveEvents(per_user=live_events)
        self._served: Served | None = None
        self._lock = threading.Lock()
        self._follow_lock = threading.Lock()
        self._watcher_pid: int | None = None
        #: the last version that failed to load, and why
        self.failed: tuple[str, str] | None = None
        # Where the processes forked from this one (gunicorn's workers) say what
        # they serve, so that any of them can show all of them. A folder left by an
        # earlier process with this pid (killed before it could clean up) is stale.
        self.workers_dir = workers_folder(os.getpid())
        shutil.rmtree(self.workers_dir, ignore_errors=True)
        atexit.register(_remove_folder, self.workers_dir, os.getpid())

    @property
    def recommender(self) -> Recommender:
        """The recommender serving now; :class:`NoModelLoaded` before any model loaded."""
        served = self._served
        if served is None:
            reason = f" ({self.failed[1]})" if self.failed else ""
            raise NoModelLoaded(f"no model loaded yet{reason}")
        return served.recommender

    def refresh(self, *, force: bool = False) -> bool:
        """Load the store's current version if this process serves another; True if swapped.

        A version that failed before is tried again only with ``force``.
        """
        with self._lock:
            try:
                version = self.store.current()
            except (ModelStoreError, sqlalchemy.exc.SQLAlchemyError) as exc:
                self._remember_failure("CURRENT", str(exc))
                return False
            served = self._served
            if version is None or (served is not None and served.recommender.version == version):
                return False
            if not force and self.failed is not None and self.failed[0] == version:
                return False
            try:
                recommender = Recommender(self.store.load(version), self.placements)
            except (ModelStoreError, OSError, sqlalchemy.exc.SQLAlchemyError) as exc:
                self._remember_failure(version, str(exc))
                return False
            recommender.apply_catalog(list(self._catalog.values()))
            self._served = Served(recommender, _now())
            self.failed = None
            log.info("serving model version %s (pid %d)", version, os.getpid())
            self._announce()
            return True

    def watch(self) -> None:
        """Start this process's background work, once per process: checking the model
        store for a new version, and following the event store (events, catalog)."""
        pid = os.getpid()
        if self._watcher_pid == pid:
            return
        self._watcher_pid = pid
        self._announce()
        if self.check_interval > 0:
            threading.Thread(target=self._watch, name="recsvc-model-watch", daemon=True).start()
        if self.shop is not None and self.catalog_interval > 0:
            # catch up before this process answers its first request, then follow
            with contextlib.suppress(Exception):
                self._catch_up_events()
                self.follow_step()
            threading.Thread(target=self._follow_store, name="recsvc-follow", daemon=True).start()

    def follow_step(self) -> int:
        """Take in the catalog changes and events stored since the last step; how many."""
        if self.shop is None:
            return 0
        with self._follow_lock:  # the background thread and a storing request
            return self._follow_step(self.shop)

    def _follow_step(self, shop: ShopStore) -> int:
        last, entries = shop.catalog_changes(self._catalog_seen)
        with self._lock:
            for entry in entries:
                self._catalog[entry["item_id"]] = entry
            if self._served is not None:
                self._served.recommender.apply_catalog(entries)
            self._catalog_seen = last
        taken = len(entries)
        if self.live.per_user > 0:
            while True:
                last, rows = shop.events_after(self.live.last_id, limit=FOLLOW_BATCH)
                self.live.record(rows)
                self.live.last_id = last
                taken += len(rows)
                if len(rows) < FOLLOW_BATCH:
                    break
        return taken

    def _catch_up_events(self) -> None:
        """The latest events after the served model's data, before following new ones."""
        if self.shop is None or self.live.per_user <= 0 or self._served is None:
            return
        since = self._served.recommender.trained_until
        last, rows = self.shop.latest_events(since=since, limit=CATCH_UP_EVENTS)
        self.live.record(rows)
        self.live.last_id = last

    def workers(self) -> list[dict[str, Any]]:
        """What every live process of this server serves (as each last announced it)."""
        found = []
        for path in sorted(self.workers_dir.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                entry = json.loads(path.read_text())
                if alive(int(entry["worker_pid"])):
                    found.append(entry)
                else:
                    path.unlink()
        return found

    def status(self) -> dict[str, Any]:
        """What this process serves, for /v1/model and /readyz."""
        served = self._served
        model = served.recommender.model if served else None
        return {
            "version": model.version if model else None,
            "loaded_at": served.loaded_at if served else None,
            "created": model.manifest.get("created") if model else None,
            "data_window": model.manifest.get("data_window") if model else None,
            "counts": model.manifest.get("counts") if model else None,
            "metrics": model.manifest.get("metrics") if model else None,
            "worker_pid": os.getpid(),
            "failed_version": self.failed[0] if self.failed else None,
            "failure": self.failed[1] if self.failed else None,
        }

    def _follow_store(self) -> None:
        failing = False
        while True:
            try:
                self.follow_step()
                if failing:
                    log.info("event store reachable again")
                failing = False
            except Exception as exc:  # keep following through database outages
                if not failing:
                    log.warning("cannot read the event store (serving what it had): %s", exc)
                failing = True
            time.sleep(self.catalog_interval)

    def _announce(self) -> None:
        """Record what this process serves (an atomic file replace) for :meth:`workers`."""
        if self._watcher_pid != os.getpid():
            return  # not serving requests (gunicorn's master): nothing to announce
        status = self.status()
        entry = {k: status[k] for k in ("worker_pid", "version", "loaded_at", "failed_version")}
        with contextlib.suppress(OSError):
            self.workers_dir.mkdir(exist_ok=True)
            temporary = self.workers_dir / f".{os.getpid()}.tmp"
            temporary.write_text(json.dumps(entry))
            os.replace(temporary, self.workers_dir / f"{os.getpid()}.json")

    def _watch(self) -> None:
        while True:
            time.sleep(self.check_interval)
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any one bad check
                log.exception("model check failed")

    def _remember_failure(self, version: str, reason: str) -> None:
        if self.failed != (version, reason):
            log.error(
                "cannot load model version %s, keeping %s: %s",
                version,
                self._served.recommender.version if self._served else "none",
                reason,
            )
        self.failed = (version, reason)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
