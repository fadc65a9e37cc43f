"""What the views reach in the app: one typed object, and a getter per resource (as
flaskr's ``get_db``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, current_app

from ..config import ServingConfig, TimeBounds
from ..serving.holder import ModelHolder
from ..serving.placements import Placement
from ..serving.service import Serving
from ..store.shop import ShopStore

#: where the resources are kept in app.extensions
RESOURCES_KEY = "recsvc"


@dataclass(frozen=True, eq=False)
class Recsvc:
    """The service's resources in one app."""

    settings: ServingConfig
    serving: Serving
    shop: ShopStore
    #: event types the store accepts (those with a weight, RECSVC_EVENT_WEIGHTS)
    event_types: tuple[str, ...]
    #: when events may have happened (RECSVC_EARLIEST_EVENT, RECSVC_FUTURE_EVENT_DAYS)
    time_bounds: TimeBounds

    @property
    def placements(self) -> Mapping[str, Placement]:
        """The placements requests may name."""
        return self.serving.holder.placements


def init_app(app: Flask, resources: Recsvc) -> None:
    """Make the resources reachable from the app's views, and start each process's
    background work on its first request."""
    app.extensions[RESOURCES_KEY] = resources
    app.before_request(resources.serving.start)


def resources() -> Recsvc:
    """The current app's resources."""
    found: Recsvc = current_app.extensions[RESOURCES_KEY]
    return found


def settings() -> ServingConfig:
    """How the service runs."""
    return resources().settings


def serving() -> Serving:
    """This process's serving state (model, live data, workers)."""
    return resources().serving


def holder() -> ModelHolder:
    """This process's model holder."""
    return resources().serving.holder


def shop() -> ShopStore:
    """The event-and-catalog store."""
    return resources().shop
