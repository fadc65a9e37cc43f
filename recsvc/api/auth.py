"""API keys for the admin and write endpoints, compared in constant time."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from flask_smorest import abort

from .extension import settings

View = TypeVar("View", bound=Callable[..., Any])


def presented_key() -> str | None:
    """The key a request carries: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def require_key(kind: str) -> Callable[[View], View]:
    """Guard a view with the ``admin`` or ``write`` key: 401 without a key, 403 with a wrong one."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            expected = getattr(settings(), f"{kind}_key")
            if not expected:
                abort(403, message=f"{kind} endpoints are disabled: set RECSVC_{kind.upper()}_KEY")
            given = presented_key()
            if given is None:
                abort(401, message=f"this endpoint needs the {kind} API key",
                      headers={"WWW-Authenticate": 'Bearer realm="recsvc"'})  # fmt: skip
            if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
                abort(403, message=f"wrong {kind} API key")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
