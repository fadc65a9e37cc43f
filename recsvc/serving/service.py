"""One serving process: its model holder, what it follows of the event store, and its
entry in the server's list of workers.

Built once in the process that creates the app (gunicorn's master, with
``preload_app``); :meth:`Serving.start` then starts each process's background work on
its first request, since a thread started in the master does not survive the fork.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..artifact import VersionStore
from ..store.shop import ShopStore
from .follower import StoreFollower
from .holder import ModelHolder
from .live import LiveEvents
from .placements import Placement
from .recommender import Recommender
from .workers import WorkerRegistry


class Serving:
    """A serving process's model, live data and status."""

    def __init__(
        self,
        store: VersionStore,
        placements: Mapping[str, Placement],
        *,
        shop: ShopStore,
        check_interval: float,
        catalog_interval: float = 0.5,
        live_events: int = 50,
    ) -> None:
        self.live = LiveEvents(per_user=live_events)
        self.registry = WorkerRegistry()
        self.holder = ModelHolder(store, placements, check_interval=check_interval,
                                  on_swap=self._announce)  # fmt: skip
        self.follower = StoreFollower(self.holder, shop, self.live, interval=catalog_interval)
        self.holder.prepare = self.follower.prepare
        self._started_in: int | None = None

    def start(self) -> None:
        """Start this process's background work, once per process: checking the model
        store for a new version, and following the event store (events, catalog)."""
        pid = os.getpid()
        if self._started_in == pid:
            return
        self._started_in = pid
        self._announce(None)
        self.holder.watch()
        self.follower.start()

    def status(self) -> dict[str, Any]:
        """What this process serves, the store's current version, and every worker."""
        return {**self.holder.status(), "current_version": self.holder.store.current(),
                "workers": self.workers()}  # fmt: skip

    def workers(self) -> list[dict[str, Any]]:
        """What every live process of this server serves."""
        return self.registry.workers()

    def _announce(self, _: Recommender | None) -> None:
        if self._started_in != os.getpid():
            return  # not serving requests (gunicorn's master): nothing to announce
        self.registry.announce(self.holder.status())
