"""The model a serving process answers with, swapped for a newly published one while serving.

Each process (gunicorn worker) holds one :class:`Recommender`. A background thread
reads the store's pointer every few seconds (a small read); when it names a version
this process does not serve, the process loads and verifies it beside the old one
and swaps a single reference, so requests in flight finish on the version they
started with and no request fails. A version that fails to load is logged and
remembered; the old one keeps serving until the pointer changes again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy.exc

from .. import metrics
from ..artifact import VersionStore
from ..errors import CorruptVersion, ModelStoreError, NoModelLoaded
from .placements import Placement
from .recommender import Recommender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """What this process serves, and since when."""

    recommender: Recommender
    loaded_at: str


def _nothing(_: Recommender) -> None:
    return None


class ModelHolder:
    """The current recommender of this process, kept in step with the model store."""

    def __init__(
        self,
        store: VersionStore,
        placements: Mapping[str, Placement],
        *,
        check_interval: float,
        prepare: Callable[[Recommender], None] = _nothing,
        on_swap: Callable[[Recommender], None] = _nothing,
    ) -> None:
        self.store = store
        self.placements = placements
        self.check_interval = check_interval
        #: called with a newly loaded recommender before it serves (under :attr:`lock`)
        self.prepare = prepare
        #: called once a new recommender serves
        self.on_swap = on_swap
        #: held while swapping, and by whoever changes the served recommender in place
        self.lock = threading.Lock()
        self._served: Served | None = None
        #: the last version that failed to load ("CURRENT" when the pointer could not be
        #: read), and why in a few words anyone may read
        self.failed: tuple[str, str] | None = None
        #: the failure's own message (paths, hosts): for the log and the admin key
        self.failure_detail: str | None = None
        #: checks that failed unexpectedly (logged each time)
        self.check_failures = 0

    @property
    def served(self) -> Served | None:
        """What this process serves now, if anything."""
        return self._served

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
        with self.lock:
            try:
                version = self.store.current()
            except (ModelStoreError, sqlalchemy.exc.SQLAlchemyError) as exc:
                self._remember_failure("CURRENT", exc)
                return False
            served = self._served
            if version is None or (served is not None and served.recommender.version == version):
                self.failed = self.failure_detail = None  # the current version serves
                return False
            if not force and self.failed is not None and self.failed[0] == version:
                return False
            try:
                recommender = Recommender(self.store.load(version), self.placements)
            except (ModelStoreError, OSError, sqlalchemy.exc.SQLAlchemyError) as exc:
                self._remember_failure(version, exc)
                return False
            self.prepare(recommender)
            self._served = Served(recommender, _now())
            self.failed = self.failure_detail = None
        metrics.RELOADS.labels("loaded").inc()
        log.info("serving model version %s (pid %d)", version, os.getpid())
        self.on_swap(recommender)
        return True

    def watch(self) -> None:
        """Check the store for a new version every ``check_interval`` seconds, in a
        background thread of this process (0: never)."""
        if self.check_interval > 0:
            threading.Thread(target=self._watch, name="recsvc-model-watch", daemon=True).start()

    def status(self, *, detailed: bool = False) -> dict[str, Any]:
        """What this process serves, for /v1/model and /readyz; ``detailed``: a failure's
        own message rather than its public summary (for the admin key)."""
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
            "failure": (self.failure_detail if detailed else self.failed[1])
            if self.failed
            else None,
        }

    def _watch(self) -> None:
        while True:
            time.sleep(self.check_interval)
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any one bad check
                self.check_failures += 1
                log.exception("model check failed")

    def _remember_failure(self, version: str, error: Exception) -> None:
        reason = public_reason(version, error)
        if self.failed != (version, reason):
            metrics.RELOADS.labels("failed").inc()
            log.error(
                "cannot load model version %s, keeping %s: %s",
                version,
                self._served.recommender.version if self._served else "none",
                error,
            )
        self.failed = (version, reason)
        self.failure_detail = str(error)


def public_reason(version: str, error: Exception) -> str:
    """What anyone may be told of a failure: no paths, hosts or driver messages."""
    if isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        return "the model store's database is unavailable"
    if version == "CURRENT":
        return "the model store's pointer to the current version cannot be read"
    if isinstance(error, CorruptVersion):
        return "the version failed verification (see the log)"
    return "the version cannot be read (see the log)"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
