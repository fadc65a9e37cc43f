"""The event-and-catalog store as training data (``recsvc train --from-db``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..config import TrainingConfig
from ..data.dataset import Dataset
from ..data.events import DAY
from .shop import ShopStore


@dataclass(frozen=True)
class Database:
    """The store's events (optionally of its latest days only) and current catalog."""

    shop: ShopStore
    window_days: float | None = None

    def read(self, config: TrainingConfig) -> Dataset:
        """Stream the events (of the window) and the current catalog from the store (their
        times were checked when they were stored)."""
        since = None if self.window_days is None else int(time.time() - self.window_days * DAY)
        events = self.shop.read_events(event_types=config.event_weights, since=since)
        return Dataset.of(events, self.shop.read_catalog())
