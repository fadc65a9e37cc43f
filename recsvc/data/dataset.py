"""A training data set: validated events, the catalog, and the items they name.

Where it comes from is a :class:`Source`: files here (:class:`Files`), or the event
store (``recsvc.store.source.Database``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..config import TrainingConfig
from .catalog import Catalog, read_catalog
from .events import Events, read_events
from .ids import IdMap


@dataclass(frozen=True)
class Dataset:
    """Validated events with the catalog (if any) and the items they name."""

    events: Events
    catalog: Catalog | None
    items: IdMap

    @classmethod
    def of(cls, events: Events, catalog: Catalog | None) -> Dataset:
        """Events and a catalog, with the items of both."""
        items = (
            IdMap.of(events.item_id)
            if catalog is None
            else IdMap.of(events.item_id, catalog.item_id)
        )
        return cls(events=events, catalog=catalog, items=items)

    def in_stock(self) -> np.ndarray | None:
        """Which of the items are in stock (None without a catalog): offline lists are
        held to it, as served lists are."""
        return in_stock(self.catalog, self.items)

    def with_events(self, events: Events) -> Dataset:
        """The same catalog and items with some of the events (a split's part)."""
        return Dataset(events=events, catalog=self.catalog, items=self.items)


def in_stock(catalog: Catalog | None, items: IdMap) -> np.ndarray | None:
    """Which of the items the catalog has in stock (None without a catalog)."""
    if catalog is None:
        return None
    available: np.ndarray = catalog.aligned_to(items.ids).available
    return available


class Source(Protocol):
    """Where training data comes from."""

    def read(self, config: TrainingConfig) -> Dataset:
        """Read and validate the events (of the configuration's types and time bounds)
        and the catalog."""
        ...


@dataclass(frozen=True)
class Files:
    """Events (and catalog) files as the training data."""

    events: Path | str
    items: Path | str | None = None

    def read(self, config: TrainingConfig) -> Dataset:
        """Read and validate the files."""
        events = read_events(self.events, event_types=config.event_weights,
                             bounds=config.time_bounds())  # fmt: skip
        catalog = read_catalog(self.items) if self.items is not None else None
        return Dataset.of(events, catalog)
