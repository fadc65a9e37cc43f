"""Static files the service ships, so its pages need no internet: Swagger UI's (from
the swagger-ui-bundle package) for ``/docs``."""

from __future__ import annotations

from flask import Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

#: where /docs loads Swagger UI's scripts and styles from (OPENAPI_SWAGGER_UI_URL)
SWAGGER_UI_URL = "/docs/assets/"


def init_app(app: Flask) -> None:
    """Serve Swagger UI's files under :data:`SWAGGER_UI_URL`."""

    def swagger_ui_asset(name: str) -> Response:
        return send_from_directory(str(swagger_ui_path), name, max_age=86_400)

    app.add_url_rule(f"{SWAGGER_UI_URL}<path:name>", "swagger_ui_asset", swagger_ui_asset)
