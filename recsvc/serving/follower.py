"""Following the event store: catalog changes and shoppers' events reach this process.

A request must not wait on the database, so each serving process follows the store
instead: when it starts it catches up on the latest events after the served model's
data, then every ``RECSVC_CATALOG_INTERVAL`` seconds it reads what was stored since
(catalog changes, then events) into the served recommender's live catalog and into
:class:`~.live.LiveEvents`. Every newly loaded model gets the catalog changes seen so
far before it serves.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .. import metrics
from ..store.shop import ShopStore
from .background import repeat
from .experiments import ExperimentRouter
from .holder import ModelHolder
from .live import LiveEvents
from .recommender import Recommender

log = logging.getLogger(__name__)
#: events read per query while following the store
FOLLOW_BATCH = 10_000
#: at most this many of the latest events are taken in when a process starts
CATCH_UP_EVENTS = 200_000


class StoreFollower:
    """Keeps a holder's recommender and a process's live events in step with the store."""

    def __init__(
        self, holder: ModelHolder, shop: ShopStore, live: LiveEvents, *, interval: float,
        experiments: ExperimentRouter | None = None,
    ) -> None:  # fmt: skip
        self.holder = holder
        #: the running experiments, followed with the rest (None: no experiments)
        self.experiments = experiments
        self.shop = shop
        self.live = live
        self.interval = interval
        # the live catalog (stock, price) as followed from the store, by item id, and
        # the last change applied: every loaded model gets it applied too
        self._catalog: dict[str, dict[str, Any]] = {}
        self._catalog_seen = 0
        self._lock = threading.Lock()
        #: reads of the store that failed (each logged)
        self.failures = 0

    def prepare(self, recommender: Recommender) -> None:
        """Give a newly loaded recommender every catalog change seen so far (the holder
        calls this under its lock, before the recommender serves)."""
        recommender.apply_catalog(list(self._catalog.values()))

    def start(self, *, wait: float = 1.0) -> None:
        """Catch up, then follow the store, in a background thread of this process;
        waits at most ``wait`` seconds for the catch-up (requests never wait on the
        store longer than that, once, when a process starts)."""
        if self.interval <= 0:
            return
        caught_up = threading.Event()
        threading.Thread(target=self._follow, args=(caught_up,), name="recsvc-follow",
                         daemon=True).start()  # fmt: skip
        caught_up.wait(wait)

    def step(self) -> int:
        """Take in the catalog changes and events stored since the last step; how many."""
        with self._lock:  # the background thread and a storing request
            last, entries = self.shop.catalog_changes(self._catalog_seen)
            with self.holder.lock:
                for entry in entries:
                    self._catalog[entry["item_id"]] = entry
                served = self.holder.served
                if served is not None:
                    served.recommender.apply_catalog(entries)
                if self.experiments is not None:
                    self.experiments.apply_catalog(entries)
                self._catalog_seen = last
            taken = len(entries)
            if self.live.per_user > 0:
                while True:
                    last, rows = self.shop.events_after(self.live.last_id, limit=FOLLOW_BATCH)
                    self.live.record(rows)
                    self.live.last_id = last
                    taken += len(rows)
                    if len(rows) < FOLLOW_BATCH:
                        break
            if self.experiments is not None:  # after the catalog: new versions get it all
                self.experiments.refresh()
            metrics.STORE_READ.set(time.time())
            return taken

    def catch_up(self) -> None:
        """The latest events after the served model's data, before following new ones."""
        served = self.holder.served
        if self.live.per_user <= 0 or served is None:
            return
        since = served.recommender.trained_until
        last, rows = self.shop.latest_events(since=since, limit=CATCH_UP_EVENTS)
        self.live.record(rows)
        self.live.last_id = last

    def _follow(self, caught_up: threading.Event) -> None:
        try:
            self.catch_up()
            self.step()
        except Exception:
            self.failures += 1
            log.warning("cannot read the event store at start (serving what it had)",
                        exc_info=True)  # fmt: skip
        caught_up.set()

        def failed(exc: Exception) -> str:
            self.failures += 1
            return f"cannot read the event store (serving what it had): {exc}"

        repeat(self.step, interval=self.interval, log=log, failed=failed,
               recovered="event store reachable again")  # fmt: skip
