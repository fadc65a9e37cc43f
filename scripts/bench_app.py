"""The app as the Procfile serves it, plus a trivial endpoint for scripts/benchmark_serving.py.

``GET /bench/users/<user_id>/trivial`` returns, through the same Flask JSON path, a
body of the same size as that user's recommendations, without computing anything:
the floor of the HTTP stack that the real endpoint is compared with.
"""

from __future__ import annotations

from typing import Any

from recsvc.app import create_app

app = create_app()
_bodies: dict[int, Any] = {}


@app.get("/bench/users/<user_id>/trivial")
def trivial(user_id: str) -> Any:
    """A stored response of the real endpoint's size."""
    body = _bodies.get(0)
    if body is None:
        response = app.test_client().get(f"/v1/users/{user_id}/recommendations?n=10")
        body = _bodies[0] = response.get_json()
    return body
