"""The Flask app factory."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .api import (
    assets,
    dashboard,
    experiments,
    hotpath,
    model,
    observability,
    recommendations,
    shop,
    stats,
)
from .api.encoding import OrjsonProvider
from .api.errors import Api, register_error_handlers
from .api.extension import Recsvc, init_app
from .config import ServingConfig, TrainingConfig
from .serving.impressions import ImpressionRecorder
from .serving.placements import parse_placements
from .serving.service import Serving
from .store.database import connect, database_url
from .store.experiments import ExperimentStore
from .store.impressions import ImpressionStore
from .store.models import DATABASE, open_model_store
from .store.shop import ShopStore


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app and load the published model once.

    ``config`` overrides the environment: ``database_url`` the event store's
    ``DATABASE_URL``, other lower-case keys :class:`~recsvc.config.ServingConfig`
    fields (``models``, ``admin_key``...), upper-case keys Flask's config.

    Under gunicorn with ``preload_app`` the model is loaded here, in the master, and
    the workers share its memory-mapped pages; each worker then follows the store on
    its own.
    """
    overrides = dict(config or {})
    shop_url = overrides.pop("database_url", None) or database_url()
    settings = ServingConfig.from_env().replace(
        **{k: v for k, v in overrides.items() if k.islower()}
    )
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.update(
        API_TITLE="recsvc",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=assets.SWAGGER_UI_URL,  # shipped: /docs works offline
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    app.config.update({k: v for k, v in overrides.items() if k.isupper()})
    _log_to_stdout()

    # no connection is opened here: each gunicorn worker opens its own after the fork
    shop_store = ShopStore(connect(shop_url, timeout=settings.database_timeout),
                           attribution_hours=settings.attribution_hours)  # fmt: skip
    # the model store's calls run in the background, and fetch whole versions: no
    # statement timeout (requests that read it are bounded by api/deadline.py)
    model_engine = connect(shop_url) if settings.models == DATABASE else None
    serving = Serving(
        open_model_store(settings.models, engine=model_engine),
        parse_placements(settings.placements),
        shop=shop_store,
        check_interval=settings.reload_interval,
        catalog_interval=settings.catalog_interval,
        live_events=settings.live_events,
        impressions=ImpressionRecorder(
            ImpressionStore(shop_store.engine), sample_rate=settings.impression_sample_rate,
            capacity=settings.impression_buffer, interval=settings.impression_flush_interval,
        ) if settings.impression_sample_rate > 0 else None,
        experiments=ExperimentStore(shop_store.engine),
    )  # fmt: skip
    serving.holder.refresh()
    events = TrainingConfig.from_env()
    init_app(app, Recsvc(settings=settings, serving=serving, shop=shop_store,
                         event_types=tuple(events.event_weights),
                         time_bounds=events.time_bounds()))  # fmt: skip

    api = Api(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}})  # fmt: skip
    with app.app_context():  # the document lists this app's placements
        for module in (recommendations, model, shop, stats, experiments, observability):
            api.register_blueprint(module.blp)
    register_error_handlers(app)
    observability.init_app(app)
    assets.init_app(app)
    app.register_blueprint(dashboard.blp)  # a page: not in the OpenAPI document
    hotpath.init_app(app)  # in front of Flask: the shopper's recommendations, directly
    return app


def _log_to_stdout() -> None:
    logger = logging.getLogger("recsvc")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
