"""Every error as JSON ``{code, status, message, errors?}``, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import flask_smorest
import sqlalchemy.exc
from flask import Flask, current_app
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from ..errors import InvalidRequest, NoModelLoaded, NotFound, StoreUnavailable

log = logging.getLogger(__name__)
#: seconds a client should wait before retrying a 503
RETRY_AFTER = 5


#: what an error without a field of its own names as the part of the request at fault
_AT_FAULT = {400: "json", 401: "Authorization", 403: "Authorization", 404: "path",
             405: "method", 413: "body", 415: "Content-Type", 503: "service"}  # fmt: skip


def error_body(code: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape of the API: every error names what is at fault in ``errors``."""
    return {"code": code, "status": HTTP_STATUS_CODES.get(code, "Error"), "message": message,
            "errors": errors or {_AT_FAULT.get(code, "request"): [message]}}  # fmt: skip


class Api(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's Api, with a message on every error."""

    def handle_http_exception(
        self, error: HTTPException
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        data = getattr(error, "data", None) or {}
        code = error.code or 500
        if isinstance(error, InternalServerError):
            message = "internal error"  # the details go to the log, not to the client
        elif isinstance(error, RequestEntityTooLarge):
            limit = current_app.config["MAX_CONTENT_LENGTH"]
            message = f"request body larger than {limit} bytes (RECSVC_MAX_BODY_BYTES)"
        elif "message" in data:
            message = data["message"]
        elif "messages" in data:
            message = _first_error(data["messages"])
        else:
            message = error.description or HTTP_STATUS_CODES.get(code, "error")
        errors = data.get("errors") or data.get("messages")
        # werkzeug's own headers (Allow on a 405), then the view's (WWW-Authenticate)
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        return error_body(code, message, errors), code, headers


def _first_error(messages: Any, path: tuple[str, ...] = ()) -> str:
    """The first of marshmallow's nested messages, with where it is: ``json.events.3.
    timestamp: not an ISO 8601 time`` (the rest are in ``errors``)."""
    if isinstance(messages, dict) and messages:
        key, value = next(iter(messages.items()))
        return _first_error(value, (*path, str(key)))
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path)
    return f"invalid {'.'.join(path) or 'request'}: {messages}"


def register_error_handlers(app: Flask) -> None:
    """Map recsvc's domain errors to HTTP statuses."""

    @app.errorhandler(NotFound)
    def not_found(error: NotFound) -> tuple[dict[str, Any], int]:
        return error_body(404, error.message, {error.field: [error.message]}), 404

    @app.errorhandler(InvalidRequest)
    def invalid_request(error: InvalidRequest) -> tuple[dict[str, Any], int]:
        return error_body(422, error.message, {error.field: [error.message]}), 422

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    def database_down(
        error: sqlalchemy.exc.OperationalError,
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        log.error("database unavailable: %s", error.orig)
        body = error_body(503, "the event store is unavailable; retry later")
        return body, 503, {"Retry-After": str(RETRY_AFTER)}

    @app.errorhandler(StoreUnavailable)
    def database_hung(error: StoreUnavailable) -> tuple[dict[str, Any], int, dict[str, str]]:
        log.error("%s", error)
        body = error_body(503, "the event store is unavailable; retry later")
        return body, 503, {"Retry-After": str(RETRY_AFTER)}

    @app.errorhandler(NoModelLoaded)
    def no_model(error: NoModelLoaded) -> tuple[dict[str, Any], int, dict[str, str]]:
        return error_body(503, str(error)), 503, {"Retry-After": str(RETRY_AFTER)}
