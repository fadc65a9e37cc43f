"""One serving process: its model holder, what it follows of the event store, and its
entry in the server's list of workers.

Built once in the process that creates the app (gunicorn's master, with
``preload_app``); :meth:`Serving.start` then starts each process's background work on
its first request, since a thread started in the master does not survive the fork.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import sqlalchemy.exc

from .. import metrics
from ..artifact import VersionStore
from ..errors import ModelStoreError
from ..store.experiments import ExperimentStore
from ..store.shop import ShopStore
from .experiments import ExperimentRouter, Routed
from .follower import StoreFollower
from .holder import ModelHolder
from .impressions import ImpressionRecorder
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
        impressions: ImpressionRecorder | None = None,
        experiments: ExperimentStore | None = None,
    ) -> None:
        self.live = LiveEvents(per_user=live_events)
        #: what this process served, recorded (None: impressions are not recorded)
        self.impressions = impressions
        self.registry = WorkerRegistry()
        self.holder = ModelHolder(store, placements, check_interval=check_interval,
                                  on_swap=self._announce)  # fmt: skip
        #: the running experiments (None: none are followed)
        self.experiments: ExperimentRouter | None = None
        if experiments is not None:
            self.experiments = ExperimentRouter(
                experiments, store, placements, current=self._current,
                prepare=lambda recommender: self.follower.prepare(recommender),
            )  # fmt: skip
        self.follower = StoreFollower(self.holder, shop, self.live, interval=catalog_interval,
                                      experiments=self.experiments)  # fmt: skip
        self.holder.prepare = self.follower.prepare
        #: seconds a starting process waits for the latest live events
        self.catch_up_wait = 1.0
        self._started_in: int | None = None
        self._announced_version: str | None = None

    def start(self, *, wait: float = 10.0) -> None:
        """Start this process, once: load the store's current version (a worker that
        replaces another must not serve the version preloaded when the server started),
        announce what it serves, then check the model store for new versions and follow
        the event store in the background. Waits at most ``wait`` seconds for the load
        and ``catch_up_wait`` for the live events: a slow store delays nothing longer."""
        pid = os.getpid()
        if self._started_in == pid:
            return
        self._started_in = pid
        loading = threading.Thread(target=self.holder.refresh, name="recsvc-load", daemon=True)
        loading.start()
        loading.join(wait)
        self._announce(None)
        self.holder.watch()
        self.follower.start(wait=min(wait, self.catch_up_wait))
        if self.impressions is not None:
            self.impressions.start()

    def route(self, placement: str, user_id: str | None, session_id: str | None) -> Routed:
        """Who answers this request: the current version, or an experiment's variant."""
        current = self.holder.recommender
        if self.experiments is None:
            return Routed(current)
        return self.experiments.route(placement, user_id, session_id, current)

    def _current(self) -> Recommender | None:
        served = self.holder.served
        return served.recommender if served is not None else None

    def status(self, *, detailed: bool = False) -> dict[str, Any]:
        """What this process serves, the store's current version (None when the store
        cannot say), and every worker; ``detailed``: see :meth:`ModelHolder.status`."""
        try:
            current = self.holder.store.current()
        except (ModelStoreError, sqlalchemy.exc.SQLAlchemyError):
            current = None  # the holder's failure says why
        found = {**self.holder.status(detailed=detailed), "current_version": current,
                 "workers": self.workers()}  # fmt: skip
        if detailed and self.impressions is not None:
            found["impressions"] = self.impressions.status()
        if detailed and self.experiments is not None:
            found["experiments"] = self.experiments.status()
        return found

    def workers(self) -> list[dict[str, Any]]:
        """What every live process of this server serves."""
        return self.registry.workers()

    def _announce(self, _: Recommender | None) -> None:
        if self._started_in != os.getpid():
            return  # not serving requests (gunicorn's master): nothing to announce
        status = self.holder.status()
        self.registry.announce(status)
        if self._announced_version is not None:
            metrics.MODEL.labels(self._announced_version).set(0)
        if status["version"] is not None:
            metrics.MODEL.labels(status["version"]).set(1)
        self._announced_version = status["version"]
